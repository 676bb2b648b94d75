package plan

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math"
	"strings"
	"testing"
	"time"
)

// model is a synthetic server and generator: the server delivers at most
// capacity readings/s and burns ns per reading it delivers; the generator
// offers at most genMax readings/s. Its counters are what Runner.Measure
// would have read from such processes in one second of steady sending.
type model struct {
	capacity, genMax, ns float64
	flaky                map[float64]int // loads that fail this many more times
	disturbed            map[float64]int // loads that fail this many more times while other work takes half a core
	calls                []float64
}

func (m *model) probe(_ context.Context, l Load) (Counters, error) {
	offered := l.Offered()
	m.calls = append(m.calls, offered)
	var c Counters
	sent := math.Min(offered, m.genMax)
	c.Gen.ReadingsSent = uint64(sent)
	c.Gen.FramesSent = uint64(sent / float64(l.Batch*l.Channels))
	c.Gen.DurationSeconds = 1
	c.Gen.DevicesConnected = l.Devices
	delivered := math.Min(sent, m.capacity)
	if n := m.flaky[offered]; n > 0 {
		m.flaky[offered] = n - 1
		delivered = sent / 2
	}
	foreign := 0.0
	if n := m.disturbed[offered]; n > 0 {
		m.disturbed[offered] = n - 1
		delivered, foreign = sent/2, 0.5
	}
	c.Srv.Readings = uint64(delivered)
	t0 := time.Unix(0, 0)
	c.Steady = Window{From: t0, To: t0.Add(time.Second), ServerCPUNs: int64(delivered * m.ns), GenCPUNs: int64(sent / m.genMax * 0.5e9)}
	c.Steady.ServerCoreBusy = delivered*m.ns/1e9 + foreign
	c.ServerCoresAllowed = 1
	return c, nil
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func testSearch(start float64) Search {
	lim := DefaultLimits()
	lim.MaxP99 = 0
	return Search{Base: Load{Transport: "udp", Codec: "compact", Batch: 10, Channels: 2, Devices: 1000, Duration: time.Second},
		Limits: lim, Start: start, Factor: 2, Resolution: 0.05, MaxSteps: 16, Logger: quiet()}
}

func loads(r *Result) string {
	var s []string
	for _, st := range r.Steps {
		s = append(s, fmt.Sprintf("%s:%.0f", st.Phase, st.Load.Offered()))
	}
	return strings.Join(s, " ")
}

// TestSearch_Bisection: a loss knee planted at 3,000,000 readings/s. The
// steps are hand-computed: doubling from 250k until 4M loses 25 %, then
// geometric midpoints of the last good and first bad load until they are
// within 5 %: sqrt(2M x 4M) = 2,828,427 (good), sqrt(2,828,427 x 4M) =
// 3,363,586 (bad), sqrt(2,828,427 x 3,363,586) = 3,084,422 (bad, 2.7 %
// lost), sqrt(2,828,427 x 3,084,422) = 2,953,652 (good); 3,084,422 /
// 2,953,652 = 1.044 <= 1.05.
func TestSearch_Bisection(t *testing.T) {
	m := &model{capacity: 3e6, genMax: 1e9, ns: 100}
	s := testSearch(250e3)
	r := s.Run(context.Background(), m.probe, 1)
	want := "raise:250000 raise:500000 raise:1000000 raise:2000000 raise:4000000 bisect:2828427 bisect:3363586 bisect:3084422 bisect:2953652"
	if got := loads(&r); got != want {
		t.Fatalf("steps\n got %s\nwant %s", got, want)
	}
	if r.Outcome != OutcomeKnee || r.KneeStep().Load.Offered() != r.Steps[8].Load.Offered() || r.BadStep() != &r.Steps[7] {
		t.Fatalf("outcome %q knee %d first bad %d", r.Outcome, r.Knee, r.FirstBad)
	}
	if r.Resource != ResUnknown || !strings.HasPrefix(r.Crossed[0], "loss 2.7") {
		t.Fatalf("resource %q crossed %q", r.Resource, r.Crossed)
	}
}

// TestSearch_CPUKnee: a server whose CPU fills at 2,500,000 readings/s
// (400 ns each): the CPU limit (0.9 of one core) is crossed at 2,250,000.
func TestSearch_CPUKnee(t *testing.T) {
	m := &model{capacity: 2.5e6, genMax: 1e9, ns: 400}
	s := testSearch(500e3)
	r := s.Run(context.Background(), m.probe, 1)
	k, b := r.KneeStep(), r.BadStep()
	if r.Outcome != OutcomeKnee || r.Resource != ResServerCPU || k == nil || b == nil {
		t.Fatalf("%s: outcome %q resource %q", loads(&r), r.Outcome, r.Resource)
	}
	if lo, hi := k.Load.Offered(), b.Load.Offered(); lo >= 2.25e6 || hi < 2.25e6 || hi/lo > 1.05 {
		t.Fatalf("knee %.0f first bad %.0f around 2,250,000", lo, hi)
	}
	if ns := k.Figures.ServerNsPerReading; math.Abs(ns-400) > 0.01 {
		t.Fatalf("CPU per reading %v, want 400", ns)
	}
}

// TestSearch_GeneratorSaturated: the generator tops out at 1,500,000
// readings/s while the server would take 3,000,000: the search stops
// where the generator fell behind and reports no knee.
func TestSearch_GeneratorSaturated(t *testing.T) {
	m := &model{capacity: 3e6, genMax: 1.5e6, ns: 100}
	s := testSearch(250e3)
	r := s.Run(context.Background(), m.probe, 1)
	if got, want := loads(&r), "raise:250000 raise:500000 raise:1000000 raise:2000000"; got != want {
		t.Fatalf("steps\n got %s\nwant %s", got, want)
	}
	if r.Outcome != OutcomeGenerator || r.Resource != ResGenerator || r.FirstBad != -1 || r.KneeStep().Load.Offered() != 1e6 {
		t.Fatalf("outcome %q resource %q knee %d first bad %d", r.Outcome, r.Resource, r.Knee, r.FirstBad)
	}
	if !r.Steps[3].Verdict.GeneratorLimited || !strings.Contains(r.Crossed[0], "generator") {
		t.Fatalf("verdict %+v", r.Steps[3].Verdict)
	}
}

// TestSearch_Confirm: a step that fails once (a stall of the machine)
// passes on its re-run and counts as good.
func TestSearch_Confirm(t *testing.T) {
	m := &model{capacity: 3e6, genMax: 1e9, ns: 100, flaky: map[float64]int{1e6: 1}}
	s := testSearch(250e3)
	s.Confirm = 1
	r := s.Run(context.Background(), m.probe, 1)
	if !strings.HasPrefix(loads(&r), "raise:250000 raise:500000 raise:1000000 confirm:1000000 raise:2000000 raise:4000000 confirm:4000000 bisect:2828427") {
		t.Fatalf("steps %s", loads(&r))
	}
	if k := r.KneeStep(); r.Outcome != OutcomeKnee || k.Load.Offered() < 2.8e6 || k.Load.Offered() > 3e6 {
		t.Fatalf("outcome %q knee %+v", r.Outcome, k)
	}
}

// TestSearch_Bounds: MaxSteps bounds the measurements (confirmations
// included); MaxLoad bounds the raise.
func TestSearch_Bounds(t *testing.T) {
	m := &model{capacity: 3e6, genMax: 1e9, ns: 100}
	s := testSearch(250e3)
	s.MaxSteps = 3
	r := s.Run(context.Background(), m.probe, 1)
	if len(m.calls) != 3 || r.Outcome != OutcomeBudget || r.KneeStep().Load.Offered() != 1e6 {
		t.Fatalf("%d calls, outcome %q", len(m.calls), r.Outcome)
	}
	m = &model{capacity: 3e6, genMax: 1e9, ns: 100}
	s = testSearch(250e3)
	s.MaxLoad = 1.2e6
	r = s.Run(context.Background(), m.probe, 1)
	if got := loads(&r); got != "raise:250000 raise:500000 raise:1000000 raise:1200000" || r.Outcome != OutcomeNoLimit {
		t.Fatalf("steps %s outcome %q", got, r.Outcome)
	}
}

// TestSearch_Lowers: a first step already past the knee halves the load
// until a step is good, then bisects.
func TestSearch_Lowers(t *testing.T) {
	m := &model{capacity: 300e3, genMax: 1e9, ns: 100}
	s := testSearch(1e6)
	r := s.Run(context.Background(), m.probe, 1)
	if !strings.HasPrefix(loads(&r), "raise:1000000 lower:500000 lower:250000 bisect:353553") {
		t.Fatalf("steps %s", loads(&r))
	}
	if k, b := r.KneeStep(), r.BadStep(); r.Outcome != OutcomeKnee || k.Load.Offered() > 300e3 || b.Load.Offered() < 300e3 {
		t.Fatalf("outcome %q knee %v bad %v", r.Outcome, k.Load.Offered(), b.Load.Offered())
	}
}

// TestSearch_Disturbed: a load whose runs are disturbed by other work is
// re-run up to Confirm + Retries more times and counts as good once a
// run is; undisturbed failures stop after Confirm re-runs.
func TestSearch_Disturbed(t *testing.T) {
	m := &model{capacity: 3e6, genMax: 1e9, ns: 100, disturbed: map[float64]int{1e6: 3}}
	s := testSearch(1e6)
	s.Confirm, s.Retries, s.MaxLoad = 1, 2, 1e6
	r := s.Run(context.Background(), m.probe, 1)
	if got := loads(&r); got != "raise:1000000 confirm:1000000 confirm:1000000 confirm:1000000" || r.Outcome != OutcomeNoLimit {
		t.Fatalf("steps %s outcome %q", got, r.Outcome)
	}
	if !r.Steps[0].Verdict.Disturbed || r.Steps[3].Verdict.Disturbed || r.Knee != 3 {
		t.Fatalf("verdicts %v / %v, knee %d", r.Steps[0].Verdict, r.Steps[3].Verdict, r.Knee)
	}
	// Disturbed every time: the retries run out and the load is bad.
	m = &model{capacity: 3e6, genMax: 1e9, ns: 100, disturbed: map[float64]int{1e6: 10}}
	r = s.Run(context.Background(), m.probe, 1)
	if len(r.Steps) < 4 || r.Steps[3].Phase != "confirm" || r.FirstBad < 0 || r.FirstBad > 3 || !r.BadStep().Verdict.Disturbed {
		t.Fatalf("steps %s, first bad %d", loads(&r), r.FirstBad)
	}
	// Undisturbed failures: Confirm re-runs only (the lower phase follows).
	m = &model{capacity: 3e6, genMax: 1e9, ns: 100, flaky: map[float64]int{1e6: 10}}
	r = s.Run(context.Background(), m.probe, 1)
	if !strings.HasPrefix(loads(&r), "raise:1000000 confirm:1000000 lower:500000") {
		t.Fatalf("steps %s", loads(&r))
	}
}
