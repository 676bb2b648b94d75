package ack

import (
	"container/heap"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/fleetwire/fleetwire/codec"
)

// simConfig is one deterministic simulation: a device sending 4 samples
// every 10 ms through a channel that loses and delays (20-40 ms, so it
// also reorders) in both directions, to a receiver that holds what
// arrives in a Set and acks every 50 ms.
type simConfig struct {
	seed     uint64
	samples  int
	window   int
	loss     float64 // each direction
	down, up int64   // an outage, both directions, [down, up) ms; the device reconnects at up
}

// simEvent is a message in flight.
type simEvent struct {
	at     int64
	order  int // FIFO among events at the same time, for determinism
	toDev  bool
	gaveUp bool
	lo, hi uint64 // frame to the receiver
	next   uint64 // #stored or #gaveup
	ranges []codec.SeqRange
}

type simQueue []*simEvent

func (q simQueue) Len() int { return len(q) }
func (q simQueue) Less(i, j int) bool {
	return q[i].at < q[j].at || q[i].at == q[j].at && q[i].order < q[j].order
}
func (q simQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *simQueue) Push(x any)   { *q = append(*q, x.(*simEvent)) }
func (q *simQueue) Pop() any {
	old := *q
	e := old[len(old)-1]
	*q = old[:len(old)-1]
	return e
}

// Sample states in the simulation.
const (
	unsent = iota
	inFlight
	acked
	givenUp
)

type simResult struct {
	acked, givenUp, resent, late, fast, refused int
	end                                         time.Duration
	stats                                       Stats
}

func simulate(t *testing.T, sc simConfig) simResult {
	t.Helper()
	rng := rand.New(rand.NewPCG(sc.seed, 0xfeed))
	state := make([]uint8, sc.samples)
	stored := make([]bool, sc.samples)
	var res simResult
	cfg := &Config{Window: sc.window}
	cfg.OnAck = func(r codec.SeqRange, _ time.Duration) {
		for q := r.Lo; q <= r.Hi; q++ {
			if state[q] != inFlight {
				t.Fatalf("sample %d acknowledged in state %d", q, state[q])
			}
			if !stored[q] {
				t.Fatalf("sample %d acknowledged but not stored", q)
			}
			state[q] = acked
			res.acked++
		}
	}
	dev := newSender(t, cfg, 0)
	var rcv Set
	var queue simQueue
	order := 0
	now := int64(0)
	down := func() bool { return sc.up > sc.down && now >= ms(int(sc.down)) && now < ms(int(sc.up)) }
	send := func(e simEvent) {
		if down() || rng.Float64() < sc.loss {
			return
		}
		e.at = now + ms(20+rng.IntN(21))
		e.order = order
		order++
		heap.Push(&queue, &e)
	}
	resend := func(runs []codec.SeqRange) {
		for _, r := range runs {
			for q := r.Lo; q <= r.Hi; q++ {
				if state[q] != inFlight {
					t.Fatalf("resend of sample %d in state %d", q, state[q])
				}
			}
			send(simEvent{lo: r.Lo, hi: r.Hi})
			dev.Resent(r.Lo, r.Hi, now)
			res.resent += int(r.Len())
		}
	}
	var runs []codec.SeqRange
	arrived := false // at the receiver since its last ack
	next := 0        // the next sample the device makes
	reconnected := sc.up <= sc.down
	for tick := 0; ; tick++ {
		now = ms(tick)
		for len(queue) > 0 && queue[0].at <= now {
			e := heap.Pop(&queue).(*simEvent)
			switch {
			case e.toDev:
				runs = dev.OnStored(runs[:0], e.next, e.ranges, now)
				res.fast += len(runs)
				resend(runs)
			case e.gaveUp:
				rcv.Advance(e.next)
				arrived = true
			default:
				_, err := rcv.Add(e.lo, e.hi, func(lo, hi uint64) {
					for q := lo; q <= hi; q++ {
						stored[q] = true
					}
				})
				if err != nil {
					res.refused++ // the device will send them again
				}
				for q := e.lo; q <= e.hi; q++ {
					if state[q] == acked {
						res.late++
					}
				}
				arrived = true
			}
		}
		if !reconnected && now >= ms(int(sc.up)) {
			dev.Reconnected()
			reconnected = true
		}
		if tick%50 == 0 && arrived {
			c := rcv.Stored(nil)
			send(simEvent{toDev: true, next: c.Seq, ranges: append([]codec.SeqRange(nil), c.Ranges...)})
			arrived = false
		}
		if tick%10 == 0 && next < sc.samples {
			n := min(4, sc.samples-next)
			for q := next; q < next+n; q++ {
				state[q] = inFlight
			}
			send(simEvent{lo: uint64(next), hi: uint64(next + n - 1)})
			span, given := dev.Sent(uint64(next), n, now)
			var count uint64
			for q := span.Lo; given > 0 && q <= span.Hi; q++ {
				if state[q] == inFlight {
					state[q] = givenUp
					res.givenUp++
					count++
				}
			}
			if count != given {
				t.Fatalf("Sent gave up %d in %v, %d of them unacknowledged", given, span, count)
			}
			next += n
		}
		runs = dev.Due(runs[:0], now)
		resend(runs)
		if low, due := dev.GaveUpBelow(now); due {
			send(simEvent{gaveUp: true, next: low})
			dev.SentGaveUp(low, now)
		}
		if next == sc.samples && dev.Stats().Held == 0 && dev.peerNext >= dev.Low() {
			break
		}
		if tick > 3_600_000 {
			t.Fatalf("not done after an hour: %+v, receiver %s", dev.Stats(), &rcv)
		}
	}
	for q, st := range state {
		if st != acked && st != givenUp {
			t.Fatalf("sample %d ended in state %d", q, st)
		}
	}
	res.end = time.Duration(now)
	res.stats = dev.Stats()
	st := res.stats
	if res.acked+res.givenUp != sc.samples || uint64(res.acked) != st.Acked || uint64(res.givenUp) != st.GaveUp ||
		st.Sent != uint64(sc.samples) || uint64(res.resent) != st.Resent {
		t.Fatalf("counts disagree: %+v, sender %+v", res, st)
	}
	if rcv.Next() != uint64(sc.samples) || rcv.Len() != 0 {
		t.Fatalf("receiver ends at %s, want %d", &rcv, sc.samples)
	}
	t.Logf("%d samples, %.0f%% loss: acked %d, given up %d, resent %d (%d runs fast), copies after their ack %d, frames refused (set full) %d, SRTT %v RTO %v, done at %v",
		sc.samples, 100*sc.loss, res.acked, res.givenUp, res.resent, res.fast, res.late, res.refused, st.SRTT, st.RTO, res.end)
	return res
}

// TestSimulation: every sample is acknowledged exactly once or given up,
// none is resent once acknowledged, none is acknowledged unless stored,
// and the receiver ends with every number settled.
func TestSimulation(t *testing.T) {
	t.Run("5% loss", func(t *testing.T) {
		r := simulate(t, simConfig{seed: 1, samples: 10_000, window: 256, loss: 0.05})
		if r.givenUp != 0 {
			t.Fatalf("%d given up with a window of 256", r.givenUp)
		}
	})
	t.Run("20% loss, window 64", func(t *testing.T) {
		r := simulate(t, simConfig{seed: 2, samples: 10_000, window: 64, loss: 0.2})
		if r.givenUp == 0 {
			t.Fatal("nothing given up: the case tests nothing")
		}
	})
	t.Run("outage and reconnect", func(t *testing.T) {
		r := simulate(t, simConfig{seed: 3, samples: 10_000, window: 256, loss: 0.05, down: 10_000, up: 13_000})
		if r.givenUp == 0 {
			t.Fatal("nothing given up in a 3 s outage")
		}
	})
	t.Run("no loss", func(t *testing.T) {
		r := simulate(t, simConfig{seed: 4, samples: 10_000, window: 256})
		if r.resent != 0 {
			t.Fatalf("%d resent on a clean link", r.resent)
		}
	})
}
