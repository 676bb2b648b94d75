package plan

import (
	"fmt"
	"math"
	"time"

	"github.com/prometheus/procfs"
)

// The kernel's receive path measured on its own: on loopback it runs in
// the sender's context, so the server's CPU never holds it. MeasureKernelRx
// (veth.go) sends a fleet shape across a veth pair whose server end
// steers the arriving packets (RPS) to the server's core in every other
// span, where they are processed in NET_RX softirq; this file reads that
// core's counters and turns a round of them into per-packet figures.
//
// The receive path's time is the core's non-idle time per packet with
// the receive processing steered to it, less that without, in spans that
// alternate within one run: with NO_HZ the kernel keeps a core's idle
// time from when it slept, to the microsecond, so the difference holds
// all the receive path costs the core (softirq, the steering interrupts,
// wake-ups), while the work of other processes sharing the core cancels.
// The softirq column of /proc/stat is read beside it: it must rise with
// the traffic, but this kernel (no IRQ_TIME_ACCOUNTING) only samples it
// with the scheduler tick, charging each tick to whatever it interrupts:
// in one run of TestMeasureKernelRx it gave 6.9 ± 5.1 µs per packet
// where the receive path took 3.2 ± 0.6.

// cpuCounters are one CPU's counters at one moment.
type cpuCounters struct {
	// SoftirqNs: the softirq column of the CPU's /proc/stat line (the
	// 7th field), USER_HZ ticks in ns. Without IRQ_TIME_ACCOUNTING the
	// kernel charges a whole scheduler tick to softirq when the tick
	// finds the CPU serving one: a sample, exact over many ticks.
	SoftirqNs int64 `json:"softirq_ns"`
	// IdleNs: idle and iowait of the same line; with NO_HZ the kernel
	// keeps these from the time the CPU slept, not from ticks.
	IdleNs int64 `json:"idle_ns"`
	// NetRx: the CPU's NET_RX column of /proc/softirqs (softirqs raised).
	NetRx uint64 `json:"net_rx"`
}

// readCPUCounters reads cpu's line of /proc/stat and column of
// /proc/softirqs from pfs.
func readCPUCounters(pfs procfs.FS, cpu int) (cpuCounters, error) {
	st, err := pfs.Stat()
	if err != nil {
		return cpuCounters{}, fmt.Errorf("/proc/stat: %w", err)
	}
	c, ok := st.CPU[int64(cpu)]
	if !ok {
		return cpuCounters{}, fmt.Errorf("/proc/stat: no cpu%d line", cpu)
	}
	si, err := pfs.Softirqs()
	if err != nil {
		return cpuCounters{}, fmt.Errorf("/proc/softirqs: %w", err)
	}
	if cpu >= len(si.NetRx) {
		return cpuCounters{}, fmt.Errorf("/proc/softirqs: no NET_RX column for CPU%d", cpu)
	}
	return cpuCounters{
		SoftirqNs: userHZNs(c.SoftIRQ),
		IdleNs:    userHZNs(c.Idle) + userHZNs(c.Iowait),
		NetRx:     si.NetRx[cpu],
	}, nil
}

// userHZNs turns procfs's seconds (USER_HZ ticks / 100) back into whole
// ticks, in ns, so that sums and differences stay exact.
func userHZNs(s float64) int64 { return int64(math.Round(s*100)) * 1e7 }

// sub returns c minus prev.
func (c cpuCounters) sub(prev cpuCounters) cpuCounters {
	return cpuCounters{SoftirqNs: c.SoftirqNs - prev.SoftirqNs, IdleNs: c.IdleNs - prev.IdleNs, NetRx: c.NetRx - prev.NetRx}
}

// phase sums the counters over spans of one kind.
type phase struct {
	Seconds float64     `json:"s"`
	CPU     cpuCounters `json:"cpu"`
	// RxPackets and RxBytes: the server veth's receive counters
	// (/proc/net/dev of the server's namespace): data,
	// acknowledgements and anything else that reached the server.
	RxPackets uint64 `json:"rx_packets"`
	RxBytes   uint64 `json:"rx_bytes"`
	// ServerNs: the server process's CPU (schedstat of its threads, as
	// bench.ReadCPU reads it).
	ServerNs int64 `json:"server_ns"`
	Spans    int   `json:"spans"`
}

// add counts the span from a to b.
func (p *phase) add(a, b vethSample) {
	p.Seconds += b.at.Sub(a.at).Seconds()
	d := b.cpu.sub(a.cpu)
	p.CPU.SoftirqNs += d.SoftirqNs
	p.CPU.IdleNs += d.IdleNs
	p.CPU.NetRx += d.NetRx
	p.RxPackets += b.rxPackets - a.rxPackets
	p.RxBytes += b.rxBytes - a.rxBytes
	p.ServerNs += b.serverNs - a.serverNs
	p.Spans++
}

// nonIdleNs is the core's time in the phase less its idle time.
func (p *phase) nonIdleNs() float64 { return p.Seconds*1e9 - float64(p.CPU.IdleNs) }

// per is v per packet received in the phase.
func (p *phase) per(v float64) float64 { return v / float64(p.RxPackets) }

// KernelRxRound is one round of the measurement: the server's core with
// the server up and no traffic (Baseline), then under a steady load
// whose receive processing alternates, span by span (spanLength), between the
// server's core (On: its veth's RPS steers every packet there) and the
// generator's (Off: no RPS, so the sending core processes what it sends,
// as on loopback).
type KernelRxRound struct {
	Baseline phase `json:"baseline"`
	On       phase `json:"rps_on"`
	Off      phase `json:"rps_off"`
	// Frames: the frames the server counted in On and Off
	// (/api/stats transports.<t>.frames, interpolated between its
	// once-a-second snapshots at the first and last span's ends).
	Frames float64 `json:"frames"`
}

// RxPerPacket is what the receive path adds to the server's core per
// packet: the core's non-idle time per packet with the receive
// processing steered to it less that without. Work of other processes
// on the core is in both and cancels as far as it is steady over the
// alternation; the softirq that interrupts the running server (charged
// to the server's schedstat on a kernel without IRQ_TIME_ACCOUNTING) is
// in it.
func (r *KernelRxRound) RxPerPacket() float64 {
	return r.On.per(r.On.nonIdleNs()) - r.Off.per(r.Off.nonIdleNs())
}

// overBaseline is what phase p counted beyond the baseline's rate over
// p's length.
func (r *KernelRxRound) overBaseline(p *phase, v, base float64) float64 {
	return v - base/r.Baseline.Seconds*p.Seconds
}

// SoftirqPerPacket is the core's tick-sampled softirq time per packet
// with RPS on, beyond the baseline's.
func (r *KernelRxRound) SoftirqPerPacket() float64 {
	return r.On.per(r.overBaseline(&r.On, float64(r.On.CPU.SoftirqNs), float64(r.Baseline.CPU.SoftirqNs)))
}

// NetRxPerPacket is the core's NET_RX softirqs per packet with RPS on,
// beyond the baseline's.
func (r *KernelRxRound) NetRxPerPacket() float64 {
	return r.On.per(r.overBaseline(&r.On, float64(r.On.CPU.NetRx), float64(r.Baseline.CPU.NetRx)))
}

// PacketsPerFrame is the packets the server received per frame sent.
func (r *KernelRxRound) PacketsPerFrame() float64 {
	return float64(r.On.RxPackets+r.Off.RxPackets) / r.Frames
}

// KernelRx is the receive path measured on a veth pair: rounds of one
// load and their means, each with the standard error of the mean over
// the rounds.
type KernelRx struct {
	// Skipped says why nothing was measured (not root, no namespaces);
	// the rest is then empty.
	Skipped string `json:"skipped,omitempty"`
	// Load: what the generator sent; Shape names the fleet shape it
	// stands for, Note how it differs from that shape.
	Shape string `json:"shape"`
	Load  Load   `json:"load"`
	Note  string `json:"note,omitempty"`
	// Link, ServerCPU, GenCPU, RPS: where it ran; Command: the server's
	// and the generator's command lines (of the last round).
	Link      string `json:"link"`
	ServerCPU int    `json:"server_cpu"`
	GenCPU    int    `json:"generator_cpu"`
	RPS       string `json:"rps"`
	Command   string `json:"command,omitempty"`

	Rounds []KernelRxRound `json:"rounds"`

	// Per packet the server's veth received: the receive path (the
	// figure the projection uses) and per frame; the server process with
	// RPS on and off; the core's tick-sampled softirq time and its
	// NET_RX softirqs (RPS on, beyond the baseline); packets per frame.
	RxPerPacket      Term `json:"rx_ns_per_packet"`
	RxPerFrame       Term `json:"rx_ns_per_frame"`
	ServerOnPacket   Term `json:"server_rps_on_ns_per_packet"`
	ServerOffPacket  Term `json:"server_rps_off_ns_per_packet"`
	SoftirqPerPacket Term `json:"softirq_ticks_ns_per_packet"`
	NetRxPerPacket   Term `json:"net_rx_per_packet"`
	PacketsPerFrame  Term `json:"packets_per_frame"`
}

// summarize fills k's means from its rounds.
func (k *KernelRx) summarize() {
	term := func(name, unit string, f func(r *KernelRxRound) float64) Term {
		v := make([]float64, len(k.Rounds))
		for i := range k.Rounds {
			v[i] = f(&k.Rounds[i])
		}
		mean, sd := meanSD(v)
		return Term{Name: name, Unit: unit, Value: mean, StdErr: sd / math.Sqrt(float64(len(v)))}
	}
	k.RxPerPacket = term("receive path per packet", "ns", (*KernelRxRound).RxPerPacket)
	k.RxPerFrame = term("receive path per frame", "ns", func(r *KernelRxRound) float64 { return r.RxPerPacket() * r.PacketsPerFrame() })
	k.ServerOnPacket = term("server process per packet, RPS on", "ns", func(r *KernelRxRound) float64 { return r.On.per(float64(r.On.ServerNs)) })
	k.ServerOffPacket = term("server process per packet, RPS off", "ns", func(r *KernelRxRound) float64 { return r.Off.per(float64(r.Off.ServerNs)) })
	k.SoftirqPerPacket = term("softirq (tick-sampled) per packet", "ns", (*KernelRxRound).SoftirqPerPacket)
	k.NetRxPerPacket = term("NET_RX softirqs per packet", "", (*KernelRxRound).NetRxPerPacket)
	k.PacketsPerFrame = term("packets per frame", "", (*KernelRxRound).PacketsPerFrame)
}

// Cores is the receive path of a fleet sending framesPerSec: its time
// per packet times the fleet's packets/s (frames/s times the
// packets per frame measured), in cores, with its standard error (the
// two relative errors in quadrature).
func (k *KernelRx) Cores(framesPerSec float64) (cores, stdErr float64) {
	pps := framesPerSec * k.PacketsPerFrame.Value
	cores = k.RxPerPacket.Value * pps / 1e9
	rel := math.Hypot(k.RxPerPacket.RelErr(), k.PacketsPerFrame.RelErr())
	return cores, rel * math.Abs(cores)
}

// vethSample is one reading of everything a round counts; rps says
// where the span that starts at it was processed (true: the server's
// core).
type vethSample struct {
	at        time.Time
	cpu       cpuCounters
	rxPackets uint64
	rxBytes   uint64
	serverNs  int64
	rps       bool
}

// frameCount is the server's count of frames at one moment: an
// /api/stats snapshot's transports.<t>.frames and sampled_at.
type frameCount struct {
	at     time.Time
	frames uint64
}

// framesAt interpolates the server's frame count at t between the
// snapshots around it (in time order).
func framesAt(counts []frameCount, t time.Time) (float64, error) {
	for i := 1; i < len(counts); i++ {
		a, b := counts[i-1], counts[i]
		if t.Before(a.at) || t.After(b.at) || !b.at.After(a.at) {
			continue
		}
		f := t.Sub(a.at).Seconds() / b.at.Sub(a.at).Seconds()
		return float64(a.frames) + f*(float64(b.frames)-float64(a.frames)), nil
	}
	return 0, fmt.Errorf("kernel rx: no server snapshots around %s (%d snapshots)", t.Format(time.RFC3339Nano), len(counts))
}

// roundOf cuts a round from the baseline's samples and the samples taken
// while the generator ran: the load's spans that lie inside its send
// phase (from sendStart for sendSeconds) less its first and last second
// (or fifth, if shorter). The last second goes too because a generator
// of several processes reports the earliest start, the slowest connect
// and the longest send phase: one process's end of stream (three
// datagrams a UDP device) came 100 ms before that phase's end and made
// 1.09 packets per frame. counts are the server's frame counts while the
// load ran.
func roundOf(base, samples []vethSample, sendStart time.Time, sendSeconds float64, counts []frameCount) (KernelRxRound, error) {
	var r KernelRxRound
	for i := 1; i < len(base); i++ {
		r.Baseline.add(base[i-1], base[i])
	}
	dur := time.Duration(sendSeconds * float64(time.Second))
	trim := min(time.Second, dur/5)
	from, to := sendStart.Add(trim), sendStart.Add(dur-trim)
	var first, last time.Time
	for i := 1; i < len(samples); i++ {
		a, b := samples[i-1], samples[i]
		if a.at.Before(from) || b.at.After(to) {
			continue
		}
		if a.rps {
			r.On.add(a, b)
		} else {
			r.Off.add(a, b)
		}
		if first.IsZero() {
			first = a.at
		}
		last = b.at
	}
	if r.Baseline.Seconds <= 0 || r.On.RxPackets == 0 || r.Off.RxPackets == 0 {
		return r, fmt.Errorf("kernel rx: no baseline (%.2f s) or no steady spans with RPS on (%d packets) and off (%d packets) in %d samples",
			r.Baseline.Seconds, r.On.RxPackets, r.Off.RxPackets, len(samples))
	}
	f0, err := framesAt(counts, first)
	if err != nil {
		return r, err
	}
	f1, err := framesAt(counts, last)
	if err != nil {
		return r, err
	}
	if r.Frames = f1 - f0; r.Frames <= 0 {
		return r, fmt.Errorf("kernel rx: the server counted no frames in the steady spans")
	}
	return r, nil
}
