package linkemu

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"time"
)

// Dir is the impairment of one direction of a link. The zero value passes
// every packet at once, unchanged.
//
// A packet meets the stages in this order: loss, rate limit (drop-tail
// bounded queue), delay and jitter, then duplication. A packet chosen for
// reordering skips the delay and so overtakes those in the delay line.
type Dir struct {
	// Delay is the one-way propagation delay added to every packet.
	Delay time.Duration
	// Jitter spreads the delay: uniform over [Delay-Jitter, Delay+Jitter]
	// (JitterUniform, the default) or normal with standard deviation
	// Jitter, cut at ±3 Jitter (JitterNormal); a delay below zero becomes
	// zero. Unless JitterReorder is set, a packet never leaves before the
	// one that arrived before it: its departure is raised to that one's,
	// as on a real link, where jitter comes from queues, not from
	// packets overtaking each other.
	Jitter        time.Duration
	JitterDist    JitterDist
	JitterReorder bool

	// Loss drops packets before they reach the rate limiter.
	Loss Loss

	// RateKbit limits the direction to RateKbit*1000 bit/s, counting each
	// IP packet's length plus Overhead bytes; 0 is unlimited.
	RateKbit float64
	// Overhead is added to each packet's length for the rate limit only
	// (14 makes the rate an Ethernet L2 rate, as bench/netns's tbf counts).
	Overhead int
	// QueueBytes bounds the bottleneck queue in front of the rate limit,
	// the packet being sent included: a packet that does not fit is dropped
	// (drop-tail, counted as QueueDropped). 0 means 64 KiB.
	QueueBytes int

	// ReorderPct is the chance, in percent, that a packet skips the
	// delay (it still waits for the rate limit) and so overtakes the
	// packets in the delay line, as netem's "reorder".
	ReorderPct float64
	// DuplicatePct is the chance, in percent, that a packet is delivered
	// twice (the copy right after the original).
	DuplicatePct float64
}

// JitterDist is the distribution of the jitter.
type JitterDist int

const (
	// JitterUniform draws the delay uniformly from Delay ± Jitter.
	JitterUniform JitterDist = iota
	// JitterNormal draws it from a normal distribution, mean Delay and
	// standard deviation Jitter, cut at ±3 standard deviations.
	JitterNormal
)

func (d JitterDist) String() string {
	if d == JitterNormal {
		return "normal"
	}
	return "uniform"
}

// DefaultQueueBytes is the queue of a rate-limited direction whose
// QueueBytes is 0.
const DefaultQueueBytes = 64 << 10

func (d Dir) queue() int {
	if d.QueueBytes == 0 {
		return DefaultQueueBytes
	}
	return d.QueueBytes
}

// Validate reports the first parameter out of range.
func (d Dir) Validate() error {
	pct := func(name string, v float64) error {
		if !(v >= 0 && v <= 100) {
			return fmt.Errorf("%s %v outside [0, 100]", name, v)
		}
		return nil
	}
	switch {
	case d.Delay < 0 || d.Jitter < 0:
		return errors.New("negative delay or jitter")
	case d.JitterDist != JitterUniform && d.JitterDist != JitterNormal:
		return fmt.Errorf("unknown jitter distribution %d", d.JitterDist)
	case !(d.RateKbit >= 0) || math.IsInf(d.RateKbit, 0):
		return fmt.Errorf("rate %v kbit/s is not a finite number >= 0", d.RateKbit)
	case d.Overhead < 0 || d.QueueBytes < 0:
		return errors.New("negative overhead or queue")
	}
	if err := pct("ReorderPct", d.ReorderPct); err != nil {
		return err
	}
	if err := pct("DuplicatePct", d.DuplicatePct); err != nil {
		return err
	}
	return d.Loss.Validate()
}

// String is a one-line summary for logs and reports.
func (d Dir) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "delay=%v", d.Delay)
	if d.Jitter > 0 {
		fmt.Fprintf(&b, " jitter=%v(%s", d.Jitter, d.JitterDist)
		if d.JitterReorder {
			b.WriteString(",reorders")
		}
		b.WriteString(")")
	}
	if d.RateKbit > 0 {
		fmt.Fprintf(&b, " rate=%gkbit queue=%dB", d.RateKbit, d.queue())
		if d.Overhead > 0 {
			fmt.Fprintf(&b, " overhead=%dB", d.Overhead)
		}
	} else {
		b.WriteString(" rate=unlimited")
	}
	fmt.Fprintf(&b, " loss=%s", d.Loss)
	if d.ReorderPct > 0 {
		fmt.Fprintf(&b, " reorder=%g%%", d.ReorderPct)
	}
	if d.DuplicatePct > 0 {
		fmt.Fprintf(&b, " duplicate=%g%%", d.DuplicatePct)
	}
	return b.String()
}
