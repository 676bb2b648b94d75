package ack

import (
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/fleetwire/fleetwire/codec"
)

// mkSet builds a Set from its String form, "next lo-hi ...".
func mkSet(t testing.TB, state string) *Set {
	t.Helper()
	f := strings.Fields(state)
	next, err := strconv.ParseUint(f[0], 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	var s Set
	s.Reset(next)
	for _, r := range f[1:] {
		a, b, _ := strings.Cut(r, "-")
		lo, _ := strconv.ParseUint(a, 10, 64)
		hi, _ := strconv.ParseUint(b, 10, 64)
		if _, err := s.Add(lo, hi, nil); err != nil {
			t.Fatalf("building %q: %v", state, err)
		}
	}
	if s.String() != state {
		t.Fatalf("state %q builds as %q", state, s.String())
	}
	return &s
}

// rg returns n one-sample ranges from first, four apart, in String form
// with a leading space: " 3-3 7-7 ...". Between two of them lie three
// numbers, the middle one apart from both.
func rg(first uint64, n int) string {
	var s string
	for i := range n {
		q := strconv.FormatUint(first+4*uint64(i), 10)
		s += " " + q + "-" + q
	}
	return s
}

func TestSetAdd_Success(t *testing.T) {
	f := func(state string, lo, hi uint64, want, wantFresh string, wantAdded uint64) {
		t.Helper()
		s := mkSet(t, state)
		var fresh []string
		added, err := s.Add(lo, hi, func(lo, hi uint64) { fresh = append(fresh, strconv.FormatUint(lo, 10)+"-"+strconv.FormatUint(hi, 10)) })
		if err != nil || s.String() != want || strings.Join(fresh, " ") != wantFresh || added != wantAdded {
			t.Fatalf("%q Add(%d, %d) = %d, %v: %q, fresh %q; want %d: %q, fresh %q",
				state, lo, hi, added, err, s, fresh, wantAdded, want, wantFresh)
		}
	}
	f("0", 0, 9, "10", "0-9", 10)                                   // in order
	f("10", 10, 10, "11", "10-10", 1)                               // one sample
	f("10", 5, 14, "15", "10-14", 5)                                // overlaps next
	f("10", 3, 9, "10", "", 0)                                      // all duplicate
	f("10", 12, 14, "10 12-14", "12-14", 3)                         // a hole before it
	f("10", 11, 11, "10 11-11", "11-11", 1)                         // a hole of one
	f("10 20-29", 10, 14, "15 20-29", "10-14", 5)                   // in order, below the first range
	f("10 20-29", 10, 18, "19 20-29", "10-18", 9)                   // up to one below a range
	f("10 20-29", 10, 19, "30", "10-19", 10)                        // fills the hole: joins next
	f("10 20-29", 10, 25, "30", "10-19", 10)                        // and overlaps the range
	f("10 20-29", 10, 40, "41", "10-19 30-40", 21)                  // and passes it
	f("10 20-29 40-49", 5, 45, "50", "10-19 30-39", 20)             // fills two holes
	f("10 20-29 40-49", 12, 45, "10 12-49", "12-19 30-39", 18)      // fills one and a half
	f("10 20-29", 30, 35, "10 20-35", "30-35", 6)                   // extends a range up
	f("10 20-29", 15, 19, "10 15-29", "15-19", 5)                   // extends a range down
	f("10 20-29", 22, 25, "10 20-29", "", 0)                        // inside a range
	f("10 20-29 40-49", 30, 39, "10 20-49", "30-39", 10)            // joins two ranges
	f("10 20-29 40-49", 31, 38, "10 20-29 31-38 40-49", "31-38", 8) // between, apart
	f("10 20-29 40-49", 60, 60, "10 20-29 40-49 60-60", "60-60", 1)
	f("10 20-29 40-49", 12, 12, "10 12-12 20-29 40-49", "12-12", 1)
	f("0"+rg(3, 64), 0, 1, "2"+rg(3, 64), "0-1", 2)                     // full, but in order
	f("0"+rg(3, 64), 0, 2, "4"+rg(7, 63), "0-2", 3)                     // full, and joins next to the first range
	f("0"+rg(3, 64), 256, 300, "0"+rg(3, 63)+" 255-300", "256-300", 45) // full, but it touches the last range
	f("0"+rg(3, 64), 4, 6, "0 3-7"+rg(11, 62), "4-6", 3)                // full, but it joins two
	f("18446744073709551600", 18446744073709551600, 18446744073709551613, "18446744073709551614", "18446744073709551600-18446744073709551613", 14)
}

func TestSetAdd_Failure(t *testing.T) {
	f := func(state string, lo, hi uint64, want error) {
		t.Helper()
		s := mkSet(t, state)
		for range 2 {
			called := false
			added, err := s.Add(lo, hi, func(lo, hi uint64) { called = true })
			if !errors.Is(err, want) || added != 0 || called || s.String() != state {
				t.Fatalf("%q Add(%d, %d) = %d, %v (fresh called %v), now %q; want %v, unchanged", state, lo, hi, added, err, called, s, want)
			}
		}
	}
	f("0", 5, 4, ErrRange)
	f("0", 5, 1<<64-1, ErrRange)
	f("0"+rg(3, 64), 1, 1, ErrFull) // below the ranges, apart from next
	f("0"+rg(3, 64), 5, 5, ErrFull) // between two, apart from both
	f("0"+rg(3, 64), 300, 310, ErrFull)
}

func TestSetRemove(t *testing.T) {
	f := func(state string, lo, hi uint64, want string, wantForgot uint64) {
		t.Helper()
		s := mkSet(t, state)
		forgot, err := s.Remove(lo, hi)
		if err != nil || s.String() != want || forgot != wantForgot {
			t.Fatalf("%q Remove(%d, %d) = %d, %v: %q; want %d: %q", state, lo, hi, forgot, err, s, wantForgot, want)
		}
	}
	f("10", 9, 9, "9", 0)                      // the last of the cumulative part
	f("10", 5, 9, "5", 0)                      //
	f("10", 5, 6, "5 7-9", 0)                  // a hole in it: the rest becomes a range
	f("10 20-29", 5, 6, "5 7-9 20-29", 0)      //
	f("10 20-29", 5, 25, "5 26-29", 0)         // through a hole into a range
	f("10 20-29", 12, 15, "10 20-29", 0)       // nothing held there
	f("10 20-29", 20, 29, "10", 0)             // a whole range
	f("10 20-29", 18, 31, "10", 0)             // and the holes around it
	f("10 20-29", 20, 24, "10 25-29", 0)       // its start
	f("10 20-29", 25, 29, "10 20-24", 0)       // its end
	f("10 20-29", 22, 24, "10 20-21 25-29", 0) // its middle: split
	f("10 20-29 40-49 60-69", 25, 45, "10 20-24 46-49 60-69", 0)
	f("10"+rg(13, 64), 5, 5, "5 6-9"+rg(13, 63), 1)                    // full: the highest range is forgotten
	f("10"+rg(13, 64), 5, 9, "5"+rg(13, 64), 0)                        // no new range: nothing forgotten
	f("0 2-5"+rg(9, 63), 3, 3, "0 2-2 4-5"+rg(9, 62), 1)               // a split when full
	f("0"+rg(3, 63)+" 255-260", 257, 257, "0"+rg(3, 63)+" 255-256", 3) // the new range would be the highest
}

func TestSetRemove_Failure(t *testing.T) {
	s := mkSet(t, "10 20-29")
	for range 2 {
		if _, err := s.Remove(5, 4); !errors.Is(err, ErrRange) {
			t.Fatal(err)
		}
		if _, err := s.Remove(5, 1<<64-1); !errors.Is(err, ErrRange) || s.String() != "10 20-29" {
			t.Fatal(err, s)
		}
	}
}

func TestSetAdvance(t *testing.T) {
	f := func(state string, next uint64, want string, wantSkipped uint64) {
		t.Helper()
		s := mkSet(t, state)
		if skipped := s.Advance(next); s.String() != want || skipped != wantSkipped {
			t.Fatalf("%q Advance(%d) = %d: %q; want %d: %q", state, next, skipped, s, wantSkipped, want)
		}
	}
	f("10", 5, "10", 0)
	f("10", 10, "10", 0)
	f("10", 15, "15", 5)
	f("10 20-29", 15, "15 20-29", 5)
	f("10 20-29", 19, "19 20-29", 9)
	f("10 20-29", 20, "30", 10) // touches the range: it joins
	f("10 20-29", 25, "30", 10)
	f("10 20-29", 30, "30", 10)
	f("10 20-29 31-40", 30, "30 31-40", 10)
	f("10 20-29 31-40", 31, "41", 11)
	f("10 20-29 40-49 60-69", 45, "50 60-69", 20)
}

func TestSetContains(t *testing.T) {
	s := mkSet(t, "10 20-29 40-40")
	for q, want := range map[uint64]bool{0: true, 9: true, 10: false, 19: false, 20: true, 29: true, 30: false, 39: false, 40: true, 41: false, 1<<64 - 1: false} {
		if s.Contains(q) != want {
			t.Errorf("Contains(%d) = %v", q, !want)
		}
	}
}

func TestSetStored(t *testing.T) {
	s := mkSet(t, "100"+rg(103, 20))
	c := s.Stored([]byte("m"))
	if c.Kind != codec.ControlStored || string(c.Device) != "m" || c.Seq != 100 || len(c.Ranges) != codec.MaxStoredRanges ||
		cap(c.Ranges) != len(c.Ranges) || c.Ranges[0] != (codec.SeqRange{Lo: 103, Hi: 103}) {
		t.Fatalf("Stored = %+v", c)
	}
	if r := s.Ranges(3); len(r) != 3 || cap(r) != 3 || r[2].Lo != 111 {
		t.Fatalf("Ranges(3) = %v", r)
	}
	if r := s.Ranges(100); len(r) != 20 {
		t.Fatalf("Ranges(100) has %d", len(r))
	}
	if r := s.Ranges(-1); len(r) != 0 {
		t.Fatalf("Ranges(-1) = %v", r)
	}
	var empty Set
	if c := empty.Stored(nil); c.Seq != 0 || c.Ranges != nil && len(c.Ranges) != 0 {
		t.Fatalf("empty Stored = %+v", c)
	}
}
