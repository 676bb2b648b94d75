package main

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/fleetwire/fleetwire/bench"
	"github.com/fleetwire/fleetwire/bench/plan"
)

// fleetValue is --fleet: a number keeps the knee projection's device
// count; a description (key=value, ...) selects the fleet model.
type fleetValue planFlags

func (v *fleetValue) String() string {
	if v.fleetSpec != nil {
		return v.fleetSpec.String()
	}
	return strconv.FormatFloat(v.fleet.Devices, 'g', -1, 64)
}

func (v *fleetValue) Set(s string) error {
	if n, err := strconv.ParseFloat(s, 64); err == nil {
		v.fleet.Devices, v.fleetSpec = n, nil
		return nil
	}
	if !strings.Contains(s, "=") {
		return fmt.Errorf("%q: want a number of devices or a description (devices=N, interval=D, ...)", s)
	}
	f, err := plan.ParseFleet(s)
	if err != nil {
		return err
	}
	v.fleetSpec = &f
	return nil
}

func (v *fleetValue) Type() string { return "fleet" }

// runFleetPlan measures fleet-shaped runs, fits the cost model, checks
// it on a held-out run and projects the fleet when it holds.
func runFleetPlan(cmd *cobra.Command, p *planFlags) error {
	started := time.Now()
	f := *p.fleetSpec
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find the fleetwire binary: %w", err)
	}
	work, err := os.MkdirTemp("", "fleetwire-plan-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	// A socket per device on UDP too, as a fleet has.
	o := plan.Options{Exe: exe, WorkDir: work, ServerCores: p.serverCores, Sink: p.sink, Drain: p.drain, SocketDiag: true}
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
	if p.out == "" {
		name := p.name
		if name == "" {
			name = "fleet"
		}
		p.out = filepath.Join("bench", "results", started.Format("2006-01-02")+"-plan-"+name)
	}
	fmt.Fprintf(cmd.ErrOrStderr(), "plan: fleet %s -> %s (%s)\n", f, p.out, o.Pinning())
	load0, machine := loadAvg(), bench.ThisMachine(".") // the commit as the runs start

	rep, runErr := plan.RunFleet(cmd.Context(), runner.MeasureShape, f, p.shape, nil)
	if p.kernelVeth && runErr == nil {
		measureKernelRx(cmd, runner, rep, p.veth)
	}
	rep.Command = "fleetwire " + shellJoin(os.Args[1:])
	rep.Started, rep.Seconds, rep.Machine = started, time.Since(started).Seconds(), machine
	rep.Pinning, rep.Sink, rep.LoadAvg = o.Pinning(), o.Sink, [2]string{load0, loadAvg()}
	if p.old.BusyCores > 0 {
		rep.Old = &p.old
	}
	if err := rep.WriteFiles(p.out); err != nil {
		return errors.Join(runErr, err)
	}
	fmt.Fprintf(cmd.OutOrStdout(), "report: %s\n", filepath.Join(p.out, "report.md"))
	switch {
	case runErr != nil:
	case rep.Projection == nil:
		fmt.Fprintf(cmd.OutOrStdout(), "the model missed the held-out run by more than %.0f %%: no projection\n", 100*rep.Options.Tolerance)
	default:
		fmt.Fprintf(cmd.OutOrStdout(), "projection: %.4f ± %.4f server cores, %.0f ns per reading\n", rep.Projection.Cores, rep.Projection.CoresErr, rep.Projection.NsPerReading)
		if rep.Projection.KernelRxCores != 0 {
			fmt.Fprintf(cmd.OutOrStdout(), "kernel receive path: %.4f ± %.4f cores beside it (measured on a veth pair)\n", rep.Projection.KernelRxCores, rep.Projection.KernelRxCoresErr)
		}
		if rep.Projection.Uncertain(rep.Options.Tolerance) {
			fmt.Fprintln(cmd.OutOrStdout(), "the projected CPU is uncertain: its standard error is beyond the tolerance")
		}
	}
	return runErr
}

// measureKernelRx measures the receive path for the held-out shape on a
// veth pair and puts it in rep; an error is reported in rep, not fatal:
// the fleet's own runs stand without it.
func measureKernelRx(cmd *cobra.Command, runner *plan.Runner, rep *plan.FleetReport, o plan.VethOptions) {
	s, ok := rep.HeldOutShape()
	if !ok {
		return
	}
	fmt.Fprintf(cmd.ErrOrStderr(), "plan: kernel receive path on a veth pair, shape %s\n", s.Name)
	k, err := runner.MeasureKernelRx(cmd.Context(), s, o)
	if err != nil {
		slog.Warn("plan: kernel receive path not measured", "err", err)
		rep.Errors = append(rep.Errors, fmt.Sprintf("kernel receive path: %v", err))
		return
	}
	rep.SetKernelRx(k)
	if k.Skipped != "" {
		fmt.Fprintf(cmd.OutOrStdout(), "kernel receive path not measured: %s\n", k.Skipped)
		return
	}
	fmt.Fprintf(cmd.OutOrStdout(), "kernel receive path: %.0f ± %.0f ns per packet (%.3f packets per frame)\n",
		k.RxPerPacket.Value, k.RxPerPacket.StdErr, k.PacketsPerFrame.Value)
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	return strings.Join(strings.Fields(string(b))[:3], " ")
}

// shellJoin quotes the arguments that need it, so that a report's
// command can be pasted into a shell.
func shellJoin(args []string) string {
	out := make([]string, len(args))
	for i, a := range args {
		if a == "" || strings.ContainsAny(a, " \t\"'$`\\;&|<>()*?#~") {
			a = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		out[i] = a
	}
	return strings.Join(out, " ")
}
