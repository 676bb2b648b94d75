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
	if _, ok := w.nextWake(); ok || w.n0+w.n1 != 0 {
		t.Fatalf("wheel not empty: %d+%d entries", w.n0, w.n1)
	}
	arm(6, 0) // in the past: fires at the next expiry
	f(3*wheelSize*tick+tick, 6)
}

// TestWheelRandom checks the wheel against brute force: every armed
// device fires once, never before it is due, and at the first expiry after
// the end of its tick; re-arming cancels the old entry.
func TestWheelRandom(t *testing.T) {
	const tick = int64(250 * time.Microsecond)
	const n = 2000
	rng := uint64(7)
	w := newWheel(0, time.Duration(tick))
	due := make([]int64, n)
	gens := make([]uint32, n)
	armed := make([]bool, n)
	horizons := []int64{10 * tick, wheelSize * tick, 3 * wheelSize * tick, wheelSize * wheelSize * tick * 2}
	now := int64(0)
	arm := func(d int) {
		h := horizons[uniform(splitmix(&rng), uint64(len(horizons)))]
		gens[d]++
		due[d] = now + int64(uniform(splitmix(&rng), uint64(h)))
		armed[d] = true
		w.add(int32(d), gens[d], due[d])
	}
	for d := range n {
		arm(d)
	}
	for step := 0; step < 20000; step++ {
		prev := now
		now += int64(uniform(splitmix(&rng), uint64(3*wheelSize*tick/1000))) + 1
		if step%1000 == 999 {
			now += wheelSize * wheelSize * tick / 3 // long sleeps too
		}
		fired := w.expire(now, due, gens, nil)
		seen := map[int32]bool{}
		for _, d := range fired {
			if seen[d] || !armed[d] {
				t.Fatalf("device %d fired twice or unarmed", d)
			}
			seen[d] = true
			if due[d] > now {
				t.Fatalf("device %d fired at %d, due %d", d, now, due[d])
			}
			armed[d] = false
		}
		for d := range n {
			// Whatever's tick ended by the previous expiry must have fired then.
			if armed[d] && due[d]/tick < prev/tick-1 {
				t.Fatalf("step %d: device %d due %d (tick %d) still armed at %d", step, d, due[d], due[d]/tick, now)
			}
		}
		for d := range n {
			if !armed[d] || uniform(splitmix(&rng), 50) == 0 {
				arm(d) // re-arm some armed ones too: their old entry goes stale
			}
		}
	}
}

// TestWheelNextWake drives the wheel as a loop does, sleeping until
// nextWake: periodic devices (5 s, longer than a level-0 turn, so they
// live in level 1 between frames) fire within one tick of their due time.
func TestWheelNextWake(t *testing.T) {
	const tick = int64(250 * time.Microsecond)
	const n = 3000
	period := int64(5 * time.Second)
	w := newWheel(0, time.Duration(tick))
	due := make([]int64, n)
	gens := make([]uint32, n)
	rng := uint64(3)
	for d := range n {
		gens[d]++
		due[d] = int64(uniform(splitmix(&rng), uint64(period)))
		w.add(int32(d), gens[d], due[d])
	}
	now, fires := int64(0), 0
	for now < 60*int64(time.Second) {
		at, ok := w.nextWake()
		if !ok {
			t.Fatal("wheel empty")
		}
		if at > now {
			now = at + int64(uniform(splitmix(&rng), 100_000)) // wake-up latency
		}
		for _, d := range w.expire(now, due, gens, nil) {
			if late := now - due[d]; late < 0 || late > tick+100_000 {
				t.Fatalf("device %d due at tick %d fired at tick %d", d, due[d]/tick, now/tick)
			}
			fires++
			due[d] += period
			gens[d]++
			w.add(d, gens[d], due[d])
		}
	}
	if want := n * 12; fires < want-n || fires > want+n {
		t.Fatalf("%d fires in 60 s, want about %d", fires, want)
	}
}
