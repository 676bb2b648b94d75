package ack

import (
	"errors"
	"strconv"

	"github.com/fleetwire/fleetwire/codec"
)

// MaxRanges is the most ranges a Set holds above its Next. Each is a run
// of held numbers after a hole, so 64 holes per device at once, which at
// 5 % random loss is a window of over a thousand samples.
const MaxRanges = 64

// Errors of Set.
var (
	// ErrFull: the Add would need one range more than MaxRanges. Nothing
	// changed; the sender will send the samples again.
	ErrFull = errors.New("ack: set full: the samples would need a 65th range above next")
	// ErrRange: a range with lo > hi or hi = 2^64-1 (sample 2^64-1 never
	// exists, so that hi+1 is always a number).
	ErrRange = errors.New("ack: range must have lo <= hi < 2^64-1")
)

// Set is the set of sequence numbers a receiver holds for one device: all
// numbers below Next, and the ranges above it (inclusive, ascending,
// neither overlapping nor adjacent, none touching Next). The zero Set is
// empty with Next 0. A Set is not safe for concurrent use.
//
// Memory: 32 bytes, plus 16 bytes per range once the first hole appears;
// the range array grows by doubling up to MaxRanges and is kept.
type Set struct {
	next   uint64
	ranges []codec.SeqRange
}

// Next returns the cumulative point: every number below it is held.
func (s *Set) Next() uint64 { return s.next }

// Len returns how many ranges are held above Next.
func (s *Set) Len() int { return len(s.ranges) }

// Reset empties s and sets its Next, keeping its memory.
func (s *Set) Reset(next uint64) {
	s.next = next
	s.ranges = s.ranges[:0]
}

// Ranges returns the lowest n ranges above Next (all when n is larger).
// The slice aliases s, capped, and is valid until s changes.
func (s *Set) Ranges(n int) []codec.SeqRange {
	k := min(max(n, 0), len(s.ranges))
	return s.ranges[:k:k]
}

// Stored returns the #stored control that acknowledges s for device: Next
// and the lowest codec.MaxStoredRanges ranges, which alias s (see Ranges).
// A range left out is acknowledged by a later #stored, once the holes
// below it fill.
func (s *Set) Stored(device []byte) codec.Control {
	return codec.Control{Kind: codec.ControlStored, Device: device, Seq: s.next, Ranges: s.Ranges(codec.MaxStoredRanges)}
}

// find returns the index of the first range with Hi >= q.
func (s *Set) find(q uint64) int {
	lo, hi := 0, len(s.ranges)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if s.ranges[m].Hi < q {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo
}

// Contains reports whether q is held.
func (s *Set) Contains(q uint64) bool {
	if q < s.next {
		return true
	}
	i := s.find(q)
	return i < len(s.ranges) && s.ranges[i].Lo <= q
}

// Add holds [lo, hi] (inclusive). It returns how many of those numbers
// were not held before, and calls fresh (when not nil) once for each
// maximal run of them, in ascending order, before it returns; the rest
// are duplicates. fresh must not use s.
//
// An Add that would need a range more than MaxRanges changes nothing and
// returns ErrFull: it happens only for a run that neither touches Next
// nor any held range, so numbers arriving in order are always taken, and
// the holes below fill first. ErrRange: lo > hi or hi = 2^64-1.
//
// In order (lo <= Next < hi+1 below the first range) Add is O(1);
// otherwise O(log n) to find the place and O(n) to move ranges, n <=
// MaxRanges. It allocates only when the range array grows.
func (s *Set) Add(lo, hi uint64, fresh func(lo, hi uint64)) (added uint64, err error) {
	if lo > hi || hi == 1<<64-1 {
		return 0, ErrRange
	}
	if hi < s.next {
		return 0, nil
	}
	lo = max(lo, s.next) // numbers below next are duplicates
	// Fast path: in order, not reaching the first range.
	if lo == s.next && (len(s.ranges) == 0 || hi+1 < s.ranges[0].Lo) {
		s.next = hi + 1
		if fresh != nil {
			fresh(lo, hi)
		}
		return hi - lo + 1, nil
	}
	// Slow path: ranges [i, j) overlap or touch [lo, hi].
	i := 0
	if lo > s.next {
		i = s.find(lo - 1)
	}
	j := i
	for j < len(s.ranges) && s.ranges[j].Lo <= hi+1 {
		j++
	}
	if i == j && lo > s.next && len(s.ranges) == MaxRanges {
		return 0, ErrFull
	}
	q := lo // the lowest number of [lo, hi] not yet accounted for
	for _, r := range s.ranges[i:j] {
		if r.Lo > q {
			added += r.Lo - q
			if fresh != nil {
				fresh(q, r.Lo-1)
			}
		}
		q = max(q, r.Hi+1)
	}
	if q <= hi {
		added += hi - q + 1
		if fresh != nil {
			fresh(q, hi)
		}
	}
	merged := codec.SeqRange{Lo: lo, Hi: hi}
	if i < j {
		merged.Lo = min(lo, s.ranges[i].Lo)
		merged.Hi = max(hi, s.ranges[j-1].Hi)
	}
	switch {
	case lo == s.next: // i == 0: the run joins the cumulative part
		s.next = merged.Hi + 1
		s.ranges = s.ranges[:copy(s.ranges, s.ranges[j:])]
	case i == j:
		s.insert(i, merged)
	default:
		s.ranges[i] = merged
		s.ranges = append(s.ranges[:i+1], s.ranges[j:]...)
	}
	return added, nil
}

// Remove stops holding [lo, hi] (inclusive): a receiver whose write
// failed takes back what it had counted as stored, so that it is never
// acknowledged. Numbers in [lo, hi] not held are ignored. Remove always
// succeeds: when it splits a range (or the cumulative part) and so needs a
// range more than MaxRanges, it forgets the highest range instead and
// returns how many held numbers that forgot. Forgetting is safe (the
// sender resends them and they are stored twice); acknowledging what was
// not stored would not be. ErrRange as for Add.
func (s *Set) Remove(lo, hi uint64) (forgot uint64, err error) {
	if lo > hi || hi == 1<<64-1 {
		return 0, ErrRange
	}
	if lo < s.next {
		old := s.next
		s.next = lo
		if hi+1 < old {
			// [hi+1, old-1] is still held; ranges above old are untouched.
			return s.insert(0, codec.SeqRange{Lo: hi + 1, Hi: old - 1}), nil
		}
		lo = old
	}
	i := s.find(lo)
	for i < len(s.ranges) && s.ranges[i].Lo <= hi {
		r := &s.ranges[i]
		switch {
		case r.Lo < lo && r.Hi > hi: // split
			rest := codec.SeqRange{Lo: hi + 1, Hi: r.Hi}
			r.Hi = lo - 1
			return s.insert(i+1, rest), nil
		case r.Lo < lo:
			r.Hi = lo - 1
			i++
		case r.Hi > hi:
			r.Lo = hi + 1
			i++
		default:
			s.ranges = append(s.ranges[:i], s.ranges[i+1:]...)
		}
	}
	return 0, nil
}

// Advance settles every number below next, held or not: the sender gave
// them up (#gaveup), so the receiver stops waiting for them. It returns
// how many of them were not held (lost for good).
func (s *Set) Advance(next uint64) (skipped uint64) {
	if next <= s.next {
		return 0
	}
	skipped = next - s.next
	k := 0
	for ; k < len(s.ranges) && s.ranges[k].Lo <= next; k++ {
		r := s.ranges[k]
		skipped -= min(r.Hi+1, next) - r.Lo
		next = max(next, r.Hi+1) // a range that reaches next (or touches it) joins
	}
	s.next = next
	s.ranges = s.ranges[:copy(s.ranges, s.ranges[k:])]
	return skipped
}

// insert puts r at index i. At MaxRanges it forgets the highest range
// instead (r itself when it would be the highest) and returns its length.
func (s *Set) insert(i int, r codec.SeqRange) (forgot uint64) {
	if len(s.ranges) == MaxRanges {
		if i == MaxRanges {
			return r.Len()
		}
		forgot = s.ranges[MaxRanges-1].Len()
		s.ranges = s.ranges[:MaxRanges-1]
	}
	if len(s.ranges) == cap(s.ranges) {
		grown := make([]codec.SeqRange, len(s.ranges), min(max(2*cap(s.ranges), 4), MaxRanges))
		copy(grown, s.ranges)
		s.ranges = grown
	}
	s.ranges = s.ranges[:len(s.ranges)+1]
	copy(s.ranges[i+1:], s.ranges[i:])
	s.ranges[i] = r
	return forgot
}

// String returns s as the payload of its #stored would read, with every
// range: "next lo-hi ...". For tests and logs; it allocates.
func (s *Set) String() string {
	b := strconv.AppendUint(nil, s.next, 10)
	for _, r := range s.ranges {
		b = append(b, ' ')
		b = strconv.AppendUint(b, r.Lo, 10)
		b = append(b, '-')
		b = strconv.AppendUint(b, r.Hi, 10)
	}
	return string(b)
}
