package plan

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// WriteFiles writes report.md and fleet.json to dir.
func (r *FleetReport) WriteFiles(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "fleet.json"), append(b, '\n'), 0o644); err != nil {
		return err
	}
	var md strings.Builder
	r.WriteMarkdown(&md)
	return os.WriteFile(filepath.Join(dir, "report.md"), []byte(md.String()), 0o644)
}

func pm(v, se float64, d int, unit string) string {
	if math.IsNaN(se) {
		return num(v, d) + unit
	}
	return num(v, d) + " ± " + num(se, d) + unit
}

func relErr(t Term) string {
	if math.IsNaN(t.StdErr) || t.Value == 0 {
		return "-"
	}
	return num(100*t.RelErr(), 0) + " %"
}

// WriteMarkdown writes the report: what ran, the fleet, the runs, the
// fitted terms, the validation and the projection (or why there is
// none).
func (r *FleetReport) WriteMarkdown(w io.Writer) {
	f := &r.Fleet
	fmt.Fprintf(w, "# Fleet plan: %s\n\n", f)
	fmt.Fprintf(w, "- command: `%s`\n- commit: %s; %s, %d cores, kernel %s, %s\n- started %s, %.0f s; pinning: %s; sink: %s\n",
		r.Command, r.Machine.Commit, r.Machine.CPU, r.Machine.Cores, r.Machine.Kernel, r.Machine.GoVersion,
		r.Started.UTC().Format("2006-01-02 15:04 UTC"), r.Seconds, r.Pinning, r.Sink)
	fmt.Fprintf(w, "- machine load (/proc/loadavg) at the start: %s; at the end: %s. The machine is shared: `foreign` below is other work on the server's core during each run, `steal` the hypervisor's steal time on the pinned cores.\n\n",
		r.LoadAvg[0], r.LoadAvg[1])
	fmt.Fprintf(w, "## The fleet\n\n%s devices, each sending one report every %v: %d samples of %d readings, over %s with the %s codec, session mode %s. That is %s frames/s and %s readings/s.\n\n",
		num(f.Devices, 0), f.Interval, f.Batch, f.Readings, f.Transport, f.Codec, f.Session, num(f.FramesPerSec(), 0), num(f.ReadingsPerSec(), 0))
	r.writeRuns(w)
	if r.Model != nil {
		r.writeModel(w)
	}
	r.writeValidation(w)
	r.writeProjection(w)
	r.writeKernelRx(w)
	if len(r.Errors) > 0 {
		fmt.Fprintf(w, "## Errors\n\n")
		for _, e := range r.Errors {
			fmt.Fprintf(w, "- %s\n", e)
		}
		fmt.Fprintln(w)
	}
}

func obsRow(o *Observation, held bool) []string {
	name := o.Shape
	if held {
		name = "**held out:** " + name
	}
	kern := "-"
	if o.KernelSockets > 0 {
		kern = fmt.Sprintf("%s (%s sockets)", bytesStr(o.KernelBytes), num(float64(o.KernelSockets), 0))
	}
	runs := make([]string, len(o.RunsCPU))
	for i, v := range o.RunsCPU {
		runs[i] = num(v/1e9, 4)
	}
	return []string{name, num(o.FramesPerSec, 0), num(o.ReadingsPerSec, 0), num(float64(o.Conns), 0),
		num(o.ServerCPU/1e9, 4), strings.Join(runs, ", "), nsStr(o.ServerCPU / o.ReadingsPerSec), num(o.GenCPU/1e9, 4), bytesStr(o.RSS), num(o.FDs, 0),
		kern, bytesStr(o.SockstatBytes), num(o.Foreign, 2), num(o.Steal, 2)}
}

func (r *FleetReport) writeRuns(w io.Writer) {
	o := r.Options
	fmt.Fprintf(w, "## Runs\n\nEach run: a fresh server and generator, every device connected and reporting once per interval (one frame per report), %v of sending; rates over the steady window (server and generator threads' schedstat), memory, descriptors and socket diagnostics at the highest connection count. Each shape was run %d time(s), round after round over all shapes, and the run with the least server CPU kept (other work on the machine only ever makes a run cost more). The held-out shape was measured after the fit.\n\n", o.Duration, o.Repeat)
	var rows [][]string
	for i := range r.Observations {
		rows = append(rows, obsRow(&r.Observations[i], false))
	}
	if r.HeldOut != nil {
		rows = append(rows, obsRow(r.HeldOut, true))
	}
	table(w, []string{"shape", "frames/s", "readings/s", "sessions", "server cores (kept run)", "server cores, every run", "server CPU/reading", "generator cores",
		"server RSS", "server fds", "kernel: server sockets (ss -m)", "kernel: sockstat delta (both ends, host-wide)", "foreign", "steal"}, rows)
}

func (r *FleetReport) writeModel(w io.Writer) {
	m := r.Model
	fmt.Fprintf(w, "## The model\n\nFitted by least squares on the %d fitted shapes above the held-out one (the kept run of each); ± is one standard error of the term, from the residuals.\n\n", m.CPU.N)
	var rows [][]string
	add := func(what string, fit *LinearFit, scale float64, d int) {
		for _, t := range fit.Terms {
			rows = append(rows, []string{what + ": " + t.Name, pm(t.Value*scale, t.StdErr*scale, d, " "+t.Unit), relErr(t),
				num(fit.RMSE*scale, d), num(100*fit.MaxRelResidual, 1) + " %"})
		}
	}
	add("server CPU", &m.CPU, 1, 0)
	add("generator CPU", &m.GenCPU, 1, 0)
	add("server RSS", &m.Memory, 1, 0)
	add("server descriptors", &m.FDs, 1, 3)
	k := m.KernelPerSocket
	rows = append(rows, []string{"kernel socket buffers per server socket (mean over runs)", pm(k.Value, k.StdErr, 0, " B"), relErr(k), "-", "-"},
		[]string{"kernel slab objects per server socket (slabinfo object sizes: " + strings.Join(slabCaches, ", ") + ")", num(m.SlabPerSocket, 0) + " B", "derived", "-", "-"})
	table(w, []string{"term", "value", "rel. std. error", "fit RMSE", "largest residual"}, rows)
	fmt.Fprintf(w, "Server CPU ns/s = per frame x frames/s + per reading x readings/s + per connected device x sessions + idle. Memory per device is the process's (RSS); on TCP each device is one connection and one session, so the two cannot be told apart and the term is their sum; on UDP it is the session alone. Kernel socket memory is rmem_alloc + wmem_queued + forward_alloc of the server's sockets under the fleet's own traffic; the sock structures themselves (slab) are not in it, and are added from their object sizes.\n\n")
}

func (r *FleetReport) writeValidation(w io.Writer) {
	if r.HeldOut == nil {
		return
	}
	fmt.Fprintf(w, "## Validation: %s\n\nPredicted by the model before the run, then measured. Server CPU and memory must be within %.0f %% for the projection to be made.\n\n", r.HeldOut.Shape, 100*r.Options.Tolerance)
	var rows [][]string
	for _, c := range r.Checks {
		gate := ""
		if c.Gates {
			gate = "yes"
		}
		scale, d := 1.0, 0
		if c.Unit == "ns/s" {
			scale, d = 1e-9, 4
			c.Unit = "cores"
		}
		rows = append(rows, []string{c.Figure, pm(c.Predicted*scale, c.StdErr*scale, d, " "+c.Unit), num(c.Measured*scale, d) + " " + c.Unit,
			fmt.Sprintf("%+.1f %%", 100*c.Err), gate})
	}
	table(w, []string{"figure", "predicted", "measured", "error", "gates the projection"}, rows)
	if !r.Validated {
		fmt.Fprintf(w, "**The model missed the held-out run by more than %.0f %%: no projection is made from it.**\n\n", 100*r.Options.Tolerance)
	}
}

func (r *FleetReport) writeProjection(w io.Writer) {
	p := r.Projection
	if p == nil {
		return
	}
	f := &r.Fleet
	fmt.Fprintf(w, "## Projection for the fleet\n\n")
	rows := [][]string{
		{"server CPU", pm(p.Cores, p.CoresErr, 4, " cores") + fmt.Sprintf(" (%s per reading)", nsStr(p.NsPerReading))},
		{"  of which per frame", num(p.FrameCores, 4) + " cores"},
		{"  of which per reading", num(p.ReadingCores, 4) + " cores"},
		{"  of which per connected device", num(p.DeviceCores, 4) + " cores"},
		{"  of which idle", num(p.IdleCores, 4) + " cores"},
		r.kernelRxRow(),
		{"server memory (RSS)", pm(p.RSS/(1<<20), p.RSSErr/(1<<20), 1, " MiB")},
		{"kernel socket memory (server sockets)", kernelText(p, f)},
		{"memory, process and kernel", bytesStr(p.RSS + p.KernelBytes)},
		{"open files", num(p.FDs, 0)},
	}
	if r.measuredRx() {
		rows = slices.Insert(rows, 6, []string{"  cross-check: the generator model's bound", "at most " + pm(p.RxBoundCores, p.RxBoundCoresErr, 4, " cores") + " (the generator's whole CPU at this fleet on loopback, its sending included)"})
	}
	table(w, []string{"", "projected"}, rows)
	if p.Uncertain(r.Options.Tolerance) {
		fmt.Fprintf(w, "**The projected CPU is uncertain: its standard error is %.0f %% of it (more than %.0f %%).** The held-out run was predicted within tolerance, but the fitted terms (see their standard errors) do not pin down this fleet's cost, which lies far from the runs: read the CPU figure as an order of magnitude, not a plan.\n\n",
			100*p.CoresErr/math.Abs(p.Cores), 100*r.Options.Tolerance)
	}
	if r.measuredRx() {
		fmt.Fprintf(w, "The kernel's receive path (IP and %s input below the socket) runs in the sending process's context on loopback, so it is in the generator's CPU and not the server's. It was measured on its own on a veth pair (see \"Kernel receive path\" below): its time per packet there times the fleet's packets/s (%s frames/s x %s packets per frame, as measured). On a host with a network card it runs in softirq on the server's cores: plan for server CPU plus that row.\n\n",
			strings.ToUpper(f.Transport), num(p.FramesPerSec, 0), num(r.KernelRx.PacketsPerFrame.Value, 3))
	} else {
		fmt.Fprintf(w, "The kernel's receive path (IP and %s input below the socket) runs in the sending process's context on loopback, so it is in the generator's CPU and not the server's. It was not measured on its own (fleetwire plan --kernel-veth measures it): it is bounded from above by the generator's whole CPU (its own sending included), fitted with the same terms; on a host with a network card it runs in softirq on the server's cores, so plan for server CPU plus up to that share.\n\n", strings.ToUpper(f.Transport))
	}
	if r.Old != nil {
		ratio := p.Cores / r.Old.BusyCores
		fmt.Fprintf(w, "**Against the old figure:** %s busy cores (%s at 70 %% headroom), from %s. The model projects %s busy cores: %.1fx the old figure (the old one was %.0f %% of it).\n\n",
			num(r.Old.BusyCores, 3), num(r.Old.BusyCores/0.7, 3), r.Old.Source, pm(p.Cores, p.CoresErr, 3, ""), ratio, 100/ratio)
	}
}

func kernelText(p *FleetProjection, f *FleetSpec) string {
	if f.Transport != "tcp" {
		return "does not grow with devices on UDP (the server's few sockets; see the runs)"
	}
	return bytesStr(p.KernelBytes) + " (" + num(f.Devices, 0) + " sockets: " + bytesStr(p.KernelBytes-p.KernelSlab) +
		" of buffers at the measured mean, " + bytesStr(p.KernelSlab) + " of slab objects; not in RSS)"
}

// measuredRx: the receive path was measured and projected.
func (r *FleetReport) measuredRx() bool {
	return r.KernelRx != nil && len(r.KernelRx.Rounds) > 0 && r.Projection != nil
}

// kernelRxRow is the projection's receive-path row: measured when it
// was, else the generator model's bound.
func (r *FleetReport) kernelRxRow() []string {
	p := r.Projection
	const name = "kernel receive path (not in the server's CPU on loopback)"
	if !r.measuredRx() {
		return []string{name, "at most " + pm(p.RxBoundCores, p.RxBoundCoresErr, 4, " cores") + ": the generator model at this fleet (see below)"}
	}
	k := r.KernelRx
	pps := p.FramesPerSec * k.PacketsPerFrame.Value
	return []string{name, pm(p.KernelRxCores, p.KernelRxCoresErr, 4, " cores") +
		fmt.Sprintf(": %s per packet, measured on a veth pair, x %s packets/s", pm(k.RxPerPacket.Value, k.RxPerPacket.StdErr, 0, " ns"), num(pps, 0))}
}
