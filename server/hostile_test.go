package server

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/fleetwire/fleetwire/codec"
	fwbinary "github.com/fleetwire/fleetwire/codec/binary"
	"github.com/fleetwire/fleetwire/codec/compress"
)

// goodLine is a frame that must always get through: 2 readings.
func goodLine(seq int) string { return fmt.Sprintf("dev-h;%d;21.5:40\n", seq) }

// binaryFrame encodes a one-sample binary frame of dev-h.
func binaryFrame(seq uint64) []byte {
	f := codec.Frame{Device: []byte("dev-h"), Seq: seq, Flags: codec.HasSeq, Channels: 2,
		Times: []int64{0}, Values: []codec.Value{codec.Decimal(215, 1), codec.Decimal(40, 0)}}
	return fwbinary.Append(nil, &f)
}

// zstdBomb is a real zstd frame of our envelope that expands to 10 MiB,
// ten times the default MaxDecoded.
func zstdBomb(t *testing.T) []byte {
	t.Helper()
	frame := compress.Default().Append(nil, codec.CompressZstd, bytes.Repeat([]byte("1,"), 5<<20))
	if len(frame) > 4096 {
		t.Fatalf("bomb of %d bytes does not fit the test's frame limit", len(frame))
	}
	return frame
}

func TestHostileStreams(t *testing.T) {
	for _, engine := range []string{"gnet", "std"} {
		t.Run(engine, func(t *testing.T) { testHostileStreams(t, engine) })
	}
}

func testHostileStreams(t *testing.T, engine string) {
	srv := startServer(t, func(c *Config) {
		c.Engine = engine
		c.Limits = codec.Limits{MaxFrame: 4096}
	})
	addr := srv.Addr(TCP).String()
	type tc struct {
		name     string
		send     []byte
		readings uint64            // readings of dev-h stored by the end
		errors   map[string]uint64 // errors counted by reason
		closed   bool              // the server closes the connection
	}
	cases := []tc{
		{"over-long text line resyncs", []byte(goodLine(0) + strings.Repeat("9", 10000) + "\n" + goodLine(1)), 4, map[string]uint64{"too_long": 1}, false},
		{"garbage bytes resync at END", []byte(goodLine(0) + "\xff\xfe\x00garbage\n" + goodLine(1)), 4, map[string]uint64{"unknown_format": 1}, false},
		{"bad numbers", []byte(goodLine(0) + "dev-h;1;21.5:4x0\n" + goodLine(1)), 4, map[string]uint64{"bad_number": 1}, false},
		{"NaN and Inf", []byte(goodLine(0) + "dev-h;1;NaN:1\ndev-h;1;1:-Inf\n" + goodLine(1)), 4, map[string]uint64{"non_finite": 2}, false},
		{"too many channels", []byte(goodLine(0) + "dev-h;1;" + strings.Repeat("1:", 70) + "1\n" + goodLine(1)), 4, map[string]uint64{"too_many_channels": 1}, false},
		{"bad device id", []byte(goodLine(0) + "<script>;1;1\n" + goodLine(1)), 4, map[string]uint64{"bad_id": 1}, false},
		{"binary between text", append(append([]byte(goodLine(0)), binaryFrame(1)...), goodLine(2)...), 6, nil, false},
		{"corrupt binary resyncs nothing but is counted", append(append([]byte(goodLine(0)), func() []byte { b := binaryFrame(1); b[2] |= 0x80; return b }()...), goodLine(2)...), 4, map[string]uint64{"bad_version": 1}, false},
		{"binary length above the limit closes", append([]byte(goodLine(0)), 0xB1, 0xff, 0xff, 0x03), 2, map[string]uint64{"too_long": 1, "unresyncable": 1}, true},
		{"truncated binary at close", append([]byte(goodLine(0)), binaryFrame(1)[:9]...), 2, map[string]uint64{"truncated": 1}, false},
		{"decompression bomb", append(append([]byte(goodLine(0)), zstdBomb(t)...), goodLine(1)...), 4, map[string]uint64{"too_large": 1}, false},
		{"a stream of garbage is closed", bytes.Repeat([]byte("x;1;y\n"), 200), 0, map[string]uint64{"bad_number": maxBadRun + 1, "too_many_errors": 1}, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := srv.Stats()
			beforeReadings := uint64(0)
			if d, ok := srv.Device("dev-h"); ok {
				beforeReadings = d.Readings
			}
			conn, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := conn.Write(c.send); err != nil {
				t.Fatal(err)
			}
			if c.closed {
				// The server hangs up: reading sees EOF or a reset.
				_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
				_, err := io.Copy(io.Discard, conn)
				var ne net.Error
				if errors.As(err, &ne) && ne.Timeout() {
					t.Fatal("server did not close the connection")
				}
			} else {
				_ = conn.(*net.TCPConn).CloseWrite()
				_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
				_, _ = io.Copy(io.Discard, conn)
			}
			conn.Close()
			defer func() {
				if t.Failed() {
					d, _ := srv.Device("dev-h")
					t.Logf("errors before %v after %v; dev-h readings %d (+%d)", before.Errors, srv.Stats().Errors, d.Readings, d.Readings-beforeReadings)
				}
			}()
			waitFor(t, 5*time.Second, "counts", func() bool {
				after := srv.Stats()
				for r, n := range c.errors {
					if after.Errors[r]-before.Errors[r] != n {
						return false
					}
				}
				d, _ := srv.Device("dev-h")
				return d.Readings-beforeReadings == c.readings
			})
			after := srv.Stats()
			for r, n := range after.Errors {
				if n-before.Errors[r] != c.errors[r] {
					t.Fatalf("errors[%s] rose by %d, want %d (all: %v)", r, n-before.Errors[r], c.errors[r], after.Errors)
				}
			}
		})
	}
}

// TestSlowClient: a client that sends one byte at a time never finishes a
// frame; it is closed after --frame-timeout, counted, and others carry on.
func TestSlowClient(t *testing.T) {
	for _, engine := range []string{"gnet", "std"} {
		t.Run(engine, func(t *testing.T) {
			srv := startServer(t, func(c *Config) { c.Engine, c.FrameTimeout = engine, 1500*time.Millisecond })
			slow, err := net.Dial("tcp", srv.Addr(TCP).String())
			if err != nil {
				t.Fatal(err)
			}
			defer slow.Close()
			closed := make(chan struct{})
			go func() {
				defer close(closed)
				for _, b := range []byte("dev-slow;0;21.55555555") {
					if _, err := slow.Write([]byte{b}); err != nil {
						return
					}
					time.Sleep(200 * time.Millisecond)
				}
			}()
			// Meanwhile a good device is served.
			good, err := net.Dial("tcp", srv.Addr(TCP).String())
			if err != nil {
				t.Fatal(err)
			}
			defer good.Close()
			if _, err := good.Write([]byte("dev-good;0;1,2,3\n")); err != nil {
				t.Fatal(err)
			}
			waitFor(t, 10*time.Second, "frame_timeout", func() bool { return srv.Stats().Errors["frame_timeout"] == 1 })
			// The good device's connection is served on its own schedule,
			// not necessarily before the slow one timed out.
			waitFor(t, 10*time.Second, "the good device's 3 readings", func() bool {
				d, _ := srv.Device("dev-good")
				return d.Readings == 3
			})
			if _, ok := srv.Device("dev-slow"); ok {
				t.Fatal("the slow client's unfinished frame created a device")
			}
			<-closed
		})
	}
}

// TestIdleTimeout closes a connection that says nothing.
func TestIdleTimeout(t *testing.T) {
	for _, engine := range []string{"gnet", "std"} {
		t.Run(engine, func(t *testing.T) {
			srv := startServer(t, func(c *Config) { c.Engine, c.IdleTimeout = engine, time.Second })
			c, err := net.Dial("tcp", srv.Addr(TCP).String())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
			if _, err := c.Read(make([]byte, 1)); err == nil {
				t.Fatal("read data from an idle connection")
			}
			waitFor(t, 5*time.Second, "idle_timeout", func() bool { return srv.Stats().Errors["idle_timeout"] == 1 })
		})
	}
}

// TestMaxConns: connections beyond --max-conns are closed at once and
// counted; those within are served.
func TestMaxConns(t *testing.T) {
	for _, engine := range []string{"gnet", "std"} {
		t.Run(engine, func(t *testing.T) {
			srv := startServer(t, func(c *Config) { c.Engine, c.MaxConns = engine, 5 })
			var conns []net.Conn
			defer func() {
				for _, c := range conns {
					c.Close()
				}
			}()
			for i := range 5 {
				c, err := net.Dial("tcp", srv.Addr(TCP).String())
				if err != nil {
					t.Fatal(err)
				}
				conns = append(conns, c)
				if _, err := fmt.Fprintf(c, "dev-%d;0;1\n", i); err != nil {
					t.Fatal(err)
				}
			}
			waitFor(t, 5*time.Second, "5 devices", func() bool { return srv.Stats().Devices == 5 })
			extra, err := net.Dial("tcp", srv.Addr(TCP).String())
			if err != nil {
				t.Fatal(err)
			}
			defer extra.Close()
			_ = extra.SetReadDeadline(time.Now().Add(5 * time.Second))
			if _, err := extra.Read(make([]byte, 1)); err == nil || isTimeout(err) {
				t.Fatalf("connection beyond the limit was not closed: %v", err)
			}
			waitFor(t, 5*time.Second, "conn_limit", func() bool { return srv.Stats().Errors["conn_limit"] == 1 })
		})
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// TestClientNeverReads: downlink commands to a device that never reads
// pile up; the server closes it (write_blocked) instead of buffering
// without bound, and keeps serving. Submitting never waits on the deaf
// client's socket: commands are flushed under a lock that gnet event loops
// take too.
func TestClientNeverReads(t *testing.T) {
	for _, engine := range []string{"gnet", "std"} {
		t.Run(engine, func(t *testing.T) {
			srv := startServer(t, func(c *Config) { c.Engine, c.CommandQueuePerDevice = engine, 1<<20 })
			c, err := net.DialTCP("tcp", nil, srv.Addr(TCP).(*net.TCPAddr))
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			_ = c.SetReadBuffer(4096)
			if _, err := c.Write([]byte("#hello dev-deaf\n")); err != nil {
				t.Fatal(err)
			}
			waitFor(t, 5*time.Second, "hello", func() bool { _, ok := srv.Device("dev-deaf"); return ok })
			payload := []byte(strings.Repeat("x", 500))
			deadline := time.Now().Add(30 * time.Second)
			var slowest time.Duration
			for srv.Stats().Errors["write_blocked"] == 0 {
				if time.Now().After(deadline) {
					t.Fatal("server kept buffering for a client that never reads")
				}
				for range 200 {
					start := time.Now()
					if _, err := srv.SubmitCommand("dev-deaf", payload); err != nil && !errors.Is(err, ErrQueueFull) {
						t.Fatal(err)
					}
					slowest = max(slowest, time.Since(start))
				}
				time.Sleep(10 * time.Millisecond)
			}
			// A submit takes microseconds; a second means it waited on the
			// socket (the old std engine waited up to 1 s per write).
			if slowest > 500*time.Millisecond {
				t.Fatalf("a command submit took %v", slowest)
			}
		})
	}
}

// TestDatagramFlood: a flood of tiny and garbage datagrams costs counted
// errors and bounded memory; a good device sending meanwhile is served.
func TestDatagramFlood(t *testing.T) {
	srv := startServer(t, nil)
	addr := srv.Addr(UDP).String()
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	heapBefore := ms.HeapInuse
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	done := make(chan int)
	for w := range 2 {
		go func() {
			c, err := net.Dial("udp", addr)
			if err != nil {
				done <- 0
				return
			}
			defer c.Close()
			sent := 0
			junk := [][]byte{{0xff}, {'x'}, {0xB1, 0x05}, []byte("1,")}
			for i := 0; i < 200_000 && ctx.Err() == nil; i++ {
				if _, err := c.Write(junk[(i+w)%len(junk)]); err == nil {
					sent++
				}
			}
			done <- sent
		}()
	}
	good, err := net.Dial("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer good.Close()
	for i := range 20 {
		if _, err := fmt.Fprintf(good, "dev-calm;%d;1.5\n", i); err != nil {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	sent := <-done + <-done
	waitFor(t, 10*time.Second, "the calm device", func() bool { d, _ := srv.Device("dev-calm"); return d.Readings > 0 })
	st := srv.Stats()
	if st.Errors["unknown_format"] == 0 || st.Errors["truncated"] == 0 {
		t.Fatalf("flood errors not counted: %v", st.Errors)
	}
	runtime.GC()
	runtime.ReadMemStats(&ms)
	if grew := int64(ms.HeapInuse) - int64(heapBefore); grew > 64<<20 {
		t.Fatalf("heap grew by %d MiB under a flood of %d datagrams", grew>>20, sent)
	}
	t.Logf("flood: %d datagrams sent, %d received by the server, errors %v; calm device got %d of 20 samples through",
		sent, st.Datagrams, st.Errors, func() uint64 { d, _ := srv.Device("dev-calm"); return d.Readings }())
}
