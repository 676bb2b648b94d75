package loadgen

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

func TestMerge(t *testing.T) {
	part := func(devs []string, late ...int64) *Report {
		h := newLatenessHist()
		for _, v := range late {
			recordLateness(h, v*1000)
		}
		r := &Report{
			Transport: "tcp", Codec: "text", Devices: len(devs), Procs: 1, Loops: 2,
			FramesSent: uint64(len(late)), ReadingsSent: 2 * uint64(len(late)), BytesSent: 100,
			ConnectFailures: map[string]uint64{"refused": 1}, SendErrorsByReason: map[string]uint64{"eagain": 2},
			DroppedByReason: map[string]uint64{}, CPUUserSeconds: 1, CPUSysSeconds: 0.5, MaxRSSBytes: 10 << 20,
			DurationSeconds: float64(len(devs)),
		}
		for _, d := range devs {
			r.PerDevice = append(r.PerDevice, DeviceReport{Device: d, Frames: 1, LED: "on"})
		}
		setLateness(&r.Lateness, h)
		// Through JSON, as from a worker.
		b, _ := json.Marshal(r)
		var back Report
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatal(err)
		}
		return &back
	}
	m, err := Merge([]*Report{part([]string{"dev-3", "dev-4"}, 100, 200, 300), part([]string{"dev-1", "dev-2"}, 1000, 2000)})
	if err != nil {
		t.Fatal(err)
	}
	if m.Procs != 2 || m.Devices != 4 || m.FramesSent != 5 || m.ReadingsSent != 10 || m.BytesSent != 200 {
		t.Fatalf("totals %+v", m)
	}
	if m.ConnectFailuresTotal != 2 || m.SendErrors != 4 || m.ConnectFailures["refused"] != 2 {
		t.Fatalf("errors %v %v", m.ConnectFailures, m.SendErrorsByReason)
	}
	if m.Lateness.Count != 5 || m.Lateness.MaxUs < 1990 || m.Lateness.MaxUs > 2010 || m.Lateness.P50Us < 295 || m.Lateness.P50Us > 305 {
		t.Fatalf("lateness %+v", m.Lateness)
	}
	if m.CPUUserSeconds != 2 || m.MaxRSSBytes != 20<<20 || m.DurationSeconds != 2 || m.LEDsOn != 4 {
		t.Fatalf("cpu %v rss %d duration %v leds %d", m.CPUUserSeconds, m.MaxRSSBytes, m.DurationSeconds, m.LEDsOn)
	}
	if m.CPUNsPerFrame != 3e9/5 {
		t.Fatalf("cpu ns/frame %v", m.CPUNsPerFrame)
	}
	for i, d := range m.PerDevice {
		if want := []string{"dev-1", "dev-2", "dev-3", "dev-4"}[i]; d.Device != want {
			t.Fatalf("device %d is %s, want %s", i, d.Device, want)
		}
	}
	var out bytes.Buffer
	if err := m.WriteSummary(&out); err != nil || !strings.Contains(out.String(), "5 frames, 10 readings") {
		t.Fatalf("summary %v:\n%s", err, out.String())
	}
}
