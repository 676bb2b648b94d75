package natssink

import (
	"testing"

	"github.com/fleetwire/fleetwire/codec"
)

func TestGapCounter(t *testing.T) {
	type fr struct {
		dev           string
		seq           uint64
		samples, chns int
		noSeq         bool
		times         []int64 // with since
	}
	f := func(frames []fr, since int64, hasSince bool, want ReadStats) {
		t.Helper()
		g := gapCounter{}
		for _, x := range frames {
			f := codec.Frame{Device: []byte(x.dev), Seq: x.seq, Flags: codec.HasSeq, Channels: x.chns,
				Times: make([]int64, x.samples)}
			if x.noSeq {
				f.Flags = 0
			}
			if x.times != nil {
				f.Times, f.Flags = x.times, f.Flags|codec.HasTime
			}
			g.addFrame(&f, since, hasSince)
		}
		var got ReadStats
		g.count(&got)
		if got != want {
			t.Fatalf("%+v: got %+v, want %+v", frames, got, want)
		}
	}
	f(nil, 0, false, ReadStats{})
	// Whole, in order: no gap.
	f([]fr{{dev: "a", seq: 0, samples: 4, chns: 2}, {dev: "a", seq: 4, samples: 4, chns: 2}}, 0, false, ReadStats{Devices: 1})
	// Rows 4-7 and 10 missing; two channels each.
	f([]fr{{dev: "a", seq: 0, samples: 4, chns: 2}, {dev: "a", seq: 8, samples: 2, chns: 2}, {dev: "a", seq: 11, samples: 1, chns: 2}}, 0, false,
		ReadStats{Devices: 1, GapDevices: 1, MissingRows: 5, MissingReadings: 10})
	// Out of order fills a gap; devices are apart.
	f([]fr{{dev: "a", seq: 8, samples: 2, chns: 1}, {dev: "b", seq: 100, samples: 1, chns: 3}, {dev: "a", seq: 0, samples: 8, chns: 1}, {dev: "b", seq: 102, samples: 1, chns: 3}}, 0, false,
		ReadStats{Devices: 2, GapDevices: 1, MissingRows: 1, MissingReadings: 3})
	// Frames without sequence numbers say nothing.
	f([]fr{{dev: "a", seq: 0, samples: 1, chns: 1}, {dev: "a", seq: 5, samples: 1, chns: 1, noSeq: true}, {dev: "a", seq: 1, samples: 1, chns: 1}}, 0, false, ReadStats{Devices: 1})
	// --since keeps rows 2 and 3 of the first frame: no gap with the next.
	f([]fr{{dev: "a", seq: 0, samples: 4, chns: 1, times: []int64{10, 20, 30, 40}}, {dev: "a", seq: 4, samples: 1, chns: 1, times: []int64{50}}},
		30, true, ReadStats{Devices: 1})
	// A row twice is a duplicate, and hides no missing one.
	f([]fr{{dev: "a", seq: 0, samples: 4, chns: 2}, {dev: "a", seq: 2, samples: 4, chns: 2}}, 0, false,
		ReadStats{Devices: 1, DupDevices: 1, DuplicateRows: 2, DuplicateReadings: 4})
	f([]fr{{dev: "a", seq: 0, samples: 2, chns: 1}, {dev: "a", seq: 1, samples: 1, chns: 1}, {dev: "a", seq: 4, samples: 1, chns: 1}}, 0, false,
		ReadStats{Devices: 1, GapDevices: 1, MissingRows: 2, MissingReadings: 2, DupDevices: 1, DuplicateRows: 1, DuplicateReadings: 1})
	// Out of order, across gaps: runs merge, overlaps count.
	f([]fr{{dev: "a", seq: 20, samples: 5, chns: 1}, {dev: "a", seq: 0, samples: 5, chns: 1}, {dev: "a", seq: 10, samples: 5, chns: 1},
		{dev: "a", seq: 3, samples: 20, chns: 1}}, 0, false,
		ReadStats{Devices: 1, DupDevices: 1, DuplicateRows: 10, DuplicateReadings: 10})
	f([]fr{{dev: "a", seq: 10, samples: 1, chns: 1}, {dev: "a", seq: 30, samples: 1, chns: 1}, {dev: "a", seq: 20, samples: 1, chns: 1},
		{dev: "a", seq: 20, samples: 1, chns: 1}, {dev: "a", seq: 0, samples: 1, chns: 1}}, 0, false,
		ReadStats{Devices: 1, GapDevices: 1, MissingRows: 27, MissingReadings: 27, DupDevices: 1, DuplicateRows: 1, DuplicateReadings: 1})
	// The same seq on two devices is no duplicate.
	f([]fr{{dev: "a", seq: 0, samples: 3, chns: 1}, {dev: "b", seq: 0, samples: 3, chns: 1}}, 0, false, ReadStats{Devices: 2})
	// --since keeps rows whose time is late enough even out of order.
	f([]fr{{dev: "a", seq: 0, samples: 3, chns: 1, times: []int64{40, 10, 40}}}, 30, true,
		ReadStats{Devices: 1, GapDevices: 1, MissingRows: 1, MissingReadings: 1})
}
