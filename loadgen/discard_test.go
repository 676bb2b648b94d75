package loadgen

import (
	"fmt"
	"io"
	"net"
	"os"
)

// discardSinkMain runs in a child process for the benchmarks: it accepts
// on a loopback port, prints the address, and throws everything away, so
// the benchmark's getrusage sees the generator alone.
func discardSinkMain(network string) int {
	switch network {
	case "tcp":
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		fmt.Println(ln.Addr())
		for {
			c, err := ln.Accept()
			if err != nil {
				return 1
			}
			go func() {
				io.Copy(io.Discard, c)
				c.Close()
			}()
		}
	case "udp":
		c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		c.SetReadBuffer(8 << 20)
		fmt.Println(c.LocalAddr())
		buf := make([]byte, 64<<10)
		for {
			if _, _, err := c.ReadFrom(buf); err != nil {
				return 1
			}
		}
	}
	return 2
}
