package web

import (
	"testing"
	"time"

	"github.com/fleetwire/fleetwire/server"
)

func TestRates(t *testing.T) {
	t0 := time.Unix(1700000000, 0)
	snap := func(at time.Duration, readings, payload, lost uint64, errs uint64) *Snapshot {
		return &Snapshot{SampledAt: t0.Add(at), Stats: server.Stats{Readings: readings, PayloadBytes: payload,
			Lost: lost, Errors: map[string]uint64{"bad_number": errs}, Devices: 3}}
	}
	f := func(a, b *Snapshot, want Point) {
		t.Helper()
		got := rates(a, b)
		want.T, want.Devices = b.SampledAt.UnixMilli(), 3
		if got != want {
			t.Errorf("rates:\n got %+v\nwant %+v", got, want)
		}
	}
	f(snap(0, 0, 0, 0, 0), snap(time.Second, 1000, 4000, 0, 0), Point{Readings: 1000, PayloadBytes: 4000, BytesPerReading: 4})
	f(snap(0, 1000, 0, 0, 1), snap(2*time.Second, 1900, 1800, 100, 5), Point{Readings: 450, PayloadBytes: 900, BytesPerReading: 2, Lost: 50, Loss: 0.1, Errors: 2})
	// Late readings fill gaps: lost falls, the rate is negative, loss 0.
	f(snap(0, 1000, 0, 100, 0), snap(time.Second, 1100, 0, 40, 0), Point{Readings: 100, Lost: -60})
	// A clock that did not move yields no rates.
	f(snap(time.Second, 1000, 0, 0, 0), snap(time.Second, 2000, 0, 0, 0), Point{})
}

func TestRecorderRing(t *testing.T) {
	var n uint64
	r := newRecorder(func() server.Stats { n += 10; return server.Stats{Readings: n} }, nil, time.Second, 3)
	t0 := time.Now()
	for i := 1; i <= 5; i++ {
		r.record(t0.Add(time.Duration(i) * time.Second))
	}
	h := r.history()
	if len(h) != 3 {
		t.Fatalf("history has %d points, want 3 (the ring's size)", len(h))
	}
	for i, p := range h {
		if want := t0.Add(time.Duration(i+3) * time.Second).UnixMilli(); p.T != want || p.Readings != 10 {
			t.Errorf("point %d = %+v, want t %d and 10 readings/s", i, p, want)
		}
	}
	smp, next := r.current()
	r.record(t0.Add(6 * time.Second))
	select {
	case <-next:
	default:
		t.Fatal("a new sample did not wake waiters")
	}
	if smp2, _ := r.current(); smp2 == smp || smp2.Readings != 70 {
		t.Errorf("latest sample not replaced: %d readings", smp2.Readings)
	}
}
