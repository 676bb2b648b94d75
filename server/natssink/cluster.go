package natssink

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
)

// DefaultStaleAfter is how long a node may be silent before a ClusterView
// marks it stale: nodes publish every second.
const DefaultStaleAfter = 5 * time.Second

// ClusterView follows the stats every node publishes to
// StatsSubject.<node> and keeps the latest of each, so one node's
// dashboard can show the whole cluster. It is safe for concurrent use.
type ClusterView struct {
	sub        *nats.Subscription
	prefix     string
	StaleAfter time.Duration

	mu    sync.Mutex
	nodes map[string]*NodeView
	bad   uint64
}

// NodeView is the latest stats message of one node.
type NodeView struct {
	Node     string          `json:"node"`
	Received time.Time       `json:"received"`
	Stale    bool            `json:"stale"` // nothing for StaleAfter: stopped, or cut off
	Summary  NodeSummary     `json:"summary"`
	Raw      json.RawMessage `json:"-"` // the whole message: the server's Stats JSON plus "nats_sink"
}

// NodeSummary is the part of a node's stats a cluster view adds up. The
// field names are the server's Stats JSON names.
type NodeSummary struct {
	Devices     int               `json:"devices"`
	Connections int64             `json:"connections"`
	Frames      uint64            `json:"frames"`
	Readings    uint64            `json:"readings"`
	Stored      uint64            `json:"stored"` // stored by the sink (= Sink.Stored; older nodes: handed to the sink)
	Lost        uint64            `json:"lost"`
	Duplicates  uint64            `json:"duplicates"`
	RxBytes     uint64            `json:"rx_bytes"`
	Dropped     map[string]uint64 `json:"dropped"`
	Sink        SinkSummary       `json:"sink"`
	NATS        NATSStats         `json:"nats_sink"`
}

// SinkSummary is the part of sink.Stats a cluster view adds up.
type SinkSummary struct {
	Accepted uint64 `json:"accepted"`
	Stored   uint64 `json:"stored"` // acknowledged by JetStream
	Pending  uint64 `json:"pending"`
}

// ClusterTotal adds up the nodes of a ClusterView. Counters of stale nodes
// are included (what they received still happened); Live counts the
// others.
type ClusterTotal struct {
	Nodes, Live    int
	Devices        int
	Connections    int64
	Frames         uint64
	Readings       uint64
	Stored         uint64
	Lost           uint64
	Duplicates     uint64
	RxBytes        uint64
	Dropped        map[string]uint64
	SinkAccepted   uint64
	SinkStored     uint64
	SinkPending    uint64
	SpoolBytes     int64
	SpoolHighWater int64 // the highest of any node
}

// NewClusterView subscribes to statsSubject.* on nc (statsSubject ""
// means DefaultStatsSubject). Close unsubscribes.
func NewClusterView(nc *nats.Conn, statsSubject string) (*ClusterView, error) {
	if statsSubject == "" {
		statsSubject = DefaultStatsSubject
	}
	v := &ClusterView{prefix: statsSubject + ".", StaleAfter: DefaultStaleAfter, nodes: map[string]*NodeView{}}
	sub, err := nc.Subscribe(statsSubject+".*", v.handle)
	if err != nil {
		return nil, fmt.Errorf("natssink: subscribe %s.*: %w", statsSubject, err)
	}
	v.sub = sub
	return v, nil
}

func (v *ClusterView) handle(m *nats.Msg) {
	node := strings.TrimPrefix(m.Subject, v.prefix)
	var sum NodeSummary
	if err := json.Unmarshal(m.Data, &sum); err != nil {
		v.mu.Lock()
		v.bad++
		v.mu.Unlock()
		return
	}
	nv := &NodeView{Node: node, Received: time.Now(), Summary: sum, Raw: slices.Clone(m.Data)}
	v.mu.Lock()
	v.nodes[node] = nv
	v.mu.Unlock()
}

// Nodes returns the latest view of every node heard from, by name.
func (v *ClusterView) Nodes() []NodeView {
	now := time.Now()
	v.mu.Lock()
	out := make([]NodeView, 0, len(v.nodes))
	for _, n := range v.nodes {
		nv := *n
		nv.Stale = now.Sub(nv.Received) > v.StaleAfter
		out = append(out, nv)
	}
	v.mu.Unlock()
	slices.SortFunc(out, func(a, b NodeView) int { return strings.Compare(a.Node, b.Node) })
	return out
}

// Total adds up Nodes().
func (v *ClusterView) Total() ClusterTotal {
	t := ClusterTotal{Dropped: map[string]uint64{}}
	for _, n := range v.Nodes() {
		s := &n.Summary
		t.Nodes++
		if !n.Stale {
			t.Live++
		}
		t.Devices += s.Devices
		t.Connections += s.Connections
		t.Frames += s.Frames
		t.Readings += s.Readings
		t.Stored += s.Stored
		t.Lost += s.Lost
		t.Duplicates += s.Duplicates
		t.RxBytes += s.RxBytes
		for k, d := range s.Dropped {
			t.Dropped[k] += d
		}
		t.SinkAccepted += s.Sink.Accepted
		t.SinkStored += s.Sink.Stored
		t.SinkPending += s.Sink.Pending
		t.SpoolBytes += s.NATS.SpoolBytes
		t.SpoolHighWater = max(t.SpoolHighWater, s.NATS.SpoolHighWater)
	}
	return t
}

// BadMessages counts stats messages that were not JSON objects.
func (v *ClusterView) BadMessages() uint64 {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.bad
}

// Close unsubscribes.
func (v *ClusterView) Close() error { return v.sub.Unsubscribe() }
