package server

import (
	"bytes"
	"fmt"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/fleetwire/fleetwire/codec"
	"github.com/fleetwire/fleetwire/codec/compress"
	"github.com/fleetwire/fleetwire/codec/wire"
)

// bombFrame is a valid compact frame of dev "amp": 4096 samples of 15
// constant channels, about 40 bytes that decode to just under the default
// MaxDecoded (4096*(15*16+8) = 1,015,808 bytes).
func bombFrame(t testing.TB) []byte {
	t.Helper()
	const samples, channels = 4096, 15
	f := codec.Frame{Device: []byte("amp"), Seq: 1, Flags: codec.HasSeq, Channels: channels}
	for range samples {
		f.Times = append(f.Times, 0)
		for range channels {
			f.Values = append(f.Values, codec.Decimal(1, 0))
		}
	}
	b := wire.NewEncoder(codec.Codec{Format: codec.FormatCompact}, 0, nil).Append(nil, &f)
	if len(b) > 64 {
		t.Fatalf("bomb frame is %d bytes", len(b))
	}
	return b
}

// bombDecoded is what one bomb frame costs in decoded bytes.
var bombDecoded = codec.DecodedSize(4096*15, 4096)

func heapInUse() int64 {
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	return int64(ms.HeapInuse)
}

// TestAmplificationStream: a connection that sends frames decoding to far
// more than its bytes is refused beyond --max-amplification (counted as
// amplification) and then closed as a stream of bad frames; it decodes no
// more than the bucket allows, leaves the heap where it was, and a canary
// device on another connection is served in full meanwhile.
func TestAmplificationStream(t *testing.T) {
	for _, engine := range []string{"gnet", "std"} {
		t.Run(engine, func(t *testing.T) {
			const amp = 64
			srv := startServer(t, func(c *Config) { c.Engine, c.MaxAmplification = engine, amp })
			bomb := bombFrame(t)
			attack := bytes.Repeat(bomb, (64<<10)/len(bomb))
			heap := heapInUse()

			canary := dialCanary(t, "tcp", srv.Addr(TCP).String())
			canary.send(t, 50)
			c, err := net.Dial("tcp", srv.Addr(TCP).String())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if _, err := c.Write(attack); err != nil {
				t.Fatal(err)
			}
			canary.send(t, 50)
			waitFor(t, 20*time.Second, "the attacker closed", func() bool { return srv.Stats().Errors["too_many_errors"] == 1 })
			canary.wait(t, srv)
			st := srv.Stats()
			d, _ := srv.Device("amp")
			if allowed := uint64(codec.DefaultMaxDecoded + amp*len(attack)); d.Frames*uint64(bombDecoded) > allowed {
				t.Fatalf("decoded %d bomb frames from %d wire bytes: above the bound of %d bytes", d.Frames, len(attack), allowed)
			}
			if d.Frames != 1 || st.Errors["amplification"] != maxBadRun+1 {
				t.Fatalf("%d bomb frames decoded, %d refused: want the bucket's first, then %d refused and the stream closed",
					d.Frames, st.Errors["amplification"], maxBadRun+1)
			}
			if grew := heapInUse() - heap; grew > 16<<20 {
				t.Fatalf("heap grew by %d MiB", grew>>20)
			}
		})
	}
}

// TestAmplificationDatagram: each datagram may decode to amplification
// times its size; a datagram of bomb frames is refused whole, and a
// canary device's datagrams are not.
func TestAmplificationDatagram(t *testing.T) {
	const amp = 64 // a 1,400-byte datagram may decode to 89,600 bytes: no bomb frame
	srv := startServer(t, func(c *Config) { c.MaxAmplification = amp })
	bomb := bombFrame(t)
	heap := heapInUse()
	canary := dialCanary(t, "udp", srv.Addr(UDP).String())
	c, err := net.Dial("udp", srv.Addr(UDP).String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	dgram := bytes.Repeat(bomb, 1400/len(bomb))
	const datagrams = 2000
	for i := range datagrams {
		if _, err := c.Write(dgram); err != nil {
			t.Fatal(err)
		}
		if i%100 == 0 {
			canary.send(t, 1)
			time.Sleep(time.Millisecond) // stay within the socket's buffer
		}
	}
	frames := uint64(datagrams * (len(dgram) / len(bomb)))
	waitFor(t, 20*time.Second, "every bomb frame refused", func() bool {
		return srv.Stats().Errors["amplification"] == frames
	})
	canary.wait(t, srv)
	if _, ok := srv.Device("amp"); ok {
		t.Fatal("a bomb frame was decoded")
	}
	if grew := heapInUse() - heap; grew > 16<<20 {
		t.Fatalf("heap grew by %d MiB", grew>>20)
	}
}

// TestCompressedInnerFrames: a compressed envelope of many small frames
// that each fit the limit but together do not is refused whole: too_large
// on a stream, whose bucket holds a whole frame's limit; amplification in
// a datagram of a hundred bytes, which entitles it to less.
func TestCompressedInnerFrames(t *testing.T) {
	srv := startServer(t, nil)
	frame := compress.Default().Append(nil, codec.CompressZstd, bytes.Repeat(bombFrame(t), 64))
	for _, tr := range []Transport{TCP, UDP} {
		c, err := net.Dial(tr.String(), srv.Addr(tr).String())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Write(frame); err != nil {
			t.Fatal(err)
		}
		c.Close()
	}
	waitFor(t, 5*time.Second, "both refused", func() bool {
		st := srv.Stats()
		return st.Errors["too_large"] == 1 && st.Errors["amplification"] == 1
	})
	if _, ok := srv.Device("amp"); ok {
		t.Fatal("inner frames of a refused envelope were decoded")
	}
}

// TestSlowClientAfterLongLine: a client that sends an over-long line and
// then trickles the rest of it is still inside a frame; --frame-timeout
// closes it.
func TestSlowClientAfterLongLine(t *testing.T) {
	for _, engine := range []string{"gnet", "std"} {
		t.Run(engine, func(t *testing.T) {
			srv := startServer(t, func(c *Config) {
				c.Engine, c.FrameTimeout = engine, time.Second
				c.Limits = codec.Limits{MaxFrame: 1024}
			})
			c, err := net.Dial("tcp", srv.Addr(TCP).String())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if _, err := c.Write([]byte(strings.Repeat("9", 4096))); err != nil {
				t.Fatal(err)
			}
			stop := time.After(15 * time.Second)
			tick := time.NewTicker(300 * time.Millisecond)
			defer tick.Stop()
			for srv.Stats().Errors["frame_timeout"] == 0 {
				select {
				case <-stop:
					t.Fatal("a client trickling an over-long line was never closed")
				case <-tick.C:
					_, _ = c.Write([]byte("9")) // an error once closed: fine
				}
			}
			if n := srv.Stats().Errors["too_long"]; n != 1 {
				t.Fatalf("too_long %d, want 1", n)
			}
		})
	}
}

// canary is a well-behaved device that sends numbered one-reading frames
// beside an attack; wait checks that every one of them was stored.
type canary struct {
	c    net.Conn
	id   string
	sent int
}

func dialCanary(t testing.TB, network, addr string) *canary {
	t.Helper()
	c, err := net.Dial(network, addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &canary{c: c, id: "canary-" + network}
}

func (k *canary) send(t testing.TB, n int) {
	t.Helper()
	for range n {
		if _, err := fmt.Fprintf(k.c, "%s;%d;1.5\n", k.id, k.sent); err != nil {
			t.Fatal(err)
		}
		k.sent++
	}
}

func (k *canary) wait(t testing.TB, srv *Server) {
	t.Helper()
	waitFor(t, 10*time.Second, k.id+"'s readings", func() bool {
		d, _ := srv.Device(k.id)
		return d.Readings == uint64(k.sent)
	})
	if d, _ := srv.Device(k.id); d.Lost != 0 {
		t.Fatalf("%s lost %d readings", k.id, d.Lost)
	}
}

// TestCompressibleDeviceWithinDefault: a real device whose readings
// barely change (600 samples of 4 channels a frame, in compact: about
// 1,200 decoded bytes per wire byte) is never refused at the default
// amplification, however long it runs.
func TestCompressibleDeviceWithinDefault(t *testing.T) {
	srv := startServer(t, nil)
	c, err := net.Dial("tcp", srv.Addr(TCP).String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	enc := wire.NewEncoder(codec.Codec{Format: codec.FormatCompact}, 0, nil)
	const frames, samples, channels = 200, 600, 4
	var stream []byte
	for i := range frames {
		f := codec.Frame{Device: []byte("steady"), Seq: uint64(i * samples), Flags: codec.HasSeq, Channels: channels}
		for range samples {
			f.Times = append(f.Times, 0)
			for range channels {
				f.Values = append(f.Values, codec.Decimal(215, 1))
			}
		}
		stream = enc.Append(stream, &f)
	}
	if ratio := frames * codec.DecodedSize(samples*channels, samples) / len(stream); ratio < 1000 {
		t.Fatalf("test data decodes to only %d bytes per wire byte", ratio)
	}
	if _, err := c.Write(stream); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "every reading", func() bool {
		d, _ := srv.Device("steady")
		return d.Readings == frames*samples*channels
	})
	if n := srv.Stats().Errors["amplification"]; n != 0 {
		t.Fatalf("%d frames refused for amplification", n)
	}
}
