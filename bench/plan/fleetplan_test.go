package plan

import (
	"context"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// plantedServer is a stub server: no processes, a cost per frame, per
// reading, per connected device per second and an idle cost, memory per
// device and a base, each observed with seeded noise of relNoise.
type plantedServer struct {
	perFrame, perReading, perDevice, idle float64 // ns, ns, ns/s, ns/s
	memPerDevice, memBase                 float64
	relNoise                              float64
	rng                                   *rand.Rand
	// beyond > 0: each device above this count costs 4 x perDevice (a
	// model fitted below it misses the held-out run).
	beyond int
	// disturbOdd: every third run costs 50 % more CPU (other work); two
	// runs of one shape are never both disturbed.
	disturbOdd bool
	calls      int
}

func (p *plantedServer) measure(_ context.Context, s Shape) (Observation, error) {
	l := s.Load
	frames := float64(l.Devices) / s.Interval.Seconds()
	readings := frames * float64(l.Batch*l.Channels)
	n := func(v float64) float64 { return v * (1 + p.relNoise*p.rng.NormFloat64()) }
	p.calls++
	disturb := 1.0
	if p.disturbOdd && p.calls%3 == 0 {
		disturb = 1.5
	}
	dev := p.perDevice * float64(l.Devices)
	if p.beyond > 0 && l.Devices > p.beyond {
		dev += 3 * p.perDevice * float64(l.Devices-p.beyond)
	}
	return Observation{Devices: l.Devices, Interval: s.Interval, Batch: l.Batch,
		FramesPerSec: frames, ReadingsPerSec: readings, Conns: int64(l.Devices),
		ServerCPU: disturb * n(p.perFrame*frames+p.perReading*readings+dev+p.idle),
		GenCPU:    n(3 * (p.perFrame*frames + p.perReading*readings)),
		RSS:       n(p.memPerDevice*float64(l.Devices) + p.memBase),
		FDs:       float64(l.Devices) + 12, KernelBytes: n(4096 * float64(l.Devices)), KernelSockets: l.Devices}, nil
}

var modestFleet = FleetSpec{Devices: 10000, Interval: time.Second, Batch: 5, Readings: 4, Transport: "tcp", Codec: "text", Session: "plain"}

// TestRunFleet_RecoversPlantedCosts: the model fitted on a stub server
// with planted costs and 1 % noise per figure recovers the per-frame,
// per-device and memory terms within 10 % and within three of their
// reported standard errors, validates on the held-out run and projects
// the fleet.
func TestRunFleet_RecoversPlantedCosts(t *testing.T) {
	for seed := uint64(1); seed <= 5; seed++ {
		p := &plantedServer{perFrame: 2000, perReading: 100, perDevice: 3000, idle: 5e6,
			memPerDevice: 6000, memBase: 20 << 20, relNoise: 0.01, rng: rand.New(rand.NewPCG(seed, 7))}
		rep, err := RunFleet(context.Background(), p.measure, modestFleet, ShapeOptions{}, quiet())
		if err != nil {
			t.Fatal(err)
		}
		m := rep.Model
		within := func(what string, got Term, want float64) {
			t.Helper()
			if d := math.Abs(got.Value - want); d > 0.1*want || d > 3*got.StdErr {
				t.Errorf("seed %d: %s = %.1f ± %.1f, planted %.1f", seed, what, got.Value, got.StdErr, want)
			}
		}
		within("per frame", m.CPU.Terms[0], p.perFrame)
		within("per device", m.CPU.Terms[2], p.perDevice)
		within("memory per device", m.Memory.Terms[0], p.memPerDevice)
		if k := m.KernelPerSocket.Value; math.Abs(k-4096) > 0.1*4096 {
			t.Errorf("seed %d: kernel per socket %.0f, planted 4096", seed, k)
		}
		if !rep.Validated || rep.Projection == nil {
			t.Fatalf("seed %d: not validated: %+v", seed, rep.Checks)
		}
		want := (2000*10000 + 100*10000*20 + 3000*10000 + 5e6) / 1e9
		if rep.Projection.Uncertain(0.15) {
			t.Errorf("seed %d: projection uncertain: %.4f ± %.4f", seed, rep.Projection.Cores, rep.Projection.CoresErr)
		}
		if got := rep.Projection.Cores; math.Abs(got-want) > 0.1*want {
			t.Errorf("seed %d: projected %.4f cores, planted %.4f", seed, got, want)
		}
	}
}

// TestRunFleet_RefusesAMiss: a server whose per-device cost rises above
// the fitted device counts is missed by more than 15 % on the held-out
// run, and the report projects nothing.
func TestRunFleet_RefusesAMiss(t *testing.T) {
	p := &plantedServer{perFrame: 2000, perReading: 100, perDevice: 3000, idle: 5e6,
		memPerDevice: 6000, memBase: 20 << 20, relNoise: 0.01, rng: rand.New(rand.NewPCG(1, 7)), beyond: 7500}
	rep, err := RunFleet(context.Background(), p.measure, modestFleet, ShapeOptions{}, quiet())
	if err != nil {
		t.Fatal(err)
	}
	if rep.Validated || rep.Projection != nil || rep.Checks[0].Err > -0.15 {
		t.Fatalf("validated a model that misses: %+v", rep.Checks)
	}
}

// TestRunFleet_Repeat: with every third run disturbed, two rounds keep
// the undisturbed run of every shape and the model validates.
func TestRunFleet_Repeat(t *testing.T) {
	p := &plantedServer{perFrame: 2000, perReading: 100, perDevice: 3000, idle: 5e6,
		memPerDevice: 6000, memBase: 20 << 20, relNoise: 0.01, rng: rand.New(rand.NewPCG(1, 7)), disturbOdd: true}
	rep, err := RunFleet(context.Background(), p.measure, modestFleet, ShapeOptions{Repeat: 2}, quiet())
	if err != nil {
		t.Fatal(err)
	}
	if p.calls != 18 || len(rep.Observations[0].RunsCPU) != 2 || !rep.Validated {
		t.Fatalf("%d runs, %v, validated %v", p.calls, rep.Observations[0].RunsCPU, rep.Validated)
	}
	if f := rep.Model.CPU.Terms[0].Value; math.Abs(f-2000) > 200 {
		t.Fatalf("per frame %.0f, planted 2000", f)
	}
}

func TestShapes(t *testing.T) {
	s, err := Shapes(FleetSpec{Devices: 1e6, Interval: 100 * time.Second, Batch: 10, Readings: 2, Transport: "udp", Codec: "text", Session: "plain"}, ShapeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// 10 s runs, 5 reports each at least: every 2 s, and every 1 s.
	want := []string{"3000 devices, every 500ms, 10 samples", "3000 devices, every 1s, 10 samples",
		"6000 devices, every 1s, 10 samples", "6000 devices, every 2s, 10 samples",
		"9000 devices, every 2s, 10 samples", "9000 devices, every 4s, 10 samples",
		"6000 devices, every 1s, 2 samples", "6000 devices, every 2s, 40 samples", "12000 devices, every 2s, 10 samples"}
	if len(s) != len(want) {
		t.Fatalf("%d shapes", len(s))
	}
	for i, x := range s {
		if x.Name != want[i] || x.HeldOut != (i == len(s)-1) {
			t.Errorf("shape %d: %q held out %v, want %q", i, x.Name, x.HeldOut, want[i])
		}
	}
	if r := s[0].Load.Rate; r != 20 {
		t.Errorf("rate %g samples/s, want 10", r)
	}
	if _, err := Shapes(FleetSpec{Devices: 4, Interval: time.Second, Batch: 1, Readings: 1}, ShapeOptions{}); err == nil {
		t.Error("4 devices: no error")
	}
}

func TestFitLinear_Exact(t *testing.T) {
	// y = 3x + 2 through four points: exact, zero residual.
	x := [][]float64{{1, 1}, {2, 1}, {3, 1}, {10, 1}}
	f, err := FitLinear([]string{"slope", "icpt"}, []string{"", ""}, x, []float64{5, 8, 11, 32})
	if err != nil || math.Abs(f.Terms[0].Value-3) > 1e-9 || math.Abs(f.Terms[1].Value-2) > 1e-9 || f.RMSE > 1e-9 {
		t.Fatalf("%+v %v", f, err)
	}
	if _, err := FitLinear([]string{"a", "b"}, []string{"", ""}, [][]float64{{1, 2}, {2, 4}, {3, 6}}, []float64{1, 2, 3}); err == nil {
		t.Fatal("collinear columns: no error")
	}
}

func TestFleetReport_JSONWithNaN(t *testing.T) {
	p := &plantedServer{perFrame: 2000, perReading: 100, perDevice: 3000, idle: 5e6,
		memPerDevice: 6000, memBase: 20 << 20, relNoise: 0.01, rng: rand.New(rand.NewPCG(1, 7))}
	rep, err := RunFleet(context.Background(), p.measure, modestFleet, ShapeOptions{}, quiet())
	if err != nil {
		t.Fatal(err)
	}
	rep.Model.KernelPerSocket.StdErr = math.NaN()
	dir := t.TempDir()
	if err := rep.WriteFiles(dir); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(filepath.Join(dir, "report.md"))
	for _, want := range []string{"## The model", "per frame", "## Validation", "## Projection for the fleet"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("report.md: no %q", want)
		}
	}
}

// TestFleetReport_KernelRx: a measured receive path replaces the
// generator model's bound in the projection (kept as a labelled
// cross-check) at the fleet's packets/s; a skipped one leaves the bound
// and says why.
func TestFleetReport_KernelRx(t *testing.T) {
	p := &plantedServer{perFrame: 2000, perReading: 100, perDevice: 3000, idle: 5e6,
		memPerDevice: 6000, memBase: 20 << 20, relNoise: 0.01, rng: rand.New(rand.NewPCG(1, 7))}
	rep, err := RunFleet(context.Background(), p.measure, modestFleet, ShapeOptions{}, quiet())
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	base := plantSamples(t0, 4, plantedSpan{idleNs: 450e6}, plantedSpan{idleNs: 450e6})
	on := plantedSpan{idleNs: 250e6, softirqNs: 60e6, netRx: 5000, packets: 10000, serverNs: 100e6}
	off := plantedSpan{idleNs: 350e6, netRx: 0, packets: 10000, serverNs: 80e6}
	start := t0.Add(5 * time.Second)
	rd, err := roundOf(base, plantSamples(start, 20, on, off), start, 10, plantCounts(start, 20000, 12))
	if err != nil {
		t.Fatal(err)
	}
	k := &KernelRx{Shape: "held out", Load: rep.Shapes[len(rep.Shapes)-1].Load, Rounds: []KernelRxRound{rd, rd, rd}}
	k.summarize()
	rep.SetKernelRx(k)
	// 10 µs per packet, one packet per frame, 10,000 frames/s: 0.1 cores.
	if c := rep.Projection.KernelRxCores; math.Abs(c-0.1) > 1e-9 {
		t.Errorf("receive path %v cores, want 0.1", c)
	}
	var md strings.Builder
	rep.WriteMarkdown(&md)
	for _, want := range []string{"| kernel receive path (not in the server's CPU on loopback) | 0.1000 ± 0.0000 cores: 10,000 ± 0 ns per packet, measured on a veth pair, x 10,000 packets/s |",
		"cross-check: the generator model's bound", "## Kernel receive path, measured on a veth pair"} {
		if !strings.Contains(md.String(), want) {
			t.Errorf("report.md: no %q in\n%s", want, md.String())
		}
	}
	rep.SetKernelRx(&KernelRx{Skipped: "not root"})
	md.Reset()
	rep.WriteMarkdown(&md)
	for _, want := range []string{"Not measured: not root.", "at most "} {
		if !strings.Contains(md.String(), want) {
			t.Errorf("report.md, skipped: no %q", want)
		}
	}
}
