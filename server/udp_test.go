package server

import (
	"fmt"
	"net"
	"testing"
	"time"
)

// TestUDPWakesPerDatagram: a reader that waits on its one-shot epoll
// registration is woken by every datagram that finds the socket empty, and
// by bursts that make it nap and wait again; were a wake-up lost, the
// datagram would wait for the reader's one-second safety timeout.
func TestUDPWakesPerDatagram(t *testing.T) {
	srv := startServer(t, func(c *Config) { c.UDPReaders = 1 })
	c, err := net.Dial("udp", srv.Addr(UDP).String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var slowest time.Duration
	seq := 0
	for i := range 300 {
		burst := 1 + i%3 // 1, 2 or 3 back to back: 2+ makes the reader nap
		for range burst {
			if _, err := fmt.Fprintf(c, "dev-wake;%d;21.5\n", seq); err != nil {
				t.Fatal(err)
			}
			seq++
		}
		start := time.Now()
		for srv.Stats().Readings < uint64(seq) {
			if time.Since(start) > 900*time.Millisecond {
				t.Fatalf("datagram %d not counted after %v: the reader missed its wake-up", seq-1, time.Since(start))
			}
			time.Sleep(50 * time.Microsecond)
		}
		slowest = max(slowest, time.Since(start))
		time.Sleep(time.Duration(i%4) * time.Millisecond) // sometimes past a nap, sometimes within
	}
	t.Logf("%d datagrams, slowest counted %v after it was sent", seq, slowest)
}
