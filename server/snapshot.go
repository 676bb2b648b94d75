package server

import (
	"cmp"
	"slices"
	"strings"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/fleetwire/fleetwire/codec"
	"github.com/fleetwire/fleetwire/server/natssink"
	"github.com/fleetwire/fleetwire/server/sink"
)

// Stats is a snapshot of the whole server. Field names are the JSON API's
// (documented in README).
type Stats struct {
	Node         string  `json:"node,omitempty"`
	Engine       string  `json:"engine"`
	UptimeSec    float64 `json:"uptime_s"`
	Devices      int     `json:"devices"`
	Connections  int64   `json:"connections"`
	Frames       uint64  `json:"frames"`
	Readings     uint64  `json:"readings"`
	PayloadBytes uint64  `json:"payload_bytes"`
	RxBytes      uint64  `json:"rx_bytes"`
	Datagrams    uint64  `json:"datagrams"`
	NapBackoffs  uint64  `json:"udp_nap_backoffs"` // see --udp-coalesce
	Controls     uint64  `json:"controls"`
	Lost         uint64  `json:"lost"`
	Duplicates   uint64  `json:"duplicates"`
	Reordered    uint64  `json:"reordered"`
	EOS          int     `json:"eos_devices"` // devices whose stream ended: an end-of-stream and nothing new since
	// Evicted counts anonymous sessions that idled out; their lost,
	// duplicate and reordered readings stay in the totals above.
	Evicted uint64 `json:"evicted_devices"`
	// Stored is what the sink has written (file sink: to a segment; NATS:
	// acknowledged by JetStream), Sink.Stored; 0 with --sink none. The
	// readings handed to the sink are Sink.Accepted.
	Stored uint64            `json:"stored"`
	Errors map[string]uint64 `json:"errors"`
	// Dropped is the transports' drops by reason plus
	// DropSinkWriteError, the sink's.
	Dropped    map[string]uint64         `json:"dropped"`
	Transports map[string]TransportStats `json:"transports"`
	Codecs     map[string]CodecStats     `json:"codecs"`
	Latency    LatencyStats              `json:"latency_ms"`
	// Acks sums acknowledged delivery over the devices that opted in.
	Acks AckStats   `json:"acks"`
	Sink sink.Stats `json:"sink"`
	// NATSSink is the NATS sink's own state (spool, in flight, acks) when
	// --sink is nats://.
	NATSSink *natssink.NATSStats `json:"nats_sink,omitempty"`
}

// natsStatser is a sink with a NATS sink's own state to show (spool, in
// flight, acknowledgements): natssink.Sink.
type natsStatser interface{ NATSStats() natssink.NATSStats }

// TransportStats are Stats for one transport.
type TransportStats struct {
	Devices      int               `json:"devices"`
	Connections  int64             `json:"connections"`
	Accepted     uint64            `json:"accepted"`
	Frames       uint64            `json:"frames"`
	Readings     uint64            `json:"readings"`
	PayloadBytes uint64            `json:"payload_bytes"`
	RxBytes      uint64            `json:"rx_bytes"`
	Lost         uint64            `json:"lost"`
	Duplicates   uint64            `json:"duplicates"`
	Reordered    uint64            `json:"reordered"`
	Errors       map[string]uint64 `json:"errors"`
	Dropped      map[string]uint64 `json:"dropped"`
	// TCPInfo sums the kernel's TCP_INFO of the connections that closed
	// (tcp and tls only).
	TCPInfo *TCPInfo `json:"tcp_info,omitempty"`
	// Wire counts what the DTLS listeners' sockets carried, handshakes,
	// cookies, acks and alerts included (dtls only).
	Wire *WireStats `json:"wire,omitempty"`
}

// WireStats are a UDP socket's datagrams and payload bytes both ways.
type WireStats struct {
	RxDatagrams uint64 `json:"rx_datagrams"`
	RxBytes     uint64 `json:"rx_bytes"`
	TxDatagrams uint64 `json:"tx_datagrams"`
	TxBytes     uint64 `json:"tx_bytes"`
	// Handshakes completed, and in progress now.
	Handshakes           uint64 `json:"handshakes"`
	HandshakesInProgress int64  `json:"handshakes_in_progress"`
}

// AckStats sum acknowledged delivery (PROTOCOL.md): samples are counted
// as the devices number them (a sample of 3 channels is 1 sample, 3
// readings).
type AckStats struct {
	Devices    int    `json:"devices"`         // devices that opted in
	Writes     uint64 `json:"writes"`          // datagrams or stream writes of #stored frames
	Bytes      uint64 `json:"bytes"`           // their bytes (payload; headers are the kernel's)
	Resent     uint64 `json:"resent_samples"`  // samples received again, not stored again
	Failed     uint64 `json:"failed_samples"`  // samples the sink could not store: never acknowledged, resent by the device
	Unsettled  uint64 `json:"unacked_samples"` // samples received since each device's last #stored
	AckedTotal uint64 `json:"acks_sent"`       // #stored frames (several may share a write)
}

// DeviceAck is one device's acknowledged delivery, when it opted in.
type DeviceAck struct {
	Window       uint32    `json:"window"`     // samples it holds unacknowledged (its hello)
	AckedThrough uint64    `json:"acked_next"` // every sample below is durable and acknowledged (or given up)
	Ranges       string    `json:"ranges"`     // durable ranges above it, as its next #stored says them
	Unacked      uint64    `json:"unacked"`    // samples received since the last #stored
	Resent       uint64    `json:"resent"`     // samples received again (duplicates suppressed)
	Acks         uint64    `json:"acks_sent"`  // #stored frames sent to it
	LastAck      time.Time `json:"last_ack,omitzero"`
}

// CodecStats count what arrived in one codec.
type CodecStats struct {
	Frames       uint64 `json:"frames"`
	Readings     uint64 `json:"readings"`
	PayloadBytes uint64 `json:"payload_bytes"`
}

// LatencyStats summarise device-send to server-receive latency, in ms
// (device clocks tick in ms), over the whole run.
type LatencyStats struct {
	Count uint64  `json:"count"`
	P50   int64   `json:"p50"`
	P99   int64   `json:"p99"`
	P999  int64   `json:"p999"`
	Max   int64   `json:"max"`
	Mean  float64 `json:"mean"`
}

// Stats takes a snapshot. It reads every session, so call it about once
// a second, not per request of a busy page.
func (s *Server) Stats() Stats {
	c := s.hub.total()
	st := Stats{
		Node: s.cfg.Node, Engine: s.cfg.Engine, UptimeSec: time.Since(time.Unix(0, s.started.Load())).Seconds(),
		Datagrams: c.datagrams.Load(), NapBackoffs: c.napBackoffs.Load(),
		Errors: map[string]uint64{}, Dropped: map[string]uint64{},
		Transports: map[string]TransportStats{}, Codecs: map[string]CodecStats{},
		Sink: s.sink.Stats(),
	}
	st.Stored = st.Sink.Stored
	if n := st.Sink.Dropped[sink.DropWriteError]; n > 0 {
		st.Dropped[DropSinkWriteError] = n
	}
	var per [NumTransports]TransportStats
	for t := range NumTransports {
		ts := &per[t]
		ts.Connections, ts.Accepted = s.hub.conns[t].Load(), s.hub.accepted[t].Load()
		ts.Errors, ts.Dropped = map[string]uint64{}, map[string]uint64{}
		for i := range numCodecs {
			f, r, b := c.frames[t][i].Load(), c.readings[t][i].Load(), c.payloadBytes[t][i].Load()
			ts.Frames += f
			ts.Readings += r
			ts.PayloadBytes += b
			if f > 0 {
				name := codecOf(i).String()
				cs := st.Codecs[name]
				cs.Frames, cs.Readings, cs.PayloadBytes = cs.Frames+f, cs.Readings+r, cs.PayloadBytes+b
				st.Codecs[name] = cs
			}
		}
		ts.RxBytes = c.rxBytes[t].Load()
		if t == TCP || t == TLS {
			ti := s.hub.tcp[t].snapshot()
			ts.TCPInfo = &ti
		}
		if t == DTLS {
			ts.Wire = s.dtlsWire()
		}
		for r := range NumErrReasons {
			if n := c.errors[t][r].Load(); n > 0 {
				ts.Errors[r.String()] = n
				st.Errors[r.String()] += n
			}
		}
		for r := range NumDropReasons {
			if n := c.dropped[t][r].Load(); n > 0 {
				ts.Dropped[r.String()] = n
				st.Dropped[r.String()] += n
			}
		}
		st.Connections += ts.Connections
		st.Frames += ts.Frames
		st.Readings += ts.Readings
		st.PayloadBytes += ts.PayloadBytes
		st.RxBytes += ts.RxBytes
		st.Controls += c.controls[t].Load()
	}
	s.reg.each(func(x *Session) {
		x.mu.Lock()
		t, lost, dups, reo, eos := x.transport, x.lostReadings(), x.dups, x.reordered, x.eos
		if a := x.ack; a != nil {
			st.Acks.Devices++
			st.Acks.Unsettled += a.fresh
			st.Acks.AckedTotal += a.acks
		}
		x.mu.Unlock()
		per[t].Devices++
		per[t].Lost += lost
		per[t].Duplicates += dups
		per[t].Reordered += reo
		st.Devices++
		st.Lost += lost
		st.Duplicates += dups
		st.Reordered += reo
		if eos {
			st.EOS++
		}
	})
	rc := s.reg.retiredTotals()
	st.Evicted = rc.sessions
	st.Lost, st.Duplicates, st.Reordered = st.Lost+rc.lost, st.Duplicates+rc.dups, st.Reordered+rc.reordered
	for t := range NumTransports {
		r := rc.byTransport[t]
		per[t].Lost, per[t].Duplicates, per[t].Reordered = per[t].Lost+r.lost, per[t].Duplicates+r.dups, per[t].Reordered+r.reordered
		st.Transports[t.String()] = per[t]
	}
	st.Latency = s.latency()
	st.Acks.Writes, st.Acks.Bytes = s.acker.acksSent.Load(), s.acker.ackBytes.Load()
	st.Acks.Resent, st.Acks.Failed = s.acker.suppress.Load(), s.acker.failed.Load()
	if ns, ok := s.sink.(natsStatser); ok {
		n := ns.NATSStats()
		st.NATSSink = &n
	}
	return st
}

// LatencyHistogram returns a merged copy of every ingester's latency
// histogram, for tools that want more than the summary.
func (s *Server) LatencyHistogram() *hdrhistogram.Histogram {
	sum := hdrhistogram.New(0, maxLatencyMs, 3)
	s.shardMu.Lock()
	shards := slices.Clone(s.shards)
	s.shardMu.Unlock()
	for _, sh := range shards {
		sh.latMu.Lock()
		sum.Merge(sh.lat)
		sh.latMu.Unlock()
	}
	return sum
}

func (s *Server) latency() LatencyStats {
	h := s.LatencyHistogram()
	return LatencyStats{Count: uint64(h.TotalCount()), P50: h.ValueAtQuantile(50), P99: h.ValueAtQuantile(99),
		P999: h.ValueAtQuantile(99.9), Max: h.Max(), Mean: h.Mean()}
}

// Device is one device's state, as the API shows it.
type Device struct {
	ID        string `json:"id"`
	Transport string `json:"transport"`
	Codec     string `json:"codec"`
	// State is online, ended or offline (Session.state); Online is
	// State == "online" and EOS is State == "ended".
	State        string        `json:"state"`
	Online       bool          `json:"online"`
	Frames       uint64        `json:"frames"`
	Readings     uint64        `json:"readings"`
	PayloadBytes uint64        `json:"payload_bytes"`
	Lost         uint64        `json:"lost"`
	Duplicates   uint64        `json:"duplicates"`
	Reordered    uint64        `json:"reordered"`
	Restarts     uint64        `json:"restarts"`
	NextSeq      uint64        `json:"next_seq"`
	EOS          bool          `json:"eos"`
	LastSeen     time.Time     `json:"last_seen"`
	DeviceTimeMs int64         `json:"device_time_ms,omitempty"`
	LastValues   []string      `json:"last_values"`
	Address      string        `json:"address,omitempty"`
	Errors       []DeviceError `json:"recent_errors,omitempty"`
	Ack          *DeviceAck    `json:"ack,omitempty"`
	Commands     []Command     `json:"commands,omitempty"`
}

// DeviceError is one of a device's recent errors.
type DeviceError struct {
	At     time.Time `json:"at"`
	Reason string    `json:"reason"`
	Offset int       `json:"offset"`
}

func (x *Session) snapshot(withErrors bool) Device {
	x.mu.Lock()
	defer x.mu.Unlock()
	d := Device{
		ID: x.ID, Transport: x.transport.String(),
		Codec: codec.Codec{Format: x.format, Compression: x.compress}.String(),
		State: x.state(), Frames: x.frames, Readings: x.readings, PayloadBytes: x.bytes,
		Lost: x.lostReadings(), Duplicates: x.dups, Reordered: x.reordered, Restarts: x.resets, NextSeq: x.next,
		LastSeen: time.Unix(0, x.lastSeen), DeviceTimeMs: x.lastTime,
		LastValues: make([]string, len(x.lastVals)),
	}
	d.Online, d.EOS = d.State == StateOnline, d.State == StateEnded
	if x.format == codec.FormatUnknown {
		d.Codec = ""
	}
	for i, v := range x.lastVals {
		d.LastValues[i] = v.String()
	}
	if x.addr.IsValid() {
		d.Address = x.addr.String()
	}
	if a := x.ack; a != nil {
		d.Ack = &DeviceAck{Window: a.window, AckedThrough: a.durable.Next(), Unacked: a.fresh,
			Resent: a.resends, Acks: a.acks}
		if s := a.durable.String(); len(s) > 0 {
			_, d.Ack.Ranges, _ = strings.Cut(s, " ")
		}
		if a.sentAt != 0 {
			d.Ack.LastAck = time.Unix(0, a.sentAt)
		}
	}
	if r := x.errors; withErrors && r != nil {
		for i := max(0, r.n-len(r.at)); i < r.n; i++ {
			j := i % len(r.at)
			d.Errors = append(d.Errors, DeviceError{At: time.Unix(0, r.at[j]), Reason: r.reason[j].String(), Offset: int(r.off[j])})
		}
	}
	return d
}

// Device returns one device, with its recent errors and commands.
func (s *Server) Device(id string) (Device, bool) {
	x := s.reg.lookup(id)
	if x == nil {
		return Device{}, false
	}
	d := x.snapshot(true)
	d.Commands = s.cmds.forDevice(id, 20)
	return d, true
}

// DeviceQuery selects and orders a page of devices.
type DeviceQuery struct {
	Offset, Limit int
	Sort          string // id, readings, lost, duplicates, reordered, last_seen, transport; "-" prefix for descending
	Filter        string // substring of the id
	Transport     string // tcp, udp, tls or ""
}

// deviceKey is what Devices sorts and filters on: copied under the
// session lock without allocating, so ordering 100k devices copies 100k
// small structs, and only the page asked for is snapshotted in full.
type deviceKey struct {
	s                         *Session
	readings, lost, dups, reo uint64
	lastSeen                  int64
	transport                 Transport
}

// Devices returns one page of devices and how many matched in all.
func (s *Server) Devices(q DeviceQuery) ([]Device, int) {
	keys := make([]deviceKey, 0, s.reg.count.Load())
	wantTr := NumTransports
	for t := range NumTransports {
		if q.Transport == t.String() {
			wantTr = t
		}
	}
	if q.Transport != "" && wantTr == NumTransports {
		return nil, 0
	}
	s.reg.each(func(x *Session) {
		if q.Filter != "" && !strings.Contains(x.ID, q.Filter) {
			return
		}
		x.mu.Lock()
		k := deviceKey{s: x, readings: x.readings, lost: x.lostReadings(), dups: x.dups, reo: x.reordered, lastSeen: x.lastSeen, transport: x.transport}
		x.mu.Unlock()
		if wantTr != NumTransports && k.transport != wantTr {
			return
		}
		keys = append(keys, k)
	})
	key, desc := strings.CutPrefix(q.Sort, "-")
	sign := 1
	if desc {
		sign = -1
	}
	slices.SortFunc(keys, func(a, b deviceKey) int {
		var c int
		switch key {
		case "readings":
			c = cmp.Compare(a.readings, b.readings)
		case "lost":
			c = cmp.Compare(a.lost, b.lost)
		case "duplicates":
			c = cmp.Compare(a.dups, b.dups)
		case "reordered":
			c = cmp.Compare(a.reo, b.reo)
		case "last_seen":
			c = cmp.Compare(a.lastSeen, b.lastSeen)
		case "transport":
			c = cmp.Compare(a.transport, b.transport)
		}
		return sign * cmp.Or(c, cmp.Compare(a.s.ID, b.s.ID))
	})
	total := len(keys)
	lo := min(max(q.Offset, 0), total)
	hi := total
	if q.Limit > 0 {
		hi = min(lo+q.Limit, total)
	}
	page := make([]Device, 0, hi-lo)
	for _, k := range keys[lo:hi] {
		page = append(page, k.s.snapshot(false))
	}
	return page, total
}

// SubmitCommand sends payload to device id now if it is reachable, else
// queues it (bounded, with a TTL), as the device's listener frames
// commands (a #cmd line or binary frame, or raw).
func (s *Server) SubmitCommand(id string, payload []byte) (Command, error) {
	return s.cmds.submit(id, payload, nil, time.Now())
}

// SubmitRaw is SubmitCommand with the framing chosen: raw sends exactly
// the payload's bytes, nothing added, and the command is done once
// written; !raw sends a #cmd the device acknowledges.
func (s *Server) SubmitRaw(id string, payload []byte, raw bool) (Command, error) {
	return s.cmds.submit(id, payload, &raw, time.Now())
}

// Command returns a command by id.
func (s *Server) Command(id uint64) (Command, error) { return s.cmds.get(id) }

// LastSample is a device's latest sample, as LastSamples passes it.
type LastSample struct {
	ID       string
	At       int64         // when it arrived, unix ns
	Readings uint64        // the device's readings so far: a new sample changes it
	Values   []codec.Value // its channels; valid only during the callback
}

// LastSamples calls fn with the latest sample of every device whose last
// sample arrived after since (unix ns). Like Stats it walks every session, taking each
// one's lock only to copy the last values into a buffer reused from one
// device to the next, and calls fn with no lock held. Call it about once
// a second; fn copies what it keeps.
func (s *Server) LastSamples(since int64, fn func(*LastSample)) {
	var ls LastSample
	s.reg.each(func(x *Session) {
		x.mu.Lock()
		if x.lastAt <= since || len(x.lastVals) == 0 {
			x.mu.Unlock()
			return
		}
		ls.ID, ls.At, ls.Readings = x.ID, x.lastAt, x.readings
		ls.Values = append(ls.Values[:0], x.lastVals...)
		x.mu.Unlock()
		fn(&ls)
	})
}
