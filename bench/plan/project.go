package plan

import (
	"errors"
	"fmt"
	"math"

	"github.com/fleetwire/fleetwire/bench"
)

// Fleet is what a projection plans for.
type Fleet struct {
	Devices  float64 `json:"devices"`
	Rate     float64 `json:"rate"` // samples/s per device (0.1: one every 10 s)
	Channels int     `json:"channels"`
	// Headroom is the utilisation each core is planned at: 0.7 leaves
	// 30 % for bursts, reconnect storms and the rest of the host.
	Headroom   float64 `json:"headroom"`
	PricePerMB float64 `json:"price_per_mb"` // per 1e6 bytes on the wire
}

// Validate checks the fleet's fields.
func (f *Fleet) Validate() error {
	switch {
	case !(f.Devices > 0):
		return fmt.Errorf("fleet: %g devices", f.Devices)
	case !(f.Rate > 0):
		return fmt.Errorf("fleet: rate %g", f.Rate)
	case f.Channels < 1:
		return fmt.Errorf("fleet: %d channels", f.Channels)
	case !(f.Headroom > 0 && f.Headroom <= 1):
		return fmt.Errorf("fleet: headroom %g: want (0, 1]", f.Headroom)
	case f.PricePerMB < 0:
		return errors.New("fleet: negative price")
	}
	return nil
}

// Inputs are the measured costs of one wire choice that a projection
// scales: each with the step it came from.
type Inputs struct {
	Config string `json:"config"`
	Batch  int    `json:"batch"`
	// NsPerReading: server CPU per delivered reading over the steady
	// window of CPUSource (the knee step of the repeat with the higher
	// figure).
	NsPerReading float64 `json:"server_ns_per_reading"`
	// KneePerCore: the knee's offered readings/s per server core.
	KneePerCore float64 `json:"knee_readings_per_s_per_core"`
	KneeReached bool    `json:"knee_reached"`
	CPUSource   string  `json:"cpu_source"`
	// RSSPerDevice and BaseRSS (the server's RSS before any load), from
	// MemSource.
	RSSPerDevice float64 `json:"rss_bytes_per_device"`
	BaseRSS      float64 `json:"base_rss_bytes"`
	MemSource    string  `json:"mem_source"`
	// FDsPerDevice: the server's open descriptors per connection at
	// MemSource (peak fds / peak connections; 0 on UDP, whose sockets do
	// not grow with devices) and FDLimit its RLIMIT_NOFILE there.
	FDsPerDevice float64 `json:"fds_per_device"`
	FDLimit      int     `json:"fd_limit"`
	// Wire bytes per delivered reading, headers included, both
	// directions (bench's figures of the knee step).
	WireUp   float64 `json:"wire_up_bytes_per_reading"`
	WireDown float64 `json:"wire_down_bytes_per_reading"`
	// TCP: segments in and out per frame at that step (tcp_info
	// segs_in, segs_out / frames). Near 1 and 1, each frame was its own
	// segment with its own ACK, as for a device that sends rarely.
	SegsInPerFrame  float64 `json:"segs_in_per_frame,omitempty"`
	SegsOutPerFrame float64 `json:"segs_out_per_frame,omitempty"`
	KneeLoads       string  `json:"knee_loads"` // the knees of every repeat, for the reader
}

// Projection is a fleet's needs under one wire choice.
type Projection struct {
	Fleet  Fleet  `json:"fleet"`
	Inputs Inputs `json:"inputs"`

	ReadingsPerSec float64 `json:"readings_per_s"` // devices x rate x channels
	FramesPerSec   float64 `json:"frames_per_s"`   // devices x rate / batch
	BusyCores      float64 `json:"busy_cores"`     // ReadingsPerSec x NsPerReading / 1e9
	CoresNeeded    float64 `json:"cores_needed"`   // BusyCores / Headroom
	WholeCores     int     `json:"whole_cores"`    // ceil(CoresNeeded)
	// KneeCores: ReadingsPerSec / KneePerCore, cores each run at its
	// measured knee (no headroom): the floor no margin goes below.
	KneeCores float64 `json:"knee_cores"`
	// MemoryBytes: one measured base RSS per whole core (one server
	// process per core, as measured) + devices x RSS per device.
	MemoryBytes float64 `json:"memory_bytes"`
	// OpenFiles: devices x FDsPerDevice; ProcsForFiles: the server
	// processes that many descriptors take at FDLimit each.
	OpenFiles     float64 `json:"open_files"`
	ProcsForFiles int     `json:"procs_for_files"`
	UpMbps        float64 `json:"up_mbit_per_s"`   // ReadingsPerSec x WireUp x 8 / 1e6
	DownMbps      float64 `json:"down_mbit_per_s"` // ReadingsPerSec x WireDown x 8 / 1e6
	// MBPerDeviceMonth: (WireUp + WireDown) x rate x channels x 30 days
	// / 1e6; cost at the fleet's price.
	MBPerDeviceMonth   float64 `json:"mb_per_device_month"`
	CostPerDeviceMonth float64 `json:"cost_per_device_month"`
	FleetCostMonth     float64 `json:"fleet_cost_month"`
}

// Project scales in to fleet f.
func Project(f Fleet, in Inputs) (Projection, error) {
	if err := f.Validate(); err != nil {
		return Projection{}, err
	}
	if in.Batch < 1 {
		return Projection{}, fmt.Errorf("inputs %s: batch %d", in.Config, in.Batch)
	}
	p := Projection{Fleet: f, Inputs: in}
	p.ReadingsPerSec = f.Devices * f.Rate * float64(f.Channels)
	p.FramesPerSec = f.Devices * f.Rate / float64(in.Batch)
	p.BusyCores = p.ReadingsPerSec * in.NsPerReading / 1e9
	p.CoresNeeded = p.BusyCores / f.Headroom
	p.WholeCores = max(1, int(math.Ceil(p.CoresNeeded-1e-9)))
	p.KneeCores = fdiv(p.ReadingsPerSec, in.KneePerCore)
	p.MemoryBytes = float64(p.WholeCores)*in.BaseRSS + f.Devices*in.RSSPerDevice
	p.OpenFiles = f.Devices * in.FDsPerDevice
	if in.FDLimit > 0 {
		p.ProcsForFiles = int(math.Ceil(p.OpenFiles / float64(in.FDLimit)))
	}
	p.UpMbps = p.ReadingsPerSec * in.WireUp * 8 / 1e6
	p.DownMbps = p.ReadingsPerSec * in.WireDown * 8 / 1e6
	p.MBPerDeviceMonth = (in.WireUp + in.WireDown) * f.Rate * float64(f.Channels) * bench.SecondsPerMonth / 1e6
	p.CostPerDeviceMonth = p.MBPerDeviceMonth * f.PricePerMB
	p.FleetCostMonth = p.CostPerDeviceMonth * f.Devices
	return p, nil
}

// InputsOf picks a wire choice's inputs from its searches (all repeats)
// and the memory probe of its transport (nil: the knee step's own RSS per
// device). CPU comes from the knee step with the higher CPU per reading
// (the conservative repeat); without a knee (the generator saturated
// first, or no limit was reached) from the highest good step, and
// KneeReached says so.
func InputsOf(results []Result, mem *Step) (Inputs, error) {
	var in Inputs
	var pick *Step
	kneeReached := false
	for i := range results {
		r := &results[i]
		st := r.KneeStep()
		if st == nil {
			continue
		}
		reached := r.FirstBad >= 0
		if in.KneeLoads != "" {
			in.KneeLoads += ", "
		}
		in.KneeLoads += fmt.Sprintf("run %d: %.0f", r.Run, st.Load.Offered())
		if !reached {
			in.KneeLoads += " (not a knee: " + r.Outcome + ")"
		}
		better := pick == nil || reached && !kneeReached ||
			reached == kneeReached && st.Figures.ServerNsPerReading > pick.Figures.ServerNsPerReading
		if better {
			pick, kneeReached = st, reached
			in.CPUSource = fmt.Sprintf("%s run %d step %d", r.Config, r.Run, st.N)
		}
	}
	if pick == nil {
		return in, errors.New("no good step to take inputs from")
	}
	in.Config, in.Batch, in.KneeReached = pick.Load.Config(), pick.Load.Batch, kneeReached
	in.NsPerReading = pick.Figures.ServerNsPerReading
	in.KneePerCore = pick.Load.Offered() / float64(max(1, pick.Counters.ServerCoresAllowed))
	in.WireUp, in.WireDown = pick.Figures.Bench.WireUpPerReading, pick.Figures.Bench.WireDownPerReading
	if ti, fr := pick.Counters.Srv.TCPInfo, float64(pick.Counters.Srv.Frames); ti != nil && fr > 0 {
		in.SegsInPerFrame, in.SegsOutPerFrame = float64(ti.SegsIn)/fr, float64(ti.SegsOut)/fr
	}
	from := pick
	in.MemSource = in.CPUSource
	if mem != nil && mem.Err == "" && mem.Figures.RSSPerDevice > 0 {
		from = mem
		in.MemSource = fmt.Sprintf("memory probe %s, %d devices", mem.Load.Config(), mem.Load.Devices)
	}
	in.RSSPerDevice, in.BaseRSS, in.FDLimit = from.Figures.RSSPerDevice, float64(from.Counters.MemBefore.RSS), from.Counters.FDLimit
	if c := &from.Counters; from.Load.Transport == "tcp" && c.PeakConns > 0 {
		in.FDsPerDevice = float64(c.PeakFDs) / float64(c.PeakConns)
	}
	return in, nil
}
