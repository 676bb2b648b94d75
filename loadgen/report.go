package loadgen

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
)

// Report is the ground truth of a run: what was sent, what failed, and
// what it cost. Totals count only what the kernel accepted (see the
// package documentation). Its JSON form is the --json file; README-loadgen
// documents every field.
type Report struct {
	Transport     string    `json:"transport"`
	Target        string    `json:"target"`
	Codec         string    `json:"codec"`
	Batch         int       `json:"batch"`
	Channels      int       `json:"channels"`
	Signal        string    `json:"signal"`
	RatePerDevice float64   `json:"rate_per_device"`
	Devices       int       `json:"devices"`
	Procs         int       `json:"procs"`
	Loops         int       `json:"loops"`
	UDPSockets    int       `json:"udp_sockets,omitempty"`
	Started       time.Time `json:"started"`

	ConnectSeconds  float64 `json:"connect_seconds"`  // start until every device connected or gave up
	DurationSeconds float64 `json:"duration_seconds"` // first to last data frame written
	WallSeconds     float64 `json:"wall_seconds"`     // the whole run, draining included

	DevicesConnected  int     `json:"devices_connected"` // connected at least once
	FramesSent        uint64  `json:"frames_sent"`
	SamplesSent       uint64  `json:"samples_sent"`
	ReadingsSent      uint64  `json:"readings_sent"`
	BytesSent         uint64  `json:"bytes_sent"` // data and control frames
	ControlFramesSent uint64  `json:"control_frames_sent"`
	ControlBytesSent  uint64  `json:"control_bytes_sent"`
	EOSSent           uint64  `json:"eos_sent"`
	FramesPerSecond   float64 `json:"frames_per_second"`
	ReadingsPerSecond float64 `json:"readings_per_second"`

	ConnectFailures      map[string]uint64 `json:"connect_failures"` // devices that gave up, by the last attempt's reason
	ConnectFailuresTotal uint64            `json:"connect_failures_total"`
	ConnectRetries       map[string]uint64 `json:"connect_retries"` // failed attempts that were retried
	Disconnects          map[string]uint64 `json:"disconnects"`
	SendErrors           uint64            `json:"send_errors"`
	SendErrorsByReason   map[string]uint64 `json:"send_errors_by_reason"`
	FramesDropped        uint64            `json:"frames_dropped"` // skipped by devices (sequence numbers consumed)
	DroppedByReason      map[string]uint64 `json:"frames_dropped_by_reason"`

	LateSends   uint64   `json:"late_sends"`
	LateAfterMs float64  `json:"late_after_ms"`
	Lateness    Lateness `json:"lateness"`

	CommandsReceived uint64            `json:"commands_received"`
	CommandsUnknown  uint64            `json:"commands_unknown"`
	AcksSent         uint64            `json:"acks_sent"`
	DownlinkErrors   map[string]uint64 `json:"downlink_errors"`
	LEDsOn           int               `json:"leds_on"`

	CPUUserSeconds    float64 `json:"cpu_user_seconds"` // generator processes, getrusage
	CPUSysSeconds     float64 `json:"cpu_sys_seconds"`
	CPUNsPerFrame     float64 `json:"cpu_ns_per_frame"`
	LoopCPUSeconds    float64 `json:"loop_cpu_seconds"` // event-loop threads only (RUSAGE_THREAD)
	LoopCPUNsPerFrame float64 `json:"loop_cpu_ns_per_frame"`
	MaxRSSBytes       int64   `json:"max_rss_bytes"` // sum over processes of each one's peak

	// Acknowledged delivery (--ack): absent without it.
	*AckReport

	// DTLS: what the devices' sockets carried, handshakes included.
	DTLS *DTLSReport `json:"dtls,omitempty"`

	// Session: how devices held their connections, and the radio-on time
	// per report (session.go).
	Session *SessionReport `json:"session,omitempty"`

	// Targets split the totals by receiver, in --tcp/--udp/--tls order:
	// one entry for a run against one address.
	Targets []TargetReport `json:"targets"`

	PerDevice []DeviceReport `json:"per_device"`
}

// TargetReport is what went to one receiver of a multi-node run: the
// PerDevice entries of its devices added up. Control frames and
// connection failures are counted per run only.
type TargetReport struct {
	Target            string  `json:"target"`
	Devices           int     `json:"devices"`
	DevicesConnected  int     `json:"devices_connected"`
	FramesSent        uint64  `json:"frames_sent"`
	SamplesSent       uint64  `json:"samples_sent"`
	ReadingsSent      uint64  `json:"readings_sent"`
	DataBytesSent     uint64  `json:"data_bytes_sent"` // data frames only
	FramesDropped     uint64  `json:"frames_dropped"`
	EOSSent           int     `json:"eos_sent"`
	ReadingsPerSecond float64 `json:"readings_per_second"` // over the run's duration_seconds
}

// Lateness summarises how long after their due time frames were written.
type Lateness struct {
	Count  int64   `json:"count"`
	MeanUs float64 `json:"mean_us"`
	P50Us  int64   `json:"p50_us"`
	P90Us  int64   `json:"p90_us"`
	P99Us  int64   `json:"p99_us"`
	P999Us int64   `json:"p999_us"`
	MaxUs  int64   `json:"max_us"`
	// Histogram is the full distribution in µs, HdrHistogram V2 compressed
	// and base64-encoded, so reports of several processes merge exactly.
	Histogram string `json:"histogram,omitempty"`
}

// DeviceReport is one device's ground truth. The receiver should have
// Readings readings of it, sequence numbers FirstSeq..NextSeq-1 minus the
// frames it dropped, and an end-of-stream carrying NextSeq.
type DeviceReport struct {
	Device    string `json:"device"`
	Target    string `json:"target,omitempty"` // its receiver, when the run had several
	Frames    uint64 `json:"frames"`
	Samples   uint64 `json:"samples"`
	Readings  uint64 `json:"readings"`
	Bytes     uint64 `json:"bytes"`
	FirstSeq  uint64 `json:"first_seq"`
	NextSeq   uint64 `json:"next_seq"`
	Dropped   uint64 `json:"frames_dropped,omitempty"`
	Connected bool   `json:"connected"`
	EOS       bool   `json:"eos_sent"`
	LED       string `json:"led"`
	Commands  uint64 `json:"commands,omitempty"`
	Acks      uint64 `json:"acks,omitempty"`

	// Ack: readings acknowledged, sent again (each time), given up and
	// still unacknowledged at the end; GivenUp lists the given-up sequence
	// numbers as inclusive ranges [lo, hi] (at most 256; Truncated when
	// there were more, Inexact if they may include acknowledged samples).
	ReadingsAcked    uint64      `json:"readings_acked,omitempty"`
	ReadingsResent   uint64      `json:"readings_resent,omitempty"`
	ReadingsGivenUp  uint64      `json:"readings_given_up,omitempty"`
	GivenUp          [][2]uint64 `json:"given_up,omitempty"`
	GivenUpTruncated bool        `json:"given_up_truncated,omitempty"`
	GivenUpInexact   bool        `json:"given_up_inexact,omitempty"`
	ReadingsUnacked  uint64      `json:"readings_unacked,omitempty"`
	Failovers        uint32      `json:"failovers,omitempty"`
	LastTarget       string      `json:"last_target,omitempty"` // where it failed over to last
}

func setLateness(l *Lateness, h *hdrhistogram.Histogram) {
	*l = Lateness{Count: h.TotalCount()}
	if l.Count == 0 {
		return
	}
	l.MeanUs = h.Mean()
	l.P50Us = h.ValueAtQuantile(50)
	l.P90Us = h.ValueAtQuantile(90)
	l.P99Us = h.ValueAtQuantile(99)
	l.P999Us = h.ValueAtQuantile(99.9)
	l.MaxUs = h.Max()
	if b, err := h.Encode(hdrhistogram.V2CompressedEncodingCookieBase); err == nil {
		l.Histogram = string(b)
	}
}

func addMap(dst, src map[string]uint64) map[string]uint64 {
	if dst == nil {
		dst = map[string]uint64{}
	}
	for k, v := range src {
		dst[k] += v
	}
	return dst
}

func sum(m map[string]uint64) uint64 {
	var n uint64
	for _, v := range m {
		n += v
	}
	return n
}

// finish computes the derived fields from the totals.
func (r *Report) finish() {
	r.ConnectFailuresTotal = sum(r.ConnectFailures)
	r.SendErrors = sum(r.SendErrorsByReason)
	r.FramesDropped = sum(r.DroppedByReason)
	if r.DurationSeconds > 0 {
		r.FramesPerSecond = float64(r.FramesSent) / r.DurationSeconds
		r.ReadingsPerSecond = float64(r.ReadingsSent) / r.DurationSeconds
	}
	if r.FramesSent > 0 {
		r.CPUNsPerFrame = (r.CPUUserSeconds + r.CPUSysSeconds) * 1e9 / float64(r.FramesSent)
		r.LoopCPUNsPerFrame = r.LoopCPUSeconds * 1e9 / float64(r.FramesSent)
	}
	r.LEDsOn = 0
	for i := range r.PerDevice {
		if r.PerDevice[i].LED == "on" {
			r.LEDsOn++
		}
	}
	r.sumTargets()
}

// sumTargets fills Targets from PerDevice. A device without a target
// (a run against one address) belongs to the first.
func (r *Report) sumTargets() {
	r.Targets = r.Targets[:0]
	at := map[string]int{}
	add := func(name string) int {
		i, ok := at[name]
		if !ok {
			i = len(r.Targets)
			at[name] = i
			r.Targets = append(r.Targets, TargetReport{Target: name})
		}
		return i
	}
	if r.Target != "" {
		for _, a := range addrList(r.Target) {
			add(a)
		}
	}
	for i := range r.PerDevice {
		d := &r.PerDevice[i]
		name := d.Target
		if name == "" && len(r.Targets) > 0 {
			name = r.Targets[0].Target
		}
		t := &r.Targets[add(name)]
		t.Devices++
		if d.Connected {
			t.DevicesConnected++
		}
		if d.EOS {
			t.EOSSent++
		}
		t.FramesSent += d.Frames
		t.SamplesSent += d.Samples
		t.ReadingsSent += d.Readings
		t.DataBytesSent += d.Bytes
		t.FramesDropped += d.Dropped
	}
	for i := range r.Targets {
		if t := &r.Targets[i]; r.DurationSeconds > 0 {
			t.ReadingsPerSecond = float64(t.ReadingsSent) / r.DurationSeconds
		}
	}
}

// Merge combines the reports of worker processes into one: totals add up,
// per-device lists concatenate, lateness histograms merge exactly.
func Merge(parts []*Report) (*Report, error) {
	if len(parts) == 0 {
		return nil, fmt.Errorf("merge: no reports")
	}
	p0 := parts[0]
	m := Report{
		Transport: p0.Transport, Target: p0.Target, Codec: p0.Codec, Batch: p0.Batch,
		Channels: p0.Channels, Signal: p0.Signal, RatePerDevice: p0.RatePerDevice,
		Procs: len(parts), Loops: p0.Loops, UDPSockets: p0.UDPSockets,
		Started: p0.Started, LateAfterMs: p0.LateAfterMs,
	}
	var ackHist *hdrhistogram.Histogram
	if p0.AckReport != nil {
		a := *p0.AckReport
		m.AckReport = &AckReport{AckWindow: a.AckWindow, AckMaxBatch: a.AckMaxBatch, AckMinRTOMs: a.AckMinRTOMs, AckDrainSeconds: a.AckDrainSeconds}
		ackHist = newLatenessHist()
	}
	hist, radioHist := newLatenessHist(), newLatenessHist()
	if p0.Session != nil {
		ps := *p0.Session
		m.Session = &SessionReport{Mode: ps.Mode, TLSResume: ps.TLSResume, NATBinding: ps.NATBinding, KeepAliveSeconds: ps.KeepAliveSeconds}
	}
	if p0.DTLS != nil {
		d := *p0.DTLS
		m.DTLS = &DTLSReport{Version: d.Version, Auth: d.Auth, PerReport: d.PerReport, Resume: d.Resume}
	}
	for _, p := range parts {
		if d, md := p.DTLS, m.DTLS; d != nil && md != nil {
			md.Handshakes += d.Handshakes
			md.HandshakeFailure += d.HandshakeFailure
			md.DatagramsSent += d.DatagramsSent
			md.BytesSent += d.BytesSent
			md.DatagramsRecv += d.DatagramsRecv
			md.BytesRecv += d.BytesRecv
			md.RecordsSent += d.RecordsSent
		}
		if p.Started.Before(m.Started) {
			m.Started = p.Started
		}
		m.Devices += p.Devices
		m.ConnectSeconds = max(m.ConnectSeconds, p.ConnectSeconds)
		m.DurationSeconds = max(m.DurationSeconds, p.DurationSeconds)
		m.WallSeconds = max(m.WallSeconds, p.WallSeconds)
		m.DevicesConnected += p.DevicesConnected
		m.FramesSent += p.FramesSent
		m.SamplesSent += p.SamplesSent
		m.ReadingsSent += p.ReadingsSent
		m.BytesSent += p.BytesSent
		m.ControlFramesSent += p.ControlFramesSent
		m.ControlBytesSent += p.ControlBytesSent
		m.EOSSent += p.EOSSent
		m.LateSends += p.LateSends
		m.CommandsReceived += p.CommandsReceived
		m.CommandsUnknown += p.CommandsUnknown
		m.AcksSent += p.AcksSent
		m.CPUUserSeconds += p.CPUUserSeconds
		m.CPUSysSeconds += p.CPUSysSeconds
		m.LoopCPUSeconds += p.LoopCPUSeconds
		m.MaxRSSBytes += p.MaxRSSBytes
		m.ConnectFailures = addMap(m.ConnectFailures, p.ConnectFailures)
		m.ConnectRetries = addMap(m.ConnectRetries, p.ConnectRetries)
		m.Disconnects = addMap(m.Disconnects, p.Disconnects)
		m.SendErrorsByReason = addMap(m.SendErrorsByReason, p.SendErrorsByReason)
		m.DroppedByReason = addMap(m.DroppedByReason, p.DroppedByReason)
		m.DownlinkErrors = addMap(m.DownlinkErrors, p.DownlinkErrors)
		m.PerDevice = append(m.PerDevice, p.PerDevice...)
		if p.AckReport != nil && m.AckReport != nil {
			m.AckReport.add(p.AckReport)
			if err := mergeHist(ackHist, p.AckLatency.Histogram); err != nil {
				return nil, fmt.Errorf("merge: ack latency histogram: %w", err)
			}
		}
		if err := mergeHist(hist, p.Lateness.Histogram); err != nil {
			return nil, fmt.Errorf("merge: lateness histogram: %w", err)
		}
		if ps, ms := p.Session, m.Session; ps != nil && ms != nil {
			ms.Connects += ps.Connects
			ms.Resumed += ps.Resumed
			if err := mergeHist(radioHist, ps.RadioOn.Histogram); err != nil {
				return nil, fmt.Errorf("merge: radio-on histogram: %w", err)
			}
		}
	}
	m.sortDevices()
	setLateness(&m.Lateness, hist)
	if m.Session != nil {
		setSession(m.Session, radioHist)
	}
	if m.AckReport != nil {
		setLateness(&m.AckLatency, ackHist)
	}
	m.finish()
	return &m, nil
}

// WriteSummary prints the report as a table for people.
func (r *Report) WriteSummary(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row := func(k, format string, args ...any) { fmt.Fprintf(tw, "%s\t"+format+"\n", append([]any{k}, args...)...) }
	row("target", "%s %s, codec %s, batch %d, %d channel(s), signal %s", r.Transport, r.Target, r.Codec, r.Batch, r.Channels, r.Signal)
	rate := "as fast as possible"
	if r.RatePerDevice > 0 {
		rate = fmt.Sprintf("%g samples/s per device", r.RatePerDevice)
	}
	engine := fmt.Sprintf("%d loop(s)", r.Loops)
	if r.Transport == string(TLS) || r.Transport == string(DTLS) {
		engine = "a goroutine pair per device"
	}
	row("fleet", "%d devices (%d connected), %s, %d process(es) x %s", r.Devices, r.DevicesConnected, rate, r.Procs, engine)
	row("time", "connect %.2fs, sending %.2fs, wall %.2fs", r.ConnectSeconds, r.DurationSeconds, r.WallSeconds)
	row("sent", "%d frames, %d readings, %d bytes (%d control frames, %d end-of-stream)", r.FramesSent, r.ReadingsSent, r.BytesSent, r.ControlFramesSent, r.EOSSent)
	row("rate", "%.0f frames/s, %.0f readings/s", r.FramesPerSecond, r.ReadingsPerSecond)
	if len(r.Targets) > 1 {
		for _, t := range r.Targets {
			row("  to "+t.Target, "%d devices (%d connected), %d frames, %d readings (%.0f/s), %d data bytes, %d frames dropped, %d end-of-stream",
				t.Devices, t.DevicesConnected, t.FramesSent, t.ReadingsSent, t.ReadingsPerSecond, t.DataBytesSent, t.FramesDropped, t.EOSSent)
		}
	}
	if s := r.Session; s != nil && (s.Mode != SessionPersistent || s.NATBinding == NATLose || s.KeepAliveSeconds > 0 || s.RadioOn.Count > 0) {
		how := fmt.Sprintf("%s, %d connects (%d TLS resumed)", s.Mode, s.Connects, s.Resumed)
		if s.NATBinding != "" {
			how += ", NAT binding " + s.NATBinding
		}
		if s.KeepAliveSeconds > 0 {
			how += fmt.Sprintf(", keep-alive %gs", s.KeepAliveSeconds)
		}
		row("session", "%s", how)
		if s.RadioOn.Count > 0 {
			row("  radio on", "%d reports; mean %s p50 %s p99 %s", s.RadioOn.Count, us(int64(s.RadioOn.MeanUs)), us(s.RadioOn.P50Us), us(s.RadioOn.P99Us))
		}
	}
	if d := r.DTLS; d != nil {
		mode := "one session per device"
		if d.PerReport {
			mode = "a session per report"
			if d.Resume {
				mode += ", resumed"
			}
		}
		row("dtls", "%s %s, %s: %d handshakes (%d failed), %d records; UDP %d datagrams / %d bytes sent, %d / %d received",
			d.Version, d.Auth, mode, d.Handshakes, d.HandshakeFailure, d.RecordsSent, d.DatagramsSent, d.BytesSent, d.DatagramsRecv, d.BytesRecv)
		if r.ReadingsSent > 0 {
			row("wire/reading", "%.2f bytes up, %.2f down (UDP payload, handshakes included; +28 per datagram for IPv4/UDP headers)",
				float64(d.BytesSent)/float64(r.ReadingsSent), float64(d.BytesRecv)/float64(r.ReadingsSent))
		}
	}
	if r.ReadingsSent > 0 {
		row("bytes/reading", "%.2f (data frames only: %.2f)", float64(r.BytesSent)/float64(r.ReadingsSent), float64(r.BytesSent-r.ControlBytesSent)/float64(r.ReadingsSent))
	}
	row("connect failures", "%d %s (retried attempts: %s)", r.ConnectFailuresTotal, fmtMap(r.ConnectFailures), fmtMap(r.ConnectRetries))
	row("disconnects", "%s", fmtMap(r.Disconnects))
	row("send errors", "%d %s", r.SendErrors, fmtMap(r.SendErrorsByReason))
	row("frames dropped", "%d %s", r.FramesDropped, fmtMap(r.DroppedByReason))
	if r.RatePerDevice > 0 {
		row("lateness", "%d late (> %gms); p50 %s p90 %s p99 %s p99.9 %s max %s",
			r.LateSends, r.LateAfterMs, us(r.Lateness.P50Us), us(r.Lateness.P90Us), us(r.Lateness.P99Us), us(r.Lateness.P999Us), us(r.Lateness.MaxUs))
	}
	if a := r.AckReport; a != nil {
		row("acks", "window %d, resend frames up to %d samples, min RTO %s, drain %gs",
			a.AckWindow, a.AckMaxBatch, time.Duration(a.AckMinRTOMs*float64(time.Millisecond)), a.AckDrainSeconds)
		row("  acknowledged", "%d readings; %d #stored received (%d bytes)", a.ReadingsAcked, a.AcksReceived, a.AckBytesReceived)
		row("  resent", "%d readings in %d frames, %d bytes", a.ReadingsResent, a.ResentFrames, a.ResentBytes)
		row("  given up", "%d readings (%d #gaveup sent)", a.ReadingsGivenUp, a.GaveUpSent)
		row("  unacked at end", "%d readings of %d devices (%d waits for acks ran out); %d failovers", a.ReadingsUnackedAtEnd, a.DevicesUnackedAtEnd, a.AckDrainTimeouts, a.Failovers)
		row("  ack latency", "%d flights; p50 %s p90 %s p99 %s p99.9 %s max %s", a.AckLatency.Count,
			us(a.AckLatency.P50Us), us(a.AckLatency.P90Us), us(a.AckLatency.P99Us), us(a.AckLatency.P999Us), us(a.AckLatency.MaxUs))
	}
	row("commands", "%d received (%d unknown), %d acks sent, %d LEDs on, downlink errors %s", r.CommandsReceived, r.CommandsUnknown, r.AcksSent, r.LEDsOn, fmtMap(r.DownlinkErrors))
	row("generator cpu", "user %.2fs sys %.2fs = %.0f ns/frame (event loops %.0f ns/frame), max RSS %.1f MiB",
		r.CPUUserSeconds, r.CPUSysSeconds, r.CPUNsPerFrame, r.LoopCPUNsPerFrame, float64(r.MaxRSSBytes)/(1<<20))
	return tw.Flush()
}

func fmtMap(m map[string]uint64) string {
	if len(m) == 0 {
		return "{}"
	}
	var b strings.Builder
	b.WriteByte('{')
	for i, k := range slices.Sorted(maps.Keys(m)) {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s: %d", k, m[k])
	}
	b.WriteByte('}')
	return b.String()
}

func us(v int64) string {
	return time.Duration(v * int64(time.Microsecond)).String()
}

// AckReport is what acknowledged delivery did (Config.Ack). Readings are
// samples times channels. Every sample a device generated was either
// acknowledged, given up, or still unacknowledged at the end:
// readings_acked + readings_given_up + readings_unacked_at_end is the sum
// of next_seq - first_seq over the devices, times channels.
type AckReport struct {
	AckWindow       int     `json:"ack_window"`
	AckMaxBatch     int     `json:"ack_max_batch"`
	AckMinRTOMs     float64 `json:"ack_min_rto_ms"`
	AckDrainSeconds float64 `json:"ack_drain_seconds"`

	ReadingsAcked        uint64 `json:"readings_acked"`          // acknowledged by a #stored, each once
	ReadingsResent       uint64 `json:"readings_resent"`         // sent again, each time (accepted by the kernel)
	ResentFrames         uint64 `json:"resent_frames"`           // frames that carried them
	ResentBytes          uint64 `json:"resent_bytes"`            // their bytes (also in bytes_sent)
	AcksReceived         uint64 `json:"acks_received"`           // #stored frames applied
	AckBytesReceived     uint64 `json:"ack_bytes_received"`      // their bytes on the wire
	ReadingsGivenUp      uint64 `json:"readings_given_up"`       // dropped from a full window
	GaveUpSent           uint64 `json:"gaveup_sent"`             // #gaveup frames
	ReadingsUnackedAtEnd uint64 `json:"readings_unacked_at_end"` // still held when the device closed
	DevicesUnackedAtEnd  int    `json:"devices_unacked_at_end"`
	AckDrainTimeouts     uint64 `json:"ack_drain_timeouts"` // devices whose wait for acks after end-of-stream ran out
	Failovers            uint64 `json:"failovers"`          // moves to the next target
	UDPHelloPrefixes     uint64 `json:"udp_hello_prefixes"` // datagrams that carried a hello (before the first #stored)

	// AckLatency is, per acknowledged flight (a run of samples sent
	// together), the time from its first transmission to the #stored that
	// covered it, in µs (ack.Config.OnAck).
	AckLatency Lateness `json:"ack_latency"`
}

func (c *Config) newAckReport() *AckReport {
	if !c.Ack {
		return nil
	}
	return &AckReport{
		AckWindow: c.ackWindow(), AckMaxBatch: c.ackMaxBatch(),
		AckMinRTOMs:     float64(c.ackMinRTO()) / float64(time.Millisecond),
		AckDrainSeconds: c.ackDrain().Seconds(),
	}
}

// add adds q's counters to a (not the latency, which merges as a histogram).
func (a *AckReport) add(q *AckReport) {
	a.ReadingsAcked += q.ReadingsAcked
	a.ReadingsResent += q.ReadingsResent
	a.ResentFrames += q.ResentFrames
	a.ResentBytes += q.ResentBytes
	a.AcksReceived += q.AcksReceived
	a.AckBytesReceived += q.AckBytesReceived
	a.ReadingsGivenUp += q.ReadingsGivenUp
	a.GaveUpSent += q.GaveUpSent
	a.ReadingsUnackedAtEnd += q.ReadingsUnackedAtEnd
	a.DevicesUnackedAtEnd += q.DevicesUnackedAtEnd
	a.AckDrainTimeouts += q.AckDrainTimeouts
	a.Failovers += q.Failovers
	a.UDPHelloPrefixes += q.UDPHelloPrefixes
}

// addTally adds what one loop counted.
func (a *AckReport) addTally(t *tally) {
	a.ResentFrames += t.resentFrames
	a.ResentBytes += t.resentBytes
	a.AcksReceived += t.ackFrames
	a.AckBytesReceived += t.ackBytes
	a.GaveUpSent += t.gaveUpFrames
	a.AckDrainTimeouts += t.ackDrainTimeouts
	a.Failovers += t.failovers
	a.UDPHelloPrefixes += t.helloPrefixes
}

// addDevice adds one device's entry.
func (a *AckReport) addDevice(d *DeviceReport) {
	a.ReadingsAcked += d.ReadingsAcked
	a.ReadingsResent += d.ReadingsResent
	a.ReadingsGivenUp += d.ReadingsGivenUp
	a.ReadingsUnackedAtEnd += d.ReadingsUnacked
	if d.ReadingsUnacked > 0 {
		a.DevicesUnackedAtEnd++
	}
}

// mergeHist merges an encoded histogram (a Lateness.Histogram) into h.
func mergeHist(h *hdrhistogram.Histogram, enc string) error {
	if enc == "" {
		return nil
	}
	x, err := hdrhistogram.Decode([]byte(enc))
	if err != nil {
		return err
	}
	h.Merge(x)
	return nil
}
