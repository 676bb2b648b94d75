package main

import (
	"bytes"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"

	"github.com/fleetwire/fleetwire/bench/plan"
)

func TestPlanFlags_Configs(t *testing.T) {
	var p planFlags
	fs := pflag.NewFlagSet("plan", pflag.ContinueOnError)
	p.register(fs)
	if err := fs.Parse([]string{"--transport", "UDP,tcp", "--codec", "text,compact+zstd", "--batch", "1,50", "--devices", "200", "--step-duration", "2s"}); err != nil {
		t.Fatal(err)
	}
	ls, err := p.configs()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, l := range ls {
		got = append(got, l.Config())
		if l.Devices != 200 || l.Channels != 2 || l.Duration.Seconds() != 2 {
			t.Fatalf("%+v", l)
		}
	}
	want := "udp/text/b1 udp/text/b50 udp/compact+zstd/b1 udp/compact+zstd/b50 tcp/text/b1 tcp/text/b50 tcp/compact+zstd/b1 tcp/compact+zstd/b50"
	if strings.Join(got, " ") != want {
		t.Fatalf("got %s", strings.Join(got, " "))
	}
	if p.fleet.Devices != 1e6 || p.fleet.Rate != 0.1 || p.fleet.Headroom != 0.7 || p.search.Confirm != 1 || p.search.Retries != 2 {
		t.Fatalf("defaults: %+v %+v", p.fleet, p.search)
	}
	// Every limit defaults to plan.DefaultLimits (the cores are set by
	// the run).
	if p.limits != plan.DefaultLimits() {
		t.Fatalf("limits %+v, want %+v", p.limits, plan.DefaultLimits())
	}
}

// TestPlanCmd_Run runs `fleetwire plan` for one step against the real
// server; the processes it starts are this test binary acting as
// fleetwire.
func TestPlanCmd_Run(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	t.Setenv(envAsMain, "1")
	out := t.TempDir()
	root := newRootCmd()
	var stdout, stderr bytes.Buffer
	root.SetOut(&stdout)
	root.SetErr(&stderr)
	root.SetArgs([]string{"plan", "--log-level", "warn", "--transport", "udp", "--codec", "compact", "--devices", "5", "--start", "2000",
		"--max-steps", "1", "--repeat", "1", "--step-duration", "1s", "--mem-devices", "0", "--no-pin", "--fleet", "1000", "--rate", "1",
		"--price-per-mb", "0.5", "--out", out})
	if err := root.Execute(); err != nil {
		t.Fatalf("%v\n%s", err, stderr.String())
	}
	for _, f := range []string{"plan.md", "plan.csv", "plan.json", "curve-udp-compact-b10.svg", "cores-vs-fleet.svg"} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(filepath.Join(out, "plan.json"))
	if err != nil {
		t.Fatal(err)
	}
	var rep plan.Report
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	if len(rep.Results) != 1 || len(rep.Results[0].Steps) != 1 || len(rep.Projections) != 1 {
		t.Fatalf("%d results, %d projections\n%s", len(rep.Results), len(rep.Projections), stdout.String())
	}
	st := rep.Results[0].Steps[0]
	if st.Err != "" || st.Figures.Delivered == 0 || st.Figures.OfferedReadings != st.Counters.Gen.ReadingsSent {
		t.Fatalf("step: %+v", st.Figures)
	}
	// 1,000 devices x 1 sample/s x 2 readings, cost at 0.5 per MB.
	p := rep.Projections[0]
	if p.ReadingsPerSec != 2000 || p.Inputs.WireUp <= 0 || p.CostPerDeviceMonth != p.MBPerDeviceMonth*0.5 {
		t.Fatalf("projection %+v", p)
	}
}

// TestPlanFlags_Fleet: --fleet takes a device count (the knee
// projection) or a fleet description (the fleet model), strictly.
func TestPlanFlags_Fleet(t *testing.T) {
	parse := func(args ...string) (*planFlags, error) {
		var p planFlags
		fs := pflag.NewFlagSet("plan", pflag.ContinueOnError)
		fs.SetOutput(io.Discard)
		p.register(fs)
		return &p, fs.Parse(args)
	}
	p, err := parse("--fleet", "250000")
	if err != nil || p.fleet.Devices != 250000 || p.fleetSpec != nil {
		t.Fatalf("a count: %+v %v", p.fleet, err)
	}
	p, err = parse("--fleet", "devices=10000, interval=1s, batch=5, readings=4, transport=tcp, codec=text, session=plain")
	if err != nil || p.fleetSpec == nil || p.fleetSpec.Devices != 10000 || p.fleetSpec.Interval != time.Second {
		t.Fatalf("a description: %+v %v", p.fleetSpec, err)
	}
	for _, bad := range []string{"lots", "devices=10000, interval=1s", "devices=10, interval=1s, batch=5, readings=4, transport=tcp, codec=text, session=plain, colour=red"} {
		if _, err := parse("--fleet", bad); err == nil {
			t.Errorf("--fleet %q: no error", bad)
		}
	}
}

func TestShellJoin(t *testing.T) {
	got := shellJoin([]string{"plan", "--fleet", "devices=10, interval=1s", "--old-source", "it's"})
	want := `plan --fleet 'devices=10, interval=1s' --old-source 'it'\''s'`
	if got != want {
		t.Fatalf("got %s, want %s", got, want)
	}
}
