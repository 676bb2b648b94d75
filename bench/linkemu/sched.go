package linkemu

import (
	"math"
	"math/rand/v2"
	"time"
)

// verdict is what the pipeline decided for one packet.
type verdict uint8

const (
	pass verdict = iota
	lossDrop
	queueDrop
)

// sched is the pure part of one direction: given a packet's arrival time
// and size, it decides loss, the rate limiter's departure and the delay,
// with no clock and no I/O, so tests drive it with made-up times. Times
// are durations since the link's epoch. Not safe for concurrent use: one
// reader goroutine owns it.
type sched struct {
	d    Dir
	rng  *rand.Rand
	loss lossState

	nsPerByte float64       // 8e6/RateKbit; 0 = unlimited
	txEnd     time.Duration // when the rate limiter finishes the last accepted packet
	lastDue   time.Duration // departure of the last packet kept in order
}

func newSched(d Dir, seed uint64) *sched {
	s := &sched{d: d, rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), loss: lossState{m: d.Loss}}
	if d.RateKbit > 0 {
		s.nsPerByte = 8e6 / d.RateKbit
	}
	return s
}

// decision is the fate of one packet that passed.
type decision struct {
	due       time.Duration // when it leaves the emulator
	reordered bool          // it leaves before a packet that arrived earlier
	dup       bool          // deliver a copy too, right after it
}

// admit runs a packet of size bytes arriving at now through loss, the
// rate limiter and the delay.
func (s *sched) admit(now time.Duration, size int) (decision, verdict) {
	if s.loss.drop(s.rng) {
		return decision{}, lossDrop
	}
	ready := now
	if s.nsPerByte > 0 {
		// The rate limiter is a serializer: a packet starts when the
		// previous one is done. What it still has to send (the backlog,
		// in bytes at the rate) is the queue; drop-tail when this packet
		// does not fit.
		wire := float64(size + s.d.Overhead)
		start := max(now, s.txEnd)
		backlog := float64(start-now) / s.nsPerByte
		if backlog+wire > float64(s.d.queue()) {
			return decision{}, queueDrop
		}
		s.txEnd = start + time.Duration(math.Round(wire*s.nsPerByte))
		ready = s.txEnd
	}
	var dec decision
	if s.d.ReorderPct > 0 && s.rng.Float64()*100 < s.d.ReorderPct {
		// Skips the delay line; lastDue keeps the order of the others.
		dec.due = ready
		dec.reordered = ready < s.lastDue
	} else {
		due := ready + s.delay()
		if due < s.lastDue {
			if s.d.JitterReorder {
				dec.reordered = true
			} else {
				due = s.lastDue
			}
		}
		s.lastDue = max(s.lastDue, due)
		dec.due = due
	}
	dec.dup = s.d.DuplicatePct > 0 && s.rng.Float64()*100 < s.d.DuplicatePct
	return dec, pass
}

// delay draws one packet's delay.
func (s *sched) delay() time.Duration {
	if s.d.Jitter == 0 {
		return s.d.Delay
	}
	j := float64(s.d.Jitter)
	var x float64
	if s.d.JitterDist == JitterNormal {
		x = s.rng.NormFloat64()
		for x < -3 || x > 3 { // cut, not clamped: 0.27 % of draws are redrawn
			x = s.rng.NormFloat64()
		}
		x *= j
	} else {
		x = (2*s.rng.Float64() - 1) * j
	}
	return max(0, s.d.Delay+time.Duration(x))
}
