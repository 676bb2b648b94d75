package ack

import "testing"

// BenchmarkSetAdd: what a receiver pays per frame it holds.
func BenchmarkSetAdd(b *testing.B) {
	// In order: the common case, O(1).
	b.Run("in-order", func(b *testing.B) {
		var s Set
		var fresh uint64
		cb := func(lo, hi uint64) { fresh += hi - lo + 1 }
		b.ReportAllocs()
		q := uint64(0)
		for b.Loop() {
			_, _ = s.Add(q, q+9, cb)
			q += 10
		}
	})
	// One frame in 20 arrives after the next one (5 % reordering or a
	// resend): holes open and fill, a few ranges held.
	b.Run("holes", func(b *testing.B) {
		var s Set
		b.ReportAllocs()
		q := uint64(0)
		for i := 0; b.Loop(); i++ {
			if i%20 == 0 {
				_, _ = s.Add(q+10, q+19, nil)
				_, _ = s.Add(q, q+9, nil)
				q += 20
				continue
			}
			_, _ = s.Add(q, q+9, nil)
			q += 10
		}
	})
	// A full set: 64 ranges above next, frames landing in the middle.
	b.Run("full", func(b *testing.B) {
		var s Set
		for i := range uint64(MaxRanges) {
			_, _ = s.Add(1000+100*i, 1000+100*i+9, nil)
		}
		b.ReportAllocs()
		i := uint64(0)
		for b.Loop() {
			lo := 1000 + 100*(i%MaxRanges) + 10 + (i/MaxRanges)%80
			_, _ = s.Add(lo, lo, nil)
			i++
		}
	})
}

func BenchmarkSetContains(b *testing.B) {
	var s Set
	for i := range uint64(MaxRanges) {
		_, _ = s.Add(1000+100*i, 1000+100*i+9, nil)
	}
	b.ReportAllocs()
	n := 0
	q := uint64(0)
	for b.Loop() {
		if s.Contains(q % 8000) {
			n++
		}
		q += 7
	}
}
