package natssink_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/fleetwire/fleetwire/server"
	"github.com/fleetwire/fleetwire/server/natssink"
	"github.com/fleetwire/fleetwire/server/natssink/natstest"
	"github.com/fleetwire/fleetwire/server/sink"
)

// These tests run a 3-node NATS cluster in process (routes on loopback,
// a stream of 3 replicas), fleetwire servers with --sink nats://..., and
// devices over TCP and UDP, then read the stream back with natssink.Read
// (what `fleetwire consume` runs) and compare it with what the devices
// wrote: every reading exactly once.

const (
	feedInterval = 250 * time.Millisecond
	feedSamples  = 2
	feedChannels = 3
)

func startFleetwire(t testing.TB, url, dir, node string) *server.Server {
	t.Helper()
	ns, err := natssink.Open(natssink.Config{URL: url, Dir: dir, Node: node, CreateStream: true, Replicas: 3,
		Linger: 300 * time.Millisecond, AckTimeout: 2 * time.Second, DrainTimeout: 20 * time.Second, Logger: quiet(t)})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(server.Config{
		TCPAddr: "127.0.0.1:0", UDPAddr: "127.0.0.1:0", Sink: ns, Node: node,
		Loops: 1, UDPReaders: 1, UDPRcvBuf: 4 << 20,
	})
	if err != nil {
		t.Fatal(err)
	}
	ns.SetStatsSource(func() any { return srv.Stats() })
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	return srv
}

func dialAll(t testing.TB, devs []*device, srv *server.Server) {
	t.Helper()
	tcp, udp := srv.Addr(server.TCP).String(), srv.Addr(server.UDP).String()
	for _, d := range devs {
		if err := d.dial(tcp, udp); err != nil {
			t.Fatal(err)
		}
	}
}

// settle waits until the servers have received sent readings and the
// sinks have nothing pending: every reading acknowledged by JetStream.
func settle(t testing.TB, sent int, srvs ...*server.Server) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		var got, pending uint64
		for _, s := range srvs {
			st := s.Stats()
			got += st.Readings
			pending += st.Sink.Pending
		}
		if got >= uint64(sent) && pending == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not settled: %d of %d readings received, %d pending", got, sent, pending)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func shutdown(t testing.TB, srvs ...*server.Server) {
	t.Helper()
	for _, s := range srvs {
		if err := s.Shutdown(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
}

// inOrder checks that each device's rows come in seq order in the stream.
func inOrder(t testing.TB, streamRows []string) (violations int) {
	t.Helper()
	last := map[string]string{}
	for _, r := range streamRows {
		f := strings.SplitN(r, ",", 3)
		if prev, ok := last[f[0]]; ok && len(prev) >= len(f[1]) && (len(prev) > len(f[1]) || prev > f[1]) {
			violations++
		}
		last[f[0]] = f[1]
	}
	return violations
}

// TestClusterExactlyOnce: two fleetwire nodes, 2,000 devices over TCP and
// UDP, a 3-node NATS cluster: the stream holds every reading once, each
// device's in order, and a ClusterView sees both nodes.
func TestClusterExactlyOnce(t *testing.T) {
	nc := natstest.Start(t, 3)
	a := startFleetwire(t, nc.URL(), t.TempDir(), "node-a")
	b := startFleetwire(t, nc.URL(), t.TempDir(), "node-b")
	view, err := natssink.NewClusterView(nc.Connect(), "")
	if err != nil {
		t.Fatal(err)
	}
	fd := newFeeder(t, "dev", 2000, 4, feedSamples, feedChannels)
	defer fd.close()
	half := len(fd.devices) / 2
	dialAll(t, fd.devices[:half], a)
	dialAll(t, fd.devices[half:], b)
	stop := make(chan struct{})
	wg := fd.run(fd.devices, feedInterval, 4, func() int { return 0 }, stop)
	waitFor(t, 60*time.Second, "4 rounds of readings stored by each node", func() bool {
		return stored(a) >= rounds(4, half) && stored(b) >= rounds(4, len(fd.devices)-half)
	})
	close(stop)
	wg.Wait()
	settle(t, fd.sentReadings(), a, b)
	// Stats go out every second: wait for one that shows the end (the
	// check below says what was missing if none came).
	deadline := time.Now().Add(30 * time.Second)
	for view.Total().SinkStored < uint64(fd.sentReadings()) && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	tot := view.Total()
	if tot.Nodes != 2 || tot.Live != 2 || tot.Readings != uint64(fd.sentReadings()) || tot.SinkStored != tot.Readings {
		t.Errorf("cluster view: %+v", tot)
	}
	shutdown(t, a, b)

	got := readStreamRaw(t, nc.URL(), natssink.ReadOptions{})
	if v := inOrder(t, got); v > 0 {
		t.Errorf("%d rows out of their device's seq order", v)
	}
	want := fd.rows()
	checkExactlyOnce(t, sorted(got), want)
	t.Logf("%d devices, %d readings sent, %d rows in the stream, exactly once", len(fd.devices), fd.sentReadings(), len(got))
}

// TestNATSNodeLoss: the stream's leader is killed mid-run; the other two
// replicas elect a new one and the sink republishes what was not
// acknowledged.
func TestNATSNodeLoss(t *testing.T) {
	if testing.Short() {
		t.Skip("kills a NATS node mid-run: skipped with -short")
	}
	nc := natstest.Start(t, 3)
	a := startFleetwire(t, nc.URL(), t.TempDir(), "node-a")
	fd := newFeeder(t, "dev", 1000, 4, feedSamples, feedChannels)
	defer fd.close()
	dialAll(t, fd.devices, a)
	stop := make(chan struct{})
	wg := fd.run(fd.devices, feedInterval, 4, func() int { return 0 }, stop)
	waitFor(t, 60*time.Second, "2 rounds of readings stored", func() bool { return stored(a) >= rounds(2, len(fd.devices)) })
	leader := nc.StreamLeader(natssink.DefaultStream)
	if leader < 0 {
		leader = 0
	}
	nc.Stop(leader)
	t.Logf("stopped NATS node %s (stream leader)", nc.Nodes[leader].Name)
	before := stored(a)
	waitFor(t, 60*time.Second, "2 more rounds stored through the new leader", func() bool {
		return stored(a) >= before+rounds(2, len(fd.devices))
	})
	close(stop)
	wg.Wait()
	settle(t, fd.sentReadings(), a)
	shutdown(t, a)

	got := readStreamRaw(t, nc.URL(), natssink.ReadOptions{})
	checkExactlyOnce(t, sorted(got), fd.rows())
	t.Logf("%d readings sent, %d rows in the stream, exactly once; %d rows out of their device's order",
		fd.sentReadings(), len(got), inOrder(t, got))
}

// TestNATSOutage: all of NATS is down for 10 s mid-run. The sink spools,
// reports its high-water mark, and publishes the spool when NATS is back.
func TestNATSOutage(t *testing.T) {
	if testing.Short() {
		t.Skip("stops NATS for 10 s: skipped with -short")
	}
	nc := natstest.Start(t, 3)
	a := startFleetwire(t, nc.URL(), t.TempDir(), "node-a")
	fd := newFeeder(t, "dev", 1000, 4, feedSamples, feedChannels)
	defer fd.close()
	dialAll(t, fd.devices, a)
	stop := make(chan struct{})
	wg := fd.run(fd.devices, feedInterval, 4, func() int { return 0 }, stop)
	waitFor(t, 60*time.Second, "2 rounds of readings stored", func() bool { return stored(a) >= rounds(2, len(fd.devices)) })
	nc.StopAll()
	down := time.Now()
	// Down until the spool holds 8 rounds (2 s of the fleet) that only it
	// has: the outage is measured in what the sink had to keep.
	waitFor(t, 60*time.Second, "8 rounds of readings in the spool", func() bool {
		return a.Stats().Sink.Pending >= rounds(8, len(fd.devices))
	})
	mid := a.Stats()
	nc.RestartAll()
	t.Logf("NATS down for %v; meanwhile the sink held %d readings pending", time.Since(down).Round(time.Millisecond), mid.Sink.Pending)
	view, err := natssink.NewClusterView(nc.Connect(), "")
	if err != nil {
		t.Fatal(err)
	}
	back := stored(a)
	waitFor(t, 60*time.Second, "the spool published after NATS came back", func() bool { return stored(a) > back })
	close(stop)
	wg.Wait()
	settle(t, fd.sentReadings(), a)
	waitNodes(t, view, 1)
	nodes := view.Nodes()
	if len(nodes) != 1 || nodes[0].Summary.NATS.SpoolHighWater <= 0 {
		t.Fatalf("stats on NATS do not report the spool's high-water mark: %+v", nodes)
	}
	hw := nodes[0].Summary.NATS.SpoolHighWater
	shutdown(t, a)
	if mid.Sink.Pending == 0 || mid.Sink.Dropped != (sink.ByReason{}) {
		t.Fatalf("during the outage: %+v", mid.Sink)
	}

	got := readStreamRaw(t, nc.URL(), natssink.ReadOptions{})
	checkExactlyOnce(t, sorted(got), fd.rows())
	t.Logf("%d readings sent, %d rows in the stream, exactly once; spool high-water mark %d bytes (reported on %s)",
		fd.sentReadings(), len(got), hw, natssink.DefaultStatsSubject+".node-a")
}
