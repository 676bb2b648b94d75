package plan

import (
	"fmt"
	"math"
	"time"
)

// Observation is what one run of a fleet-shaped load cost the server,
// as rates over the run's steady window.
type Observation struct {
	Shape    string        `json:"shape"`
	Devices  int           `json:"devices"`
	Interval time.Duration `json:"interval_ns"`
	Batch    int           `json:"batch"`
	// FramesPerSec and ReadingsPerSec: what the generator sent (its
	// frames_sent and readings_sent over its send phase).
	FramesPerSec   float64 `json:"frames_per_s"`
	ReadingsPerSec float64 `json:"readings_per_s"`
	// ServerCPU and GenCPU: on-CPU ns per second of the server's and
	// the generator's threads over the steady window (schedstat).
	ServerCPU float64 `json:"server_cpu_ns_per_s"`
	GenCPU    float64 `json:"generator_cpu_ns_per_s"`
	// Conns: sessions the server held at the memory peak (TCP: open
	// connections); RSS the server's resident memory there; FDs its
	// most open descriptors.
	Conns int64   `json:"conns"`
	RSS   float64 `json:"rss_bytes"`
	FDs   float64 `json:"fds"`
	// KernelBytes: the kernel memory of the server's sockets on its
	// port (socket diagnostics: rmem_alloc + wmem_queued +
	// forward_alloc, summed) and KernelSockets how many there were.
	KernelBytes   float64 `json:"kernel_socket_bytes"`
	KernelSockets int     `json:"kernel_sockets"`
	// SockstatBytes: /proc/net/sockstat mem pages x page size, the
	// transport's host-wide socket memory, less its value before the
	// load (both ends of every loopback connection and any other
	// process's sockets are in it: a cross-check only).
	SockstatBytes float64 `json:"sockstat_bytes"`
	// SlabPerSocket: slab objects per server socket (KernelSockets).
	SlabPerSocket float64 `json:"slab_bytes_per_socket"`
	// Foreign: other work on the server's core(s) over the window,
	// fraction of them.
	Foreign float64 `json:"foreign"`
	// Steal: the hypervisor's steal time on the pinned cores over the
	// window, mean fraction (/proc/stat); counted as on-CPU time by
	// schedstat, so it inflates the CPU measured.
	Steal float64 `json:"steal"`
	// RunsCPU: server CPU ns/s of every run of this shape (Repeat); the
	// observation is the run with the least.
	RunsCPU []float64 `json:"runs_server_cpu_ns_per_s,omitempty"`
}

// The model's regressors.
func cpuX(frames, readings, devices float64) []float64 {
	return []float64{frames, readings, devices, 1}
}
func memX(devices float64) []float64 { return []float64{devices, 1} }

var (
	cpuNames = []string{"per frame", "per reading", "per connected device per second", "idle"}
	cpuUnits = []string{"ns", "ns", "ns/s", "ns/s"}
)

// CostModel is the server's cost as a linear function of what a fleet
// does: CPU ns/s = a·frames/s + b·readings/s + c·devices + d; resident
// memory = m·devices + base; descriptors = f·devices + base; kernel
// socket memory = k per server socket. The generator's CPU is fitted
// the same way: on loopback the kernel's receive path runs in the
// sender's context, so it bounds that share from above.
type CostModel struct {
	CPU    LinearFit `json:"server_cpu"`
	GenCPU LinearFit `json:"generator_cpu"`
	Memory LinearFit `json:"memory"`
	FDs    LinearFit `json:"fds"`
	// KernelPerSocket: mean kernel bytes per server socket over the
	// runs, with the standard error of that mean.
	KernelPerSocket Term `json:"kernel_per_socket"`
	// SlabPerSocket: the sock, inode, file, dentry and epoll entry of a
	// server socket (slabinfo object sizes; derived, the same in every
	// run).
	SlabPerSocket float64 `json:"slab_bytes_per_socket"`
}

// FitModel fits the model to observations.
func FitModel(obs []Observation) (CostModel, error) {
	var m CostModel
	var xc, xm [][]float64
	var cpu, gen, rss, fds, kern []float64
	for _, o := range obs {
		xc = append(xc, cpuX(o.FramesPerSec, o.ReadingsPerSec, float64(o.Conns)))
		xm = append(xm, memX(float64(o.Conns)))
		cpu, gen, rss, fds = append(cpu, o.ServerCPU), append(gen, o.GenCPU), append(rss, o.RSS), append(fds, o.FDs)
		if o.KernelSockets > 0 {
			kern = append(kern, o.KernelBytes/float64(o.KernelSockets))
		}
		m.SlabPerSocket = max(m.SlabPerSocket, o.SlabPerSocket)
	}
	var err error
	if m.CPU, err = FitLinear(cpuNames, cpuUnits, xc, cpu); err != nil {
		return m, fmt.Errorf("server CPU: %w", err)
	}
	if m.GenCPU, err = FitLinear(cpuNames, cpuUnits, xc, gen); err != nil {
		return m, fmt.Errorf("generator CPU: %w", err)
	}
	if m.Memory, err = FitLinear([]string{"per device", "base"}, []string{"B", "B"}, xm, rss); err != nil {
		return m, fmt.Errorf("memory: %w", err)
	}
	if m.FDs, err = FitLinear([]string{"per device", "base"}, []string{"", ""}, xm, fds); err != nil {
		return m, fmt.Errorf("descriptors: %w", err)
	}
	m.KernelPerSocket = Term{Name: "kernel memory per server socket", Unit: "B", Value: math.NaN(), StdErr: math.NaN()}
	if len(kern) > 0 {
		mean, sd := meanSD(kern)
		m.KernelPerSocket.Value, m.KernelPerSocket.StdErr = mean, sd/math.Sqrt(float64(len(kern)))
	}
	return m, nil
}

func meanSD(v []float64) (mean, sd float64) {
	for _, x := range v {
		mean += x
	}
	mean /= float64(len(v))
	if len(v) < 2 {
		return mean, math.NaN()
	}
	for _, x := range v {
		sd += (x - mean) * (x - mean)
	}
	return mean, math.Sqrt(sd / float64(len(v)-1))
}

// Prediction is the model's figure for a load, each with its standard
// error.
type Prediction struct {
	ServerCPU, ServerCPUErr float64 // ns/s
	GenCPU, GenCPUErr       float64 // ns/s
	RSS, RSSErr             float64 // bytes
	FDs                     float64
}

// Predict evaluates the model at frames/s, readings/s and devices.
func (m *CostModel) Predict(frames, readings, devices float64) Prediction {
	var p Prediction
	p.ServerCPU, p.ServerCPUErr = m.CPU.Predict(cpuX(frames, readings, devices))
	p.GenCPU, p.GenCPUErr = m.GenCPU.Predict(cpuX(frames, readings, devices))
	p.RSS, p.RSSErr = m.Memory.Predict(memX(devices))
	p.FDs, _ = m.FDs.Predict(memX(devices))
	return p
}

// Check is one measured figure beside the model's prediction.
type Check struct {
	Figure    string  `json:"figure"`
	Unit      string  `json:"unit"`
	Predicted float64 `json:"predicted"`
	StdErr    float64 `json:"std_err"` // of the prediction
	Measured  float64 `json:"measured"`
	// Err = (predicted - measured) / measured.
	Err float64 `json:"error"`
	// Gates: a miss beyond the tolerance refuses the projection.
	Gates bool `json:"gates"`
}

// Validate compares the model's predictions for a run it was not
// fitted on with what that run measured. Server CPU and memory gate
// the projection; the rest are shown.
func (m *CostModel) Validate(o Observation) []Check {
	p := m.Predict(o.FramesPerSec, o.ReadingsPerSec, float64(o.Conns))
	mk := func(fig, unit string, pred, se, meas float64, gates bool) Check {
		return Check{Figure: fig, Unit: unit, Predicted: pred, StdErr: se, Measured: meas, Err: (pred - meas) / meas, Gates: gates}
	}
	checks := []Check{
		mk("server CPU", "ns/s", p.ServerCPU, p.ServerCPUErr, o.ServerCPU, true),
		mk("server RSS", "B", p.RSS, p.RSSErr, o.RSS, true),
		mk("server descriptors", "", p.FDs, math.NaN(), o.FDs, false),
		mk("generator CPU (receive-path bound)", "ns/s", p.GenCPU, p.GenCPUErr, o.GenCPU, false),
	}
	if o.KernelSockets > 0 && !math.IsNaN(m.KernelPerSocket.Value) {
		checks = append(checks, mk("kernel socket memory", "B", m.KernelPerSocket.Value*float64(o.KernelSockets),
			m.KernelPerSocket.StdErr*float64(o.KernelSockets), o.KernelBytes, false))
	}
	return checks
}

// Passed: every gating check within tol (0.15: 15 %).
func Passed(checks []Check, tol float64) bool {
	for _, c := range checks {
		if c.Gates && !(math.Abs(c.Err) <= tol) {
			return false
		}
	}
	return true
}

// FleetProjection is what the model makes of a fleet.
type FleetProjection struct {
	Fleet          FleetSpec `json:"fleet"`
	FramesPerSec   float64   `json:"frames_per_s"`
	ReadingsPerSec float64   `json:"readings_per_s"`
	// Cores: server CPU ns/s / 1e9 (busy cores), and its standard error;
	// CPU per reading = that / readings/s.
	Cores        float64 `json:"cores"`
	CoresErr     float64 `json:"cores_err"`
	NsPerReading float64 `json:"ns_per_reading"`
	// Share of the server's CPU by term.
	FrameCores   float64 `json:"frame_cores"`
	ReadingCores float64 `json:"reading_cores"`
	DeviceCores  float64 `json:"device_cores"`
	IdleCores    float64 `json:"idle_cores"`
	// RxBoundCores: the generator model at the fleet: on loopback the
	// kernel's receive path is in it, so it bounds that share from above.
	RxBoundCores    float64 `json:"rx_bound_cores"`
	RxBoundCoresErr float64 `json:"rx_bound_cores_err"`
	// KernelRxCores: the receive path measured on a veth pair
	// (FleetReport.KernelRx) at the fleet's packets/s; zero when it was
	// not measured.
	KernelRxCores    float64 `json:"kernel_rx_cores,omitempty"`
	KernelRxCoresErr float64 `json:"kernel_rx_cores_err,omitempty"`
	// RSS (process) and KernelBytes (server sockets: TCP one per
	// device, UDP none that grow with devices): buffers under the
	// fleet's traffic plus the sockets' slab objects (KernelSlab).
	RSS         float64 `json:"rss_bytes"`
	RSSErr      float64 `json:"rss_err"`
	KernelBytes float64 `json:"kernel_bytes"`
	KernelSlab  float64 `json:"kernel_slab_bytes"`
	FDs         float64 `json:"fds"`
}

// Uncertain: the projected cores' standard error is more than tol of
// them (or they are not positive): the fitted terms do not pin the
// fleet's cost down, whatever the held-out run said.
func (p *FleetProjection) Uncertain(tol float64) bool {
	return !(p.Cores > 0 && p.CoresErr <= tol*p.Cores)
}

// Project applies the model to a fleet.
func (m *CostModel) Project(f FleetSpec) FleetProjection {
	fr, rd, dv := f.FramesPerSec(), f.ReadingsPerSec(), f.Devices
	p := m.Predict(fr, rd, dv)
	c := m.CPU.Terms
	out := FleetProjection{Fleet: f, FramesPerSec: fr, ReadingsPerSec: rd,
		Cores: p.ServerCPU / 1e9, CoresErr: p.ServerCPUErr / 1e9, NsPerReading: p.ServerCPU / rd,
		FrameCores: c[0].Value * fr / 1e9, ReadingCores: c[1].Value * rd / 1e9, DeviceCores: c[2].Value * dv / 1e9, IdleCores: c[3].Value / 1e9,
		RxBoundCores: p.GenCPU / 1e9, RxBoundCoresErr: p.GenCPUErr / 1e9, RSS: p.RSS, RSSErr: p.RSSErr, FDs: p.FDs}
	if f.Transport == "tcp" && !math.IsNaN(m.KernelPerSocket.Value) {
		out.KernelSlab = m.SlabPerSocket * dv
		out.KernelBytes = m.KernelPerSocket.Value*dv + out.KernelSlab
	}
	return out
}
