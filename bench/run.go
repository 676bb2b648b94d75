package bench

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Options configure a benchmark run.
type Options struct {
	Exe     string   // the fleetwire binary; both processes run it
	Engines []string // nil means Engines
	// Pin puts the server on CPU ServerCPU and the generator on
	// GenCPU with taskset (sched_setaffinity), so neither steals the
	// other's core. Options.Defaults turns it on with 2+ usable cores.
	Pin               bool
	ServerCPU, GenCPU int
	WorkDir           string // logs, generator reports, TLS files
	Logger            *slog.Logger
	// PerfDir, when set, gets a perf profile of the server over each
	// load window (<scenario>-<engine>.perf.data and .perf.txt).
	PerfDir string
	// PrivateLoopback runs "loopback" scenarios in a namespace of their
	// own when `ip netns` works (counters then hold only the run's
	// traffic); false, or when it fails, uses the host's loopback.
	PrivateLoopback bool
}

// Defaults fills the zero fields: pinning when this process may use 2+
// cores and taskset (util-linux) is installed.
func (o *Options) Defaults() error {
	if o.Exe == "" {
		exe, err := os.Executable()
		if err != nil {
			return fmt.Errorf("find the fleetwire binary: %w", err)
		}
		o.Exe = exe
	}
	if len(o.Engines) == 0 {
		o.Engines = Engines
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.WorkDir == "" {
		return errors.New("bench: no work directory")
	}
	var set unix.CPUSet
	_, noTaskset := exec.LookPath("taskset")
	if !o.Pin && noTaskset == nil && unix.SchedGetaffinity(0, &set) == nil && set.Count() >= 2 {
		cpus := []int{}
		for i := 0; i < 1024 && len(cpus) < 2; i++ {
			if set.IsSet(i) {
				cpus = append(cpus, i)
			}
		}
		o.Pin, o.ServerCPU, o.GenCPU = true, cpus[0], cpus[1]
	}
	return nil
}

// Result is one scenario on one engine.
type Result struct {
	Scenario Scenario `json:"scenario"`
	Engine   string   `json:"engine"`
	Link     string   `json:"link"`
	Counters Counters `json:"counters"`
	Figures  Figures  `json:"figures"`
	Skipped  string   `json:"skipped,omitempty"` // why it did not run
	Err      string   `json:"error,omitempty"`
}

// Run runs every scenario on every engine: for each scenario the engines
// back to back, their order alternating from one scenario to the next so
// that drift of a noisy machine does not always favour the same one. One
// failed run is recorded and the rest go on; ctx cancels the whole run.
func Run(ctx context.Context, o Options, scenarios []Scenario) ([]Result, error) {
	if err := o.Defaults(); err != nil {
		return nil, err
	}
	links := newLinks(&o)
	defer links.closeAll()
	var out []Result
	for i := range scenarios {
		s := &scenarios[i]
		engines := s.RunsOn(o.Engines)
		if i%2 == 1 {
			engines = reversed(engines)
		}
		if len(engines) == 0 {
			why := fmt.Sprintf("runs only on %s, not among the engines of this run (%s)", strings.Join(s.Engines, ", "), strings.Join(o.Engines, ", "))
			o.Logger.Warn("bench: skipped", "scenario", s.ID(), "why", why)
			out = append(out, Result{Scenario: *s, Engine: strings.Join(s.Engines, ","), Skipped: why})
			continue
		}
		l, why := links.get(ctx, s.Profile)
		for _, e := range engines {
			if err := ctx.Err(); err != nil {
				return out, err
			}
			r := Result{Scenario: *s, Engine: e}
			if l == nil {
				r.Skipped = why
				o.Logger.Warn("bench: skipped", "scenario", s.ID(), "engine", e, "why", why)
				out = append(out, r)
				continue
			}
			r.Link = l.describe()
			t0 := time.Now()
			c, err := runOne(ctx, &o, l, s, e)
			if errors.Is(err, ErrNotReady) {
				// Nothing was measured yet: a server that did not come up
				// (a stall of this shared machine) gets one more try.
				o.Logger.Warn("bench: server not ready, retrying once", "scenario", s.ID(), "engine", e, "err", err)
				c, err = runOne(ctx, &o, l, s, e)
			}
			r.Counters = c
			if err != nil {
				r.Err = err.Error()
				o.Logger.Error("bench: run failed", "scenario", s.ID(), "engine", e, "err", err)
			}
			r.Figures = Compute(s, &r.Counters)
			o.Logger.Info("bench: ran", "scenario", s.ID(), "engine", e, "secs", time.Since(t0).Seconds(),
				"sent", r.Figures.Sent, "delivered", r.Figures.Delivered, "lost", r.Figures.Lost,
				"cpu_ns_per_reading", int64(r.Figures.ServerCPUNsPerReading), "wire_b_per_reading", r.Figures.WirePerReading)
			out = append(out, r)
		}
	}
	return out, nil
}

func reversed(s []string) []string {
	r := make([]string, len(s))
	for i, v := range s {
		r[len(s)-1-i] = v
	}
	return r
}

// pinned prefixes a command with taskset when pinning.
func (o *Options) pinned(cpu int, args ...string) (string, []string) {
	if !o.Pin {
		return args[0], args[1:]
	}
	return "taskset", append([]string{"-c", strconv.Itoa(cpu)}, args...)
}

// ErrTimeout is what WaitFor returns when its condition never held.
var ErrTimeout = errors.New("timed out")

// WaitFor calls cond every interval until it returns true or an error,
// for at most limit (then ErrTimeout).
func WaitFor(ctx context.Context, limit, interval time.Duration, cond func() (bool, error)) error {
	deadline := time.Now().Add(limit)
	for {
		ok, err := cond()
		if err != nil || ok {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%w after %v", ErrTimeout, limit)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(interval):
		}
	}
}

func lastLines(b []byte, n int) string {
	end := len(b)
	for i := len(b) - 1; i >= 0 && n >= 0; i-- {
		if b[i] == '\n' {
			n--
			if n < 0 {
				return string(b[i+1 : end])
			}
		}
	}
	return string(b[:end])
}

// links sets up each profile's link once per run and closes them all.
type links struct {
	o    *Options
	up   map[string]link
	why  map[string]string
	list []link
}

func newLinks(o *Options) *links {
	return &links{o: o, up: map[string]link{}, why: map[string]string{}}
}

func (ls *links) get(ctx context.Context, profile string) (link, string) {
	if l, ok := ls.up[profile]; ok {
		return l, ""
	}
	if why, ok := ls.why[profile]; ok {
		return nil, why
	}
	l, err := ls.open(ctx, profile)
	if err != nil {
		ls.why[profile] = err.Error()
		return nil, err.Error()
	}
	ls.up[profile] = l
	ls.list = append(ls.list, l)
	return l, ""
}

func (ls *links) open(ctx context.Context, profile string) (link, error) {
	if profile != Loopback {
		return openProfile(ctx, profile)
	}
	if ls.o.PrivateLoopback && runtime.GOOS == "linux" {
		l, err := newNSLoopback(ctx)
		if err == nil {
			return l, nil
		}
		ls.o.Logger.Warn("bench: no private namespace, using the host loopback", "err", err)
	}
	return hostLoopback{}, nil
}

func (ls *links) closeAll() {
	for _, l := range ls.list {
		if err := l.close(); err != nil {
			ls.o.Logger.Warn("bench: close link", "err", err)
		}
	}
}
