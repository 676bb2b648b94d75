package web

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/fleetwire/fleetwire/server"
	"github.com/fleetwire/fleetwire/server/natssink"
	"github.com/fleetwire/fleetwire/server/natssink/natstest"
)

// clusterEnv is two ingest servers, node-a and node-b, with NATS sinks on
// one in-process NATS server, and node-a's control plane following the
// cluster through DialCluster, as `fleetwire serve --sink nats://...` does.
type clusterEnv struct {
	*env  // node-a's control plane
	a, b  *server.Server
	view  *natssink.ClusterView
	nats  *natstest.Cluster
	stopB func()
}

func newClusterEnv(t *testing.T, wcfg Config) *clusterEnv {
	t.Helper()
	nc := natstest.Start(t, 1)
	start := func(node string) *server.Server {
		ns, err := natssink.Open(natssink.Config{URL: nc.URL(), Dir: t.TempDir(), Node: node, CreateStream: true, StatsInterval: 200 * time.Millisecond})
		if err != nil {
			t.Fatalf("natssink.Open %s: %s", node, err)
		}
		srv, err := server.New(server.Config{TCPAddr: "127.0.0.1:0", UDPAddr: "127.0.0.1:0", Sink: ns, Node: node})
		if err != nil {
			t.Fatalf("server.New %s: %s", node, err)
		}
		ns.SetStatsSource(func() any { return srv.Stats() })
		if err := srv.Start(); err != nil {
			t.Fatalf("server.Start %s: %s", node, err)
		}
		return srv
	}
	c := &clusterEnv{a: start("node-a"), b: start("node-b"), nats: nc}
	var once sync.Once
	c.stopB = func() {
		once.Do(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
			defer cancel()
			if err := c.b.Shutdown(ctx); err != nil {
				t.Errorf("node-b shutdown: %s", err)
			}
		})
	}
	t.Cleanup(c.stopB)
	view, stop, err := DialCluster(nc.URL(), "", "test cluster view")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	view.StaleAfter = time.Second // the default 5 s, shortened for the test
	c.view = view
	wcfg.Cluster = view
	c.env = serveEnv(t, c.a, wcfg)
	return c
}

// fleet dials devices: two over TCP to node-a, three over UDP to node-b.
func (c *clusterEnv) fleet(t *testing.T) []*device {
	t.Helper()
	return []*device{
		dialDevice(t, "tcp", c.a.Addr(server.TCP).String(), "dev-a1", true),
		dialDevice(t, "tcp", c.a.Addr(server.TCP).String(), "dev-a2", true),
		dialDevice(t, "udp", c.b.Addr(server.UDP).String(), "dev-b1", true),
		dialDevice(t, "udp", c.b.Addr(server.UDP).String(), "dev-b2", true),
		dialDevice(t, "udp", c.b.Addr(server.UDP).String(), "dev-b3", true),
	}
}

// TestClusterOverNATS: node-a's /api/cluster and /api/stats?scope=cluster
// show both nodes as they counted themselves, the totals are their sums,
// and a node that stops is marked stale while its counts stay in.
func TestClusterOverNATS(t *testing.T) {
	c := newClusterEnv(t, Config{Interval: 200 * time.Millisecond})
	devs := c.fleet(t)
	stop := make(chan struct{})
	fed := make(chan struct{})
	go func() { feed(devs, 20*time.Millisecond, stop); close(fed) }()

	var v Cluster
	waitFor(t, 15*time.Second, "both nodes live with readings flowing", func() bool {
		v = Cluster{}
		c.getJSON(t, "/api/cluster", "", &v)
		return len(v.Nodes) == 2 && v.Total.Live == 2 && v.Nodes[0].Rates.Readings > 0 && v.Nodes[1].Rates.Readings > 0
	})
	if v.Self != "node-a" || v.Nodes[0].Node != "node-a" || !v.Nodes[0].Self || v.Nodes[1].Node != "node-b" || v.Nodes[1].Self {
		t.Fatalf("nodes %+v, self %q", v.Nodes, v.Self)
	}
	close(stop)
	<-fed

	// Quiet: what each node published equals what it counts, and its
	// sink has all of it acknowledged by JetStream.
	want := func(srv *server.Server) ClusterCounts {
		st := srv.Stats()
		return ClusterCounts{Devices: st.Devices, Frames: st.Frames, Readings: st.Readings, Stored: st.Stored, SinkStored: st.Readings}
	}
	got := func(n *ClusterNode) ClusterCounts {
		return ClusterCounts{Devices: n.Devices, Frames: n.Frames, Readings: n.Readings, Stored: n.Stored, SinkStored: n.SinkStored}
	}
	var wa, wb ClusterCounts
	waitFor(t, 15*time.Second, "each node's published stats to equal its own, all acknowledged", func() bool {
		v = Cluster{}
		c.getJSON(t, "/api/cluster", "", &v)
		wa, wb = want(c.a), want(c.b)
		return len(v.Nodes) == 2 && got(&v.Nodes[0]) == wa && got(&v.Nodes[1]) == wb
	})
	if wa.Devices != 2 || wb.Devices != 3 || wa.Readings == 0 || wb.Readings == 0 {
		t.Fatalf("node-a %+v, node-b %+v", wa, wb)
	}
	tot := v.Total
	if tot.Nodes != 2 || tot.Devices != 5 || tot.Readings != wa.Readings+wb.Readings || tot.Frames != wa.Frames+wb.Frames ||
		tot.SinkStored != wa.Readings+wb.Readings || tot.SinkPending != 0 || tot.Errors != 0 || tot.Lost != 0 {
		t.Fatalf("total %+v; node-a %+v node-b %+v", tot, wa, wb)
	}
	for _, n := range v.Nodes {
		if n.Error != "" || n.Engine != "gnet" || n.UptimeSec <= 0 {
			t.Errorf("%s: error %q engine %q uptime %v", n.Node, n.Error, n.Engine, n.UptimeSec)
		}
	}

	var full ClusterStats
	c.getJSON(t, "/api/stats?scope=cluster", "", &full)
	if len(full.Nodes) != 2 || full.Total.Readings < tot.Readings {
		t.Fatalf("scope=cluster: %+v", full)
	}
	for i, n := range full.Nodes {
		st := n.Stats
		if st == nil || n.Error != "" || st.NATSSink == nil || st.NATSSink.Node != n.Node || st.Node != n.Node ||
			st.Transports[[]string{"tcp", "udp"}[i]].Devices != []int{2, 3}[i] {
			t.Errorf("scope=cluster %s: error %q stats %+v", n.Node, n.Error, st)
		}
	}

	// node-b stops: stale within StaleAfter, its counts stay in the total.
	c.stopB()
	waitFor(t, 10*time.Second, "node-b stale", func() bool {
		v = Cluster{}
		c.getJSON(t, "/api/cluster", "", &v)
		return len(v.Nodes) == 2 && v.Nodes[1].Stale && !v.Nodes[0].Stale
	})
	if b := v.Nodes[1]; b.Rates != (NodeRates{}) || b.AgeSec < 1 || b.Readings != wb.Readings ||
		v.Total.Live != 1 || v.Total.Stale != 1 || v.Total.Readings != wa.Readings+wb.Readings {
		t.Fatalf("after node-b stopped: node-b %+v, total %+v", b, v.Total)
	}
}

// TestClusterViewNATSOutage: with NATS away no stats arrive, so every
// node, this one included, turns stale (the page says the view is cut
// off, not that the nodes stopped); when NATS is back, the view's own
// connection and the nodes' reconnect and every row is live again with
// counts that kept growing.
func TestClusterViewNATSOutage(t *testing.T) {
	c := newClusterEnv(t, Config{Interval: 200 * time.Millisecond})
	stop := make(chan struct{})
	defer close(stop)
	go feed(c.fleet(t), 20*time.Millisecond, stop)
	var v Cluster
	live := func(want int) func() bool {
		return func() bool {
			v = Cluster{}
			c.getJSON(t, "/api/cluster", "", &v)
			return len(v.Nodes) == 2 && v.Total.Live == want && v.Total.Readings > 0
		}
	}
	waitFor(t, 15*time.Second, "both nodes live", live(2))
	before := v.Total.Readings
	c.nats.StopAll()
	waitFor(t, 10*time.Second, "both nodes stale with NATS away", live(0))
	if v.Total.Stale != 2 || v.Total.Readings < before {
		t.Fatalf("with NATS away: total %+v (readings before %d)", v.Total, before)
	}
	c.nats.RestartAll()
	waitFor(t, 30*time.Second, "both nodes live again", live(2))
	if v.Total.Readings <= before {
		t.Fatalf("after NATS came back: %d readings, %d before", v.Total.Readings, before)
	}
}

func ExampleDialCluster() {
	view, stop, err := DialCluster("nats://127.0.0.1:4222", "", "fleetwire dashboard")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer stop()
	// web.New(srv, web.Config{Cluster: view}) serves /api/cluster from it.
	fmt.Println(len(view.Nodes()), "nodes heard from so far")
	// Output: 0 nodes heard from so far
}
