package plan

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"time"
)

// Step is one measurement of a search.
type Step struct {
	N        int       `json:"n"`     // 1-based order within its search
	Phase    string    `json:"phase"` // raise, lower, bisect, confirm or memory
	Load     Load      `json:"load"`
	Started  time.Time `json:"started"`
	Seconds  float64   `json:"seconds"`
	Counters Counters  `json:"counters"`
	Figures  Figures   `json:"figures"`
	Verdict  Verdict   `json:"verdict"`
	Err      string    `json:"error,omitempty"`
}

// Prober measures one load; Runner.Measure is the real one.
type Prober func(ctx context.Context, l Load) (Counters, error)

// Search finds the knee of one wire choice: the highest offered load the
// server takes within Limits. It raises the load by Factor from Start
// until a step crosses a limit (or MaxLoad), then bisects (geometric
// midpoints) between the last good and the first bad step until they are
// within Resolution of each other. At most MaxSteps measurements, each
// bounded in time by the Prober.
type Search struct {
	Base       Load    `json:"base"` // all but the rate
	Limits     Limits  `json:"limits"`
	Start      float64 `json:"start_readings_per_s"`
	Factor     float64 `json:"factor"`
	MaxLoad    float64 `json:"max_readings_per_s"`
	Resolution float64 `json:"resolution"`
	MaxSteps   int     `json:"max_steps"`
	// Confirm re-runs a step that crossed a limit this many times; it
	// counts as bad only if every run does. On a shared machine other
	// work only ever makes a run worse, so the best run is the server's.
	Confirm int `json:"confirm"`
	// Retries re-runs a failing step up to this many more times while
	// its runs were disturbed by other work on the machine, waiting
	// RetryWait before the first such re-run and twice as long before
	// each next: other sessions' bursts last seconds to minutes.
	Retries   int           `json:"retries"`
	RetryWait time.Duration `json:"retry_wait_ns"`
	Logger    *slog.Logger  `json:"-"`
}

// Outcomes of a search.
const (
	OutcomeKnee       = "knee"
	OutcomeCoarse     = "knee, bisection stopped before the resolution"
	OutcomeGenerator  = "generator saturated first: no server knee"
	OutcomeNoLimit    = "no limit crossed up to the maximum load"
	OutcomeBudget     = "step budget spent before a limit was crossed"
	OutcomeBelowStart = "limit crossed at the lowest load tried"
	OutcomeError      = "error"
)

// Result is one search.
type Result struct {
	Config  string `json:"config"`
	Run     int    `json:"run"` // 1-based repeat
	Steps   []Step `json:"steps"`
	Outcome string `json:"outcome"`
	// Knee and FirstBad index Steps: the last good step and the bad one
	// above it (-1: none).
	Knee     int `json:"knee"`
	FirstBad int `json:"first_bad"`
	// Resource and Crossed are the first bad step's (or, generator
	// saturated, the generator's step's).
	Resource string   `json:"resource,omitempty"`
	Crossed  []string `json:"crossed,omitempty"`
	Note     string   `json:"note,omitempty"`
}

// KneeStep returns the knee's step, or nil.
func (r *Result) KneeStep() *Step {
	if r.Knee < 0 {
		return nil
	}
	return &r.Steps[r.Knee]
}

// BadStep returns the first bad step, or nil.
func (r *Result) BadStep() *Step {
	if r.FirstBad < 0 {
		return nil
	}
	return &r.Steps[r.FirstBad]
}

func (s *Search) defaults() {
	if s.Factor <= 1 {
		s.Factor = 2
	}
	if s.Resolution <= 0 {
		s.Resolution = 0.05
	}
	if s.MaxSteps <= 0 {
		s.MaxSteps = 16
	}
	if s.MaxLoad <= 0 {
		s.MaxLoad = math.Inf(1)
	}
	if s.Logger == nil {
		s.Logger = slog.Default()
	}
}

// Run runs the search with probe and returns every step it took.
func (s *Search) Run(ctx context.Context, probe Prober, run int) Result {
	s.defaults()
	r := Result{Config: s.Base.Config(), Run: run, Knee: -1, FirstBad: -1}
	if s.Start <= 0 {
		r.Outcome, r.Note = OutcomeError, "no start load"
		return r
	}
	// measure runs one load and returns the index of the step that
	// decides it, or -1 on an error or a spent budget. A failing load is
	// re-run: Confirm times when the machine was quiet, up to Retries
	// more while other work disturbed the runs; the best run decides.
	measure := func(offered float64, phase string) int {
		l := s.Base.WithOffered(offered)
		decide, clean := -1, 0
		wait := s.RetryWait
		for i := 0; len(r.Steps) < s.MaxSteps; i++ {
			p := phase
			if i > 0 {
				p = "confirm"
				if prev := &r.Steps[len(r.Steps)-1].Verdict; prev.Disturbed && wait > 0 {
					select {
					case <-ctx.Done():
					case <-time.After(wait):
					}
					wait *= 2
				}
			}
			st := s.step(ctx, probe, l, p, len(r.Steps)+1)
			r.Steps = append(r.Steps, st)
			k := len(r.Steps) - 1
			if st.Err != "" {
				r.Outcome, r.Note = OutcomeError, st.Err
				return -1
			}
			if decide < 0 || st.Verdict.rank() > r.Steps[decide].Verdict.rank() {
				decide = k
			}
			if !st.Verdict.Disturbed {
				clean++
			}
			if st.Verdict.OK || clean > s.Confirm || i >= s.Confirm+s.Retries {
				break
			}
		}
		return decide
	}
	ok := func(k int) bool { return r.Steps[k].Verdict.OK }
	gen := func(k int) bool { return r.Steps[k].Verdict.GeneratorLimited }
	offered := func(k int) float64 { return r.Steps[k].Load.Offered() }

	lo, hi := -1, -1
	for load := s.Start; ; {
		k := measure(load, "raise")
		if k < 0 {
			return s.finish(r, lo, hi)
		}
		if gen(k) {
			return s.generatorLimited(r, lo, k)
		}
		if !ok(k) {
			hi = k
			break
		}
		lo = k
		if load >= s.MaxLoad {
			r.Outcome, r.Knee = OutcomeNoLimit, lo
			return r
		}
		load = min(load*s.Factor, s.MaxLoad)
	}
	for load := offered(hi) / s.Factor; lo < 0; load /= s.Factor {
		k := measure(load, "lower")
		if k < 0 {
			return s.finish(r, lo, hi)
		}
		switch {
		case gen(k):
			return s.generatorLimited(r, lo, k)
		case ok(k):
			lo = k
		default:
			hi = k
		}
	}
	for offered(hi)/offered(lo) > 1+s.Resolution {
		k := measure(math.Sqrt(offered(lo)*offered(hi)), "bisect")
		if k < 0 {
			break
		}
		switch {
		case gen(k):
			r.Note = fmt.Sprintf("bisection stopped: the generator saturated at %.0f readings/s", offered(k))
			return s.finish(r, lo, hi)
		case ok(k):
			lo = k
		default:
			hi = k
		}
	}
	return s.finish(r, lo, hi)
}

func (s *Search) finish(r Result, lo, hi int) Result {
	r.Knee, r.FirstBad = lo, hi
	if hi >= 0 {
		r.Resource, r.Crossed = r.Steps[hi].Verdict.Resource, r.Steps[hi].Verdict.Crossed
	}
	if r.Outcome == OutcomeError {
		return r
	}
	switch {
	case hi < 0 && lo >= 0:
		r.Outcome = OutcomeBudget
	case hi < 0:
		r.Outcome = OutcomeError
	case lo < 0:
		r.Outcome = OutcomeBelowStart
	case r.Steps[hi].Load.Offered()/r.Steps[lo].Load.Offered() > 1+s.Resolution:
		r.Outcome = OutcomeCoarse
	default:
		r.Outcome = OutcomeKnee
	}
	return r
}

func (s *Search) generatorLimited(r Result, lo, k int) Result {
	r.Outcome, r.Knee, r.FirstBad = OutcomeGenerator, lo, -1
	r.Resource, r.Crossed = ResGenerator, r.Steps[k].Verdict.Crossed
	r.Note = fmt.Sprintf("the generator could not offer %.0f readings/s; the server's knee is above the last good step", r.Steps[k].Load.Offered())
	return r
}

// step measures one load and judges it. A server that did not come up
// (a stall of a shared machine; nothing measured yet) gets one more try.
func (s *Search) step(ctx context.Context, probe Prober, l Load, phase string, n int) Step {
	st := Step{N: n, Phase: phase, Load: l, Started: time.Now().UTC()}
	c, err := probe(ctx, l)
	if errors.Is(err, ErrNotReady) {
		s.Logger.Warn("plan: server not ready, retrying once", "config", l.Config(), "err", err)
		c, err = probe(ctx, l)
	}
	st.Seconds = time.Since(st.Started).Seconds()
	st.Counters = c
	st.Figures = Compute(&l, &c)
	switch {
	case errors.Is(err, ErrOverrun):
		// The generator could not finish its schedule in time.
		st.Verdict = Verdict{GeneratorLimited: true, Resource: ResGenerator, Crossed: []string{err.Error()}}
	case errors.Is(err, ErrConnect) && c.Gen.ConnectFailures["emfile"]+c.Gen.ConnectFailures["enfile"] > 0:
		st.Verdict = Judge(&s.Limits, &l, &c, &st.Figures)
	case err != nil:
		st.Err = err.Error()
	default:
		st.Verdict = Judge(&s.Limits, &l, &c, &st.Figures)
	}
	s.Logger.Info("plan: step", "config", l.Config(), "n", n, "phase", phase, "offered", int64(l.Offered()),
		"loss_pct", st.Figures.LossPct, "p99_ms", st.Figures.P99Ms, "server_cores", st.Figures.ServerCores,
		"gen_cores", st.Figures.GenCores, "verdict", st.Verdict.String(), "err", st.Err, "secs", st.Seconds)
	return st
}

// MemoryStep measures l once for the server's memory per device: many
// devices at a low rate, so its RSS grows with sessions and connections,
// not with buffers in flight.
func MemoryStep(ctx context.Context, probe Prober, l Load) Step {
	s := Search{Limits: DefaultLimits(), Logger: slog.Default()}
	return s.step(ctx, probe, l, "memory", 1)
}
