package bench

import (
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/fleetwire/fleetwire/bench/netns"
)

// Report is everything one `fleetwire bench` invocation measured.
type Report struct {
	Name              string    `json:"name"`
	Started           time.Time `json:"started"`
	Seconds           float64   `json:"seconds"`
	Command           string    `json:"command"`
	Machine           Machine   `json:"machine"`
	Pinning           string    `json:"pinning"`
	Links             []string  `json:"links"`
	Profiles          []string  `json:"profiles"` // parameters of the netns profiles used
	Results           []Result  `json:"results"`
	CodecBench        string    `json:"codec_bench,omitempty"` // raw `go test -bench` output (benchstat input)
	CodecBenchCommand string    `json:"codec_bench_command,omitempty"`
	// Rendered says when and at which commit the files were written again
	// from results.json (Render), if they were.
	Rendered string `json:"rendered,omitempty"`
}

// Render reads dir/results.json, recomputes every figure from its
// counters and writes the report files again: a report's figures can be
// checked against its raw counters, and a report written by an older
// version gets the current layout.
func Render(dir string) (*Report, error) {
	b, err := os.ReadFile(filepath.Join(dir, "results.json"))
	if err != nil {
		return nil, err
	}
	var r Report
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, "results.json"), err)
	}
	for i := range r.Results {
		x := &r.Results[i]
		x.Figures = Compute(&x.Scenario, &x.Counters)
	}
	commit, _, _ := strings.Cut(ThisMachine(".").Commit, " ")
	r.Rendered = time.Now().UTC().Format("2006-01-02 15:04 MST") + " by package bench at commit " + commit
	return &r, r.WriteFiles(dir)
}

// Merge reads the results.json of reports run side by side (the same
// binary, one matrix each: one per link, or one per scenario of a long
// suite) and writes them into dir as one report named name: every result,
// the links and profiles of all, the commands joined, the start of the
// first and the span to the end of the last. Runs are kept as they are,
// no figure is recomputed from another run's.
func Merge(dir, name string, from []string) (*Report, error) {
	if len(from) < 2 {
		return nil, errors.New("merge: want two reports or more")
	}
	var out Report
	var end time.Time
	var cmds []string
	for i, d := range from {
		b, err := os.ReadFile(filepath.Join(d, "results.json"))
		if err != nil {
			return nil, err
		}
		var r Report
		if err := json.Unmarshal(b, &r); err != nil {
			return nil, fmt.Errorf("%s: %w", filepath.Join(d, "results.json"), err)
		}
		if i == 0 {
			out.Machine, out.Pinning, out.Started = r.Machine, r.Pinning, r.Started
		}
		if r.Machine.Commit != out.Machine.Commit {
			return nil, fmt.Errorf("merge: %s ran at %q, %s at %q: not one binary", d, r.Machine.Commit, from[0], out.Machine.Commit)
		}
		if r.Started.Before(out.Started) {
			out.Started = r.Started
		}
		if e := r.Started.Add(time.Duration(r.Seconds * float64(time.Second))); e.After(end) {
			end = e
		}
		cmds = append(cmds, r.Command)
		out.Results = append(out.Results, r.Results...)
		for _, l := range r.Links {
			if !slices.Contains(out.Links, l) {
				out.Links = append(out.Links, l)
			}
		}
		for _, p := range r.Profiles {
			if !slices.Contains(out.Profiles, p) {
				out.Profiles = append(out.Profiles, p)
			}
		}
	}
	out.Name = name
	out.Seconds = end.Sub(out.Started).Seconds()
	out.Command = strings.Join(cmds, " & ")
	return &out, out.WriteFiles(dir)
}

// WriteFiles writes report.md, results.csv, results.json and the charts
// into dir.
func (r *Report) WriteFiles(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "results.json"), append(b, '\n'), 0o644); err != nil {
		return err
	}
	for name, write := range map[string]func(io.Writer) error{
		"results.csv": r.writeCSV,
		"report.md":   r.writeMarkdown,
	} {
		if err := WriteFile(filepath.Join(dir, name), write); err != nil {
			return err
		}
	}
	if r.CodecBench != "" {
		if err := os.WriteFile(filepath.Join(dir, "codec-bench.txt"), []byte(r.CodecBench), 0o644); err != nil {
			return err
		}
	}
	return r.writeCharts(dir)
}

// WriteFile creates path and writes it with write, naming the path in
// any error.
func WriteFile(path string, write func(io.Writer) error) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := write(f); err != nil {
		f.Close()
		return fmt.Errorf("%s: %w", path, err)
	}
	return f.Close()
}

var csvHeader = []string{"scenario", "group", "transport", "codec", "batch", "devices", "rate", "channels", "profile", "engine",
	"sent", "delivered", "lost", "loss_pct", "server_seq_lost", "duplicates", "reordered", "udp_rcvbuf_errors", "udp_in_errors", "tcp_retrans_segs",
	"payload_b_per_reading", "wire_up_b_per_reading", "wire_down_b_per_reading", "wire_b_per_reading", "veth_up_b_per_reading", "veth_down_b_per_reading",
	"latency_p50_ms", "latency_p99_ms", "latency_p999_ms", "latency_max_ms",
	"server_cpu_ns_per_reading", "server_stat_cpu_ns_per_reading", "server_cores", "server_timeslices_per_1k_readings", "server_rss_b_per_conn", "generator_cpu_ns_per_frame", "readings_per_s",
	"cost_mb_per_device_month",
	"ack_window", "ack_min_rto_ms", "ack_drain_s", "readings_acked", "readings_resent", "resent_frames", "resent_bytes", "readings_given_up", "readings_unacked_at_end", "ack_drain_timeouts",
	"acks_received", "ack_bytes_received", "server_ack_writes", "server_ack_bytes", "udp_hello_prefixes", "ack_latency_p50_ms", "ack_latency_p99_ms", "ack_latency_max_ms", "sink_synced",
	"skipped", "error"}

func ff(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }

func fp(v *float64) string {
	if v == nil {
		return ""
	}
	return ff(*v)
}

func (r *Report) writeCSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	_ = cw.Write(csvHeader)
	for _, x := range r.Results {
		s, f := &x.Scenario, &x.Figures
		ack := make([]string, 19)
		if a := f.Ack; a != nil {
			u := func(v uint64) string { return strconv.FormatUint(v, 10) }
			ack = []string{strconv.Itoa(a.Window), ff(a.MinRTOMs), ff(a.DrainSecs), u(a.Acked), u(a.Resent), u(a.ResentFr), u(a.ResentBytes), u(a.GivenUp), u(a.UnackedAtEnd), u(a.DrainTimeout),
				u(a.AcksReceived), u(a.AckBytes), u(a.AckWrites), u(a.AckBytesSent), u(a.HelloPrefix), ff(a.LatencyP50Ms), ff(a.LatencyP99Ms), ff(a.LatencyMaxMs), u(a.SinkSynced)}
		}
		row := []string{s.ID(), s.Name, s.Transport, s.Codec, strconv.Itoa(s.Batch), strconv.Itoa(s.Devices), ff(s.Rate), strconv.Itoa(s.Channels), s.Profile, x.Engine,
			strconv.FormatUint(f.Sent, 10), strconv.FormatUint(f.Delivered, 10), strconv.FormatInt(f.Lost, 10), ff(f.LossPct),
			strconv.FormatUint(f.SeqLost, 10), strconv.FormatUint(f.Duplicates, 10), strconv.FormatUint(f.Reordered, 10),
			strconv.FormatInt(f.UDPRcvbufErrors, 10), strconv.FormatInt(f.UDPInErrors, 10), strconv.FormatInt(f.TCPRetransSegs, 10),
			ff(f.PayloadPerReading), ff(f.WireUpPerReading), ff(f.WireDownPerReading), ff(f.WirePerReading), fp(f.VethUpPerReading), fp(f.VethDownPerReading),
			strconv.FormatInt(f.LatencyP50, 10), strconv.FormatInt(f.LatencyP99, 10), strconv.FormatInt(f.LatencyP999, 10), strconv.FormatInt(f.LatencyMax, 10),
			ff(f.ServerCPUNsPerReading), ff(f.ServerStatCPUNsPerReading), ff(f.ServerCores), ff(f.ServerSlicesPer1k), ff(f.RSSPerConn), ff(f.GenCPUNsPerFrame), ff(f.ReadingsPerSecond),
			ff(f.CostMBPerDeviceMonth)}
		row = append(append(row, ack...), x.Skipped, x.Err)
		_ = cw.Write(row)
	}
	cw.Flush()
	return cw.Error()
}

// ok reports whether a result has figures.
func (x *Result) ok() bool { return x.Skipped == "" && x.Err == "" }

// find returns the result of scenario id on engine, or nil.
func (r *Report) find(id, engine string) *Result {
	for i := range r.Results {
		if x := &r.Results[i]; x.Engine == engine && x.Scenario.ID() == id {
			return x
		}
	}
	return nil
}

// scenarios returns the distinct scenarios in run order.
func (r *Report) scenarios() []Scenario {
	var out []Scenario
	seen := map[string]bool{}
	for _, x := range r.Results {
		if id := x.Scenario.ID(); !seen[id] {
			seen[id] = true
			out = append(out, x.Scenario)
		}
	}
	return out
}

func f1(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) }
func f2(v float64) string { return strconv.FormatFloat(v, 'f', 2, 64) }

func pct(v float64) string {
	if v == 0 {
		return "0"
	}
	if v < 0.01 && v > -0.01 {
		return strconv.FormatFloat(v, 'g', 2, 64) + " %"
	}
	return f2(v) + " %"
}

func ns(v float64) string {
	switch {
	case v >= 10_000:
		return strconv.FormatFloat(v/1000, 'f', 1, 64) + " µs"
	default:
		return strconv.FormatFloat(v, 'f', 0, 64) + " ns"
	}
}

func table(w io.Writer, head []string, rows [][]string) {
	fmt.Fprintf(w, "| %s |\n|%s\n", strings.Join(head, " | "), strings.Repeat(" --- |", len(head)))
	for _, row := range rows {
		fmt.Fprintf(w, "| %s |\n", strings.Join(row, " | "))
	}
	fmt.Fprintln(w)
}

func (r *Report) writeMarkdown(w io.Writer) error {
	fmt.Fprintf(w, "# fleetwire bench: %s\n\n", r.Name)
	fmt.Fprintf(w, "Measured %s, %.0f s in all.", r.Started.UTC().Format("2006-01-02 15:04 MST"), r.Seconds)
	if r.Rendered != "" {
		fmt.Fprintf(w, " Figures recomputed from the counters in results.json and this file written again %s (`fleetwire bench --render DIR`).", r.Rendered)
	}
	fmt.Fprint(w, "\n\n")
	m := r.Machine
	table(w, []string{"", ""}, [][]string{
		{"command", "`" + r.Command + "`"},
		{"CPU", fmt.Sprintf("%s, %d cores", m.CPU, m.Cores)},
		{"kernel", m.Kernel}, {"Go", m.GoVersion}, {"commit", m.Commit},
		{"pinning", r.Pinning},
	})
	fmt.Fprintln(w, "Each scenario ran `fleetwire serve --sink none` and `fleetwire load --json` as two processes of the same binary, once with `--engine gnet` and once with `--engine std`, back to back (the order alternating from one scenario to the next), each measured alone; a scenario whose group names engines ran on those only. The tcp+ack and udp+ack scenarios ran `fleetwire serve --sink files` and `fleetwire load --ack` (see \"Acknowledged delivery\"). The machine is shared and noisy: CPU figures move by tens of percent between runs; bytes and loss do not.")
	fmt.Fprintln(w)
	r.writeCheapest(w)
	r.writeDevices(w)
	r.writeAckTargets(w)
	r.writeHeadline(w)
	r.writeDTLS(w)
	r.writeAck(w)
	r.writeCleanTCP(w)
	r.writeCPU(w)
	r.writeAll(w)
	r.writeProvenance(w)
	fmt.Fprintln(w, "## Links")
	fmt.Fprintln(w)
	for _, l := range r.Links {
		fmt.Fprintf(w, "- %s\n", l)
	}
	for _, p := range r.Profiles {
		fmt.Fprintf(w, "- profile %s\n", p)
	}
	fmt.Fprintln(w)
	var failed []string
	for _, x := range r.Results {
		if x.Skipped != "" {
			failed = append(failed, fmt.Sprintf("- %s on %s skipped: %s", x.Scenario.ID(), x.Engine, x.Skipped))
		} else if x.Err != "" {
			failed = append(failed, fmt.Sprintf("- %s on %s failed: %s", x.Scenario.ID(), x.Engine, x.Err))
		}
	}
	if len(failed) > 0 {
		fmt.Fprintf(w, "## Skipped and failed runs\n\n%s\n\n", strings.Join(failed, "\n"))
	}
	if r.CodecBench != "" {
		fmt.Fprintf(w, "## Codec micro-benchmarks\n\n`%s` (benchstat-compatible; also in codec-bench.txt):\n\n```\n%s```\n", r.CodecBenchCommand, r.CodecBench)
	}
	return nil
}

// writeHeadline: bytes per reading and loss per transport x codec on each
// emulated link, one table per fleet, gnet engine.
func (r *Report) writeHeadline(w io.Writer) {
	type key struct{ profile, fleet string }
	var keys []key
	for _, s := range r.scenarios() {
		if k := (key{s.Profile, s.fleet()}); s.Profile != Loopback && s.Rate > 0 && !slices.Contains(keys, k) {
			keys = append(keys, k)
		}
	}
	for _, k := range keys {
		var rows [][]string
		for _, s := range r.scenarios() {
			x := r.find(s.ID(), "gnet")
			if s.Profile != k.profile || s.fleet() != k.fleet || x == nil || !x.ok() {
				continue
			}
			f := &x.Figures
			std := r.find(s.ID(), "std")
			stdLoss := "-"
			if std != nil && std.ok() {
				stdLoss = pct(std.Figures.LossPct)
			}
			rows = append(rows, []string{s.Transport, s.Codec, strconv.Itoa(s.Batch), f2(f.PayloadPerReading), f2(f.WireUpPerReading), f2(f.WireDownPerReading),
				f2(f.WirePerReading), fp2(f.VethUpPerReading), strconv.FormatUint(f.Sent, 10), strconv.FormatInt(f.Lost, 10), pct(f.LossPct), stdLoss,
				strconv.FormatUint(f.SeqLost, 10), strconv.FormatInt(f.TCPRetransSegs, 10), f2(f.CostMBPerDeviceMonth)})
		}
		if len(rows) == 0 {
			continue
		}
		fmt.Fprintf(w, "## Transports on %s: %s\n\n", k.profile, k.fleet)
		fmt.Fprintln(w, "Bytes per delivered reading and readings lost, gnet engine (loss on std beside it where the scenario ran there too).")
		fmt.Fprintln(w)
		table(w, []string{"transport", "codec", "batch", "payload B", "wire up B", "wire down B", "wire B", "veth up B", "sent", "lost", "loss", "loss (std)", "server seq-lost", "TCP retrans segs", "MB/device/month"}, rows)
	}
}

func fp2(v *float64) string {
	if v == nil {
		return "-"
	}
	return f2(*v)
}

// writeCPU: gnet beside std, from the same run.
func (r *Report) writeCPU(w io.Writer) {
	fmt.Fprintln(w, "## Server CPU per reading: gnet engine vs standard library, same run")
	fmt.Fprintln(w)
	var rows [][]string
	var lines []string
	for _, s := range r.scenarios() {
		g, st := r.find(s.ID(), "gnet"), r.find(s.ID(), "std")
		if g == nil || st == nil || !g.ok() || !st.ok() || s.Profile != Loopback && s.Name != "cpu" {
			continue
		}
		x, y := g.Figures.ServerCPUNsPerReading, st.Figures.ServerCPUNsPerReading
		ratio := y / x
		if s.Name == "cpu" {
			lines = append(lines, fmt.Sprintf("- %s: gnet engine: %s/reading, standard library: %s/reading, ratio Y/X %.2f (at %.0f and %.0f readings/s delivered, loss %s and %s)",
				s.ID(), ns(x), ns(y), ratio, g.Figures.ReadingsPerSecond, st.Figures.ReadingsPerSecond, pct(g.Figures.LossPct), pct(st.Figures.LossPct)))
		}
		rows = append(rows, []string{s.ID(), ns(x), ns(y), f2(ratio), f1(g.Figures.ServerSlicesPer1k), f1(st.Figures.ServerSlicesPer1k), f2(g.Figures.ServerCores), f2(st.Figures.ServerCores),
			f1(g.Figures.ReadingsPerSecond), f1(st.Figures.ReadingsPerSecond), ns(g.Figures.GenCPUNsPerFrame)})
	}
	if len(lines) > 0 {
		fmt.Fprintln(w, strings.Join(lines, "\n"))
		fmt.Fprintln(w)
	}
	fmt.Fprintln(w, "Outside the `cpu` scenarios the server is lightly loaded (see the cores and readings/s columns): most of its CPU is then paid per wake-up (a context switch, an epoll round, a read per connection) and per second (the once-a-second stats snapshot, timers), not per reading, so the wake-ups column explains most differences between engines there. TLS wire and CPU figures include each connection's handshake.")
	fmt.Fprintln(w)
	table(w, []string{"scenario", "gnet CPU/reading", "std CPU/reading", "std/gnet", "gnet wake-ups/1k readings", "std wake-ups/1k readings", "gnet cores", "std cores", "gnet readings/s", "std readings/s", "generator CPU/frame (gnet run)"}, rows)
}

func (r *Report) writeAll(w io.Writer) {
	fmt.Fprintln(w, "## All figures")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Per delivered reading unless said otherwise. Wire bytes are counted at the server's sockets (see below); veth bytes at the link's interfaces.")
	fmt.Fprintln(w)
	var rows [][]string
	for _, x := range r.Results {
		if !x.ok() {
			continue
		}
		f := &x.Figures
		rows = append(rows, []string{x.Scenario.ID(), x.Engine, strconv.FormatUint(f.Sent, 10), strconv.FormatUint(f.Delivered, 10), strconv.FormatInt(f.Lost, 10),
			strconv.FormatUint(f.SeqLost, 10), strconv.FormatUint(f.Duplicates, 10), strconv.FormatUint(f.Reordered, 10),
			strconv.FormatInt(f.UDPRcvbufErrors, 10) + "/" + strconv.FormatInt(f.UDPInErrors, 10), strconv.FormatInt(f.TCPRetransSegs, 10),
			f2(f.PayloadPerReading), f2(f.WireUpPerReading), f2(f.WireDownPerReading), fp2(f.VethUpPerReading), fp2(f.VethDownPerReading),
			fmt.Sprintf("%d/%d/%d/%d", f.LatencyP50, f.LatencyP99, f.LatencyP999, f.LatencyMax),
			ns(f.ServerCPUNsPerReading), rss(f.RSSPerConn), ns(f.GenCPUNsPerFrame), f2(f.CostMBPerDeviceMonth)})
	}
	table(w, []string{"scenario", "engine", "sent", "delivered", "lost", "seq-lost", "dup", "reord", "rcvbuf/in errs", "retrans", "payload B", "wire up B", "wire down B", "veth up B", "veth down B", "latency ms p50/p99/p99.9/max", "server CPU", "RSS/conn", "gen CPU/frame", "MB/dev/month"}, rows)
}

func rss(v float64) string {
	if v == 0 {
		return "-"
	}
	return strconv.FormatFloat(v/1024, 'f', 2, 64) + " KiB"
}

// provenance names the counter behind each figure.
var provenance = [][]string{
	{"sent", "generator `--json` report: `readings_sent` (a frame counts once write()/sendmmsg() accepted all its bytes). tcp+ack, udp+ack: every reading the devices generated, `readings_acked + readings_given_up + readings_unacked_at_end` (a frame whose first transmission did not happen still leaves as a resend)"},
	{"delivered", "server `GET /api/stats`: `transports.<t>.readings - transports.<t>.duplicates`. tcp+ack, udp+ack: `sink.stored`, what the file sink wrote (a resent sample is not stored again; `sink.synced` in results.csv says how much of it an fsync covered)"},
	{"lost", "sent - delivered (ground truth); `seq-lost` beside it is the server's own `transports.<t>.lost` (sequence gaps + end-of-stream), which cannot see a device's lost first frames (a UDP device names no first sequence number) nor a lost tail whose end-of-stream datagram was lost too"},
	{"dup, reord", "`transports.<t>.duplicates`, `transports.<t>.reordered`. tcp+ack, udp+ack: dup is `acks.resent_samples` x channels, samples received again and not stored"},
	{"rcvbuf/in errs", "`/proc/net/snmp` `Udp: RcvbufErrors` / `InErrors`, delta over the run, in the server's network namespace"},
	{"retrans", "`/proc/net/snmp` `Tcp: RetransSegs` delta, both ends' namespaces (the uplink's retransmissions are the client's)"},
	{"payload B", "`transports.<t>.payload_bytes` / delivered"},
	{"wire up B (TCP, TLS)", "server's `TCP_INFO` summed at each close (`transports.<t>.tcp_info`): (`segs_in` x 52 + `bytes_received`) / delivered. The generator does not report TCP_INFO, so this is the server's side only: retransmissions lost on the way are not in it (they are in veth up B)"},
	{"wire down B (TCP, TLS)", "(`tcp_info.segs_out` x 52 + `tcp_info.bytes_sent`) / delivered: ACKs (and any downlink)"},
	{"wire up B (UDP)", "(`datagrams` x 28 + `transports.udp.rx_bytes`) / delivered, resends and hello prefixes included; down is 0 (no downlink was sent)"},
	{"wire up/down B (DTLS)", "the DTLS listener's socket (`transports.dtls.wire`): (`rx_datagrams` x 28 + `rx_bytes`) / delivered up, (`tx_datagrams` x 28 + `tx_bytes`) / delivered down: every datagram, handshakes (cookie exchange included), record headers, nonces and tags, connection IDs, close_notify and alerts. The devices speak DTLS 1.2 with a pre-shared key and AES-128-CCM-8, one session each for the run"},
	{"wire down B (udp+ack)", "(`acks.writes` x 28 + `acks.bytes`) / delivered: the #stored datagrams the server wrote (some were then lost on the way; veth down B counts what left the server's end)"},
	{"acked, resent, given up, unacked at end", "generator `readings_acked`, `readings_resent` (each time), `resent_bytes` (payload, also in its `bytes_sent`), `readings_given_up`, `readings_unacked_at_end` and `ack_drain_timeouts` (devices)"},
	{"#stored B received, per device", "generator `ack_bytes_received` (payload) and `acks_received` / `devices_connected`"},
	{"ack latency", "generator `ack_latency` (µs): per acknowledged flight, its first transmission to the #stored that covered it"},
	{"veth up/down B", "`/proc/net/dev` of the client (up) / server (down) veth end: (tx_bytes - 14 x tx_packets) / delivered, IP bytes including retransmissions and packets the loss rule then dropped"},
	{"latency", "`latency_ms` p50/p99/p999/max: server HDR histogram of receive time minus the device timestamp of each frame's last sample (ms; both clocks are this machine's)"},
	{"server CPU", "sum over the server's threads of `/proc/<pid>/task/*/schedstat` on-CPU ns (user+sys), delta from generator start to the server counting every end-of-stream, / delivered. `/proc/<pid>/stat` utime+stime (10 ms ticks) is in results.csv as server_stat_cpu_ns_per_reading"},
	{"wake-ups", "`/proc/<pid>/task/*/schedstat` field 3 (timeslices: times a thread was switched onto a CPU), delta, per 1,000 delivered readings (results.csv)"},
	{"RSS/conn", "(`/proc/<pid>/status` VmRSS at the highest sampled `connections` - VmRSS before the load) / that connection count"},
	{"gen CPU/frame", "generator `--json` `cpu_ns_per_frame` (its getrusage user+sys / frames sent)"},
	{"MB/device/month", "wire B (up+down) x rate x channels x 2,592,000 s (30 days) / 1e6"},
}

func (r *Report) writeProvenance(w io.Writer) {
	fmt.Fprintln(w, "## Which counter produced each figure")
	fmt.Fprintln(w)
	table(w, []string{"figure", "counter"}, provenance)
}

// writeCleanTCP checks issue 6's "on a clean link, loss 0 and server
// counts equal to generator counts in every TCP scenario".
func (r *Report) writeCleanTCP(w io.Writer) {
	var n int
	var bad []string
	for _, x := range r.Results {
		s := &x.Scenario
		if !x.ok() || s.Wire() == "udp" || s.Acked() || (s.Profile != Loopback && s.Profile != "clean") {
			continue
		}
		n++
		c := &x.Counters
		if x.Figures.Lost != 0 || c.Srv.Readings != c.Gen.ReadingsSent || c.Srv.Frames != c.Gen.FramesSent {
			bad = append(bad, fmt.Sprintf("%s on %s: sent %d readings in %d frames, server counted %d in %d", s.ID(), x.Engine,
				c.Gen.ReadingsSent, c.Gen.FramesSent, c.Srv.Readings, c.Srv.Frames))
		}
	}
	if n == 0 {
		return
	}
	fmt.Fprintln(w, "## Clean links: TCP, TLS and DTLS deliver exactly what was sent")
	fmt.Fprintln(w)
	if len(bad) == 0 {
		fmt.Fprintf(w, "All %d TCP, TLS and DTLS runs without acknowledgements on loopback and on the clean veth: 0 lost, and the server's `readings` and `frames` equal the generator's `readings_sent` and `frames_sent`.\n\n", n)
		return
	}
	fmt.Fprintf(w, "%d of %d TCP, TLS and DTLS runs on clean links did NOT match:\n\n- %s\n\n", len(bad), n, strings.Join(bad, "\n- "))
}

// byEngine returns results of engine e that ran, in order.
func (r *Report) byEngine(e string) []Result {
	return slices.DeleteFunc(slices.Clone(r.Results), func(x Result) bool { return x.Engine != e || !x.ok() })
}

// LinksAndProfiles lists the links results ran on and the parameters of
// the netns profiles among them.
func LinksAndProfiles(results []Result) (links, profiles []string) {
	for _, x := range results {
		if x.Link != "" && !slices.Contains(links, x.Link) {
			links = append(links, x.Link)
		}
		if p, err := netns.ProfileByName(x.Scenario.Profile); err == nil {
			d := p.String() + ": " + p.Description + " (" + p.Source + ")"
			if !slices.Contains(profiles, d) {
				profiles = append(profiles, d)
			}
		}
	}
	return links, profiles
}

// Failed counts the runs that ran and failed (skips are not failures).
func Failed(results []Result) int {
	n := 0
	for _, x := range results {
		if x.Err != "" {
			n++
		}
	}
	return n
}
