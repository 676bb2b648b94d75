package ack

import (
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/fleetwire/fleetwire/codec"
)

// modelDomain bounds the numbers the model tests use: above MaxRanges
// one-sample ranges two apart, so that the bound is reached.
const modelDomain = 300

// runModel applies the operations ops encodes (3 bytes each: kind, a, b)
// to a Set and to a model (a bool per number) and checks, after each,
// that they hold the same numbers, that Add reported exactly the new ones,
// and that the Set keeps its invariants.
func runModel(t *testing.T, ops []byte) {
	var s Set
	var held [modelDomain]bool
	for len(ops) >= 3 {
		kind, a, b := ops[0]%8, uint64(ops[1]), uint64(ops[2])
		ops = ops[3:]
		lo, hi := a, a+b%8
		switch {
		case kind < 5: // Add, the most common
			var fresh [modelDomain]bool
			added, err := s.Add(lo, hi, func(lo, hi uint64) {
				for q := lo; q <= hi; q++ {
					if fresh[q] {
						t.Fatalf("Add(%d, %d): %d reported twice", lo, hi, q)
					}
					fresh[q] = true
				}
			})
			if errors.Is(err, ErrFull) {
				// Refused: it had to need a new range at the bound.
				if s.Len() != MaxRanges || lo <= s.Next() {
					t.Fatalf("Add(%d, %d) refused with %d ranges, next %d", lo, hi, s.Len(), s.Next())
				}
				for q := lo - 1; q <= hi+1; q++ {
					if held[q] {
						t.Fatalf("Add(%d, %d) refused but %d is held: it would join", lo, hi, q)
					}
				}
				break
			}
			var want uint64
			for q := lo; q <= hi; q++ {
				if fresh[q] == held[q] {
					t.Fatalf("Add(%d, %d): %d new %v, held before %v", lo, hi, q, fresh[q], held[q])
				}
				if fresh[q] {
					want++
				}
				held[q] = true
			}
			if err != nil || added != want {
				t.Fatalf("Add(%d, %d) = %d, %v; want %d", lo, hi, added, err, want)
			}
		case kind < 7: // Remove
			forgot, err := s.Remove(lo, hi)
			if err != nil {
				t.Fatal(err)
			}
			for q := lo; q <= hi; q++ {
				held[q] = false
			}
			// What it forgot must be the highest numbers held, above
			// everything it kept.
			var lost, keptTop uint64
			for q := range uint64(modelDomain) {
				switch {
				case s.Contains(q) && !held[q]:
					t.Fatalf("Remove(%d, %d): %d held without being added", lo, hi, q)
				case held[q] && !s.Contains(q):
					lost++
					if q < keptTop {
						t.Fatalf("Remove(%d, %d): forgot %d below kept %d", lo, hi, q, keptTop)
					}
					held[q] = false
				case held[q]:
					keptTop = q
					if lost > 0 {
						t.Fatalf("Remove(%d, %d): kept %d above a forgotten number", lo, hi, q)
					}
				}
			}
			if lost != forgot {
				t.Fatalf("Remove(%d, %d) forgot %d, reported %d", lo, hi, lost, forgot)
			}
		default: // Advance, to a low number so that holes stay
			next := b % 64
			var want uint64
			for q := range next {
				if !held[q] {
					want++
				}
				held[q] = true
			}
			if skipped := s.Advance(next); skipped != want {
				t.Fatalf("Advance(%d) = %d, want %d", next, skipped, want)
			}
		}
		checkSet(t, &s, held[:])
	}
}

// checkSet checks s's invariants and that it holds exactly held.
func checkSet(t *testing.T, s *Set, held []bool) {
	t.Helper()
	if s.Len() > MaxRanges {
		t.Fatalf("%d ranges", s.Len())
	}
	above := s.Next()
	for _, r := range s.Ranges(MaxRanges) {
		if r.Lo <= above || r.Hi < r.Lo {
			t.Fatalf("ranges out of order: %s", s)
		}
		above = r.Hi + 1
	}
	next := uint64(0)
	for next < uint64(len(held)) && held[next] {
		next++
	}
	if s.Next() != next {
		t.Fatalf("Next %d, model %d: %s", s.Next(), next, s)
	}
	for q := range uint64(len(held)) {
		if s.Contains(q) != held[q] {
			t.Fatalf("Contains(%d) = %v, model %v: %s", q, s.Contains(q), held[q], s)
		}
	}
}

// TestSetModel runs random operations against the model.
func TestSetModel(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for run := range 200 {
		ops := make([]byte, 3*400)
		for i := range ops {
			ops[i] = byte(rng.Uint32())
		}
		t.Run("", func(t *testing.T) {
			runModel(t, ops)
			_ = run
		})
	}
}

// FuzzSet runs the model test on fuzzed operations. The seed corpus in
// testdata/fuzz/FuzzSet fills the set to its bound and splits at it.
func FuzzSet(f *testing.F) {
	f.Add([]byte{0, 0, 7, 0, 20, 3, 5, 2, 0, 7, 10, 0})
	var full []byte
	for q := range 70 {
		full = append(full, 0, byte(3+3*q), 0) // more ranges than fit
	}
	f.Add(append(full, 5, 4, 0, 5, 13, 0, 7, 0, 30))
	f.Fuzz(func(t *testing.T, ops []byte) {
		runModel(t, ops)
	})
}

func TestSetAdd_Allocs(t *testing.T) {
	var s Set
	var n uint64
	fresh := func(lo, hi uint64) { n += hi - lo + 1 }
	q := uint64(0)
	if a := testing.AllocsPerRun(1000, func() {
		_, _ = s.Add(q, q+9, fresh)
		q += 10
	}); a != 0 {
		t.Fatalf("in-order Add: %.1f allocations", a)
	}
	// Out of order, once the range array has grown: none either.
	for i := range uint64(MaxRanges) {
		_, _ = s.Add(q+2+4*i, q+2+4*i, nil)
	}
	s.Advance(q + 1000)
	q += 1000
	if a := testing.AllocsPerRun(1000, func() {
		_, _ = s.Add(q+5, q+6, fresh) // a hole, then filled
		_, _ = s.Add(q, q+4, fresh)
		q += 7
	}); a != 0 {
		t.Fatalf("out-of-order Add: %.1f allocations", a)
	}
	_ = codec.SeqRange{}
}
