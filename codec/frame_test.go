package codec

import "testing"

// TestBatchRanges: the range arena is covered by Mark/Rollback, emptied
// by Reset, let go of by Shrink, and hands out capped slices.
func TestBatchRanges(t *testing.T) {
	var b Batch
	m0 := b.Mark()
	if r := b.RangesSince(m0); r != nil {
		t.Fatalf("no ranges: %v", r)
	}
	b.AddRange(SeqRange{Lo: 1, Hi: 2})
	b.AddRange(SeqRange{Lo: 4, Hi: 4})
	first := b.RangesSince(m0)
	m1 := b.Mark()
	b.AddRange(SeqRange{Lo: 9, Hi: 12})
	second := b.RangesSince(m1)
	if len(first) != 2 || cap(first) != 2 || len(second) != 1 || second[0].Len() != 4 {
		t.Fatalf("first %v (cap %d), second %v", first, cap(first), second)
	}
	b.Rollback(m1)
	if b.Mark() != m1 {
		t.Fatal("Rollback left ranges")
	}
	b.Reset()
	if b.Mark() != m0 {
		t.Fatal("Reset left ranges")
	}
	for range 1000 {
		b.AddRange(SeqRange{})
	}
	b.Reset()
	b.Shrink(1024)
	if cap(b.ranges) != 0 {
		t.Fatalf("Shrink kept %d ranges", cap(b.ranges))
	}
}

func TestControlKindString(t *testing.T) {
	for k, want := range map[ControlKind]string{ControlStored: "stored", ControlGaveUp: "gaveup", ControlHello: "hello", 99: "control(?)"} {
		if k.String() != want {
			t.Errorf("%d: %q, want %q", k, k, want)
		}
	}
}
