package bench

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestMergeAndRender: reports run side by side merge into one that holds
// every result, and Render recomputes it from its results.json alone;
// reports of different binaries do not merge.
func TestMergeAndRender(t *testing.T) {
	dir := t.TempDir()
	t0 := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	mk := func(name, link, commit string, start time.Duration, seconds float64) string {
		s := Scenario{Name: "device-10s", Transport: "udp", Codec: "compact", Batch: 3, Devices: 20, Rate: 0.3, Channels: 2,
			Profile: link, Duration: 20 * time.Second, Engines: []string{"gnet"}}
		r := &Report{Name: name, Started: t0.Add(start), Seconds: seconds, Command: "fleetwire bench --matrix " + link + ".yaml",
			Machine: Machine{Commit: commit}, Links: []string{link}, Profiles: []string{link},
			Results: []Result{{Scenario: s, Engine: "gnet"}}}
		d := filepath.Join(dir, name)
		if err := r.WriteFiles(d); err != nil {
			t.Fatal(err)
		}
		return d
	}
	a := mk("a", "nbiot-emu", "abc", 0, 100)
	b := mk("b", "geo-emu", "abc", 30*time.Second, 200)
	out := filepath.Join(dir, "merged")
	m, err := Merge(out, "devices", []string{a, b})
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Results) != 2 || len(m.Links) != 2 || m.Seconds != 230 || !m.Started.Equal(t0) ||
		m.Command != "fleetwire bench --matrix nbiot-emu.yaml & fleetwire bench --matrix geo-emu.yaml" {
		t.Fatalf("merged: %d results, links %v, %v s from %v, command %q", len(m.Results), m.Links, m.Seconds, m.Started, m.Command)
	}
	r, err := Render(out)
	if err != nil {
		t.Fatal(err)
	}
	md, err := os.ReadFile(filepath.Join(out, "report.md"))
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Results) != 2 || !strings.Contains(string(md), "# fleetwire bench: devices") {
		t.Fatalf("rendered %d results; report starts %q", len(r.Results), string(md[:min(len(md), 80)]))
	}
	c := mk("c", "lte-emu", "def", 0, 10)
	if _, err := Merge(filepath.Join(dir, "bad"), "x", []string{a, c}); err == nil || !strings.Contains(err.Error(), "not one binary") {
		t.Fatalf("merging two binaries' reports: %v", err)
	}
}
