package loadgen

import (
	"slices"
	"testing"
	"time"
)

func TestWheel(t *testing.T) {
	const tick = int64(250 * time.Microsecond)
	w := newWheel(0, time.Duration(tick))
	due := make([]int64, 8)
	gens := make([]uint32, 8)
	arm := func(dev int32, at int64) {
		gens[dev]++
		due[dev] = at
		w.add(dev, gens[dev], at)
	}
	f := func(now int64, want ...int32) {
		t.Helper()
		got := w.expire(now, due, gens, nil)
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Fatalf("expire(%d): %v, want %v", now, got, want)
		}
		for _, d := range got {
			if due[d] > now {
				t.Fatalf("device %d fired at %d, due %d: early", d, now, due[d])
			}
		}
	}
	arm(0, 100_000)               // tick 0
	arm(1, tick+1)                // tick 1
	arm(2, 5*tick)                // tick 5
	arm(3, wheelSize*tick+3*tick) // one turn ahead, same slot as tick 3
	arm(4, 2*tick)                // re-armed below: the first entry is stale
	arm(4, 7*tick)
	arm(5, 2*wheelSize*tick+tick/2) // two turns ahead
	f(tick - 1)                     // tick 0 has not ended
	f(tick, 0)                      // it has
	f(2*tick, 1)                    //
	f(6*tick, 2)                    // ticks 2..5: the stale entry of 4 is dropped, 3 waits a turn
	if at, ok := w.nextWake(); !ok || at != 8*tick {
		t.Fatalf("next wake %d %v, want %d", at, ok, 8*tick)
	}
	f(8*tick, 4)
	f(wheelSize*tick+4*tick, 3)
	f(3*wheelSize*tick, 5)
	if _, ok := w.nextWake(); ok || w.n != 0 {
		t.Fatalf("wheel not empty: %d entries", w.n)
	}
	arm(6, 0) // in the past: fires at the next expiry
	f(3*wheelSize*tick+tick, 6)
}
