package web

import (
	"encoding/json"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/fleetwire/fleetwire/codec"
	"github.com/fleetwire/fleetwire/server"
)

// fakeFleet stands in for server.LastSamples: the devices' newest
// samples, a new one whenever readings changes.
type fakeFleet map[string]*server.LastSample

// last passes the devices heard from after since, as the server does.
func (f fakeFleet) last(since int64, fn func(*server.LastSample)) {
	for _, ls := range f {
		if ls.At > since {
			fn(ls)
		}
	}
}

// send gives device id a new sample of vals, arrived at.
func (f fakeFleet) send(id string, at time.Time, vals ...float64) {
	ls := f[id]
	if ls == nil {
		ls = &server.LastSample{ID: id}
		f[id] = ls
	}
	ls.At = at.UnixNano()
	ls.Readings += uint64(len(vals))
	ls.Values = ls.Values[:0]
	for _, v := range vals {
		ls.Values = append(ls.Values, codec.Float(v))
	}
}

type histPoint struct {
	T int64      `json:"t"`
	V []*float64 `json:"v"`
}

type histAnswer struct {
	Interval float64     `json:"interval_s"`
	Channels []string    `json:"channels"`
	Points   []histPoint `json:"points"`
}

func decodeHistory(t *testing.T, b []byte) histAnswer {
	t.Helper()
	var a histAnswer
	if err := json.Unmarshal(b, &a); err != nil {
		t.Fatalf("history JSON %s: %s", b, err)
	}
	return a
}

// TestDeviceHistory: one line per case. steps is a space-separated list
// of ticks: "a=1,2" gives device a a sample of 1 and 2 and records a tick,
// "." records a tick with nothing new, "N*" repeats the next step N times.
// want is device a's answer: channels, then each point's values.
func TestDeviceHistory(t *testing.T) {
	f := func(max int, steps, want string) {
		t.Helper()
		h := newDeviceHistory(max)
		fleet := fakeFleet{}
		now := time.UnixMilli(1_000_000)
		for _, step := range strings.Fields(steps) {
			n := 1
			if i := strings.Index(step, "*"); i > 0 {
				fmt.Sscan(step[:i], &n)
				step = step[i+1:]
			}
			for range n {
				for _, dev := range strings.Split(step, ";") {
					if id, vals, ok := strings.Cut(dev, "="); ok {
						var vs []float64
						for _, v := range strings.Split(vals, ",") {
							var x float64
							fmt.Sscan(v, &x)
							vs = append(vs, x)
						}
						fleet.send(id, now.Add(-time.Millisecond), vs...)
					}
				}
				h.sample(fleet.last, now)
				now = now.Add(time.Second)
			}
		}
		a := decodeHistory(t, h.appendJSON(nil, "a", time.Second))
		var got []string
		got = append(got, strings.Join(a.Channels, ","))
		last := int64(0)
		for _, p := range a.Points {
			if p.T <= last {
				t.Fatalf("%q: times not increasing: %d after %d", steps, p.T, last)
			}
			last = p.T
			var vs []string
			for _, v := range p.V {
				if v == nil {
					vs = append(vs, "null")
				} else {
					vs = append(vs, fmt.Sprint(*v))
				}
			}
			got = append(got, strings.Join(vs, ","))
		}
		if g := strings.Join(got, " "); g != want {
			t.Fatalf("%q: got %q, want %q", steps, g, want)
		}
	}
	f(10, "", "")
	f(10, "a=1", "ch1 1")
	f(10, "a=1,2 a=3,4", "ch1,ch2 1,2 3,4")
	f(10, "a=1 . . a=2", "ch1 1 2")                                                    // ticks without a new sample: no point
	f(10, "a=1 b=5 a=2", "ch1 1 2")                                                    // another device's samples are its own
	f(10, "a=1,2,3,4,5,6,7,8,9,10", "ch1,ch2,ch3,ch4,ch5,ch6,ch7,ch8 1,2,3,4,5,6,7,8") // the first 8 channels
	f(10, "a=1,2 a=3", "ch1 3")                                                        // other channels: the history starts again
	f(10, "a=0.1,1e300", "ch1,ch2 0.1,null")                                           // not a finite float32: null
	f(10, "a=1 298*. a=2", "ch1 1 2")                                                  // 300 ticks: the first still in the window
	f(10, "a=1 299*. a=2", "ch1 2")                                                    // 301: it left
	f(10, "a=1 300*.", "")                                                             // silent for the window: forgotten
	f(10, "400*a=1", "ch1 "+strings.TrimSpace(strings.Repeat("1 ", 300)))              // at most 300 points
	f(1, "b=1 a=2", "")                                                                // the bound: b took the only ring
	f(1, "b=1 300*. a=2", "ch1 2")                                                     // until b went silent
}

// TestDeviceHistoryBound: with room for 2, of 3 devices that send at
// once exactly 2 get a history.
func TestDeviceHistoryBound(t *testing.T) {
	h := newDeviceHistory(2)
	fleet := fakeFleet{}
	now := time.Now()
	for _, id := range []string{"a", "b", "c"} {
		fleet.send(id, now, 1)
	}
	h.sample(fleet.last, now.Add(time.Millisecond))
	kept := 0
	for _, id := range []string{"a", "b", "c"} {
		if a := decodeHistory(t, h.appendJSON(nil, id, time.Second)); len(a.Points) == 1 {
			kept++
		}
	}
	if kept != 2 || len(h.devs) != 2 {
		t.Fatalf("%d devices with a history, %d rings: want 2", kept, len(h.devs))
	}
}

// TestDeviceHistoryMemory measures what one device's history costs:
// the bytes allocated for the rings and the map that holds them (its
// growth included: an upper bound of what stays held), per device, for 1,
// 2 and 8 channels (the cap: 64 sent cost the same). The figures are in
// history.go's comment; this fails if they grow past it.
func TestDeviceHistoryMemory(t *testing.T) {
	const devices = 2000
	for _, c := range []struct {
		channels int
		want     float64 // bytes per device, at most
	}{{1, 1_500}, {2, 2_900}, {8, 10_000}, {64, 10_000}} {
		fleet := fakeFleet{}
		vals := make([]float64, c.channels)
		for i := range devices {
			fleet.send(fmt.Sprintf("dev-%05d", i), time.Now(), vals...)
		}
		var before, after runtime.MemStats
		runtime.GC()
		runtime.GC()
		runtime.ReadMemStats(&before)
		h := newDeviceHistory(devices)
		h.sample(fleet.last, time.Now())
		runtime.GC()
		runtime.ReadMemStats(&after)
		per := float64(after.HeapAlloc-before.HeapAlloc) / devices
		alloc := float64(after.TotalAlloc-before.TotalAlloc) / devices
		t.Logf("%d channels: %.0f bytes per device held, %.0f allocated (%d devices)", c.channels, per, alloc, len(h.devs))
		if len(h.devs) != devices {
			t.Fatalf("%d rings, want %d", len(h.devs), devices)
		}
		if alloc > c.want {
			t.Errorf("%d channels: %.0f bytes per device, more than the %.0f history.go says", c.channels, alloc, c.want)
		}
		runtime.KeepAlive(h)
	}
}
