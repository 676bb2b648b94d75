package loadgen

import (
	"runtime"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/fleetwire/fleetwire/codec"
	"github.com/fleetwire/fleetwire/codec/ack"
	"github.com/fleetwire/fleetwire/codec/framing"
)

// TestAckNoAllocsPerFrame: with Ack the send path allocates nothing per
// frame once warm. One device of a real loop writes to a socketpair; the
// test plays the receiver (decodes with codec/wire, holds an ack.Set,
// loses every tenth first transmission) and feeds each #stored back
// through the device's downlink, so that a step is: a frame into the
// Sender and out, fast resends of the lost ones (values regenerated),
// acknowledgements (OnAck, latency histogram, checkpoint). The count is
// exact: runtime.MemStats.Mallocs over 2,000 steps must not move.
func TestAckNoAllocsPerFrame(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not meaningful under -race")
	}
	for _, name := range []string{"text", "compact"} {
		t.Run(name, func(t *testing.T) {
			c := DefaultConfig()
			c.Codec, _ = codec.ParseCodec(name)
			c.Ack, c.Batch, c.Rate, c.Duration = true, 5, 250, time.Hour
			// Without jitter the timer lands in the same few wheel slots each
			// turn, so that the wheel is warm after the warm-up (each slot
			// allocates its entry array once, whatever the mode).
			c.Jitter = 0
			r, err := newRunner(&c, &targets{list: []target{{}}, perSource: c.PerSource})
			if err != nil {
				t.Fatal(err)
			}
			r.nloops = 1
			l, err := newLoop(r, 0, []int{0})
			if err != nil {
				t.Fatal(err)
			}
			defer l.close()
			fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer unix.Close(fds[1])
			d := &l.devs[0]
			d.fd = fds[0]
			l.setState(d, stUp)
			l.started, l.t0 = true, 1
			peer := fds[1]

			var (
				buf   = make([]byte, 64<<10)
				b     codec.Batch
				held  ack.Set
				split = framing.NewSplitter('\n', codec.DefaultMaxFrame)
				out   = make([]byte, 0, 4<<10)
				ctl   codec.Control // out here: through the encoder interface a local escapes
			)
			step := func() {
				seq := d.seq
				due := l.t0 + l.s.due(d, d.k)
				now := due + int64(100*time.Microsecond)
				// The timing wheel turns as in the loop (the device's
				// timer is re-armed by every #stored).
				l.fired = l.wheel.expire(now, l.due, l.gens, l.fired[:0])
				l.reset()
				l.dataFrame(0, c.Batch, due, now)
				l.ackResend(&l.framer, 0, now, nil)
				l.emit(0, now)
				n, err := unix.Read(peer, buf)
				if err != nil {
					t.Fatal(err)
				}
				for off := 0; off < n; {
					adv, fr, err := split.Split(buf[off:n], false)
					if err != nil || adv == 0 {
						t.Fatalf("split: %v", err)
					}
					off += adv
					b.Reset()
					if err := decodeFrame(&b, fr); err != nil {
						t.Fatal(err)
					}
					for _, f := range b.Frames {
						if f.Seq == seq && d.k%10 == 3 {
							continue // lost: the next ack shows the hole
						}
						held.Add(f.Seq, f.Seq+uint64(f.Samples())-1, nil)
					}
				}
				ctl = held.Stored(d.id)
				out = l.enc.AppendControl(out[:0], &ctl)
				l.downlink(0, out, false, now+int64(time.Millisecond))
			}
			// Warm up: buffers, flights, the set's ranges, the wheel's slots.
			for range 1000 {
				step()
			}
			st0 := l.ack.devs[0].snd.Stats()
			defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
			var m0, m1 runtime.MemStats
			runtime.ReadMemStats(&m0)
			for range 2000 {
				step()
			}
			runtime.ReadMemStats(&m1)
			st := l.ack.devs[0].snd.Stats()
			resent := st.Resent - st0.Resent
			// Every tenth frame was lost and resent once, at once (fast
			// resend), and everything else acknowledged.
			if resent != 200*uint64(c.Batch) || st.Acked+st.Held != d.seq || st.Held > uint64(2*c.Batch) {
				t.Fatalf("sent %d: acked %d, held %d; resent %d in the last 2000 frames", d.seq, st.Acked, st.Held, resent)
			}
			if n := m1.Mallocs - m0.Mallocs; n != 0 {
				t.Fatalf("%d allocations in 2000 frames (%d samples resent)", n, resent)
			}
		})
	}
}
