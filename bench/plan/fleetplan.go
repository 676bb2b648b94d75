package plan

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"os"
	"time"

	"github.com/fleetwire/fleetwire/bench"
	"github.com/fleetwire/fleetwire/codec"
)

// ShapeOptions bound the fleet-shaped runs to what this machine holds.
type ShapeOptions struct {
	// MaxDevices: devices of the held-out run, the largest; the fitted
	// runs hold a quarter, half and three quarters of it (default
	// 12,000: one process's descriptors stay below an open-file limit of
	// 20,000, the generator's as well as the server's).
	MaxDevices int `json:"max_devices"`
	// Duration: sending time of every run (default 10s).
	Duration time.Duration `json:"duration_ns"`
	// MinReports: every device reports at least this often per run
	// (default 5); a fleet that reports more rarely is run with its
	// interval shortened to Duration / MinReports, and the model carries
	// the rate over.
	MinReports int `json:"min_reports"`
	// MaxFrames: frames/s of the busiest run at most (default 40,000).
	MaxFrames float64 `json:"max_frames_per_s"`
	// Tolerance: the held-out run's server CPU and memory must be
	// within this fraction of the model's prediction (default 0.15), or
	// the report projects nothing.
	Tolerance float64 `json:"tolerance"`
	// Repeat: every shape is run this many times, round after round
	// over all fitted shapes (drift spreads over all of them), and the
	// run with the least server CPU is kept: other work on a shared
	// machine only ever makes a run cost more (default 1).
	Repeat int `json:"repeat"`
}

func (o *ShapeOptions) defaults() {
	if o.MaxDevices == 0 {
		o.MaxDevices = 12000
	}
	if o.Duration == 0 {
		o.Duration = 10 * time.Second
	}
	if o.MinReports == 0 {
		o.MinReports = 5
	}
	if o.MaxFrames == 0 {
		o.MaxFrames = 40000
	}
	if o.Tolerance == 0 {
		o.Tolerance = 0.15
	}
	if o.Repeat == 0 {
		o.Repeat = 1
	}
}

// Shape is one fleet-shaped run: Load with every device reporting once
// per Interval.
type Shape struct {
	Name     string        `json:"name"`
	Interval time.Duration `json:"interval_ns"`
	Load     Load          `json:"load"`
	HeldOut  bool          `json:"held_out"`
}

// Shapes are the runs a fleet is measured with. With D the held-out
// device count and I the fleet's report interval (or the longest that
// gives every device MinReports reports per run): D/4 devices every I/4
// and I/2, D/2 every I/2 and I, 3D/4 every I and 2I; D/2 every I/2 and
// I again with a quarter and four times the samples per report (so
// that per-frame and per-reading costs separate); and the held-out
// run, D devices every I, more devices than any fitted run.
func Shapes(f FleetSpec, o ShapeOptions) ([]Shape, error) {
	o.defaults()
	d := int(math.Min(f.Devices, float64(o.MaxDevices)))
	if d < 8 {
		return nil, fmt.Errorf("shapes: %d devices: want at least 8 to fit and validate", d)
	}
	iv := f.Interval
	if longest := o.Duration / time.Duration(o.MinReports); iv > longest {
		iv = longest
	}
	// The busiest runs: a quarter of the devices at four times the
	// rate, and the held-out one.
	if busiest := time.Duration(float64(d) / o.MaxFrames * float64(time.Second)); iv < busiest {
		iv = busiest
	}
	// Readings per frame varied both ways where the batch allows.
	lo, hi := max(1, f.Batch/4), min(codec.DefaultMaxSamples, 4*f.Batch)
	if lo == f.Batch {
		lo = hi
	}
	if hi == f.Batch {
		hi = lo
	}
	if lo == f.Batch {
		return nil, fmt.Errorf("shapes: batch %d cannot be varied", f.Batch)
	}
	mk := func(devices int, interval time.Duration, batch int, held bool) Shape {
		name := fmt.Sprintf("%d devices, every %v, %d samples", devices, interval, batch)
		return Shape{Name: name, Interval: interval, Load: f.Load(devices, interval, batch, o.Duration), HeldOut: held}
	}
	// Fewer devices report faster, more devices slower: frames/s and
	// devices vary apart, which separates the per-frame from the
	// per-device cost.
	out := []Shape{mk(d/4, iv/4, f.Batch, false), mk(d/4, iv/2, f.Batch, false),
		mk(d/2, iv/2, f.Batch, false), mk(d/2, iv, f.Batch, false),
		mk(3*d/4, iv, f.Batch, false), mk(3*d/4, 2*iv, f.Batch, false)}
	out = append(out, mk(d/2, iv/2, lo, false), mk(d/2, iv, hi, false), mk(d, iv, f.Batch, true))
	return out, nil
}

// MeasureShape runs one shape and returns what it cost.
type MeasureShape func(ctx context.Context, s Shape) (Observation, error)

// FleetReport is a fleet's cost model, its validation and projection.
type FleetReport struct {
	Command string        `json:"command"`
	Started time.Time     `json:"started"`
	Seconds float64       `json:"seconds"`
	Machine bench.Machine `json:"machine"`
	Pinning string        `json:"pinning"`
	Sink    string        `json:"sink"`
	// LoadAvg: /proc/loadavg when the runs started and ended (the
	// machine is shared).
	LoadAvg [2]string `json:"loadavg"`
	// Old: the figure this projection replaces, if given.
	Old     *OldFigure   `json:"old,omitempty"`
	Fleet   FleetSpec    `json:"fleet"`
	Options ShapeOptions `json:"options"`
	Shapes  []Shape      `json:"shapes"`
	// Observations of the fitted shapes, and of the held-out one.
	Observations []Observation `json:"observations"`
	HeldOut      *Observation  `json:"held_out,omitempty"`
	Model        *CostModel    `json:"model,omitempty"`
	Checks       []Check       `json:"validation,omitempty"`
	Validated    bool          `json:"validated"`
	// Projection: only when Validated.
	Projection *FleetProjection `json:"projection,omitempty"`
	// KernelRx: the kernel's receive path measured on a veth pair, when
	// asked for (SetKernelRx).
	KernelRx *KernelRx `json:"kernel_rx,omitempty"`
	Errors   []string  `json:"errors,omitempty"`
}

// SetKernelRx records k and, when there is a projection and k measured
// something, the receive path's cores at the fleet's frames/s.
func (r *FleetReport) SetKernelRx(k *KernelRx) {
	r.KernelRx = k
	if r.Projection == nil {
		return
	}
	r.Projection.KernelRxCores, r.Projection.KernelRxCoresErr = 0, 0
	if k == nil || len(k.Rounds) == 0 {
		return
	}
	r.Projection.KernelRxCores, r.Projection.KernelRxCoresErr = k.Cores(r.Projection.FramesPerSec)
}

// HeldOutShape is the shape of the held-out run, false when there is
// none.
func (r *FleetReport) HeldOutShape() (Shape, bool) {
	for _, s := range r.Shapes {
		if s.HeldOut {
			return s, true
		}
	}
	return Shape{}, false
}

// RunFleet measures f's shapes (each retried once on an error), fits
// the model on all but the held-out shape, predicts that one, measures
// it, and projects f when every gating figure is within tolerance.
func RunFleet(ctx context.Context, measure MeasureShape, f FleetSpec, o ShapeOptions, log *slog.Logger) (*FleetReport, error) {
	o.defaults()
	if log == nil {
		log = slog.Default()
	}
	rep := &FleetReport{Fleet: f, Options: o}
	shapes, err := Shapes(f, o)
	if err != nil {
		return rep, err
	}
	rep.Shapes = shapes
	run := func(s Shape) (Observation, error) {
		var err error
		for try := 0; try < 2; try++ {
			var ob Observation
			if ob, err = measure(ctx, s); err == nil {
				ob.Shape = s.Name
				return ob, nil
			}
			log.Warn("fleet plan: run failed", "shape", s.Name, "err", err)
			rep.Errors = append(rep.Errors, fmt.Sprintf("%s: %v", s.Name, err))
			if ctx.Err() != nil {
				break
			}
		}
		return Observation{}, err
	}
	var fitted []Shape
	var held Shape
	for _, s := range shapes {
		if s.HeldOut {
			held = s
		} else {
			fitted = append(fitted, s)
		}
	}
	rep.Observations = make([]Observation, len(fitted))
	for round := 0; round < o.Repeat; round++ {
		for i, s := range fitted {
			ob, err := run(s)
			if err != nil {
				return rep, err
			}
			log.Info("fleet plan: fitted run", "shape", s.Name, "round", round+1, "server_cpu_cores", ob.ServerCPU/1e9, "rss_mib", ob.RSS/(1<<20))
			rep.Observations[i] = least(rep.Observations[i], ob, round)
		}
	}
	m, err := FitModel(rep.Observations)
	if err != nil {
		return rep, err
	}
	rep.Model = &m
	var ob Observation
	for round := 0; round < o.Repeat; round++ {
		x, err := run(held)
		if err != nil {
			return rep, err
		}
		ob = least(ob, x, round)
	}
	rep.HeldOut = &ob
	rep.Checks = m.Validate(ob)
	rep.Validated = Passed(rep.Checks, o.Tolerance)
	if rep.Validated {
		p := m.Project(f)
		rep.Projection = &p
	}
	return rep, nil
}

// least keeps, of two runs of one shape, the one with less server CPU,
// and every run's server CPU in RunsCPU.
func least(kept, ob Observation, round int) Observation {
	runs := append(kept.RunsCPU, ob.ServerCPU)
	if round > 0 && kept.ServerCPU <= ob.ServerCPU {
		ob = kept
	}
	ob.RunsCPU = runs
	return ob
}

// MeasureShape runs s through Measure, with socket diagnostics, and
// turns its counters into an Observation.
func (r *Runner) MeasureShape(ctx context.Context, s Shape) (Observation, error) {
	if !r.o.SocketDiag {
		return Observation{}, fmt.Errorf("fleet plan: the runner needs SocketDiag")
	}
	c, err := r.Measure(ctx, s.Load)
	if err != nil {
		return Observation{}, err
	}
	return observe(s, &c)
}

// observe turns one run's counters into rates over its steady window.
func observe(s Shape, c *Counters) (Observation, error) {
	o := Observation{Shape: s.Name, Devices: s.Load.Devices, Interval: s.Interval, Batch: s.Load.Batch}
	w := c.Steady.Seconds()
	if w <= 0 || c.Gen.DurationSeconds <= 0 {
		return o, fmt.Errorf("%s: no steady window (%.2f s) or send phase (%.2f s)", s.Name, w, c.Gen.DurationSeconds)
	}
	o.FramesPerSec = float64(c.Gen.FramesSent) / c.Gen.DurationSeconds
	o.ReadingsPerSec = float64(c.Gen.ReadingsSent) / c.Gen.DurationSeconds
	o.ServerCPU = float64(c.Steady.ServerCPUNs) / w
	o.GenCPU = float64(c.Steady.GenCPUNs) / w
	o.Foreign = max(0, c.Steady.ServerCoreBusy-o.ServerCPU/1e9)
	for _, v := range c.Steady.CoreSteal {
		o.Steal += v / float64(len(c.Steady.CoreSteal))
	}
	o.Conns, o.RSS, o.FDs = c.PeakConns, float64(c.MemPeak.RSS), float64(c.PeakFDs)
	if c.Kernel != nil {
		o.KernelBytes, o.KernelSockets = float64(c.Kernel.Bytes), c.Kernel.Sockets
		o.SockstatBytes = float64((c.Kernel.SockstatPages - c.Kernel.SockstatBefore) * int64(os.Getpagesize()))
		o.SlabPerSocket = float64(c.Kernel.SlabPerSocket)
	}
	if o.Conns < int64(s.Load.Devices)*9/10 {
		return o, fmt.Errorf("%s: the server held %d sessions at most, of %d devices", s.Name, o.Conns, s.Load.Devices)
	}
	return o, nil
}

// OldFigure is a projection made another way, for comparison: busy
// cores (before headroom) and where it came from.
type OldFigure struct {
	BusyCores float64 `json:"busy_cores"`
	Source    string  `json:"source"`
}
