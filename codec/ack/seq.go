package ack

// wrapZone is how close below 2^32 a receiver's next must be before it
// reads a small 32-bit sequence number as having wrapped: 2^20 samples,
// the distance the server already takes for a device restart, so that a
// device that restarts from 0 early in its life is not taken for one that
// wrapped.
const wrapZone = 1 << 20

// Extend32 returns the 64-bit sequence number that a device whose counter
// is 32 bits meant by s, given the receiver's next (one past the highest
// number it holds for the device, as Set.Next).
//
// Sequence numbers are 64 bits on the wire and a device that asks for
// acknowledgements MUST NOT reuse one: the receiver holds what it stored by
// number, so a reused number is taken for a duplicate and never stored. A
// device with a 32-bit counter wraps from 2^32-1 to 0 (at 100 samples a
// second, after 16 months); the receiver extends its numbers with
// Extend32 so that they stay unique. When s < 2^32 and next is at or
// above 2^32-2^20, the result is the number closest to next whose low 32
// bits are s, as RFC 1982 compares serial numbers (exactly 2^31 away: the
// one below; past 2^64: the one below). Otherwise it is s: before its
// first wrap a device's numbers are what it sends, and a number of 2^32 or
// more is already a 64-bit one.
//
// Such a device reads the numbers of a #stored modulo 2^32.
func Extend32(next, s uint64) uint64 {
	if s >= 1<<32 || next < 1<<32-wrapZone {
		return s
	}
	// The signed distance, modulo 2^32, from next's low 32 bits to s.
	d := int64(int32(uint32(s) - uint32(next)))
	v := next + uint64(d) // d < 0 cannot pass 0: next >= 2^32-2^20 > 2^31
	if d > 0 && v < next {
		v -= 1 << 32 // past 2^64: the candidate below next
	}
	return v
}
