package loadgen

import (
	"bytes"
	"testing"
	"time"

	"github.com/fleetwire/fleetwire/codec"
	"github.com/fleetwire/fleetwire/codec/csvio/csvtest"
	"github.com/fleetwire/fleetwire/codec/text"
)

func testSched(t *testing.T, c *Config) *sched {
	t.Helper()
	r, err := newRunner(c, &targets{list: []target{{}}, perSource: c.PerSource})
	if err != nil {
		t.Fatal(err)
	}
	return &r.sched
}

// TestWalk: values stay on the sensor's grid and range and print with the
// sensor's fixed decimals; a device's signal depends on its number only.
func TestWalk(t *testing.T) {
	c := DefaultConfig()
	c.Channels, c.Samples = len(sensors), 1
	s := testSched(t, &c)
	var a, b device
	s.initDevice(&a, &c, 42)
	s.initDevice(&b, &c, 42)
	va := s.fill(nil, &a, 5000)
	vb := s.fill(nil, &b, 5000)
	moved := make([]bool, len(sensors))
	for i, v := range va {
		ch := i % len(sensors)
		sn := &sensors[ch]
		if v != vb[i] {
			t.Fatalf("sample %d: %v != %v for the same device", i/len(sensors), v, vb[i])
		}
		if v.Scale != sn.scale || v.Flags != 0 || v.Mant < sn.lo || v.Mant > sn.hi || (v.Mant-sn.center)%sn.quantum != 0 {
			t.Fatalf("%s value %v (mant %d) off the sensor's grid", sn.name, v, v.Mant)
		}
		if i >= len(sensors) && v != va[i-len(sensors)] {
			moved[ch] = true
		}
	}
	for ch, m := range moved {
		if !m {
			t.Errorf("%s never moved", sensors[ch].name)
		}
	}
	var d device
	s.initDevice(&d, &c, 43)
	if vd := s.fill(nil, &d, 1); vd[0] == va[0] && vd[1] == va[1] {
		t.Errorf("devices 42 and 43 start at the same values")
	}
	// Fixed decimals, as firmware prints them: 21.50, not 21.5.
	f := codec.Frame{Device: []byte("dev-1"), Channels: 2, Times: []int64{0}, Values: []codec.Value{walkValue(0, 2150), walkValue(1, 4503)}}
	if got := text.Append(nil, &f, '\n'); !bytes.Equal(got, []byte("dev-1;21.50:45.03\n")) {
		t.Fatalf("printed %q", got)
	}
}

func TestReplayMultihop(t *testing.T) {
	path := csvtest.MultihopPath()
	if path == "" {
		t.Skip("multihop.csv not found")
	}
	set, err := loadReplay(path, ReplayMapping{DeviceCol: "mote_id", SeqCol: "reading", Columns: []string{"humidity", "temperature"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(set.templates) != 4 || len(set.channels) != 2 {
		t.Fatalf("%d templates, %d channels", len(set.templates), len(set.channels))
	}
	for _, tp := range set.templates {
		if tp.samples != 4690 {
			t.Fatalf("mote %s: %d samples", tp.name, tp.samples)
		}
	}
	// Mote 1 starts 43.82,30.21 then 43.79,30.2: decimals as recorded.
	if got := codec.AppendValue(nil, set.sample(0, 1)[1]); string(got) != "30.2" {
		t.Fatalf("second temperature of mote 1 prints %q", got)
	}
	c := DefaultConfig()
	c.Signal, c.Samples = "replay:"+path, 1
	c.Replay = ReplayMapping{DeviceCol: "mote_id", SeqCol: "reading", Columns: []string{"humidity", "temperature"}}
	s := testSched(t, &c)
	var d0, d4 device
	s.initDevice(&d0, &c, 0)
	s.initDevice(&d4, &c, 4)
	if d0.tpl != 0 || d4.tpl != 0 || d0.pos == d4.pos {
		t.Fatalf("devices 0 and 4 play templates %d/%d from %d/%d: want template 0 from different offsets", d0.tpl, d4.tpl, d0.pos, d4.pos)
	}
	// Playing past the end loops.
	start := d0.pos
	vals := s.fill(nil, &d0, 4690)
	if d0.pos != start || !sameValues(vals[:2], set.sample(0, int(start))) {
		t.Fatalf("after a whole recording the device is at %d, want %d", d0.pos, start)
	}
}

func sameValues(a, b []codec.Value) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestSchedule: frames are due on a fixed grid from t0 (never relative to
// the previous send), jitter stays inside the period, and --samples
// splits into whole batches and a remainder.
func TestSchedule(t *testing.T) {
	c := DefaultConfig()
	c.Rate, c.Batch, c.Jitter, c.Samples = 10, 4, 0.5, 10 // a frame every 400 ms
	s := testSched(t, &c)
	period := int64(400 * time.Millisecond)
	if s.periodNs != period || s.stepMs != 100 {
		t.Fatalf("period %d step %d", s.periodNs, s.stepMs)
	}
	for n := range 50 {
		var d device
		s.initDevice(&d, &c, n)
		if d.phase < 0 || d.phase >= period {
			t.Fatalf("phase %d outside the period", d.phase)
		}
		for k := range uint64(100) {
			slot := d.phase + int64(k)*period
			if due := s.due(&d, k); due < slot || due >= slot+period/2 {
				t.Fatalf("device %d frame %d due %d, slot %d: jitter outside [0, period/2)", n, k, due, slot)
			}
		}
	}
	f := func(k uint64, want int) {
		t.Helper()
		if got := s.frameSamples(k); got != want {
			t.Fatalf("frame %d: %d samples, want %d", k, got, want)
		}
	}
	f(0, 4)
	f(1, 4)
	f(2, 2)
	f(3, 0)
}
