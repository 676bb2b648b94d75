package ack

import (
	"math"
	"slices"
	"time"

	"github.com/fleetwire/fleetwire/codec"
)

// A flight is a run of consecutive unacknowledged samples sent together:
// what the device must be able to send again, by number, not by value
// (the values are in its own buffer). 24 bytes: the first-send time is
// kept as an age in microseconds beside the last-send time, because only
// the ack latency needs it, and a flight at window 256 is then 24 bytes
// rather than 32.
type flight struct {
	seq   uint64 // first sample
	last  int64  // when last sent, ns
	age   uint32 // last minus first send time, µs, saturating
	n     uint16 // samples
	tries uint8  // transmissions, saturating at 255
	due   bool   // resend at the next Due whatever the timer (Reconnected)
}

const maxFlight = math.MaxUint16

func (f *flight) end() uint64 { return f.seq + uint64(f.n) }

// first returns when f was first sent.
func (f *flight) first() int64 { return f.last - int64(f.age)*int64(time.Microsecond) }

// Sender is the device side of acknowledged delivery: which samples are
// unacknowledged, when to send them again, when to give them up. It
// does no I/O and reads no clock: callers pass now (nanoseconds on a
// clock that does not step back) and send what it returns. See the
// package documentation for the algorithm. A Sender is not safe for
// concurrent use.
//
// Memory: 160 bytes, plus 24 bytes per flight in the air (the flight
// array keeps its largest size). At a window of 256 samples all in the
// air that is 6304 bytes when every sample is its own flight, 928 when
// frames carry 10 samples, 256 when they carry 64 (TestSenderMemory).
type Sender struct {
	cfg     *Config
	flights []flight // ascending, disjoint, unacknowledged
	next    uint64   // Sent's next seq must be at least this
	held    uint64   // samples in flights

	peerNext   uint64 // the receiver's next in its last #stored (0: unknown)
	gaveUpSent uint64 // the point the last #gaveup carried, 0 when it must go again
	gaveUpAt   int64  // when it was sent

	// rackSent is the latest send time of a flight sent once and
	// acknowledged: an unacknowledged flight sent before it, below the
	// highest acknowledged sample, is lost (RACK, RFC 8985).
	rackSent          int64
	srtt, rttvar, rto time.Duration
	hasRTT            bool
	heard             bool  // a #stored arrived since the last (re)connect
	ended             bool  // the end-of-stream went out: timers are EndRTO's
	probes            uint8 // window-pressure resends since held was below half the window
	endedAt           int64 // when

	sent, acked, resent, resends, gaveUp uint64
}

// NewSender returns a Sender whose first sample will be numbered next or
// above. cfg is shared, not copied.
func NewSender(cfg *Config, next uint64) (*Sender, error) {
	if err := cfg.Check(); err != nil {
		return nil, err
	}
	return &Sender{cfg: cfg, next: next, rto: cfg.initialRTO(), rackSent: math.MinInt64}, nil
}

// Next returns the lowest sequence number the next Sent may start at.
func (s *Sender) Next() uint64 { return s.next }

// Low returns the lowest sample that is neither acknowledged nor given
// up (Next when there is none): the device will never send again any
// sample below it, which is what a #gaveup says.
func (s *Sender) Low() uint64 {
	if len(s.flights) > 0 {
		return s.flights[0].seq
	}
	return s.next
}

// Heard reports whether a #stored arrived since NewSender or the last
// Reconnected. A UDP device puts its hello in front of every datagram
// until it is true: a datagram may be the first the server sees.
func (s *Sender) Heard() bool { return s.heard }

// Sent records that samples [seq, seq+n) went out for the first time, at
// now. Sequence numbers are never reused: Sent panics when seq is below
// Next (record a resend with Resent), or when the samples would reach
// 2^64-1, a number no sample has.
//
// When more than Window samples are then unacknowledged, the oldest are
// given up to make room: it returns the span from the lowest to the
// highest given up (inclusive) and how many were; within the span,
// exactly the samples not acknowledged before were given up. The device
// drops them from its buffer and tells the receiver with a #gaveup
// (GaveUpBelow).
func (s *Sender) Sent(seq uint64, n int, now int64) (span codec.SeqRange, given uint64) {
	if n <= 0 {
		return span, 0
	}
	if seq < s.next || seq > math.MaxUint64-uint64(n) {
		panic("ack: Sent: sequence number below Next (reused), or a sample numbered 2^64-1")
	}
	s.next = seq + uint64(n)
	s.sent += uint64(n)
	s.held += uint64(n)
	for left := uint64(n); left > 0; {
		k := min(left, maxFlight)
		if i := len(s.flights) - 1; i >= 0 {
			// Samples sent together in several calls are one flight.
			if p := &s.flights[i]; p.end() == seq && p.last == now && p.tries == 1 && !p.due && uint64(p.n)+k <= maxFlight {
				p.n += uint16(k)
				seq, left = seq+k, left-k
				continue
			}
		}
		s.flights = append(s.flights, flight{seq: seq, last: now, n: uint16(k), tries: 1})
		seq, left = seq+k, left-k
	}
	w := s.cfg.window()
	// Window pressure: a #stored the receiver sent was lost, or the
	// resend that would have made it send another, and the window fills.
	// Resend the oldest flight now, at three quarters and again at seven
	// eighths: a receiver answers a resend of what it holds at once, so a
	// lost #stored costs a frame, not the samples the window would give
	// up while the flight's timer backs off. (Not when this very call
	// overflows the window: the oldest go now whatever comes back.)
	if s.held > w {
		return s.giveUp(s.held - w)
	}
	if s.probes == 0 && s.held*4 >= 3*w || s.probes == 1 && s.held*8 >= 7*w {
		s.probes++
		s.flights[0].due = true
	}
	return span, 0
}

// giveUp drops the k oldest unacknowledged samples.
func (s *Sender) giveUp(k uint64) (span codec.SeqRange, given uint64) {
	span.Lo = s.flights[0].seq
	i := 0
	for given < k {
		f := &s.flights[i]
		if take := k - given; take < uint64(f.n) {
			f.seq += take
			f.n -= uint16(take)
			given = k
			span.Hi = f.seq - 1
			break
		}
		given += uint64(f.n)
		span.Hi = f.end() - 1
		i++
	}
	s.flights = slices.Delete(s.flights, 0, i)
	s.held -= given
	s.gaveUp += given
	return span, given
}

// GaveUpBelow returns the #gaveup the device should send now, if one is
// due: next is Low. It is due when the receiver's last #stored (nothing,
// after NewSender or Reconnected) waits for samples below Low, which will
// never come: at once for a new Low, again each RTO while the receiver's
// acks do not show it arrived. Record the send with SentGaveUp.
func (s *Sender) GaveUpBelow(now int64) (next uint64, due bool) {
	low := s.Low()
	if s.peerNext >= low {
		return low, false
	}
	return low, low > s.gaveUpSent || now-s.gaveUpAt >= int64(s.rto)
}

// SentGaveUp records that a #gaveup for next went out at now.
func (s *Sender) SentGaveUp(next uint64, now int64) {
	s.gaveUpSent, s.gaveUpAt = next, now
}

// Reconnected makes every unacknowledged sample due at the next Due, and
// a #gaveup due if Low is above 0: after a reconnect the device sends
// its hello, then a #gaveup, then everything it holds. Heard turns false.
func (s *Sender) Reconnected() {
	for i := range s.flights {
		s.flights[i].due = true
	}
	s.peerNext, s.gaveUpSent, s.heard = 0, 0, false
}

// search returns the index of the first flight that ends above q.
func (s *Sender) search(q uint64) int {
	lo, hi := 0, len(s.flights)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if s.flights[m].end() <= q {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo
}

// overlap returns the flights [i, j) that hold samples of [lo, hi].
func (s *Sender) overlap(lo, hi uint64) (i, j int) {
	i = s.search(lo)
	j = i
	for j < len(s.flights) && s.flights[j].seq <= hi {
		j++
	}
	return i, j
}

// split cuts flight i at sample at (inside it) into two flights.
func (s *Sender) split(i int, at uint64) {
	right := s.flights[i]
	right.seq, right.n = at, uint16(s.flights[i].end()-at)
	s.flights[i].n -= right.n
	s.flights = slices.Insert(s.flights, i+1, right)
}

// appendRuns appends [lo, lo+n) to dst as runs of at most MaxBatch
// samples, continuing the last run when it ends at lo and was appended
// by this call (dst[start:]).
func (s *Sender) appendRuns(dst []codec.SeqRange, start int, lo, n uint64) []codec.SeqRange {
	mb := s.cfg.maxBatch()
	if len(dst) > start {
		if last := &dst[len(dst)-1]; last.Hi+1 == lo && last.Len() < mb {
			take := min(n, mb-last.Len())
			last.Hi += take
			lo, n = lo+take, n-take
		}
	}
	for n > 0 {
		take := min(n, mb)
		dst = append(dst, codec.SeqRange{Lo: lo, Hi: lo + take - 1})
		lo, n = lo+take, n-take
	}
	return dst
}
