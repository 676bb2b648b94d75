package plan

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/fleetwire/fleetwire/bench"
)

// Report is everything one `fleetwire plan` invocation measured and
// projected.
type Report struct {
	Name       string        `json:"name"`
	Started    time.Time     `json:"started"`
	Seconds    float64       `json:"seconds"`
	Command    string        `json:"command"`
	Machine    bench.Machine `json:"machine"`
	Pinning    string        `json:"pinning"`
	Sink       string        `json:"sink"`
	UDPSockets int           `json:"udp_sockets"`
	// Search is the template every search ran with (Base.Transport,
	// Codec and Batch vary).
	Search      Search       `json:"search"`
	Repeat      int          `json:"repeat"`
	Results     []Result     `json:"results"`
	Memory      []Step       `json:"memory_probes,omitempty"`
	Fleet       Fleet        `json:"fleet"`
	Projections []Projection `json:"projections"`
	FleetSizes  []float64    `json:"fleet_sizes"` // the cores-vs-fleet chart's x axis
	Errors      []string     `json:"errors,omitempty"`
	// Rendered says when the files were written again from plan.json
	// (`fleetwire plan --render`) by a later commit than Machine's.
	Rendered string `json:"rendered,omitempty"`
}

// Configs returns the wire choices in the order they ran.
func (r *Report) Configs() []string {
	var out []string
	seen := map[string]bool{}
	for _, x := range r.Results {
		if !seen[x.Config] {
			seen[x.Config] = true
			out = append(out, x.Config)
		}
	}
	return out
}

// ResultsOf returns the repeats of one wire choice.
func (r *Report) ResultsOf(config string) []Result {
	var out []Result
	for _, x := range r.Results {
		if x.Config == config {
			out = append(out, x)
		}
	}
	return out
}

// MemoryOf returns the memory probe of a transport, or nil.
func (r *Report) MemoryOf(transport string) *Step {
	for i := range r.Memory {
		if r.Memory[i].Load.Transport == transport {
			return &r.Memory[i]
		}
	}
	return nil
}

// Project fills Projections from the results: one per wire choice that
// has a good step.
func (r *Report) Project() {
	r.Projections = nil
	for _, cfg := range r.Configs() {
		rs := r.ResultsOf(cfg)
		in, err := InputsOf(rs, r.MemoryOf(rs[0].Steps[0].Load.Transport))
		if err != nil {
			r.Errors = append(r.Errors, fmt.Sprintf("projection %s: %v", cfg, err))
			continue
		}
		p, err := Project(r.Fleet, in)
		if err != nil {
			r.Errors = append(r.Errors, fmt.Sprintf("projection %s: %v", cfg, err))
			continue
		}
		r.Projections = append(r.Projections, p)
	}
}

// WriteFiles writes plan.md, plan.csv, plan.json and the SVG charts into
// dir.
func (r *Report) WriteFiles(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "plan.json"), append(b, '\n'), 0o644); err != nil {
		return err
	}
	charts, err := r.writeCharts(dir)
	if err != nil {
		return err
	}
	for name, write := range map[string]func(io.Writer) error{
		"plan.csv": r.writeCSV,
		"plan.md":  func(w io.Writer) error { return r.writeMarkdown(w, charts) },
	} {
		if err := bench.WriteFile(filepath.Join(dir, name), write); err != nil {
			return err
		}
	}
	return nil
}

var csvHeader = []string{"config", "run", "step", "phase", "transport", "codec", "batch", "channels", "devices", "rate",
	"offered_readings_per_s", "offered_frames_per_s", "sent_readings_per_s", "offered_readings", "received", "server_dropped", "delivered", "loss_pct",
	"latency_p50_ms", "latency_p99_ms", "latency_max_ms", "server_cores", "server_ns_per_reading", "server_ns_per_reading_whole_run",
	"server_core_busy", "foreign_on_server_cores", "generator_cores", "generator_late_p99_ms", "generator_late_fraction",
	"kernel_drops", "backpressure_readings", "udp_rcvbuf_errors", "server_rss_bytes_per_device", "server_peak_fds", "server_fd_limit",
	"wire_up_b_per_reading", "wire_down_b_per_reading", "ok", "generator_limited", "resource", "crossed", "knee", "first_bad", "error"}

func ff(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }

func (r *Report) writeCSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	_ = cw.Write(csvHeader)
	row := func(x *Result, k int, st *Step) {
		l, f, c := &st.Load, &st.Figures, &st.Counters
		run, knee, bad := "", "", ""
		if x != nil {
			run = strconv.Itoa(x.Run)
			knee, bad = strconv.FormatBool(k == x.Knee), strconv.FormatBool(k == x.FirstBad)
		}
		crossed := ""
		for i, s := range st.Verdict.Crossed {
			if i > 0 {
				crossed += "; "
			}
			crossed += s
		}
		_ = cw.Write([]string{l.Config(), run, strconv.Itoa(st.N), st.Phase, l.Transport, l.Codec, strconv.Itoa(l.Batch), strconv.Itoa(l.Channels),
			strconv.Itoa(l.Devices), ff(l.Rate), ff(l.Offered()), ff(l.FramesPerSec()), ff(f.SentPerSec),
			strconv.FormatUint(f.OfferedReadings, 10), strconv.FormatUint(f.Received, 10), strconv.FormatUint(f.ServerDropped, 10),
			strconv.FormatUint(f.Delivered, 10), ff(f.LossPct),
			strconv.FormatInt(c.Latency.P50, 10), strconv.FormatInt(c.Latency.P99, 10), strconv.FormatInt(c.Latency.Max, 10),
			ff(f.ServerCores), ff(f.ServerNsPerReading), ff(f.ServerNsPerReadingAll), ff(f.ServerCoreBusy), ff(f.Foreign),
			ff(f.GenCores), ff(f.GenLateP99Ms), ff(f.GenLateFraction), strconv.FormatInt(f.KernelDrops, 10),
			strconv.FormatUint(f.BackPressure, 10), strconv.FormatInt(f.Bench.UDPRcvbufErrors, 10), ff(f.RSSPerDevice),
			strconv.Itoa(c.PeakFDs), strconv.Itoa(c.FDLimit), ff(f.Bench.WireUpPerReading), ff(f.Bench.WireDownPerReading),
			strconv.FormatBool(st.Verdict.OK), strconv.FormatBool(st.Verdict.GeneratorLimited), st.Verdict.Resource, crossed, knee, bad, st.Err})
	}
	for i := range r.Results {
		x := &r.Results[i]
		for k := range x.Steps {
			row(x, k, &x.Steps[k])
		}
	}
	for i := range r.Memory {
		row(nil, 0, &r.Memory[i])
	}
	cw.Flush()
	return cw.Error()
}
