package web

import (
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/fleetwire/fleetwire/server"
	"github.com/fleetwire/fleetwire/server/sink"
)

// latencyBuckets are the upper bounds, in seconds, of the latency
// histogram exposed on /metrics (device clocks tick in milliseconds).
var latencyBuckets = []float64{0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 30, 60}

func (s *Server) metricsHandler() http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(newCollector(s),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorLog: nil, Timeout: 10 * time.Second})
}

// A sink drops what it accepted and could not store (a failed write, or
// --sink none by design) and refuses a chunk it cannot take (queue full,
// closed): no sink drops for queue_full or closed or refuses for
// write_error or discarded_by_config (server/sink, server/natssink), so
// those series would be 0 by construction and are not exported.
var (
	sinkDropReasons   = []sink.DropReason{sink.DropWriteError, sink.DropDiscardedByConfig}
	sinkRefuseReasons = []sink.DropReason{sink.DropQueueFull, sink.DropClosed}
)

// What the standard collectors already export is not repeated here:
// uptime is time() - process_start_time_seconds.
type metric struct {
	desc *prometheus.Desc
	typ  prometheus.ValueType
}

// collector turns the recorder's latest snapshot into metrics at scrape
// time: a scrape never walks the sessions (unless per-device metrics are
// on) and never waits for the ingest side.
type collector struct {
	web *Server

	// per transport
	devices, connections, accepted, frames, readings, payload, rx, lost, dups, reordered metric
	errors, dropped                                                                      metric // transport, reason
	// per codec
	codecFrames, codecReadings, codecPayload metric
	// totals
	datagrams, napBackoffs, controls, stored, eos, sampled, streams metric
	// sink
	sinkAccepted, sinkStored, sinkSynced, sinkPending, sinkBytes, sinkRaw, sinkSegments, sinkQueue, sinkQueueBytes, sinkWriteErrors, sinkDropped, sinkRefused metric

	latency *prometheus.Desc
	// per device, only with Config.MetricsPerDevice
	devReadings, devLost, devDups, devReordered, devOnline, devLastSeen metric

	latMu   sync.Mutex
	latAt   time.Time
	latHist latencyHist
}

type latencyHist struct {
	count   uint64
	sum     float64
	buckets map[float64]uint64
}

func newCollector(web *Server) *collector {
	var cl prometheus.Labels
	if n := web.srv.Config().Node; n != "" {
		cl = prometheus.Labels{"node": n}
	}
	m := func(name, help string, typ prometheus.ValueType, labels ...string) metric {
		return metric{prometheus.NewDesc("fleetwire_"+name, help, labels, cl), typ}
	}
	C, G := prometheus.CounterValue, prometheus.GaugeValue
	c := &collector{web: web,
		devices:     m("devices", "Devices with a session, by the transport of their last frame.", G, "transport"),
		connections: m("connections", "Open connections.", G, "transport"),
		accepted:    m("accepted_connections_total", "Connections accepted.", C, "transport"),
		frames:      m("frames_total", "Frames decoded.", C, "transport"),
		readings:    m("readings_total", "Readings decoded (a sample of n channels is n readings).", C, "transport"),
		payload:     m("payload_bytes_total", "Bytes of decoded frames as they arrived.", C, "transport"),
		rx:          m("rx_bytes_total", "Bytes read from sockets.", C, "transport"),
		lost:        m("lost_readings", "Readings in sequence gaps not filled (yet): falls when late readings arrive.", G, "transport"),
		dups:        m("duplicate_readings_total", "Readings whose sequence number had arrived before.", C, "transport"),
		reordered:   m("reordered_readings_total", "Readings that arrived after a later one.", C, "transport"),
		errors:      m("errors_total", "Rejected frames and connections, by reason.", C, "transport", "reason"),
		dropped:     m("dropped_readings_total", "Readings received but not stored, by reason; transport=\"sink\" for the sink's write errors.", C, "transport", "reason"),

		codecFrames:   m("codec_frames_total", "Frames decoded, by codec.", C, "codec"),
		codecReadings: m("codec_readings_total", "Readings decoded, by codec.", C, "codec"),
		codecPayload:  m("codec_payload_bytes_total", "Bytes of decoded frames, by codec.", C, "codec"),

		datagrams:   m("datagrams_total", "UDP datagrams received.", C),
		napBackoffs: m("udp_nap_backoffs_total", "Times a UDP reader stopped coalescing wake-ups because its receive buffer passed a quarter full.", C),
		controls:    m("control_frames_total", "Control frames (hello, eos, ack) received.", C),
		stored:      m("stored_readings_total", "Readings the sink stored: written to a segment, or acknowledged by JetStream.", C),
		eos:         m("eos_devices", "Devices that sent end-of-stream.", G),
		sampled:     m("stats_sampled_timestamp_seconds", "When the snapshot behind these metrics was taken.", G),
		streams:     m("http_event_streams", "Open server-sent event streams.", G),

		sinkAccepted:    m("sink_accepted_readings_total", "Readings handed to the sink.", C),
		sinkStored:      m("sink_stored_readings_total", "Readings the sink wrote to a segment.", C),
		sinkSynced:      m("sink_synced_readings_total", "Readings covered by a successful fsync.", C),
		sinkPending:     m("sink_pending_readings", "Readings accepted by the sink, not yet written.", G),
		sinkBytes:       m("sink_bytes_total", "Bytes written to segments, compressed.", C),
		sinkRaw:         m("sink_raw_bytes_total", "CSV bytes stored, before compression.", C),
		sinkSegments:    m("sink_segments_total", "Segments created.", C),
		sinkQueue:       m("sink_queue_chunks", "Chunks waiting in the sink queue.", G),
		sinkQueueBytes:  m("sink_queue_bytes", "Memory held by queued chunks.", G),
		sinkWriteErrors: m("sink_write_errors_total", "Failed writes, fsyncs, renames and creates.", C),
		sinkDropped:     m("sink_dropped_readings_total", "Readings the sink accepted and did not store, by reason.", C, "reason"),
		sinkRefused:     m("sink_refused_readings_total", "Readings in chunks the sink refused (queue full, closed), by reason.", C, "reason"),

		latency: prometheus.NewDesc("fleetwire_latency_seconds",
			"Device send to server receive, from the device's timestamps (clock skew included).", nil, cl),
	}
	if web.cfg.MetricsPerDevice {
		c.devReadings = m("device_readings_total", "Readings of one device.", C, "device", "transport")
		c.devLost = m("device_lost_readings", "Lost readings of one device.", G, "device")
		c.devDups = m("device_duplicate_readings_total", "Duplicate readings of one device.", C, "device")
		c.devReordered = m("device_reordered_readings_total", "Reordered readings of one device.", C, "device")
		c.devOnline = m("device_online", "1 when the device is online: reachable for commands and its stream not ended (state online in the API).", G, "device")
		c.devLastSeen = m("device_last_seen_timestamp_seconds", "When the device was last heard from.", G, "device")
	}
	return c
}

func (c *collector) metrics() []metric {
	ms := []metric{c.devices, c.connections, c.accepted, c.frames, c.readings, c.payload, c.rx, c.lost, c.dups,
		c.reordered, c.errors, c.dropped, c.codecFrames, c.codecReadings, c.codecPayload, c.datagrams, c.napBackoffs, c.controls,
		c.stored, c.eos, c.sampled, c.streams, c.sinkAccepted, c.sinkStored, c.sinkSynced, c.sinkPending, c.sinkBytes,
		c.sinkRaw, c.sinkSegments, c.sinkQueue, c.sinkQueueBytes, c.sinkWriteErrors, c.sinkDropped, c.sinkRefused}
	if c.web.cfg.MetricsPerDevice {
		ms = append(ms, c.devReadings, c.devLost, c.devDups, c.devReordered, c.devOnline, c.devLastSeen)
	}
	return ms
}

// Describe implements prometheus.Collector.
func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, m := range c.metrics() {
		ch <- m.desc
	}
	ch <- c.latency
}

// Collect implements prometheus.Collector.
func (c *collector) Collect(ch chan<- prometheus.Metric) {
	smp, _ := c.web.rec.current()
	st := &smp.Stats
	emit := func(m metric, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(m.desc, m.typ, v, labels...)
	}
	for name, t := range st.Transports {
		emit(c.devices, float64(t.Devices), name)
		if name != server.UDP.String() { // UDP has no connections: always 0
			emit(c.connections, float64(t.Connections), name)
			emit(c.accepted, float64(t.Accepted), name)
		}
		emit(c.frames, float64(t.Frames), name)
		emit(c.readings, float64(t.Readings), name)
		emit(c.payload, float64(t.PayloadBytes), name)
		emit(c.rx, float64(t.RxBytes), name)
		emit(c.lost, float64(t.Lost), name)
		emit(c.dups, float64(t.Duplicates), name)
		emit(c.reordered, float64(t.Reordered), name)
		for reason, n := range t.Errors {
			emit(c.errors, float64(n), name, reason)
		}
		for reason, n := range t.Dropped {
			emit(c.dropped, float64(n), name, reason)
		}
	}
	// Always, zero included, so that an alert on its rate has a series.
	emit(c.dropped, float64(st.Dropped[server.DropSinkWriteError]), "sink", server.DropSinkWriteError)
	for name, cs := range st.Codecs {
		emit(c.codecFrames, float64(cs.Frames), name)
		emit(c.codecReadings, float64(cs.Readings), name)
		emit(c.codecPayload, float64(cs.PayloadBytes), name)
	}
	emit(c.datagrams, float64(st.Datagrams))
	emit(c.napBackoffs, float64(st.NapBackoffs))
	emit(c.controls, float64(st.Controls))
	emit(c.stored, float64(st.Stored))
	emit(c.eos, float64(st.EOS))
	emit(c.sampled, float64(smp.SampledAt.UnixMilli())/1e3)
	emit(c.streams, float64(c.web.streams.Load()))

	sk := &st.Sink
	emit(c.sinkAccepted, float64(sk.Accepted))
	emit(c.sinkStored, float64(sk.Stored))
	emit(c.sinkSynced, float64(sk.Synced))
	emit(c.sinkPending, float64(sk.Pending))
	emit(c.sinkBytes, float64(sk.Bytes))
	emit(c.sinkRaw, float64(sk.RawBytes))
	emit(c.sinkSegments, float64(sk.Segments))
	emit(c.sinkQueue, float64(sk.QueueChunks))
	emit(c.sinkQueueBytes, float64(sk.QueueBytes))
	emit(c.sinkWriteErrors, float64(sk.WriteErrors))
	for _, r := range sinkDropReasons {
		emit(c.sinkDropped, float64(sk.Dropped[r]), r.String())
	}
	for _, r := range sinkRefuseReasons {
		emit(c.sinkRefused, float64(sk.RefusedReadings[r]), r.String())
	}

	lh := c.latencyHistogram()
	ch <- prometheus.MustNewConstHistogram(c.latency, lh.count, lh.sum, lh.buckets)

	if c.web.cfg.MetricsPerDevice {
		// Opt-in: this walks every session at each scrape.
		devs, _ := c.web.srv.Devices(server.DeviceQuery{})
		for i := range devs {
			d := &devs[i]
			emit(c.devReadings, float64(d.Readings), d.ID, d.Transport)
			emit(c.devLost, float64(d.Lost), d.ID)
			emit(c.devDups, float64(d.Duplicates), d.ID)
			emit(c.devReordered, float64(d.Reordered), d.ID)
			online := 0.0
			if d.Online {
				online = 1
			}
			emit(c.devOnline, online, d.ID)
			emit(c.devLastSeen, float64(d.LastSeen.UnixMilli())/1e3, d.ID)
		}
	}
}

// latencyHistogram converts the server's HDR histogram (ms) into
// cumulative Prometheus buckets (s), at most once a second however often
// it is scraped: merging the ingesters' histograms is not free.
func (c *collector) latencyHistogram() latencyHist {
	c.latMu.Lock()
	defer c.latMu.Unlock()
	if c.latHist.buckets != nil && time.Since(c.latAt) < time.Second {
		return c.latHist
	}
	h := c.web.srv.LatencyHistogram()
	lh := latencyHist{count: uint64(h.TotalCount()), buckets: make(map[float64]uint64, len(latencyBuckets))}
	lh.sum = h.Mean() * float64(lh.count) / 1e3
	bars := h.Distribution()
	for _, ub := range latencyBuckets {
		ms := int64(ub * 1e3)
		var n uint64
		for _, b := range bars {
			// Values are whole ms, exact below 2048 ms; above, a bar is
			// counted when its highest equivalent value fits the bound.
			if b.To <= ms {
				n += uint64(b.Count)
			}
		}
		lh.buckets[ub] = n
	}
	c.latHist, c.latAt = lh, time.Now()
	return lh
}
