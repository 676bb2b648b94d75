package web

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/fleetwire/fleetwire/server"
	"github.com/fleetwire/fleetwire/server/natssink"
	"github.com/fleetwire/fleetwire/server/sink"
)

// fakeCluster is a ClusterSource the test sets node by node.
type fakeCluster struct {
	mu    sync.Mutex
	nodes map[string]natssink.NodeView
}

func newFakeCluster() *fakeCluster { return &fakeCluster{nodes: map[string]natssink.NodeView{}} }

func (f *fakeCluster) Nodes() []natssink.NodeView {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]natssink.NodeView, 0, len(f.nodes))
	for _, n := range f.nodes {
		out = append(out, n)
	}
	slices.SortFunc(out, func(a, b natssink.NodeView) int { return bytes.Compare([]byte(a.Node), []byte(b.Node)) })
	return out
}

// publish sets node's latest message as a ClusterView would: the raw
// JSON, and the summary it reads from it.
func (f *fakeCluster) publish(t *testing.T, node string, at time.Time, stale bool, raw []byte) {
	t.Helper()
	var sum natssink.NodeSummary
	if err := json.Unmarshal(raw, &sum); err != nil {
		t.Fatalf("a ClusterView would refuse %s: %s", raw, err)
	}
	f.mu.Lock()
	f.nodes[node] = natssink.NodeView{Node: node, Received: at, Stale: stale, Summary: sum, Raw: raw}
	f.mu.Unlock()
}

func (f *fakeCluster) stats(t *testing.T, node string, at time.Time, st server.Stats) {
	t.Helper()
	b, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	f.publish(t, node, at, false, b)
}

func nodeStats(uptime float64, frames, readings, errs, stored uint64) server.Stats {
	return server.Stats{Engine: "gnet", UptimeSec: uptime, Devices: 3, Connections: 2, Frames: frames, Readings: readings,
		RxBytes: readings * 10, Lost: 4, Stored: readings, Errors: map[string]uint64{"bad_number": errs},
		Dropped: map[string]uint64{"sink_full": 1}, Sink: sink.Stats{Stored: stored, Pending: readings - stored},
		NATSSink: &natssink.NATSStats{SpoolBytes: 100, SpoolHighWater: 5000}}
}

func near(a, b float64) bool { return math.Abs(a-b) <= 1e-9*math.Max(1, math.Abs(b)) }

func TestClusterSamplerRates(t *testing.T) {
	src := newFakeCluster()
	t0 := time.Now()
	src.stats(t, "node-a", t0, nodeStats(10, 100, 1000, 1, 900))
	c := newClusterSampler(src, func() string { return "node-a" }, time.Second)
	f := func(what string, want NodeRates) {
		t.Helper()
		c.sample(time.Now())
		v := c.latest()
		if len(v.Nodes) != 1 {
			t.Fatalf("%s: %d nodes", what, len(v.Nodes))
		}
		got := v.Nodes[0].Rates
		if !near(got.Readings, want.Readings) || !near(got.Frames, want.Frames) || !near(got.Errors, want.Errors) ||
			!near(got.Stored, want.Stored) || !near(got.RxBytes, want.RxBytes) || !near(got.Lost, want.Lost) {
			t.Fatalf("%s: rates %+v, want %+v", what, got, want)
		}
		if v.Total.Rates != got {
			t.Fatalf("%s: total rates %+v of one live node with %+v", what, v.Total.Rates, got)
		}
	}
	f("one message", NodeRates{})
	// 2 s later on the node's clock, though it arrived 100 ms later here:
	// rates are over the node's uptime.
	src.stats(t, "node-a", t0.Add(100*time.Millisecond), nodeStats(12, 300, 3000, 5, 2900))
	f("two messages", NodeRates{Frames: 100, Readings: 1000, RxBytes: 10000, Errors: 2, Stored: 1000})
	f("no new message: the same rates", NodeRates{Frames: 100, Readings: 1000, RxBytes: 10000, Errors: 2, Stored: 1000})
	// The node restarted: its counters start again, no rate until the next.
	src.stats(t, "node-a", t0.Add(time.Second), nodeStats(1, 5, 50, 0, 0))
	f("restart", NodeRates{})
	src.stats(t, "node-a", t0.Add(2*time.Second), nodeStats(2, 15, 150, 0, 100))
	f("after the restart", NodeRates{Frames: 10, Readings: 100, RxBytes: 1000, Stored: 100})
}

func TestClusterSamplerTotals(t *testing.T) {
	src := newFakeCluster()
	now := time.Now()
	src.stats(t, "node-a", now.Add(-2*time.Second), nodeStats(10, 100, 1000, 1, 900))
	src.stats(t, "node-b", now.Add(-time.Second), nodeStats(20, 200, 2000, 2, 1900))
	c := newClusterSampler(src, func() string { return "node-b" }, time.Second)
	src.stats(t, "node-a", now, nodeStats(11, 150, 1500, 1, 1400))
	src.stats(t, "node-b", now, nodeStats(21, 300, 3000, 3, 2900))
	// node-c stopped publishing: stale, its counters still count.
	stale := nodeStats(5, 1, 10, 0, 10)
	stale.NATSSink.SpoolHighWater = 9000
	b, _ := json.Marshal(stale)
	src.publish(t, "node-c", now.Add(-time.Minute), true, b)
	// node-d publishes something that is not this version's Stats: its
	// summary still counts, and the row says why the rest is missing.
	src.publish(t, "node-d", now, false, []byte(`{"readings": 7, "frames": 1, "errors": ["not", "a", "map"]}`))
	c.sample(now)
	v := c.latest()
	if v.Self != "node-b" || len(v.Nodes) != 4 {
		t.Fatalf("self %q, %d nodes", v.Self, len(v.Nodes))
	}
	a, bn, cn, d := v.Nodes[0], v.Nodes[1], v.Nodes[2], v.Nodes[3]
	if a.Node != "node-a" || a.Self || !bn.Self || a.Readings != 1500 || a.Errors != 1 || a.Dropped != 1 || a.SinkPending != 100 ||
		a.Engine != "gnet" || a.UptimeSec != 11 || a.Rates.Readings != 500 || a.Stale || a.Error != "" || a.AgeSec != 0 {
		t.Errorf("node-a: %+v", a)
	}
	if !cn.Stale || cn.Rates != (NodeRates{}) || cn.AgeSec != 60 || cn.Readings != 10 {
		t.Errorf("node-c (stale): %+v", cn)
	}
	if d.Error == "" || d.Readings != 7 || d.Frames != 1 || d.Errors != 0 {
		t.Errorf("node-d (undecodable): %+v", d)
	}
	tot := v.Total
	want := ClusterCounts{Devices: 9, Connections: 6, Frames: 150 + 300 + 1 + 1, Readings: 1500 + 3000 + 10 + 7,
		RxBytes: 15000 + 30000 + 100, Lost: 12, Errors: 1 + 3, Dropped: 3, Stored: 1500 + 3000 + 10,
		SinkStored: 1400 + 2900 + 10, SinkPending: 100 + 100, SpoolBytes: 300, SpoolHighWater: 9000,
		Rates: NodeRates{Frames: 150, Readings: 1500, RxBytes: 15000, Errors: 1, Stored: 1500}}
	if tot.Nodes != 4 || tot.Live != 3 || tot.Stale != 1 || tot.ClusterCounts != want {
		t.Errorf("total\n got %+v\nwant %+v (4 nodes, 3 live)", tot, want)
	}
	// scope=cluster carries each node's whole Stats, as published.
	_, sb := c.current()
	var full ClusterStats
	if err := json.Unmarshal(sb, &full); err != nil {
		t.Fatal(err)
	}
	if full.Scope != "cluster" || len(full.Nodes) != 4 || full.Total.ClusterCounts != want ||
		full.Nodes[1].Stats == nil || full.Nodes[1].Stats.Sink.Stored != 2900 || full.Nodes[1].Stats.NATSSink.SpoolHighWater != 5000 ||
		full.Nodes[3].Stats != nil || full.Nodes[3].Error == "" {
		t.Errorf("scope=cluster: %s", sb)
	}
}

func TestClusterSamplerBoundsNodes(t *testing.T) {
	src := newFakeCluster()
	now := time.Now()
	for i := range maxClusterNodes + 5 {
		src.stats(t, fmt.Sprintf("n%05d", i), now, nodeStats(1, 1, 1, 0, 1))
	}
	c := newClusterSampler(src, func() string { return "" }, time.Second)
	v := c.latest()
	if len(v.Nodes) != maxClusterNodes || v.Omitted != 5 || v.Total.Nodes != maxClusterNodes {
		t.Fatalf("%d nodes, %d omitted, total over %d", len(v.Nodes), v.Omitted, v.Total.Nodes)
	}
}

// TestStatsDecodeRoundTrip: a real server's Stats JSON, as a node
// publishes it, decodes into server.Stats and marshals back the same.
func TestStatsDecodeRoundTrip(t *testing.T) {
	e := newEnv(t, Config{}, server.Config{})
	udpFleet(t, e, 3)
	st := e.srv.Stats()
	st.Sink.Refused[sink.DropQueueFull] = 3 // make the by-reason counts non-zero
	a, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	var back server.Stats
	if err := json.Unmarshal(a, &back); err != nil {
		t.Fatalf("decode %s: %s", a, err)
	}
	b, _ := json.Marshal(back)
	if !bytes.Equal(a, b) {
		t.Fatalf("round trip differs:\n%s\n%s", a, b)
	}
}

func TestClusterRoutes(t *testing.T) {
	e := newEnv(t, Config{}, server.Config{})
	f := func(path string, want int) {
		t.Helper()
		if code, _, body := e.do(t, "GET", path, "", "", ""); code != want {
			t.Errorf("GET %s: %d %s, want %d", path, code, body, want)
		}
	}
	f("/api/stats?scope=cluster", http.StatusNotFound)
	var off Cluster
	e.getJSON(t, "/api/cluster", "", &off)
	if off.Enabled || off.Reason == "" || off.Nodes == nil || len(off.Nodes) != 0 {
		t.Errorf("/api/cluster without a view: %+v", off)
	}
	f("/api/stats?scope=node", http.StatusOK)
	f("/api/stats?scope=nodes", http.StatusBadRequest)

	src := newFakeCluster()
	src.stats(t, "node-x", time.Now(), nodeStats(1, 1, 1, 0, 1))
	const token = "tok"
	ec := newEnv(t, Config{Cluster: src, Token: token}, server.Config{})
	for _, p := range []string{"/api/cluster", "/api/stats?scope=cluster"} {
		if code, _, _ := ec.do(t, "GET", p, "", "", ""); code != http.StatusUnauthorized {
			t.Errorf("GET %s without the token: %d", p, code)
		}
	}
	var v Cluster
	ec.getJSON(t, "/api/cluster", token, &v)
	if !v.Enabled || v.Reason != "" || len(v.Nodes) != 1 || v.Nodes[0].Node != "node-x" || v.Total.Readings != 1 {
		t.Errorf("/api/cluster: %+v", v)
	}
	var full ClusterStats
	ec.getJSON(t, "/api/stats?scope=cluster", token, &full)
	if full.Scope != "cluster" || len(full.Nodes) != 1 || full.Nodes[0].Stats == nil || full.Nodes[0].Stats.Readings != 1 {
		t.Errorf("/api/stats?scope=cluster: %+v", full)
	}
}
