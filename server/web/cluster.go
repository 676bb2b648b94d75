package web

import (
	"encoding/json"
	"log/slog"
	"sync"
	"time"

	"github.com/fleetwire/fleetwire/server"
	"github.com/fleetwire/fleetwire/server/natssink"
)

// ClusterSource is the cluster view the control plane reads: a
// *natssink.ClusterView, which follows the stats every node publishes to
// fleetwire.stats.<node> and keeps the latest of each.
type ClusterSource interface {
	Nodes() []natssink.NodeView
}

// maxClusterNodes bounds the rows of a cluster answer: any client of the
// NATS account may publish to fleetwire.stats.<anything>.
const maxClusterNodes = 1000

// NodeRates are a node's rates between its last two stats messages,
// measured on the node's own uptime clock; 0 while it is stale.
type NodeRates struct {
	Frames   float64 `json:"frames_per_s"`
	Readings float64 `json:"readings_per_s"`
	RxBytes  float64 `json:"rx_bytes_per_s"`
	Lost     float64 `json:"lost_per_s"` // net: negative when late readings fill gaps
	Errors   float64 `json:"errors_per_s"`
	Stored   float64 `json:"sink_stored_per_s"` // readings the sink has (NATS: acknowledged by JetStream)
}

func (r *NodeRates) add(o NodeRates) {
	r.Frames += o.Frames
	r.Readings += o.Readings
	r.RxBytes += o.RxBytes
	r.Lost += o.Lost
	r.Errors += o.Errors
	r.Stored += o.Stored
}

// ClusterCounts are the figures of a node, or of all nodes, that add up.
type ClusterCounts struct {
	Devices        int       `json:"devices"`
	Connections    int64     `json:"connections"`
	Frames         uint64    `json:"frames"`
	Readings       uint64    `json:"readings"`
	RxBytes        uint64    `json:"rx_bytes"`
	Lost           uint64    `json:"lost"`
	Duplicates     uint64    `json:"duplicates"`
	Errors         uint64    `json:"errors"`  // all reasons
	Dropped        uint64    `json:"dropped"` // readings received and not stored, all reasons (sink_write_error included)
	Stored         uint64    `json:"stored"`  // the node's stored: what its sink stored (before this field's change: handed to the sink)
	SinkStored     uint64    `json:"sink_stored"`
	SinkPending    uint64    `json:"sink_pending"`
	SpoolBytes     int64     `json:"spool_bytes"`
	SpoolHighWater int64     `json:"spool_high_water_bytes"` // in a total: the highest of any node
	Rates          NodeRates `json:"rates"`                  // in a total: live nodes only
}

func (c *ClusterCounts) add(o *ClusterCounts) {
	c.Devices += o.Devices
	c.Connections += o.Connections
	c.Frames += o.Frames
	c.Readings += o.Readings
	c.RxBytes += o.RxBytes
	c.Lost += o.Lost
	c.Duplicates += o.Duplicates
	c.Errors += o.Errors
	c.Dropped += o.Dropped
	c.Stored += o.Stored
	c.SinkStored += o.SinkStored
	c.SinkPending += o.SinkPending
	c.SpoolBytes += o.SpoolBytes
	c.SpoolHighWater = max(c.SpoolHighWater, o.SpoolHighWater)
	c.Rates.add(o.Rates)
}

// ClusterNode is one node of GET /api/cluster.
type ClusterNode struct {
	Node      string    `json:"node"`
	Self      bool      `json:"self"`     // the node that serves this answer
	Stale     bool      `json:"stale"`    // nothing heard for 5 s: stopped, or cut off from NATS
	Received  time.Time `json:"received"` // when its latest stats arrived here
	AgeSec    float64   `json:"age_s"`    // how long ago, at sampled_at
	UptimeSec float64   `json:"uptime_s"`
	Engine    string    `json:"engine,omitempty"`
	// Error says why the node's stats did not decode as this version's
	// Stats; the counts then come from the fields natssink reads.
	Error string `json:"error,omitempty"`
	ClusterCounts
}

// ClusterTotal adds up the nodes. Counters include stale nodes (what they
// received still happened); rates only live ones.
type ClusterTotal struct {
	Nodes int `json:"nodes"`
	Live  int `json:"live"`
	Stale int `json:"stale"`
	ClusterCounts
}

// Cluster is the answer of GET /api/cluster.
type Cluster struct {
	Enabled   bool          `json:"enabled"`          // false: this node has no cluster view
	Reason    string        `json:"reason,omitempty"` // why not
	SampledAt time.Time     `json:"sampled_at"`
	Self      string        `json:"self"` // this node's name
	Nodes     []ClusterNode `json:"nodes"`
	Omitted   int           `json:"nodes_omitted,omitempty"` // beyond the first 1000 by name
	Total     ClusterTotal  `json:"total"`
}

// NodeStats is one node of GET /api/stats?scope=cluster: its whole Stats
// as it published them.
type NodeStats struct {
	Node     string        `json:"node"`
	Self     bool          `json:"self"`
	Stale    bool          `json:"stale"`
	Received time.Time     `json:"received"`
	AgeSec   float64       `json:"age_s"`
	Rates    NodeRates     `json:"rates"`
	Error    string        `json:"error,omitempty"`
	Stats    *server.Stats `json:"stats"` // null when they did not decode
}

// ClusterStats is the answer of GET /api/stats?scope=cluster.
type ClusterStats struct {
	Scope     string       `json:"scope"` // "cluster"
	SampledAt time.Time    `json:"sampled_at"`
	Self      string       `json:"self"`
	Nodes     []NodeStats  `json:"nodes"`
	Omitted   int          `json:"nodes_omitted,omitempty"`
	Total     ClusterTotal `json:"total"`
}

// nodeTrack is what the sampler remembers of a node between samples:
// its latest message, decoded once, and the rates against the one before.
type nodeTrack struct {
	received time.Time
	uptime   float64
	stats    *server.Stats
	err      string
	counts   ClusterCounts // without rates
	rates    NodeRates
	seen     bool // still in the source at the last sample
}

// clusterSampler turns the source's nodes into the cluster answers once
// per interval on one goroutine, as the recorder does for Stats: every
// client is served the same marshalled bytes.
type clusterSampler struct {
	src      ClusterSource
	self     func() string
	interval time.Duration
	done     chan struct{}
	stopped  chan struct{}
	stopOnce sync.Once

	nodes map[string]*nodeTrack // owned by the sampling goroutine

	mu       sync.Mutex
	view     []byte // Cluster
	stats    []byte // ClusterStats
	lastView Cluster
}

func newClusterSampler(src ClusterSource, self func() string, interval time.Duration) *clusterSampler {
	c := &clusterSampler{src: src, self: self, interval: interval, nodes: map[string]*nodeTrack{},
		done: make(chan struct{}), stopped: make(chan struct{})}
	c.sample(time.Now())
	return c
}

func (c *clusterSampler) run() {
	defer close(c.stopped)
	t := time.NewTicker(c.interval)
	defer t.Stop()
	for {
		select {
		case <-c.done:
			return
		case now := <-t.C:
			c.sample(now)
		}
	}
}

func (c *clusterSampler) stop() {
	c.stopOnce.Do(func() { close(c.done) })
	<-c.stopped
}

// current returns the latest answers.
func (c *clusterSampler) current() (view, stats []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.view, c.stats
}

// latest returns the latest Cluster (for tests and the dashboard's self
// name).
func (c *clusterSampler) latest() Cluster {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lastView
}

func (c *clusterSampler) sample(now time.Time) {
	nvs := c.src.Nodes() // sorted by name
	self := c.self()
	view := Cluster{Enabled: true, SampledAt: now, Self: self, Nodes: []ClusterNode{}}
	full := ClusterStats{Scope: "cluster", SampledAt: now, Self: self, Nodes: []NodeStats{}}
	for _, tr := range c.nodes {
		tr.seen = false
	}
	if len(nvs) > maxClusterNodes {
		view.Omitted, full.Omitted = len(nvs)-maxClusterNodes, len(nvs)-maxClusterNodes
		nvs = nvs[:maxClusterNodes]
	}
	for i := range nvs {
		nv := &nvs[i]
		tr := c.track(nv)
		tr.seen = true
		n := ClusterNode{Node: nv.Node, Self: nv.Node == self, Stale: nv.Stale, Received: nv.Received,
			AgeSec: max(now.Sub(nv.Received).Seconds(), 0), UptimeSec: tr.uptime, Error: tr.err, ClusterCounts: tr.counts}
		if tr.stats != nil {
			n.Engine = tr.stats.Engine
		}
		if !nv.Stale {
			n.Rates = tr.rates
			view.Total.Live++
		} else {
			view.Total.Stale++
		}
		view.Total.Nodes++
		view.Total.add(&n.ClusterCounts)
		view.Nodes = append(view.Nodes, n)
		full.Nodes = append(full.Nodes, NodeStats{Node: n.Node, Self: n.Self, Stale: n.Stale, Received: n.Received,
			AgeSec: n.AgeSec, Rates: n.Rates, Error: n.Error, Stats: tr.stats})
	}
	for name, tr := range c.nodes {
		if !tr.seen {
			delete(c.nodes, name)
		}
	}
	full.Total = view.Total
	vb, err1 := json.Marshal(&view)
	sb, err2 := json.Marshal(&full)
	if err1 != nil || err2 != nil {
		// Not expected: every float is finite by construction.
		slog.Error("web: marshal cluster view", "err", err1, "err_stats", err2)
		return
	}
	c.mu.Lock()
	c.view, c.stats, c.lastView = vb, sb, view
	c.mu.Unlock()
}

// track returns the node's state, updated if a new message arrived since
// the last sample. A node's Stats are decoded once per message.
func (c *clusterSampler) track(nv *natssink.NodeView) *nodeTrack {
	tr := c.nodes[nv.Node]
	if tr == nil {
		tr = &nodeTrack{}
		c.nodes[nv.Node] = tr
	}
	if tr.received.Equal(nv.Received) {
		return tr // a NodeView's Received is never zero: a new track always decodes
	}
	prev := *tr
	tr.received = nv.Received
	tr.stats, tr.err = nil, ""
	var st server.Stats
	if err := json.Unmarshal(nv.Raw, &st); err != nil {
		tr.err = "stats do not decode: " + err.Error()
		tr.uptime = 0
		tr.counts = summaryCounts(&nv.Summary)
	} else {
		tr.stats = &st
		tr.uptime = st.UptimeSec
		tr.counts = statsCounts(&st)
	}
	tr.rates = NodeRates{}
	if !prev.received.IsZero() {
		tr.rates = nodeRates(&prev, tr)
	}
	return tr
}

// nodeRates derives the rates between two messages of a node, over its
// own uptime when both carry one (the node's clock, not this one's
// arrival times, which NATS may bunch up), else over their arrival. A
// node that restarted (uptime or counters went back) has no rate yet.
func nodeRates(a, b *nodeTrack) NodeRates {
	dt := b.uptime - a.uptime
	if a.uptime == 0 || b.uptime == 0 {
		dt = b.received.Sub(a.received).Seconds()
	}
	x, y := &a.counts, &b.counts
	if dt <= 0 || b.uptime < a.uptime || y.Readings < x.Readings || y.Frames < x.Frames {
		return NodeRates{}
	}
	d := func(p, q uint64) float64 {
		if q < p {
			return 0
		}
		return float64(q-p) / dt
	}
	return NodeRates{
		Frames: d(x.Frames, y.Frames), Readings: d(x.Readings, y.Readings), RxBytes: d(x.RxBytes, y.RxBytes),
		Lost:   (float64(y.Lost) - float64(x.Lost)) / dt,
		Errors: d(x.Errors, y.Errors), Stored: d(x.SinkStored, y.SinkStored),
	}
}

func statsCounts(st *server.Stats) ClusterCounts {
	c := ClusterCounts{
		Devices: st.Devices, Connections: st.Connections, Frames: st.Frames, Readings: st.Readings,
		RxBytes: st.RxBytes, Lost: st.Lost, Duplicates: st.Duplicates, Stored: st.Stored,
		Errors: sum(st.Errors), Dropped: sum(st.Dropped),
		SinkStored: st.Sink.Stored, SinkPending: st.Sink.Pending,
	}
	if ns := st.NATSSink; ns != nil {
		c.SpoolBytes, c.SpoolHighWater = ns.SpoolBytes, ns.SpoolHighWater
	}
	return c
}

func summaryCounts(s *natssink.NodeSummary) ClusterCounts {
	return ClusterCounts{
		Devices: s.Devices, Connections: s.Connections, Frames: s.Frames, Readings: s.Readings,
		RxBytes: s.RxBytes, Lost: s.Lost, Duplicates: s.Duplicates, Stored: s.Stored, Dropped: sum(s.Dropped),
		SinkStored: s.Sink.Stored, SinkPending: s.Sink.Pending,
		SpoolBytes: s.NATS.SpoolBytes, SpoolHighWater: s.NATS.SpoolHighWater,
	}
}
