package ack

import (
	"math"
	"slices"
	"time"

	"github.com/fleetwire/fleetwire/codec"
)

// clockGranularity is G of RFC 6298: the RTO is at least this above the
// smoothed RTT.
const clockGranularity = time.Millisecond

// OnStored applies a #stored that arrived at now: every sample below
// next, and each of ranges (inclusive), is durably stored. It drops what
// that covers (OnAck sees each part and its latency), takes an RTT sample
// from the earliest-sent flight it acknowledges that was sent only once
// (Karn's rule: a resent flight's ack is ambiguous; the earliest, because
// the receiver coalesces acks and the RTO must cover the longest wait),
// and appends to dst, as runs of at most MaxBatch, the fast resends: the
// flights below the highest acknowledged sample that were last sent more
// than SRTT/4 (the reordering window) before a flight sent once that has
// been acknowledged (RACK, RFC 8985). Those were lost; resend them now and
// record it with Resent. A flight inside the window is left to its timer.
//
// Acks of samples not held (already acknowledged, given up, not sent)
// are ignored, as are acks repeated or out of order.
func (s *Sender) OnStored(dst []codec.SeqRange, next uint64, ranges []codec.SeqRange, now int64) []codec.SeqRange {
	s.heard = true
	s.peerNext = next
	earliest := int64(math.MaxInt64)
	var top uint64 // one past the highest acknowledged sample
	if next > 0 {
		s.ack(0, next-1, now, &earliest)
		top = next
	}
	for _, r := range ranges {
		if r.Lo <= r.Hi && r.Hi < math.MaxUint64 {
			s.ack(r.Lo, r.Hi, now, &earliest)
			top = max(top, r.Hi+1)
		}
	}
	if earliest != math.MaxInt64 {
		s.sampleRTT(time.Duration(now - earliest))
	}
	if s.held*2 < s.cfg.window() {
		s.probes = 0
	}
	start := len(dst)
	lostBefore := s.rackSent - int64(s.srtt/4)
	for i := range s.flights {
		f := &s.flights[i]
		if f.seq >= top {
			break
		}
		if f.last < lostBefore {
			dst = s.appendRuns(dst, start, f.seq, uint64(f.n))
		}
	}
	return dst
}

// ack drops samples [lo, hi] from the flights.
func (s *Sender) ack(lo, hi uint64, now int64, earliest *int64) {
	i, j := s.overlap(lo, hi)
	if i == j {
		return
	}
	for k := i; k < j; k++ {
		f := &s.flights[k]
		part := codec.SeqRange{Lo: max(lo, f.seq), Hi: min(hi, f.end()-1)}
		s.acked += part.Len()
		s.held -= part.Len()
		if s.cfg.OnAck != nil {
			s.cfg.OnAck(part, time.Duration(now-f.first()))
		}
		if f.tries == 1 {
			*earliest = min(*earliest, f.last)
			s.rackSent = max(s.rackSent, f.last)
		}
	}
	// Only the first and the last flight can keep a part.
	var keep [2]flight
	rest := keep[:0]
	if f := s.flights[i]; f.seq < lo {
		f.n = uint16(lo - f.seq)
		rest = append(rest, f)
	}
	if f := s.flights[j-1]; f.end()-1 > hi {
		f.n = uint16(f.end() - 1 - hi)
		f.seq = hi + 1
		rest = append(rest, f)
	}
	s.flights = slices.Replace(s.flights, i, j, rest...)
}

// sampleRTT feeds one RTT measurement to the estimator of RFC 6298 (2.2,
// 2.3) and sets the RTO from it.
func (s *Sender) sampleRTT(r time.Duration) {
	r = max(r, 0)
	if !s.hasRTT {
		s.srtt, s.rttvar, s.hasRTT = r, r/2, true
	} else {
		s.rttvar = (3*s.rttvar + (s.srtt - r).Abs()) / 4
		s.srtt = (7*s.srtt + r) / 8
	}
	s.rto = min(max(s.srtt+max(clockGranularity, 4*s.rttvar), s.cfg.minRTO()), s.cfg.maxRTO())
}

// timeout returns how long after its last send f is resent: base (the
// RTO, or EndRTO after the end), doubled for each resend (RFC 6298 5.5,
// per flight), at most limit.
func timeout(f *flight, t, limit time.Duration) time.Duration {
	for tries := f.tries; tries > 1 && t < limit; tries-- {
		t *= 2
	}
	return min(t, limit)
}

// Due appends to dst, as runs of at most MaxBatch consecutive samples,
// the unacknowledged samples whose resend timer expired at now (and
// everything after Reconnected). Resend them and record it with Resent;
// until then they stay due.
func (s *Sender) Due(dst []codec.SeqRange, now int64) []codec.SeqRange {
	start := len(dst)
	for i := range s.flights {
		f := &s.flights[i]
		if f.due || now >= s.dueAt(f) {
			dst = s.appendRuns(dst, start, f.seq, uint64(f.n))
		}
	}
	return dst
}

// NextDeadline returns when Due or GaveUpBelow will next have something,
// for the caller's timer; a time at or before now means now. ok is false
// when nothing is waiting for a timer.
func (s *Sender) NextDeadline() (at int64, ok bool) {
	at = math.MaxInt64
	for i := range s.flights {
		f := &s.flights[i]
		if f.due {
			return math.MinInt64, true
		}
		at = min(at, s.dueAt(f))
	}
	if low := s.Low(); s.peerNext < low {
		if low > s.gaveUpSent {
			return math.MinInt64, true
		}
		at = min(at, s.gaveUpAt+int64(s.rto))
	}
	return at, at != math.MaxInt64
}

// Ended records that the device sent its end-of-stream at now. A
// receiver acknowledges at once every change after it (PROTOCOL.md), so
// from then on a flight is resent EndRTO after its last send or the
// end-of-stream, whichever is later, not after a timeout sized for the
// receiver's ack interval: the tail a lossy link took, and the resends
// it took again, are recovered within seconds of the end. (Counted from
// the end-of-stream too, or every flight sent since the last #stored,
// up to an interval's worth, would go again at once, before the #stored
// the end-of-stream asks for could arrive.)
func (s *Sender) Ended(now int64) { s.ended, s.endedAt = true, now }

// dueAt returns when f is resent if nothing acknowledges it: its RTO
// after its last send, or after Ended, EndRTO (at most 4 x EndRTO
// backed off) after its last send or the end-of-stream, whichever is
// later, if that comes sooner.
func (s *Sender) dueAt(f *flight) int64 {
	at := f.last + int64(timeout(f, s.rto, s.cfg.maxRTO()))
	if s.ended {
		end := s.cfg.endRTO()
		at = min(at, max(f.last, s.endedAt)+int64(timeout(f, min(s.rto, end), min(s.cfg.maxRTO(), 4*end))))
	}
	return at
}

// Resent records that samples [lo, hi] (inclusive) went out again at now:
// their timers restart, backed off once more. Samples in it that are not
// held (acknowledged meanwhile) are ignored. Flights resent together are
// merged, so that a reconnect's resends leave few.
func (s *Sender) Resent(lo, hi uint64, now int64) {
	i, j := s.overlap(lo, hi)
	if i == j {
		return
	}
	if s.flights[i].seq < lo {
		s.split(i, lo)
		i, j = i+1, j+1
	}
	if s.flights[j-1].end()-1 > hi {
		s.split(j-1, hi+1)
	}
	s.resends++
	for k := i; k < j; k++ {
		f := &s.flights[k]
		s.resent += uint64(f.n)
		f.age = uint32(min(int64(f.age)+max(now-f.last, 0)/int64(time.Microsecond), math.MaxUint32))
		f.last = now
		f.tries = uint8(min(int(f.tries)+1, math.MaxUint8))
		f.due = false
	}
	// Merge neighbours resent at the same time, the flights just before
	// and after included (a run split by MaxBatch is resent in pieces).
	k := max(i, 1)
	for end := min(j+1, len(s.flights)); k < end; {
		a, b := &s.flights[k-1], &s.flights[k]
		if a.end() == b.seq && a.last == b.last && a.tries > 1 && b.tries > 1 && !a.due && !b.due &&
			uint64(a.n)+uint64(b.n) <= maxFlight {
			a.n += b.n
			a.age, a.tries = max(a.age, b.age), max(a.tries, b.tries)
			s.flights = slices.Delete(s.flights, k, k+1)
			end--
			continue
		}
		k++
	}
}

// Stats are a Sender's counters, in samples unless named otherwise.
type Stats struct {
	Sent    uint64 // given to Sent
	Acked   uint64 // acknowledged: each sample once
	Resent  uint64 // resent (a sample resent twice counts twice)
	Resends uint64 // Resent calls: frames resent
	GaveUp  uint64 // given up (the window overflowed)
	Held    uint64 // unacknowledged now
	Flights int    // runs of them in the air
	// SRTT and RTTVar are the RFC 6298 estimates (0 before the first
	// sample); RTO is the current base resend timeout.
	SRTT, RTTVar, RTO time.Duration
}

// Stats returns s's counters.
func (s *Sender) Stats() Stats {
	return Stats{
		Sent: s.sent, Acked: s.acked, Resent: s.resent, Resends: s.resends, GaveUp: s.gaveUp,
		Held: s.held, Flights: len(s.flights), SRTT: s.srtt, RTTVar: s.rttvar, RTO: s.rto,
	}
}
