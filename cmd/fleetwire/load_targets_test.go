package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fleetwire/fleetwire/loadgen"
)

// TestLoadCLISeveralTargets: --tcp A,B spreads the fleet, and the report's
// targets say what each receiver got, as each one counted it.
func TestLoadCLISeveralTargets(t *testing.T) {
	a, b := newLineSink(t), newLineSink(t)
	addrs := []string{a.ln.Addr().String(), b.ln.Addr().String()}
	path := filepath.Join(t.TempDir(), "run.json")
	out, err := runLoad(t, "--tcp", strings.Join(addrs, ","), "--devices", "51", "--rate", "100", "--batch", "5",
		"--samples", "20", "--json", path, "--progress", "0")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	var rep loadgen.Report
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &rep); err != nil {
		t.Fatal(err)
	}
	f := func(i int, s *lineSink, devices int) {
		t.Helper()
		frames, eos := s.wait(t, devices)
		tg := rep.Targets[i]
		if tg.Target != addrs[i] || tg.Devices != devices || tg.FramesSent != uint64(4*devices) || tg.ReadingsSent != uint64(40*devices) {
			t.Errorf("target %d: %+v, want %s with %d devices", i, tg, addrs[i], devices)
		}
		if frames != int(tg.FramesSent) || eos != tg.EOSSent {
			t.Errorf("target %d: the sink counted %d frames and %d end-of-stream, the report %d and %d", i, frames, eos, tg.FramesSent, tg.EOSSent)
		}
	}
	if len(rep.Targets) != 2 {
		t.Fatalf("targets %+v", rep.Targets)
	}
	f(0, a, 26) // dev-000001, -03, ... -51
	f(1, b, 25)
	if rep.FramesSent != 204 || rep.PerDevice[0].Target != addrs[0] || rep.PerDevice[1].Target != addrs[1] {
		t.Errorf("frames %d, first devices to %q and %q", rep.FramesSent, rep.PerDevice[0].Target, rep.PerDevice[1].Target)
	}
	if !strings.Contains(out, "to "+addrs[1]) || !strings.Contains(out, "25 devices (25 connected), 100 frames, 1000 readings") {
		t.Errorf("summary lacks the targets:\n%s", out)
	}
}
