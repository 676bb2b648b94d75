package loadgen

import (
	"fmt"
	"net"
	"os"

	"github.com/fleetwire/fleetwire/codec"
	"github.com/fleetwire/fleetwire/codec/ack"
	"github.com/fleetwire/fleetwire/codec/framing"
)

// ackSinkMain is the discard sink of BenchmarkGeneratorAck, in a child
// process: TCP, it decodes every frame, holds an ack.Set per device and
// answers each read with a #stored per device it touched, as a server
// acknowledging at once would.
func ackSinkMain() int {
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
			defer c.Close()
			buf := make([]byte, 0, 64<<10)
			split := framing.NewSplitter('\n', codec.DefaultMaxFrame)
			var (
				b    codec.Batch
				out  []byte
				held ack.Set
				id   []byte
			)
			for {
				n, err := c.Read(buf[len(buf):cap(buf)])
				buf = buf[:len(buf)+n]
				off := 0
				touched := false
				for off < len(buf) {
					adv, fr, serr := split.Split(buf[off:], false)
					if serr != nil || adv == 0 {
						break
					}
					off += adv
					if fr == nil {
						continue
					}
					b.Reset()
					if decodeFrame(&b, fr) != nil {
						continue
					}
					for _, f := range b.Frames {
						// One device per connection: its hello came first.
						id = append(id[:0], f.Device...)
						held.Add(f.Seq, f.Seq+uint64(f.Samples())-1, nil)
						touched = true
					}
				}
				buf = buf[:copy(buf, buf[off:])]
				if touched {
					st := held.Stored(id)
					out = appendTextControl(out[:0], &st)
					c.Write(out)
				}
				if err != nil {
					return
				}
			}
		}()
	}
}
