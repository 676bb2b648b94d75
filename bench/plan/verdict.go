package plan

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Limits are what a step must stay within for the server to have taken
// its load.
type Limits struct {
	MaxLossPct float64       `json:"max_loss_pct"` // readings lost, percent of offered
	MaxP99     time.Duration `json:"max_p99_ns"`   // server latency p99
	// MaxCPU: the server's utilisation over the steady window, as a
	// fraction of ServerCores, at or above which it is saturated.
	MaxCPU      float64 `json:"max_cpu"`
	ServerCores int     `json:"server_cores"`
	// The generator saturated (and the step measures nothing of the
	// server) when its utilisation reaches MaxGenCPU of GenCores, its
	// send lateness p99 exceeds MaxGenLate, or it sent less than
	// MinSentFraction of the offered rate.
	MaxGenCPU       float64       `json:"max_generator_cpu"`
	GenCores        int           `json:"generator_cores"`
	MaxGenLate      time.Duration `json:"max_generator_late_ns"`
	MinSentFraction float64       `json:"min_sent_fraction"`
	// MaxFDFraction of the server's open-file limit in use counts as
	// running out of descriptors; MaxRSS (bytes, 0: none) of memory.
	MaxFDFraction float64 `json:"max_fd_fraction"`
	MaxRSS        int64   `json:"max_rss_bytes"`
	// MaxForeign: other work on the server's or the generator's cores
	// (in cores, over the window) at or above which a step was disturbed
	// by the rest of the machine; a disturbed failure is re-run.
	MaxForeign float64 `json:"max_foreign"`
}

// DefaultLimits are the flags' defaults.
func DefaultLimits() Limits {
	return Limits{MaxLossPct: 0.1, MaxP99: 50 * time.Millisecond, MaxCPU: 0.9, ServerCores: 1,
		MaxGenCPU: 0.9, GenCores: 1, MaxGenLate: 20 * time.Millisecond, MinSentFraction: 0.97,
		MaxFDFraction: 0.95, MaxForeign: 0.15}
}

// Resources a step can run out of.
const (
	ResServerCPU = "server CPU"
	ResGenerator = "generator"
	ResKernelBuf = "kernel buffers"
	ResFDs       = "file descriptors"
	ResMemory    = "memory"
	ResDropped   = "server dropped readings"
	ResUnknown   = "unexplained"
)

// Verdict is a step judged against Limits.
type Verdict struct {
	// OK: no limit crossed and the generator offered the load.
	OK bool `json:"ok"`
	// GeneratorLimited: the generator could not offer the load, so the
	// step proves nothing about the server.
	GeneratorLimited bool `json:"generator_limited"`
	// Disturbed: other work took MaxForeign or more of the server's or
	// the generator's cores in the window.
	Disturbed bool `json:"disturbed"`
	// Crossed lists each limit crossed with its value ("loss 2.1 % >
	// 0.1 %"), Resource what gave out first, Notes the evidence.
	Crossed  []string `json:"crossed,omitempty"`
	Resource string   `json:"resource,omitempty"`
	Notes    []string `json:"notes,omitempty"`
}

func (v Verdict) String() string {
	s := ""
	switch {
	case v.OK:
		s = "ok"
	case v.GeneratorLimited:
		s = "generator saturated: " + strings.Join(v.Crossed, "; ")
	default:
		s = v.Resource + ": " + strings.Join(v.Crossed, "; ")
	}
	if v.Disturbed {
		s += " [disturbed]"
	}
	return s
}

// rank orders runs of one load by how much they say about the server:
// a good run settles it (other work only ever makes a run worse); then
// an undisturbed failure of the server with its cause named, one without,
// an undisturbed generator limit, a disturbed failure, a disturbed
// generator limit.
func (v *Verdict) rank() int {
	switch {
	case v.OK:
		return 5
	case !v.Disturbed && !v.GeneratorLimited && v.Resource != ResUnknown:
		return 4
	case !v.Disturbed && !v.GeneratorLimited:
		return 3
	case !v.Disturbed:
		return 2
	case !v.GeneratorLimited:
		return 1
	}
	return 0
}

// Judge decides whether a step stayed within lim and, when it did not,
// which resource gave out. Attribution, in order: descriptors and memory
// (a hard wall); the server's CPU at its limit; a generator that could
// not offer the load (then nothing is said of the server); the server's
// CPU within a tenth of its limit (queues grow in bursts); readings the
// kernel dropped while the server's CPU had room (its buffers); readings
// the server itself dropped (its /api/stats dropped, by reason); anything
// else is named unexplained, with the foreign load on the cores as a
// note.
func Judge(lim *Limits, l *Load, c *Counters, f *Figures) Verdict {
	var v Verdict
	cross := func(format string, args ...any) { v.Crossed = append(v.Crossed, fmt.Sprintf(format, args...)) }
	note := func(format string, args ...any) { v.Notes = append(v.Notes, fmt.Sprintf(format, args...)) }

	fds := c.Gen.ConnectFailures["emfile"] + c.Gen.ConnectFailures["enfile"]
	fdOut := fds > 0 || lim.MaxFDFraction > 0 && f.FDFraction >= lim.MaxFDFraction
	if fdOut {
		cross("file descriptors: %d connects failed EMFILE/ENFILE, server used %d of %d", fds, c.PeakFDs, c.FDLimit)
	}
	memOut := lim.MaxRSS > 0 && c.MemPeak.RSS > lim.MaxRSS
	if memOut {
		cross("server RSS %s > %s", mib(float64(c.MemPeak.RSS)), mib(float64(lim.MaxRSS)))
	}
	if f.LossPct > lim.MaxLossPct {
		cross("loss %s > %s", pct(f.LossPct), pct(lim.MaxLossPct))
	}
	if lim.MaxP99 > 0 && time.Duration(f.P99Ms)*time.Millisecond > lim.MaxP99 {
		cross("p99 %d ms > %d ms", f.P99Ms, lim.MaxP99.Milliseconds())
	}
	cores := float64(max(1, lim.ServerCores))
	cpuOut := f.ServerCores >= lim.MaxCPU*cores
	if cpuOut {
		cross("server CPU %.2f >= %.2f of %d core(s)", f.ServerCores, lim.MaxCPU*cores, lim.ServerCores)
	}
	// Within a tenth of the CPU limit a server's queues grow in bursts:
	// loss or latency crossed there is its CPU's doing.
	nearCPU := f.ServerCores >= 0.9*lim.MaxCPU*cores
	var gen []string
	if gc := float64(max(1, lim.GenCores)); f.GenCores >= lim.MaxGenCPU*gc {
		gen = append(gen, fmt.Sprintf("generator CPU %.2f >= %.2f of %d core(s)", f.GenCores, lim.MaxGenCPU*gc, lim.GenCores))
	}
	if lim.MaxGenLate > 0 && time.Duration(f.GenLateP99Ms*float64(time.Millisecond)) > lim.MaxGenLate {
		gen = append(gen, fmt.Sprintf("generator send lateness p99 %.1f ms > %d ms", f.GenLateP99Ms, lim.MaxGenLate.Milliseconds()))
	}
	if f.SentPerSec < lim.MinSentFraction*f.OfferedPerSec {
		gen = append(gen, fmt.Sprintf("generator sent %.0f of %.0f readings/s offered", f.SentPerSec, f.OfferedPerSec))
	}
	if lim.MaxForeign > 0 && (f.Foreign >= lim.MaxForeign || f.GenForeign >= lim.MaxForeign) {
		v.Disturbed = true
		note("other work took %.2f of the server's and %.2f of the generator's core(s)", f.Foreign, f.GenForeign)
	}
	if c.UDPSocketDrops > 0 {
		note("kernel dropped %d datagrams at the server's socket (receive buffer full)", c.UDPSocketDrops)
	}
	if c.BacklogDrops > 0 {
		note("kernel dropped %d packets at a CPU's input backlog (netdev_max_backlog; host-wide counter)", c.BacklogDrops)
	}
	if f.BackPressure > 0 {
		note("devices dropped %d readings on TCP back-pressure (server not reading fast enough)", f.BackPressure)
	}
	if len(c.Srv.Dropped) > 0 {
		note("server dropped %d received readings: %v", f.ServerDropped, c.Srv.Dropped)
	}
	switch {
	case len(v.Crossed) == 0 && len(gen) == 0:
		v.OK = true
	case fdOut:
		v.Resource = ResFDs
	case memOut:
		v.Resource = ResMemory
	case cpuOut:
		v.Resource = ResServerCPU
		if len(gen) > 0 {
			note("also: %s", strings.Join(gen, "; "))
		}
	case len(gen) > 0:
		v.GeneratorLimited, v.Resource = true, ResGenerator
		v.Crossed = slices.Concat(gen, v.Crossed)
	case nearCPU && !v.Disturbed:
		v.Resource = ResServerCPU
		note("the server was at %.2f of its core(s): queueing near the CPU limit", f.ServerCores)
	case f.KernelDrops > 0 || f.BackPressure > 0:
		v.Resource = ResKernelBuf
	case f.ServerDropped > 0:
		v.Resource = ResDropped
	default:
		v.Resource = ResUnknown
	}
	return v
}

func pct(v float64) string {
	switch {
	case v == 0:
		return "0 %"
	case v < 0.01:
		return fmt.Sprintf("%.2g %%", v)
	default:
		return fmt.Sprintf("%.2f %%", v)
	}
}

func mib(v float64) string { return fmt.Sprintf("%.1f MiB", v/(1<<20)) }
