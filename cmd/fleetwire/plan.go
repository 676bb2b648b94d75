package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/fleetwire/fleetwire/bench"
	"github.com/fleetwire/fleetwire/bench/plan"
)

func init() { subcommands = append(subcommands, newPlanCmd) }

// planFlags are `fleetwire plan`'s settings.
type planFlags struct {
	transports, codecs []string
	batches            []int
	channels, devices  int
	search             plan.Search
	limits             plan.Limits
	duration, drain    time.Duration
	repeat, memDevices int
	serverCores        int
	noPin              bool
	sink               string
	udpSockets         int
	fleet              plan.Fleet
	fleetSpec          *plan.FleetSpec // --fleet DESCRIPTION or --fleet-file: the fleet-model mode
	fleetFile          string
	shape              plan.ShapeOptions
	kernelVeth         bool
	veth               plan.VethOptions
	old                plan.OldFigure
	fleetSizes         []float64
	out, name          string
	render             string
}

func (p *planFlags) register(f *pflag.FlagSet) {
	// Fields without a flag keep their defaults.
	p.limits = plan.DefaultLimits()
	lim := p.limits
	f.StringSliceVar(&p.transports, "transport", []string{"udp", "tcp"}, "transports to sweep (tcp, udp)")
	f.StringSliceVar(&p.codecs, "codec", []string{"text", "compact"}, "codecs to sweep")
	f.IntSliceVar(&p.batches, "batch", []int{10}, "samples per frame to sweep")
	f.IntVar(&p.channels, "channels", 2, "readings per sample")
	f.IntVar(&p.devices, "devices", 1000, "devices of every step (the load is raised through their rate)")
	f.Float64Var(&p.search.Start, "start", 250000, "offered load of the first step, readings/s")
	f.Float64Var(&p.search.Factor, "factor", 2, "load multiplier from one step to the next until a limit is crossed")
	f.Float64Var(&p.search.MaxLoad, "max-load", 64e6, "highest offered load tried, readings/s")
	f.Float64Var(&p.search.Resolution, "resolution", 0.05, "bisect until first bad / last good <= 1 + this")
	f.IntVar(&p.search.MaxSteps, "max-steps", 16, "measurements per search at most (confirmations included)")
	f.IntVar(&p.search.Confirm, "confirm", 1, "re-run a step that crossed a limit this many times; it is bad only if every run is")
	f.IntVar(&p.search.Retries, "retries", 2, "re-run a failing step up to this many more times while other work on the machine disturbed its runs")
	f.DurationVar(&p.search.RetryWait, "retry-wait", 5*time.Second, "wait before re-running a disturbed step (doubling each time)")
	f.Float64Var(&p.limits.MaxForeign, "max-foreign", lim.MaxForeign, "a step is disturbed when other work took this much of the server's or the generator's core(s) (0: never)")
	f.DurationVar(&p.duration, "step-duration", 4*time.Second, "sending time of one step")
	f.DurationVar(&p.drain, "drain", 10*time.Second, "how long the server may take to count everything after a step")
	f.IntVar(&p.repeat, "repeat", 2, "run every knee search this many times (repeatability)")
	f.Float64Var(&p.limits.MaxLossPct, "max-loss", lim.MaxLossPct, "limit: readings lost, percent of offered")
	f.DurationVar(&p.limits.MaxP99, "max-p99", lim.MaxP99, "limit: server latency p99 (device timestamp to receive; 0: none)")
	f.Float64Var(&p.limits.MaxCPU, "max-cpu", lim.MaxCPU, "limit: server CPU time / wall time, fraction of its cores")
	f.Float64Var(&p.limits.MaxGenCPU, "max-gen-cpu", lim.MaxGenCPU, "generator saturated at this fraction of its cores")
	f.DurationVar(&p.limits.MaxGenLate, "max-gen-late", lim.MaxGenLate, "generator saturated when its send lateness p99 exceeds this")
	f.Float64Var(&p.limits.MinSentFraction, "min-sent", lim.MinSentFraction, "generator saturated when it sends less than this fraction of the offered rate")
	f.Float64Var(&p.limits.MaxFDFraction, "max-fd", lim.MaxFDFraction, "limit: fraction of the server's open-file limit in use")
	f.Int64Var(&p.limits.MaxRSS, "max-rss", 0, "limit: server RSS in bytes (0: none)")
	f.IntVar(&p.serverCores, "server-cores", 1, "cores the server gets (taskset, GOMAXPROCS, --loops, --udp-readers)")
	f.BoolVar(&p.noPin, "no-pin", false, "do not pin server and generator to cores")
	f.StringVar(&p.sink, "sink", "files", "the server's --sink: files (stores what it receives) or none")
	f.IntVar(&p.udpSockets, "udp-sockets", 1, "UDP: the generator sends through this many shared sockets with sendmmsg (0: a socket per device)")
	f.IntVar(&p.memDevices, "mem-devices", 10000, "devices of the memory-per-device step per transport (0: none; the knee step's figure is used)")
	p.fleet.Devices = 1e6
	f.Var((*fleetValue)(p), "fleet", "projection: devices (a number), or a fleet to model: \"devices=N, interval=D, batch=N, readings=N, transport=tcp|udp, codec=C, session=plain|ack\"")
	f.StringVar(&p.fleetFile, "fleet-file", "", "the fleet to model, as --fleet's description in a file (key=value per line, # comments)")
	f.IntVar(&p.shape.MaxDevices, "fleet-max-devices", 12000, "fleet model: devices of the largest (held-out) run; fitted runs hold 1/4 to 3/4 of it (TCP: a descriptor per device on each side, so below the open-file limit; UDP devices share the generator's --udp-sockets and can be many more)")
	f.DurationVar(&p.shape.Duration, "fleet-duration", 10*time.Second, "fleet model: sending time of each run")
	f.IntVar(&p.shape.Repeat, "fleet-repeat", 2, "fleet model: run every shape this many times and keep the run with the least server CPU")
	f.Float64Var(&p.shape.Tolerance, "tolerance", 0.15, "fleet model: project only when the held-out run's server CPU and memory are within this fraction of the prediction")
	f.BoolVar(&p.kernelVeth, "kernel-veth", false, "fleet model: also measure the kernel's receive path per packet on a veth pair between two network namespaces (root; about 3 minutes) and project it instead of bounding it by the generator's CPU")
	f.DurationVar(&p.veth.Duration, "kernel-veth-duration", 25*time.Second, "fleet model: sending time of each --kernel-veth round")
	f.IntVar(&p.veth.Repeat, "kernel-veth-repeat", 3, "fleet model: --kernel-veth rounds (the standard error is over them)")
	f.Float64Var(&p.old.BusyCores, "old-cores", 0, "fleet model: busy cores an earlier projection gave this fleet, for comparison")
	f.StringVar(&p.old.Source, "old-source", "", "fleet model: where --old-cores came from")
	f.Float64Var(&p.fleet.Rate, "rate", 0.1, "projection: samples/s per device (0.1: one every 10 s)")
	f.Float64Var(&p.fleet.Headroom, "headroom", 0.7, "projection: utilisation each core is planned at")
	f.Float64Var(&p.fleet.PricePerMB, "price-per-mb", 0, "projection: price of 1 MB (1e6 bytes) on the wire")
	f.Float64SliceVar(&p.fleetSizes, "fleet-sizes", []float64{1e5, 3e5, 1e6, 3e6, 1e7, 3e7, 1e8}, "x axis of the cores-vs-fleet chart")
	f.StringVar(&p.out, "out", "", "report directory (default bench/results/<date>-plan-<name>)")
	f.StringVar(&p.name, "name", "", "report name (default: the transports and codecs)")
	f.StringVar(&p.render, "render", "", "measure nothing: rewrite the report in --out (default: its directory) from this plan.json")
}

// configs multiplies the wire choices out.
func (p *planFlags) configs() ([]plan.Load, error) {
	var out []plan.Load
	for _, tr := range p.transports {
		for _, c := range p.codecs {
			for _, b := range p.batches {
				l := plan.Load{Transport: strings.ToLower(tr), Codec: c, Batch: b, Channels: p.channels,
					Devices: p.devices, Duration: p.duration, Rate: 1}
				if err := l.Validate(); err != nil { // before a report directory or a process
					return nil, err
				}
				out = append(out, l)
			}
		}
	}
	if len(out) == 0 {
		return nil, errors.New("nothing to sweep")
	}
	return out, nil
}

func newPlanCmd() *cobra.Command {
	var p planFlags
	cmd := &cobra.Command{
		Use:   "plan",
		Short: "Find where one server core saturates per wire choice and project what a fleet needs",
		Long: `Sweep each transport x codec x batch: raise the offered load (devices x rate)
step by step until a limit is crossed (loss above --max-loss, latency p99
above --max-p99, server CPU at --max-cpu of its cores), then bisect to the
knee. Each step runs 'fleetwire serve' and 'fleetwire load --json' as
processes of this binary, the server pinned to --server-cores cores and the
generator to the next, and measures the server's CPU alone. The report
names the resource that gave out first: server CPU, the generator (then no
knee is claimed), kernel buffers, file descriptors or memory.

From the knee's measured CPU per reading, memory per device and wire bytes
per reading it projects a fleet (--fleet devices at --rate samples/s):
cores at --headroom utilisation, memory, bandwidth at the server, MB per
device per month and its cost at --price-per-mb.

Writes plan.md, plan.csv, plan.json and SVG charts to --out.

With a fleet description instead (--fleet "devices=N, interval=D, batch=N,
readings=N, transport=tcp|udp, codec=C, session=plain|ack" or --fleet-file),
it measures loads shaped like that fleet (connections held open, one frame
per report) at several device counts and rates, fits server CPU per frame,
per reading, per connected device and idle, memory and descriptors per
device and kernel socket memory per socket, predicts a held-out larger run
and measures it, and projects the fleet only when the prediction is within
--tolerance. Writes report.md and fleet.json to --out.`,
		Example: `  fleetwire plan --out bench/results/2026-11-25-plan-udp-tcp --price-per-mb 0.01
  fleetwire plan --transport udp --codec compact --batch 1,10,50 --repeat 1
  fleetwire plan --fleet 250000 --rate 1 --headroom 0.5
  fleetwire plan --fleet "devices=10000, interval=1s, batch=5, readings=4, transport=tcp, codec=text, session=plain"`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runPlan(cmd, &p) },
	}
	f := cmd.Flags()
	f.SortFlags = false
	p.register(f)
	return cmd
}

// renderPlan rewrites a report from its plan.json: the projection is made
// again from the measured steps, with the fleet the JSON holds.
func renderPlan(cmd *cobra.Command, p *planFlags) error {
	b, err := os.ReadFile(p.render)
	if err != nil {
		return err
	}
	var rep plan.Report
	if err := json.Unmarshal(b, &rep); err != nil {
		return fmt.Errorf("%s: %w", p.render, err)
	}
	if p.out == "" {
		p.out = filepath.Dir(p.render)
	}
	rep.Errors = nil
	if m := bench.ThisMachine("."); m.Commit != "" && m.Commit != rep.Machine.Commit {
		rep.Rendered = fmt.Sprintf("these files were written again from plan.json at commit %s (`fleetwire plan --render`)", m.Commit)
	}
	rep.Project()
	if err := rep.WriteFiles(p.out); err != nil {
		return err
	}
	fmt.Fprintf(cmd.OutOrStdout(), "report: %s\n", filepath.Join(p.out, "plan.md"))
	return nil
}

func runPlan(cmd *cobra.Command, p *planFlags) error {
	if p.render != "" {
		return renderPlan(cmd, p)
	}
	if p.fleetFile != "" {
		if p.fleetSpec != nil {
			return errors.New("--fleet-file and a --fleet description: give one")
		}
		b, err := os.ReadFile(p.fleetFile)
		if err != nil {
			return err
		}
		f, err := plan.ParseFleet(string(b))
		if err != nil {
			return fmt.Errorf("%s: %w", p.fleetFile, err)
		}
		p.fleetSpec = &f
	}
	if p.fleetSpec != nil {
		return runFleetPlan(cmd, p)
	}
	started := time.Now()
	loads, err := p.configs()
	if err != nil {
		return err
	}
	if p.repeat < 1 {
		return errors.New("--repeat: at least 1")
	}
	p.fleet.Channels = p.channels
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find the fleetwire binary: %w", err)
	}
	work, err := os.MkdirTemp("", "fleetwire-plan-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	o := plan.Options{Exe: exe, WorkDir: work, ServerCores: p.serverCores, Sink: p.sink, UDPSockets: p.udpSockets, Drain: p.drain}
	if !p.noPin {
		if err := o.AutoPin(p.serverCores); err != nil {
			slog.Warn("plan: not pinned", "why", err)
		}
	}
	runner, err := plan.NewRunner(o)
	if err != nil {
		return err
	}
	o = runner.Options()
	p.limits.ServerCores, p.limits.GenCores = o.ServerCores, o.GenCores()
	if p.name == "" {
		p.name = strings.Join(p.transports, "-") + "-" + strings.ReplaceAll(strings.Join(p.codecs, "-"), "+", "")
	}
	if p.out == "" {
		p.out = filepath.Join("bench", "results", started.Format("2006-01-02")+"-plan-"+p.name)
	}
	tmpl := p.search
	tmpl.Base, tmpl.Limits = loads[0], p.limits
	rep := &plan.Report{Name: p.name, Started: started, Command: "fleetwire " + strings.Join(os.Args[1:], " "),
		Machine: bench.ThisMachine("."), Pinning: o.Pinning(), Sink: o.Sink, UDPSockets: o.UDPSockets,
		Search: tmpl, Repeat: p.repeat, Fleet: p.fleet, FleetSizes: p.fleetSizes}
	if err := p.fleet.Validate(); err != nil {
		return err
	}
	ctx := cmd.Context()
	stderr := cmd.ErrOrStderr()
	fmt.Fprintf(stderr, "plan %s: %d wire choices x %d runs -> %s (%s)\n", p.name, len(loads), p.repeat, p.out, o.Pinning())
	runErr := sweep(ctx, runner, p, loads, rep)
	rep.Project()
	rep.Seconds = time.Since(started).Seconds()
	if err := rep.WriteFiles(p.out); err != nil {
		return errors.Join(runErr, err)
	}
	fmt.Fprintf(cmd.OutOrStdout(), "report: %s\n", filepath.Join(p.out, "plan.md"))
	for _, x := range rep.Results {
		knee := "-"
		if k := x.KneeStep(); k != nil {
			knee = strconv.FormatFloat(k.Load.Offered(), 'f', 0, 64)
		}
		fmt.Fprintf(cmd.OutOrStdout(), "%s run %d: %s; knee %s readings/s; %s\n", x.Config, x.Run, x.Outcome, knee, x.Resource)
	}
	return runErr
}

// sweep runs the memory probes, then every search, repeat after repeat,
// so that drift of a shared machine spreads over all wire choices.
func sweep(ctx context.Context, runner *plan.Runner, p *planFlags, loads []plan.Load, rep *plan.Report) error {
	probe := runner.Measure
	if p.memDevices > 0 {
		seen := map[string]bool{}
		for _, l := range loads {
			if seen[l.Transport] {
				continue
			}
			seen[l.Transport] = true
			m := l
			// One frame per device per second: every device holds a
			// session within the step, at a load far below any knee.
			m.Devices, m.Rate = p.memDevices, float64(l.Batch)
			st := plan.MemoryStep(ctx, probe, m)
			rep.Memory = append(rep.Memory, st)
			if err := ctx.Err(); err != nil {
				return err
			}
		}
	}
	for run := 1; run <= p.repeat; run++ {
		for _, l := range loads {
			s := p.search
			s.Base, s.Limits = l, p.limits
			rep.Results = append(rep.Results, s.Run(ctx, probe, run))
			if err := ctx.Err(); err != nil {
				return err
			}
		}
	}
	return nil
}
