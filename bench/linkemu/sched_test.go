package linkemu

import (
	"math"
	"testing"
	"time"
)

// The scheduler is pure: these tests drive it with made-up arrival times.

func TestSchedRate(t *testing.T) {
	// 1000 kbit/s = 8 µs per byte: a 1000-byte packet takes 8 ms.
	s := newSched(Dir{RateKbit: 1000, QueueBytes: 2500}, 1)
	f := func(now time.Duration, size int, wantDue time.Duration, want verdict) {
		t.Helper()
		d, v := s.admit(now, size)
		if v != want || (v == pass && d.due != wantDue) {
			t.Fatalf("admit(%v, %d) = %v, %v; want %v, %v", now, size, d.due, v, wantDue, want)
		}
	}
	f(0, 1000, 8*time.Millisecond, pass)                     // idle link: leaves after its own serialization
	f(time.Millisecond, 1000, 16*time.Millisecond, pass)     // waits for the first
	f(2*time.Millisecond, 1000, 0, queueDrop)                // backlog 14 ms = 1750 B, + 1000 > 2500
	f(9*time.Millisecond, 1000, 24*time.Millisecond, pass)   // backlog 7 ms = 875 B, + 1000 fits
	f(100*time.Millisecond, 500, 104*time.Millisecond, pass) // idle again
}

func TestSchedOverhead(t *testing.T) {
	s := newSched(Dir{RateKbit: 8, Overhead: 14}, 1) // 1 ms per byte
	if d, _ := s.admit(0, 86); d.due != 100*time.Millisecond {
		t.Fatalf("due %v, want 100ms (86+14 bytes at 1 ms/B)", d.due)
	}
}

func TestSchedDelayNoReorder(t *testing.T) {
	s := newSched(Dir{Delay: 50 * time.Millisecond, Jitter: 20 * time.Millisecond}, 7)
	var last time.Duration
	for i := range 100000 {
		now := time.Duration(i) * 100 * time.Microsecond
		d, v := s.admit(now, 100)
		if v != pass || d.reordered {
			t.Fatalf("packet %d: %v reordered=%v", i, v, d.reordered)
		}
		if d.due < last {
			t.Fatalf("packet %d leaves at %v, before the previous one (%v)", i, d.due, last)
		}
		if lo, hi := now+30*time.Millisecond, now+70*time.Millisecond; d.due < lo || (d.due > hi && d.due != last) {
			t.Fatalf("packet %d: due %v outside [%v, %v] and not held behind the previous one", i, d.due, lo, hi)
		}
		last = d.due
	}
}

func TestSchedJitterDistribution(t *testing.T) {
	for _, dist := range []JitterDist{JitterUniform, JitterNormal} {
		s := newSched(Dir{Delay: 100 * time.Millisecond, Jitter: 10 * time.Millisecond, JitterDist: dist, JitterReorder: true}, 3)
		const n = 200000
		var sum, sq float64
		reordered := 0
		for i := range n {
			// Far apart, so reordering cannot interfere with the draw.
			now := time.Duration(i) * time.Second
			d, _ := s.admit(now, 100)
			if d.reordered {
				reordered++
			}
			x := float64(d.due-now-100*time.Millisecond) / 1e6
			sum += x
			sq += x * x
		}
		mean := sum / n
		sd := math.Sqrt(sq/n - mean*mean)
		want := 10 / math.Sqrt(3) // uniform on ±10 ms
		if dist == JitterNormal {
			want = 10 * 0.98657 // normal cut at ±3σ keeps 97.3 % of the variance
		}
		t.Logf("%s: mean %+.3f ms, sd %.3f ms (want %.3f)", dist, mean, sd, want)
		if math.Abs(mean) > 0.1 || math.Abs(sd-want) > 0.1 || reordered != 0 {
			t.Fatalf("%s: mean %.3f sd %.3f reordered %d", dist, mean, sd, reordered)
		}
	}
}

func TestSchedJitterReorder(t *testing.T) {
	s := newSched(Dir{Delay: 50 * time.Millisecond, Jitter: 20 * time.Millisecond, JitterReorder: true}, 5)
	reordered := 0
	for i := range 10000 {
		if d, _ := s.admit(time.Duration(i)*time.Millisecond, 100); d.reordered {
			reordered++
		}
	}
	// Packets 1 ms apart with ±20 ms jitter overtake each other often.
	if reordered < 1000 {
		t.Fatalf("%d of 10000 reordered with JitterReorder", reordered)
	}
}

func TestSchedReorderAndDuplicate(t *testing.T) {
	s := newSched(Dir{Delay: 50 * time.Millisecond, ReorderPct: 10, DuplicatePct: 5}, 11)
	const n = 100000
	var reord, skip, dup int
	for i := range n {
		now := time.Duration(i) * time.Millisecond
		d, _ := s.admit(now, 100)
		if d.due == now {
			skip++
		}
		if d.reordered {
			reord++
		}
		if d.dup {
			dup++
		}
	}
	// The first packet to skip has nothing to overtake.
	t.Logf("skipped the delay %d, reordered %d, duplicated %d of %d", skip, reord, dup, n)
	// Binomial: 5 standard deviations around 10 % and 5 %.
	if math.Abs(float64(skip)-0.1*n) > 5*math.Sqrt(n*0.1*0.9) || reord < skip-1 || reord > skip ||
		math.Abs(float64(dup)-0.05*n) > 5*math.Sqrt(n*0.05*0.95) {
		t.Fatal("reorder or duplicate rate off")
	}
}

func TestLineOrder(t *testing.T) {
	l := newLine(4, 16)
	f := func(due time.Duration, wantOK, wantHead bool) {
		t.Helper()
		if ok, head := l.push(packet{due: due, n: int(due)}); ok != wantOK || head != wantHead {
			t.Fatalf("push %v = %v, %v; want %v, %v", due, ok, head, wantOK, wantHead)
		}
	}
	f(30, true, true)
	f(10, true, true)
	f(30, true, false) // same due: after the first 30, in arrival order
	f(20, true, false)
	f(5, false, false) // full
	got, next := l.popDue(nil, 25)
	if len(got) != 2 || got[0].due != 10 || got[1].due != 20 || next != 5 {
		t.Fatalf("popDue(25) = %v, next %v", got, next)
	}
	if l.idle() {
		t.Fatal("idle while popped packets are being written")
	}
	l.written()
	got, next = l.popDue(got[:0], 30)
	if len(got) != 2 || got[0].seq > got[1].seq || next != -1 {
		t.Fatalf("popDue(30) = %v, next %v", got, next)
	}
	if l.written(); !l.idle() {
		t.Fatal("not idle once empty and written")
	}
}
