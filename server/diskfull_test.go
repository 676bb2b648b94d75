package server

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/fleetwire/fleetwire/internal/tmpfs"
	"github.com/fleetwire/fleetwire/server/sink"
)

// TestDiskFull runs the file sink on a 256 KiB tmpfs and a device that
// keeps sending. Once the disk is full the top-level stored stops rising
// while dropped.sink_write_error rises, and after shutdown every reading
// received is stored or dropped with a reason.
func TestDiskFull(t *testing.T) {
	dir := tmpfs.Mount(t, 256<<10)
	srv := startServer(t, func(c *Config) { c.Sink, c.UDPAddr = files(t, dir), "" })
	conn, err := net.Dial("tcp", srv.Addr(TCP).String())
	if err != nil {
		t.Fatal(err)
	}
	stop, sent := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(sent)
		rng := rand.New(rand.NewPCG(1, 2))
		var buf []byte
		for seq := 0; ; {
			select {
			case <-stop:
				return
			default:
			}
			buf = buf[:0]
			for ; len(buf) < 32<<10; seq++ {
				buf = fmt.Appendf(buf, "mote-%d;%d;%d.%02d:%d\n", seq%50, seq/50, rng.IntN(100), rng.IntN(100), rng.IntN(1000))
			}
			if _, err := conn.Write(buf); err != nil {
				return
			}
		}
	}()
	stopSending := sync.OnceFunc(func() { close(stop); <-sent })
	defer conn.Close()
	defer stopSending()

	check := func(st Stats) {
		t.Helper()
		if st.Stored != st.Sink.Stored || st.Dropped[DropSinkWriteError] != st.Sink.Dropped[sink.DropWriteError] {
			t.Fatalf("stored %d, dropped.%s %d; the sink's: stored %d, dropped for write_error %d",
				st.Stored, DropSinkWriteError, st.Dropped[DropSinkWriteError], st.Sink.Stored, st.Sink.Dropped[sink.DropWriteError])
		}
	}
	waitFor(t, 20*time.Second, "the disk to fill", func() bool { return srv.Stats().Dropped[DropSinkWriteError] > 0 })
	// The last free pages may still take a frame or a new segment's
	// header: wait for a window in which only the drops move.
	deadline := time.Now().Add(20 * time.Second)
	for {
		a := srv.Stats()
		time.Sleep(300 * time.Millisecond)
		b := srv.Stats()
		check(a)
		check(b)
		if b.Stored == a.Stored && b.Dropped[DropSinkWriteError] > a.Dropped[DropSinkWriteError] && b.Readings > a.Readings {
			t.Logf("full: stored stays %d while dropped.%s goes %d -> %d", b.Stored, DropSinkWriteError,
				a.Dropped[DropSinkWriteError], b.Dropped[DropSinkWriteError])
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no window with stored still and drops rising in 20 s: stored %d -> %d, dropped %v -> %v",
				a.Stored, b.Stored, a.Dropped, b.Dropped)
		}
	}
	stopSending()

	err = srv.Shutdown(context.Background())
	if !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("Shutdown = %v, want the sink's ENOSPC", err)
	}
	st := srv.Stats()
	check(st)
	var dropped uint64
	for _, n := range st.Dropped {
		dropped += n
	}
	if st.Sink.Pending != 0 || st.Readings != st.Stored+dropped {
		t.Fatalf("after shutdown: readings %d, stored %d + dropped %v, sink pending %d", st.Readings, st.Stored, st.Dropped, st.Sink.Pending)
	}
}
