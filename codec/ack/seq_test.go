package ack

import "testing"

func TestExtend32(t *testing.T) {
	f := func(next, s, want uint64) {
		t.Helper()
		if got := Extend32(next, s); got != want {
			t.Fatalf("Extend32(%#x, %#x) = %#x, want %#x", next, s, got, want)
		}
	}
	const w = 1 << 32
	f(0, 0, 0)
	f(1000, 5, 5)                               // far from the wrap: as sent
	f(w-wrapZone-1, 5, 5)                       // just below the zone
	f(w-wrapZone, 5, w+5)                       // in the zone: 5 is past the wrap
	f(w-wrapZone, w-wrapZone-10, w-wrapZone-10) // a late one before the wrap
	f(w-1, 0, w)                                // the wrap itself
	f(w-1, w-1, w-1)                            // a duplicate of the last before it
	f(w, 0, w)                                  // next already extended
	f(w+5, w-3, w-3)                            // late, from before the wrap
	f(w+5, 7, w+7)                              //
	f(w+100, 1<<32+3, 1<<32+3)                  // a 64-bit number stays
	f(3*w+10, 20, 3*w+20)                       // after three wraps
	f(3*w+10, w-20, 3*w-20)                     // late across the third wrap
	f(3*w, 1<<31, 3*w-(1<<31))                  // exactly 2^31 away: the one below
	f(3*w, 1<<31-1, 3*w+(1<<31)-1)              // just under: the one above
	f(1<<64-10, 20, 1<<64-w+20)                 // the one above would pass 2^64
}
