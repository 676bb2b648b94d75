package bench

import (
	"github.com/fleetwire/fleetwire/bench/cost"
	"github.com/fleetwire/fleetwire/bench/linkemu"
	"github.com/fleetwire/fleetwire/loadgen"
	"github.com/fleetwire/fleetwire/server"
	"github.com/fleetwire/fleetwire/server/sink"
)

// Counters are the raw readings of one run (one scenario on one engine),
// each straight from the counter named in its comment. Figures are
// computed from these and nothing else, so a report can be recomputed
// from results.json.
type Counters struct {
	// Generator: its --json report (loadgen.Report), per-device list
	// dropped.
	Gen loadgen.Report `json:"generator"`
	// Server: GET /api/stats after the run, for the scenario's transport
	// (transports.<t>), plus the server-wide fields that have no
	// per-transport form.
	Srv       server.TransportStats `json:"server_transport"`
	Datagrams uint64                `json:"server_datagrams"` // /api/stats datagrams (UDP only)
	EOS       int                   `json:"server_eos_devices"`
	Latency   server.LatencyStats   `json:"server_latency_ms"`
	// Server process: CPU over the load window (generator start until the
	// server counted every end-of-stream), memory before the load and at
	// the peak of open connections.
	ServerCPU CPUSample `json:"server_cpu"`
	MemBefore Memory    `json:"server_mem_before"`
	MemPeak   Memory    `json:"server_mem_at_peak_conns"`
	PeakConns int64     `json:"server_peak_conns"` // /api/stats connections, sampled while the load ran
	WindowNs  int64     `json:"window_ns"`
	// Generator process as the parent saw it (wait4 rusage), beside the
	// generator's own getrusage in Gen.
	GenWaitCPUNs int64 `json:"generator_wait4_cpu_ns"`
	// Kernel: /proc/net/snmp deltas over the window in the server's
	// network namespace (Udp.RcvbufErrors, Udp.InErrors, Tcp.RetransSegs, ...).
	SNMP SNMP `json:"snmp_delta"`
	// SNMPHostWide: the namespace was the host's, shared with every other
	// process on the machine, so the deltas include their traffic.
	SNMPHostWide bool `json:"snmp_host_wide"`
	// Link: /proc/net/dev deltas of the veth ends (netns profiles only).
	ClientIf *IfCounters `json:"client_if,omitempty"`
	ServerIf *IfCounters `json:"server_if,omitempty"`
	// Radio: the client's radio-on bursts as the emulated link saw them,
	// from the load's start to the end of the drain (device scenarios on
	// bench/linkemu links only).
	Radio *linkemu.RadioStats `json:"radio,omitempty"`
	// DrainTimedOut: the server had not counted every end-of-stream by
	// the scenario's drain timeout (lost EOS datagrams on a lossy link).
	DrainTimedOut bool `json:"drain_timed_out"`
	// Acknowledged delivery (+ack transports only): the server's
	// /api/stats acks (the #stored it wrote) and sink (the file sink's
	// counts) after the run. The generator's side is Gen.AckReport.
	Acks *server.AckStats `json:"server_acks,omitempty"`
	Sink *sink.Stats      `json:"server_sink,omitempty"`
}

// Header sizes as they are on the wire: IPv4 (20) + UDP (8); IPv4 (20) +
// TCP (20) + timestamps option (12). The SYN's longer options are not
// counted extra. Ethernet adds 14 per frame on a veth.
const (
	udpHeaders = cost.IPv4Header + cost.UDPHeader
	tcpHeaders = cost.TCPSegHeader
	ethHeader  = 14
)

// SecondsPerMonth is the month of the per-month cost: 30 days.
const SecondsPerMonth = 30 * 24 * 3600

// Figures are what a report shows for one run. Each comment names the
// counters (of Counters) it is computed from.
type Figures struct {
	// Sent is Gen.ReadingsSent; with acknowledged delivery, every reading
	// the devices generated: Gen readings_acked + readings_given_up +
	// readings_unacked_at_end (a frame whose first transmission did not
	// happen still leaves as a resend).
	Sent uint64 `json:"readings_sent"`
	// Delivered is Srv.Readings - Srv.Duplicates; with acknowledged
	// delivery, what the file sink holds: Sink.Stored (a resent sample is
	// not stored again).
	Delivered uint64 `json:"readings_delivered"`
	// Lost is the ground truth: Sent - Delivered (negative would mean
	// the server counted readings nobody sent).
	Lost        int64   `json:"readings_lost"`
	LossPct     float64 `json:"loss_pct"`           // 100 * Lost / Sent
	DeliveredFr float64 `json:"delivered_fraction"` // Delivered / Sent
	SeqLost     uint64  `json:"server_seq_lost"`    // Srv.Lost: the server's sequence-gap estimate
	Duplicates  uint64  `json:"duplicates"`         // Srv.Duplicates; acked: Acks.Resent x channels (received again, not stored)
	Reordered   uint64  `json:"reordered"`          // Srv.Reordered
	FramesDrop  uint64  `json:"generator_frames_dropped"`

	UDPRcvbufErrors int64 `json:"udp_rcvbuf_errors"` // SNMP Udp.RcvbufErrors
	UDPInErrors     int64 `json:"udp_in_errors"`     // SNMP Udp.InErrors
	TCPRetransSegs  int64 `json:"tcp_retrans_segs"`  // SNMP Tcp.RetransSegs of both ends' namespaces

	PayloadPerReading float64 `json:"payload_bytes_per_reading"` // Srv.PayloadBytes / Delivered
	// Wire bytes per delivered reading seen at the server's socket:
	// TCP: up = TCPInfo.SegsIn*52 + TCPInfo.BytesReceived,
	// down = TCPInfo.SegsOut*52 + TCPInfo.BytesSent;
	// UDP: up = Datagrams*28 + Srv.RxBytes, down = 0 (no downlink sent),
	// with acknowledged delivery Acks.Writes*28 + Acks.Bytes (#stored);
	// DTLS: up = Wire.RxDatagrams*28 + Wire.RxBytes, down =
	// Wire.TxDatagrams*28 + Wire.TxBytes: every datagram of the listener's
	// socket, handshakes, cookies, record overhead and alerts included.
	WireUpPerReading   float64 `json:"wire_up_bytes_per_reading"`
	WireDownPerReading float64 `json:"wire_down_bytes_per_reading"`
	WirePerReading     float64 `json:"wire_bytes_per_reading"` // up + down
	// Veth cross-check (netns and emulated links): IP bytes that crossed
	// the link, (bytes - 14*packets) of /proc/net/dev (the emulator's TUN
	// counts IP bytes as they are), per delivered reading. Up is
	// what the client end transmitted, down what the server end did.
	VethUpPerReading   *float64 `json:"veth_up_bytes_per_reading,omitempty"`
	VethDownPerReading *float64 `json:"veth_down_bytes_per_reading,omitempty"`

	LatencyP50  int64 `json:"latency_p50_ms"` // Latency (server HDR histogram, device clock to receive)
	LatencyP99  int64 `json:"latency_p99_ms"`
	LatencyP999 int64 `json:"latency_p999_ms"`
	LatencyMax  int64 `json:"latency_max_ms"`

	ServerCPUNsPerReading     float64 `json:"server_cpu_ns_per_reading"`         // ServerCPU.SchedNs / Delivered
	ServerStatCPUNsPerReading float64 `json:"server_stat_cpu_ns_per_reading"`    // ServerCPU.StatNs() / Delivered (10 ms ticks)
	ServerCores               float64 `json:"server_cores"`                      // ServerCPU.SchedNs / WindowNs
	ServerSlicesPer1k         float64 `json:"server_timeslices_per_1k_readings"` // 1000 * ServerCPU.Slices / Delivered
	RSSPerConn                float64 `json:"server_rss_bytes_per_conn"`         // (MemPeak.RSS - MemBefore.RSS) / PeakConns
	GenCPUNsPerFrame          float64 `json:"generator_cpu_ns_per_frame"`        // Gen.CPUNsPerFrame (its getrusage)
	ReadingsPerSecond         float64 `json:"readings_per_s"`                    // Delivered / Gen.DurationSeconds

	// CostMBPerDeviceMonth is WirePerReading x readings a device sends a
	// month at the scenario's rate (rate x channels x 30 days), in MB
	// (1e6 bytes); 0 for as-fast-as-possible runs.
	CostMBPerDeviceMonth float64 `json:"cost_mb_per_device_month"`

	// Acknowledged delivery, nil without it.
	Ack *AckFigures `json:"ack,omitempty"`
}

// AckFigures are what acknowledged delivery did in one run, from the
// generator's report (Gen.AckReport) and the server's (Acks, Sink).
type AckFigures struct {
	// The options in effect, as the generator reports them: window
	// (samples), minimum resend timeout, wait for acks after end-of-stream.
	Window       int     `json:"ack_window"`
	MinRTOMs     float64 `json:"ack_min_rto_ms"`
	DrainSecs    float64 `json:"ack_drain_seconds"`
	ResentFr     uint64  `json:"resent_frames"`           // Gen resent_frames
	Acked        uint64  `json:"readings_acked"`          // Gen readings_acked
	Resent       uint64  `json:"readings_resent"`         // Gen readings_resent (each time)
	ResentBytes  uint64  `json:"resent_bytes"`            // Gen resent_bytes (payload)
	GivenUp      uint64  `json:"readings_given_up"`       // Gen readings_given_up
	UnackedAtEnd uint64  `json:"readings_unacked_at_end"` // Gen readings_unacked_at_end
	DrainTimeout uint64  `json:"ack_drain_timeouts"`      // Gen ack_drain_timeouts (devices)
	AcksReceived uint64  `json:"acks_received"`           // Gen acks_received (#stored applied)
	AckBytes     uint64  `json:"ack_bytes_received"`      // Gen ack_bytes_received (payload)
	HelloPrefix  uint64  `json:"udp_hello_prefixes"`      // Gen udp_hello_prefixes
	AcksSent     uint64  `json:"server_acks_sent"`        // Acks.AckedTotal: #stored the server wrote
	AckWrites    uint64  `json:"server_ack_writes"`       // Acks.Writes: datagrams or stream writes of them
	AckBytesSent uint64  `json:"server_ack_bytes"`        // Acks.Bytes (payload)
	// AcksPerDevice is AcksReceived / Gen.DevicesConnected.
	AcksPerDevice float64 `json:"acks_per_device"`
	// Per delivered reading: the generator's resent bytes and the
	// server's #stored bytes, payload only (headers are in the wire
	// figures).
	ResentPerReading float64 `json:"resent_bytes_per_reading"`
	AckPerReading    float64 `json:"ack_bytes_per_reading"`
	// Ack latency: Gen ack_latency (first transmission of a flight to the
	// #stored that covered it), ms.
	LatencyP50Ms float64 `json:"ack_latency_p50_ms"`
	LatencyP99Ms float64 `json:"ack_latency_p99_ms"`
	LatencyMaxMs float64 `json:"ack_latency_max_ms"`
	// SinkSynced is Sink.Synced: readings of Delivered an fsync covered.
	SinkSynced uint64 `json:"sink_synced"`
}

func div(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

// Compute derives the figures of one run of s from its counters.
func Compute(s *Scenario, c *Counters) Figures {
	f := Figures{
		Sent:       c.Gen.ReadingsSent,
		SeqLost:    c.Srv.Lost,
		Duplicates: c.Srv.Duplicates,
		Reordered:  c.Srv.Reordered,
		FramesDrop: c.Gen.FramesDropped,

		UDPRcvbufErrors: c.SNMP["Udp.RcvbufErrors"],
		UDPInErrors:     c.SNMP["Udp.InErrors"],
		TCPRetransSegs:  c.SNMP["Tcp.RetransSegs"] + c.SNMP["client.Tcp.RetransSegs"],

		LatencyP50: c.Latency.P50, LatencyP99: c.Latency.P99, LatencyP999: c.Latency.P999, LatencyMax: c.Latency.Max,
		GenCPUNsPerFrame: c.Gen.CPUNsPerFrame,
	}
	if c.Srv.Readings >= c.Srv.Duplicates {
		f.Delivered = c.Srv.Readings - c.Srv.Duplicates
	}
	if s.Acked() {
		f.Ack = ackFigures(c)
		f.Sent = f.Ack.Acked + f.Ack.GivenUp + f.Ack.UnackedAtEnd
		f.Delivered = 0
		if c.Sink != nil {
			f.Delivered = c.Sink.Stored
		}
		if c.Acks != nil {
			f.Duplicates = c.Acks.Resent * uint64(s.Channels)
		}
	}
	f.Lost = int64(f.Sent) - int64(f.Delivered)
	f.LossPct = 100 * div(float64(f.Lost), float64(f.Sent))
	f.DeliveredFr = div(float64(f.Delivered), float64(f.Sent))
	d := float64(f.Delivered)
	f.PayloadPerReading = div(float64(c.Srv.PayloadBytes), d)
	var up, down float64
	if s.Wire() == "udp" {
		up = float64(c.Datagrams*udpHeaders + c.Srv.RxBytes)
		if c.Acks != nil {
			down = float64(c.Acks.Writes*udpHeaders + c.Acks.Bytes)
		}
	} else if w := c.Srv.Wire; w != nil {
		up = float64(w.RxDatagrams*udpHeaders + w.RxBytes)
		down = float64(w.TxDatagrams*udpHeaders + w.TxBytes)
	} else if ti := c.Srv.TCPInfo; ti != nil {
		up = float64(ti.SegsIn*tcpHeaders + ti.BytesReceived)
		down = float64(ti.SegsOut*tcpHeaders + ti.BytesSent)
	}
	f.WireUpPerReading, f.WireDownPerReading = div(up, d), div(down, d)
	f.WirePerReading = f.WireUpPerReading + f.WireDownPerReading
	if c.ClientIf != nil && c.ServerIf != nil {
		// A veth counts Ethernet frames; the emulator's TUN counts IP
		// packets already (emuLink.ifs).
		hdr := int64(ethHeader)
		if _, err := linkemu.ProfileByName(s.Profile); err == nil {
			hdr = 0
		}
		vu := div(float64(c.ClientIf.TxBytes-hdr*c.ClientIf.TxPackets), d)
		vd := div(float64(c.ServerIf.TxBytes-hdr*c.ServerIf.TxPackets), d)
		f.VethUpPerReading, f.VethDownPerReading = &vu, &vd
	}
	f.ServerCPUNsPerReading = div(float64(c.ServerCPU.SchedNs), d)
	f.ServerStatCPUNsPerReading = div(float64(c.ServerCPU.StatNs()), d)
	f.ServerCores = div(float64(c.ServerCPU.SchedNs), float64(c.WindowNs))
	f.ServerSlicesPer1k = 1000 * div(float64(c.ServerCPU.Slices), d)
	if c.PeakConns > 0 {
		f.RSSPerConn = float64(c.MemPeak.RSS-c.MemBefore.RSS) / float64(c.PeakConns)
	}
	f.ReadingsPerSecond = div(d, c.Gen.DurationSeconds)
	if s.Rate > 0 {
		f.CostMBPerDeviceMonth = f.WirePerReading * s.Rate * float64(s.Channels) * SecondsPerMonth / 1e6
	}
	if a := f.Ack; a != nil {
		a.ResentPerReading = div(float64(a.ResentBytes), d)
		a.AckPerReading = div(float64(a.AckBytesSent), d)
	}
	return f
}

// ackFigures gathers the acknowledged-delivery counters of a +ack run.
func ackFigures(c *Counters) *AckFigures {
	a := &AckFigures{}
	if g := c.Gen.AckReport; g != nil {
		a.Window, a.MinRTOMs, a.DrainSecs = g.AckWindow, g.AckMinRTOMs, g.AckDrainSeconds
		a.Acked, a.Resent, a.ResentBytes, a.ResentFr = g.ReadingsAcked, g.ReadingsResent, g.ResentBytes, g.ResentFrames
		a.GivenUp, a.UnackedAtEnd, a.DrainTimeout = g.ReadingsGivenUp, g.ReadingsUnackedAtEnd, g.AckDrainTimeouts
		a.AcksReceived, a.AckBytes, a.HelloPrefix = g.AcksReceived, g.AckBytesReceived, g.UDPHelloPrefixes
		a.AcksPerDevice = div(float64(g.AcksReceived), float64(c.Gen.DevicesConnected))
		a.LatencyP50Ms = float64(g.AckLatency.P50Us) / 1000
		a.LatencyP99Ms = float64(g.AckLatency.P99Us) / 1000
		a.LatencyMaxMs = float64(g.AckLatency.MaxUs) / 1000
	}
	if c.Acks != nil {
		a.AcksSent, a.AckWrites, a.AckBytesSent = c.Acks.AckedTotal, c.Acks.Writes, c.Acks.Bytes
	}
	if c.Sink != nil {
		a.SinkSynced = c.Sink.Synced
	}
	return a
}
