package plan

import (
	"github.com/fleetwire/fleetwire/bench"
)

// Figures are what a step shows. Each comment names the counters it is
// computed from; Bench holds bench's own figures of the same counters
// (wire bytes, latency, cost per device), so they read the same as in a
// bench report.
type Figures struct {
	Bench bench.Figures `json:"bench"`

	OfferedPerSec float64 `json:"offered_readings_per_s"` // devices x rate x channels, as configured
	// SentPerSec: Gen.ReadingsSent / Gen.DurationSeconds, what the
	// generator achieved; below OfferedPerSec it fell behind.
	SentPerSec float64 `json:"sent_readings_per_s"`
	// Offered readings of the run: sent + what devices dropped before
	// sending (Gen.FramesDropped x batch x channels: TCP back-pressure).
	OfferedReadings uint64 `json:"offered_readings"`
	Received        uint64 `json:"received_readings"` // Srv.Readings - Srv.Duplicates (bench's "delivered")
	// ServerDropped: readings the server received and then dropped,
	// summed over the reasons of Srv.Dropped (sink_full: its sink's
	// queue at its bound; device_limit, ...).
	ServerDropped uint64 `json:"server_dropped_readings"`
	// Delivered: Received - ServerDropped, what the server kept (handed
	// to its sink).
	Delivered uint64  `json:"delivered_readings"`
	LossPct   float64 `json:"loss_pct"`       // 100 x (OfferedReadings - Delivered) / OfferedReadings
	P99Ms     int64   `json:"latency_p99_ms"` // server HDR histogram (device timestamp to receive)

	// Over the steady window: ServerCores = Steady.ServerCPUNs / window,
	// the server's utilisation; ServerNsPerReading = that CPU over the
	// readings received in the window (SentPerSec x received fraction x
	// window seconds): the work of every reading it received, kept or
	// dropped.
	ServerCores        float64 `json:"server_cores"`
	ServerNsPerReading float64 `json:"server_ns_per_reading"`
	// ServerNsPerReadingAll: ServerCPU (generator start to drained) /
	// Delivered, connects and start-up included (bench's figure).
	ServerNsPerReadingAll float64 `json:"server_ns_per_reading_whole_run"`
	GenCores              float64 `json:"generator_cores"`         // Steady.GenCPUNs / window
	GenLateP99Ms          float64 `json:"generator_late_p99_ms"`   // Gen.Lateness.P99Us / 1000
	GenLateFraction       float64 `json:"generator_late_fraction"` // Gen.LateSends / Gen.FramesSent
	// ServerCoreBusy: /proc/stat busy fraction of the server's CPU(s)
	// over the window; Foreign = that minus ServerCores: work of other
	// processes (and interrupts) on the server's core, the noise of a
	// shared machine.
	ServerCoreBusy float64 `json:"server_core_busy"`
	Foreign        float64 `json:"foreign_on_server_cores"`
	// GenForeign: the same for the generator's CPU(s).
	GenForeign float64 `json:"foreign_on_generator_cores"`
	// RSSPerDevice: (MemPeak.RSS - MemBefore.RSS) / PeakConns (TCP: open
	// connections; UDP: sessions).
	RSSPerDevice float64 `json:"server_rss_bytes_per_device"`
	// KernelDrops: UDPSocketDrops (UDP) + BacklogDrops (any transport).
	KernelDrops int64 `json:"kernel_drops"`
	// BackPressure: readings devices dropped because the server did not
	// read (TCP send queue full): Gen.DroppedByReason["backpressure"] x
	// batch x channels.
	BackPressure uint64  `json:"backpressure_readings"`
	FDFraction   float64 `json:"server_fd_fraction"` // PeakFDs / FDLimit
}

func fdiv(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

// Compute derives a step's figures from its counters.
func Compute(l *Load, c *Counters) Figures {
	s := l.Scenario()
	f := Figures{Bench: bench.Compute(&s, &c.Counters), OfferedPerSec: l.Offered()}
	per := uint64(l.Batch * l.Channels)
	f.OfferedReadings = c.Gen.ReadingsSent + c.Gen.FramesDropped*per
	f.Received = f.Bench.Delivered
	for _, n := range c.Srv.Dropped {
		f.ServerDropped += n
	}
	f.Delivered = f.Received - min(f.Received, f.ServerDropped)
	f.LossPct = 100 * fdiv(float64(int64(f.OfferedReadings)-int64(f.Delivered)), float64(f.OfferedReadings))
	f.P99Ms = c.Latency.P99
	f.SentPerSec = fdiv(float64(c.Gen.ReadingsSent), c.Gen.DurationSeconds)
	if secs := c.Steady.Seconds(); secs > 0 {
		f.ServerCores = float64(c.Steady.ServerCPUNs) / 1e9 / secs
		f.GenCores = float64(c.Steady.GenCPUNs) / 1e9 / secs
		received := f.SentPerSec * fdiv(float64(f.Received), float64(c.Gen.ReadingsSent)) * secs
		f.ServerNsPerReading = fdiv(float64(c.Steady.ServerCPUNs), received)
	}
	f.ServerNsPerReadingAll = f.Bench.ServerCPUNsPerReading
	f.GenLateP99Ms = float64(c.Gen.Lateness.P99Us) / 1000
	f.GenLateFraction = fdiv(float64(c.Gen.LateSends), float64(c.Gen.FramesSent))
	f.ServerCoreBusy = c.Steady.ServerCoreBusy
	if f.ServerCoreBusy > 0 {
		f.Foreign = max(0, f.ServerCoreBusy-f.ServerCores)
	}
	if c.Steady.GenCoreBusy > 0 {
		f.GenForeign = max(0, c.Steady.GenCoreBusy-f.GenCores)
	}
	if c.PeakConns > 0 {
		f.RSSPerDevice = float64(c.MemPeak.RSS-c.MemBefore.RSS) / float64(c.PeakConns)
	}
	f.KernelDrops = c.UDPSocketDrops + c.BacklogDrops
	f.BackPressure = c.Gen.DroppedByReason["backpressure"] * per
	f.FDFraction = fdiv(float64(c.PeakFDs), float64(c.FDLimit))
	return f
}
