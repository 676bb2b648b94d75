package plan

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
)

func table(w io.Writer, head []string, rows [][]string) {
	fmt.Fprintf(w, "| %s |\n|%s\n", strings.Join(head, " | "), strings.Repeat(" --- |", len(head)))
	for _, row := range rows {
		fmt.Fprintf(w, "| %s |\n", strings.Join(row, " | "))
	}
	fmt.Fprintln(w)
}

// num prints v with thousands separators and d decimals.
func num(v float64, d int) string {
	if math.IsInf(v, 0) || math.IsNaN(v) {
		return "-"
	}
	s := strconv.FormatFloat(math.Abs(v), 'f', d, 64)
	intPart, frac, _ := strings.Cut(s, ".")
	var b strings.Builder
	if v < 0 {
		b.WriteByte('-')
	}
	for i, c := range intPart {
		if i > 0 && (len(intPart)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if frac != "" {
		b.WriteString("." + frac)
	}
	return b.String()
}

func nsStr(v float64) string {
	if v >= 10_000 {
		return num(v/1000, 1) + " µs"
	}
	return num(v, 0) + " ns"
}

func bytesStr(v float64) string {
	switch {
	case v >= 1<<30:
		return num(v/(1<<30), 2) + " GiB"
	case v >= 1<<20:
		return num(v/(1<<20), 1) + " MiB"
	case v >= 1<<10:
		return num(v/(1<<10), 2) + " KiB"
	}
	return num(v, 0) + " B"
}

func (r *Report) writeMarkdown(w io.Writer, charts []string) error {
	s := &r.Search
	fmt.Fprintf(w, "# fleetwire plan: %s\n\n", r.Name)
	fmt.Fprintf(w, "Measured %s, %s s in all.\n\n", r.Started.UTC().Format("2006-01-02 15:04 MST"), num(r.Seconds, 0))
	m := r.Machine
	table(w, []string{"", ""}, [][]string{
		{"command", "`" + r.Command + "`"},
		{"CPU", fmt.Sprintf("%s, %d cores", m.CPU, m.Cores)},
		{"kernel", m.Kernel}, {"Go", m.GoVersion}, {"commit", m.Commit},
		{"pinning", r.Pinning},
		{"server", fmt.Sprintf("`fleetwire serve --engine gnet --sink %s`, a fresh process per step", r.Sink)},
		{"generator", fmt.Sprintf("`fleetwire load`, %s devices, %d channels, open loop, a fresh process per step%s", num(float64(s.Base.Devices), 0), s.Base.Channels, udpNote(r.UDPSockets))},
		{"steps", fmt.Sprintf("%v of sending each; load x%g from %s readings/s up to %s, then bisection to %g %%; at most %d steps per search; a failing step re-run %d time(s)",
			s.Base.Duration, s.Factor, num(s.Start, 0), num(s.MaxLoad, 0), 100*s.Resolution, s.MaxSteps, s.Confirm)},
		{"limits", limitsText(&s.Limits)},
		{"repeats", fmt.Sprintf("every knee search ran %d times", r.Repeat)},
	})
	if r.Rendered != "" {
		fmt.Fprintf(w, "Measured at the commit above; %s.\n\n", r.Rendered)
	}
	fmt.Fprintf(w, "**This machine has %d cores and is shared with other sessions.** The server was given one core and the generator the other (see pinning), so every knee below is the knee of **one server core**; neither process had a core to itself in the sense of an idle host: other work landed on both (the `foreign` column of each curve shows how much on the server's). Read ratios (codec against codec, TCP against UDP, run against run) before absolute numbers, and expect tens of percent between runs.\n\n", r.Machine.Cores)
	r.writeSummary(w)
	r.writeKnees(w)
	r.writeProjection(w)
	img := func(name string) {
		if slices.Contains(charts, name) {
			fmt.Fprintf(w, "![%s](%s)\n\n", strings.TrimSuffix(name, ".svg"), name)
		}
	}
	img("cores-vs-fleet.svg")
	r.writeCurves(w, img)
	r.writeMemory(w)
	r.writeProvenance(w)
	if len(r.Errors) > 0 {
		fmt.Fprintf(w, "## Errors\n\n- %s\n\n", strings.Join(r.Errors, "\n- "))
	}
	return nil
}

// writeSummary says in a few lines what the tables below hold.
func (r *Report) writeSummary(w io.Writer) {
	fmt.Fprintln(w, "## Summary")
	fmt.Fprintln(w)
	for _, cfg := range r.Configs() {
		var runs []string
		for _, x := range r.ResultsOf(cfg) {
			st := x.KneeStep()
			switch {
			case st != nil && x.FirstBad >= 0:
				runs = append(runs, fmt.Sprintf("run %d knee **%s** readings/s, then %s", x.Run, num(st.Load.Offered(), 0), x.Resource))
			case st != nil && x.Outcome == OutcomeGenerator:
				runs = append(runs, fmt.Sprintf("run %d: the generator saturated first, the server took %s readings/s (%.2f of its core)", x.Run, num(st.Load.Offered(), 0), st.Figures.ServerCores))
			case st != nil:
				runs = append(runs, fmt.Sprintf("run %d: %s, good up to %s readings/s", x.Run, x.Outcome, num(st.Load.Offered(), 0)))
			default:
				runs = append(runs, fmt.Sprintf("run %d: %s", x.Run, x.Outcome))
			}
		}
		fmt.Fprintf(w, "- `%s`: %s.\n", cfg, strings.Join(runs, "; "))
	}
	if len(r.Projections) > 0 {
		f := &r.Fleet
		fmt.Fprintf(w, "- %s devices, one sample of %d readings every %s s (%s readings/s), at %g %% utilisation per core:", num(f.Devices, 0), f.Channels,
			num(1/f.Rate, 1), num(f.Devices*f.Rate*float64(f.Channels), 0), 100*f.Headroom)
		for i, p := range r.Projections {
			sep := ";"
			if i == len(r.Projections)-1 {
				sep = "."
			}
			fmt.Fprintf(w, " `%s` %s cores (%s), %s, %s MB/device/month%s", p.Inputs.Config, num(p.CoresNeeded, 2), nsStr(p.Inputs.NsPerReading)+"/reading",
				bytesStr(p.MemoryBytes), num(p.MBPerDeviceMonth, 2), sep)
		}
		fmt.Fprintln(w)
		lo, loCfg := math.Inf(1), ""
		for _, p := range r.Projections {
			if p.Inputs.KneeReached && p.Inputs.KneePerCore < lo {
				lo, loCfg = p.Inputs.KneePerCore, p.Inputs.Config
			}
		}
		if rps := f.Devices * f.Rate * float64(f.Channels); loCfg != "" {
			fmt.Fprintf(w, "- That fleet's %s readings/s are %s %% of the lowest knee of one core measured here (`%s`, %s readings/s)", num(rps, 0), num(100*rps/lo, 1), loCfg, num(lo, 0))
			if rps < lo/2 {
				fmt.Fprint(w, ": its CPU fits one core with room to spare, and its memory and, over TCP, its open connections are what to plan for")
			}
			fmt.Fprintln(w, ".")
		}
	}
	fmt.Fprintln(w)
}

func udpNote(n int) string {
	if n == 0 {
		return "; UDP devices each from their own socket"
	}
	return fmt.Sprintf("; UDP through %d shared socket(s) with sendmmsg (--udp-sockets %d), which lets one generator core offer more datagrams", n, n)
}

func limitsText(l *Limits) string {
	s := fmt.Sprintf("loss <= %s of offered readings; server latency p99 <= %d ms; server CPU < %g of %d core(s); the generator must stay under %g of its %d core(s), send lateness p99 <= %d ms, and send >= %g %% of the offered rate, else the step measures the generator",
		pct(l.MaxLossPct), l.MaxP99.Milliseconds(), l.MaxCPU, l.ServerCores, l.MaxGenCPU, l.GenCores, l.MaxGenLate.Milliseconds(), 100*l.MinSentFraction)
	if l.MaxFDFraction > 0 {
		s += fmt.Sprintf("; descriptors < %g of the server's limit, no EMFILE at connect", l.MaxFDFraction)
	}
	if l.MaxRSS > 0 {
		s += "; server RSS <= " + bytesStr(float64(l.MaxRSS))
	}
	return s
}

func (r *Report) writeKnees(w io.Writer) {
	fmt.Fprintln(w, "## Knees")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "The knee is the highest offered load at which no limit was crossed (the last good step); the first bad step above it names the limit crossed and the resource that gave out. Loads in readings/s (a reading is one channel of one sample).")
	fmt.Fprintln(w)
	var rows [][]string
	for _, x := range r.Results {
		k, b := x.KneeStep(), x.BadStep()
		row := []string{"`" + x.Config + "`", strconv.Itoa(x.Run), x.Outcome, "-", "-", "-", "-", "-", "-", "-", "-", strconv.Itoa(len(x.Steps))}
		if k != nil {
			f := &k.Figures
			row[3], row[4] = "**"+num(k.Load.Offered(), 0)+"**", num(k.Load.FramesPerSec(), 0)
			row[7], row[8], row[9] = num(f.ServerCores, 2), nsStr(f.ServerNsPerReading), num(f.GenCores, 2)
		}
		if b != nil {
			row[5] = num(b.Load.Offered(), 0)
		}
		if x.Resource != "" {
			row[6] = strings.Join(x.Crossed, "; ")
			row[10] = "**" + x.Resource + "**"
		}
		if x.Note != "" {
			row[2] += " (" + x.Note + ")"
		}
		rows = append(rows, row)
	}
	table(w, []string{"wire choice", "run", "outcome", "knee readings/s", "knee frames/s", "first bad readings/s", "limit crossed at the first bad step", "server cores at knee", "server CPU/reading at knee", "generator cores at knee", "limiting resource", "steps"}, rows)

	fmt.Fprintln(w, "Repeatability (the same search run again, same binary, minutes apart):")
	fmt.Fprintln(w)
	rows = nil
	for _, cfg := range r.Configs() {
		rs := r.ResultsOf(cfg)
		row := []string{"`" + cfg + "`"}
		var knees []float64
		for _, x := range rs {
			if k := x.KneeStep(); k != nil {
				knees = append(knees, k.Load.Offered())
				row = append(row, num(k.Load.Offered(), 0))
			} else {
				row = append(row, "-")
			}
		}
		ratio := "-"
		if len(knees) >= 2 {
			lo, hi := math.Min(knees[0], knees[1]), math.Max(knees[0], knees[1])
			ratio = num(hi/lo, 2)
		}
		row = append(row, ratio)
		rows = append(rows, row)
	}
	head := []string{"wire choice"}
	for i := 1; i <= r.Repeat; i++ {
		head = append(head, fmt.Sprintf("run %d knee", i))
	}
	table(w, append(head, "higher / lower"), rows)
}

func (r *Report) writeProjection(w io.Writer) {
	f := &r.Fleet
	fmt.Fprintf(w, "## Projection: %s devices, one sample of %d readings every %s s\n\n", num(f.Devices, 0), f.Channels, num(1/f.Rate, 1))
	fmt.Fprintf(w, "Cores = readings/s x measured server CPU per reading / %g (the headroom: each core planned at %g %% utilisation), rounded up; the measured CPU per reading is the steady-window figure of the knee step (of the repeat where it was higher). \"At knee\" is readings/s divided by the knee's readings/s per core: cores all running at their measured knee, no margin. Memory = one measured idle server RSS per core (a one-core server per core, as measured) + devices x measured RSS per device. Open files: TCP needs a descriptor per connection (measured: the server's fds per open connection), against the open-file limit measured on this host; `fleetwire serve --max-conns` (100,000 by default) bounds a process too. Bandwidth and bytes per device from the wire bytes per delivered reading measured at the knee step (headers included; TCP: the server's TCP_INFO, UDP: datagrams x 28 + payload).",
		f.Headroom, 100*f.Headroom)
	if f.PricePerMB > 0 {
		fmt.Fprintf(w, " Cost at %g per MB (1e6 bytes, given with --price-per-mb, not measured).", f.PricePerMB)
	}
	fmt.Fprint(w, "\n\n")
	var rows [][]string
	for _, p := range r.Projections {
		in := &p.Inputs
		knee := ""
		if !in.KneeReached {
			knee = " (no knee: last good step)"
		}
		rows = append(rows, []string{"`" + in.Config + "`", num(p.ReadingsPerSec, 0), num(p.FramesPerSec, 0),
			nsStr(in.NsPerReading) + knee, num(p.BusyCores, 3), "**" + num(p.CoresNeeded, 3) + "**", strconv.Itoa(p.WholeCores),
			num(in.KneePerCore, 0), num(p.KneeCores, 3),
			bytesStr(in.RSSPerDevice), bytesStr(in.BaseRSS), "**" + bytesStr(p.MemoryBytes) + "**", files(&p),
			num(in.WireUp, 2) + " / " + num(in.WireDown, 2), "**" + num(p.UpMbps, 1) + " / " + num(p.DownMbps, 1) + "**",
			"**" + num(p.MBPerDeviceMonth, 3) + "**", num(p.CostPerDeviceMonth, 4), num(p.FleetCostMonth, 0)})
	}
	table(w, []string{"wire choice", "readings/s", "frames/s", "measured: server CPU/reading", "busy cores", "cores at headroom", "whole cores", "measured: knee readings/s per core", "cores at knee", "measured: RSS/device", "measured: idle server RSS", "memory", "open files (measured fds/device; limit here)", "measured: wire B/reading up / down", "server Mbit/s up / down", "MB/device/month", "cost/device/month", "fleet cost/month"}, rows)
	fmt.Fprintln(w, "Where the measured inputs came from:")
	fmt.Fprintln(w)
	rows = nil
	for _, p := range r.Projections {
		in := &p.Inputs
		segs := "-"
		if in.SegsInPerFrame > 0 {
			segs = num(in.SegsInPerFrame, 2) + " / " + num(in.SegsOutPerFrame, 2)
		}
		rows = append(rows, []string{"`" + in.Config + "`", in.CPUSource, in.KneeLoads, r.lowest(in.Config), in.MemSource, segs})
	}
	table(w, []string{"wire choice", "CPU and wire bytes from", "knees (readings/s)", "CPU/reading at the lowest load measured", "memory from", "TCP segments in / out per frame there"}, rows)
	fmt.Fprintln(w, "On loopback the kernel's receive path below the socket (IP and UDP/TCP input, queueing to the socket, the wake-up) runs in the sender's context, so it is charged to the generator, not to the server: the server CPU per reading here is the server process's own (its user time and its system calls). On a real host with a NIC that receive path runs in softirq on the server host's cores, so a real deployment needs more cores than projected here by that kernel share; this report does not measure it.")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "What the projection assumes: CPU per reading stays what it was at the knee when the same readings/s come from many more, sparser devices. Below the knee a server's fixed costs per second (the stats snapshot, timers, epoll wake-ups with few events) weigh more: the CPU per reading at the lowest load measured is beside the inputs above, and a fleet far below one core's knee costs more per reading than projected (but still a fraction of a core). Nor does it quite hold for sparse devices: the sweep's devices send many frames each per second, so near saturation a TCP connection's frames can share a read; a million devices sending one frame every few seconds each cost one wake-up and read per frame. Kernel memory of sockets (not in RSS) and the NIC are not in the figures; TCP bytes are what the server's sockets counted at the knee step: where segments per frame are about 1 in and 1 out (last table), each frame travelled in its own segment and got its own ACK there, as a device that sends rarely does; connection set-up, keep-alives and reconnects are not in them.")
	fmt.Fprintln(w)
}

// lowest returns the server CPU per reading of cfg's good steps at the
// lowest offered load, where its fixed costs per second weigh most.
func (r *Report) lowest(cfg string) string {
	var best *Step
	for _, x := range r.ResultsOf(cfg) {
		for i := range x.Steps {
			st := &x.Steps[i]
			if st.Err == "" && st.Verdict.OK && (best == nil || st.Load.Offered() < best.Load.Offered()) {
				best = st
			}
		}
	}
	if best == nil {
		return "-"
	}
	return fmt.Sprintf("%s at %s readings/s (%.2f cores)", nsStr(best.Figures.ServerNsPerReading), num(best.Load.Offered(), 0), best.Figures.ServerCores)
}

func files(p *Projection) string {
	in := &p.Inputs
	if in.FDsPerDevice == 0 {
		return "- (UDP: sockets do not grow with devices)"
	}
	return fmt.Sprintf("**%s** (%s/device; %s per process here: %d processes)", num(p.OpenFiles, 0), num(in.FDsPerDevice, 3), num(float64(in.FDLimit), 0), p.ProcsForFiles)
}

func (r *Report) writeCurves(w io.Writer, img func(string)) {
	fmt.Fprintln(w, "## Curves")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Charts: `curve-*.svg` (loss and latency p99 vs offered load, knees marked) and `cpu-*.svg` (server and generator cores vs offered load, with the CPU limit) per wire choice. Where a load ran more than once, the charts show the run the search went by.")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Every step of every search, in the order it ran. Server and generator cores: CPU time / wall time of each process over the steady window (the send phase less its first second), from the threads' schedstat. `foreign`: the rest of the server core's busy time in /proc/stat (other processes, interrupts). CPU/reading over the same window.")
	fmt.Fprintln(w)
	drawn := map[string]bool{}
	for _, x := range r.Results {
		if !drawn[x.Config] {
			drawn[x.Config] = true
			name := strings.ReplaceAll(x.Config, "/", "-") + ".svg"
			img("curve-" + name)
			img("cpu-" + name)
		}
		fmt.Fprintf(w, "### `%s`, run %d: %s\n\n", x.Config, x.Run, x.Outcome)
		var rows [][]string
		for k := range x.Steps {
			st := &x.Steps[k]
			rows = append(rows, stepRow(st, mark(&x, k)))
		}
		table(w, stepHead, rows)
	}
}

var stepHead = []string{"#", "phase", "offered readings/s", "devices x samples/s", "sent readings/s", "loss", "latency ms p50/p99/max", "server cores", "foreign on server / gen core", "server CPU/reading", "generator cores", "gen late p99 ms", "kernel drops", "back-pressure readings", "server-dropped readings", "verdict"}

func mark(x *Result, k int) string {
	switch k {
	case x.Knee:
		return " **(knee)**"
	case x.FirstBad:
		return " **(first bad)**"
	}
	return ""
}

func stepRow(st *Step, mark string) []string {
	l, f, c := &st.Load, &st.Figures, &st.Counters
	verdict := st.Verdict.String()
	if st.Err != "" {
		verdict = "error: " + st.Err
	}
	if len(st.Verdict.Notes) > 0 {
		verdict += " (" + strings.Join(st.Verdict.Notes, "; ") + ")"
	}
	return []string{strconv.Itoa(st.N), st.Phase, num(l.Offered(), 0) + mark, fmt.Sprintf("%s x %s", num(float64(l.Devices), 0), strconv.FormatFloat(l.Rate, 'g', 4, 64)),
		num(f.SentPerSec, 0), pct(f.LossPct), fmt.Sprintf("%d/%d/%d", c.Latency.P50, c.Latency.P99, c.Latency.Max),
		num(f.ServerCores, 2), num(f.Foreign, 2) + " / " + num(f.GenForeign, 2), nsStr(f.ServerNsPerReading), num(f.GenCores, 2), num(f.GenLateP99Ms, 1),
		strconv.FormatInt(f.KernelDrops, 10), num(float64(f.BackPressure), 0), num(float64(f.ServerDropped), 0), verdict}
}

func (r *Report) writeMemory(w io.Writer) {
	if len(r.Memory) == 0 {
		return
	}
	fmt.Fprintln(w, "## Memory per device")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "A separate step per transport with many devices at a low rate, so that the server's RSS grows with its sessions (and TCP connections) rather than with in-flight buffers: (RSS at the highest sampled connection count, or UDP session count, - RSS before the load) / that count.")
	fmt.Fprintln(w)
	var rows [][]string
	for i := range r.Memory {
		st := &r.Memory[i]
		c := &st.Counters
		res := bytesStr(st.Figures.RSSPerDevice)
		if st.Err != "" {
			res = "error: " + st.Err
		}
		rows = append(rows, []string{st.Load.Transport, num(float64(st.Load.Devices), 0), strconv.FormatFloat(st.Load.Rate, 'g', 4, 64),
			bytesStr(float64(c.MemBefore.RSS)), bytesStr(float64(c.MemPeak.RSS)), num(float64(c.PeakConns), 0), res,
			fmt.Sprintf("%d / %d", c.PeakFDs, c.FDLimit)})
	}
	table(w, []string{"transport", "devices", "samples/s each", "RSS before", "RSS at peak", "connections (TCP) / sessions (UDP)", "RSS per device", "server fds peak / limit"}, rows)
}

var provenance = [][]string{
	{"offered readings/s", "devices x rate x channels as configured; `sent readings/s` is the generator's `readings_sent / duration_seconds` (its --json report)"},
	{"loss", "(readings sent + readings devices dropped on back-pressure - delivered) / that; delivered = `/api/stats` `transports.<t>.readings - duplicates` (received) minus the readings it then dropped, `transports.<t>.dropped` by reason (`sink_full`: the sink's queue at its bound), once the server counted every end-of-stream (or its counts stood still)"},
	{"server-dropped readings", "`/api/stats` `transports.<t>.dropped`, summed over reasons"},
	{"latency", "`/api/stats` `latency_ms`: the server's HDR histogram of receive time minus the device timestamp, whole step (so it includes generator lateness, reported beside it)"},
	{"server cores", "sum of `/proc/<pid>/task/*/schedstat` on-CPU ns over the server's threads, sampled every 100 ms; delta over the steady window / window length"},
	{"server CPU/reading", "that delta / readings received in the window (sent readings/s x received fraction x window): the work of every reading received, kept or dropped"},
	{"foreign", "`/proc/stat` busy jiffies of the server's CPU over the window / window, minus server cores"},
	{"generator cores", "the same schedstat sum for the generator process; `gen late p99` its report's `lateness.p99_us`"},
	{"kernel drops", "UDP: the drops column of `/proc/<server pid>/net/udp` for the server's port (per socket: receive buffer full); plus, any transport, the delta of `/proc/net/softnet_stat` column 2 (a CPU's input backlog full; host-wide). `Udp: RcvbufErrors` of `/proc/<server pid>/net/snmp` (host-wide) is in plan.csv"},
	{"back-pressure readings", "generator `frames_dropped_by_reason.backpressure` x batch x channels: frames a TCP device dropped because its socket and 256 KiB queue were full"},
	{"RSS per device", "`/proc/<pid>/status` VmRSS at the highest `/api/stats` connection (TCP) or session (UDP) count sampled every 250 ms, minus VmRSS before the load, / that count"},
	{"descriptors", "`/proc/<pid>/fd` entries (peak) against `/proc/<pid>/limits` Max open files; generator `connect_failures.emfile`"},
	{"wire B/reading", "bench's figures: TCP `tcp_info` (segs_in x 52 + bytes_received, segs_out x 52 + bytes_sent), UDP datagrams x 28 + rx_bytes, / delivered"},
}

func (r *Report) writeProvenance(w io.Writer) {
	fmt.Fprintln(w, "## Which counter produced each figure")
	fmt.Fprintln(w)
	table(w, []string{"figure", "counter"}, provenance)
}
