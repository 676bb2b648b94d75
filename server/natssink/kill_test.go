package natssink_test

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fleetwire/fleetwire/server"
	"github.com/fleetwire/fleetwire/server/natssink"
	"github.com/fleetwire/fleetwire/server/natssink/natstest"
)

// The node-kill test runs the fleetwire node to kill in a child process
// (this test binary again), so that SIGKILL stops it the way a crash
// does: no Close, no flush, goroutines gone mid-write.
const childEnv = "NATSSINK_TEST_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(sinkChildEnv) != "" {
		os.Exit(childSink())
	}
	if os.Getenv(childEnv) != "" {
		os.Exit(childNode())
	}
	os.Exit(m.Run())
}

// childNode runs a fleetwire server on the sink (NATS URL, files or
// none) and data directory of its environment, prints "tcp udp"
// addresses and serves until killed; with _REPORT it also prints
// "readings stored pending dropped bytes" every 50 ms.
func childNode() int {
	replicas := 3
	if r, err := strconv.Atoi(os.Getenv(childEnv + "_REPLICAS")); err == nil {
		replicas = r
	}
	ns, err := natssink.Open(natssink.Config{URL: os.Getenv(childEnv + "_URL"), Dir: os.Getenv(childEnv + "_DIR"),
		Node: os.Getenv(childEnv + "_NODE"), CreateStream: true, Replicas: replicas, Linger: 300 * time.Millisecond,
		AckTimeout: 2 * time.Second, StatsInterval: 100 * time.Millisecond})
	var srv *server.Server
	if err == nil {
		srv, err = server.New(server.Config{
			TCPAddr: "127.0.0.1:0", UDPAddr: "127.0.0.1:0", Sink: ns, Node: os.Getenv(childEnv + "_NODE"),
			Loops: 1, UDPReaders: 1, UDPRcvBuf: 4 << 20,
		})
	}
	if err == nil {
		ns.SetStatsSource(func() any { return srv.Stats() })
		err = srv.Start()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Printf("%s %s\n", srv.Addr(server.TCP), srv.Addr(server.UDP))
	if os.Getenv(childEnv+"_REPORT") == "" {
		select {}
	}
	for range time.Tick(50 * time.Millisecond) {
		st := srv.Stats()
		var dropped uint64
		for _, n := range st.Dropped {
			dropped += n
		}
		fmt.Printf("%d %d %d %d %d\n", st.Readings, st.Sink.Stored, st.Sink.Pending, dropped, st.Sink.Bytes)
	}
	return 0
}

type childProc struct {
	cmd      *exec.Cmd
	tcp, udp string
	out      *bufio.Reader
}

func startChild(t testing.TB, url, dir, node string, env ...string) *childProc {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"=1", childEnv+"_URL="+url, childEnv+"_DIR="+dir, childEnv+"_NODE="+node)
	cmd.Env = append(cmd.Env, env...)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	br := bufio.NewReader(out)
	line, err := br.ReadString('\n')
	if err != nil {
		t.Fatalf("child node: %v", err)
	}
	f := strings.Fields(line)
	if len(f) != 2 {
		t.Fatalf("child node said %q", line)
	}
	return &childProc{cmd: cmd, tcp: f[0], udp: f[1], out: br}
}

// TestFleetwireNodeKill: a fleetwire node is SIGKILLed mid-run and a new
// one started on the same --data and --node. What the dead node had
// acknowledged is in the stream; what it had written to its spool is
// published by the new one from the spool; what it held only in memory
// (the sink's queue and open batches, the ingesters' chunks, socket
// buffers) is lost, and the test reports how much that was.
func TestFleetwireNodeKill(t *testing.T) {
	if testing.Short() {
		t.Skip("kills a fleetwire node mid-run: skipped with -short")
	}
	t.Run("nats-up", func(t *testing.T) { nodeKill(t, false) })
	// NATS is away when the node dies: what it received in the meantime
	// is only in its spool, and the new node publishes it.
	t.Run("nats-down", func(t *testing.T) { nodeKill(t, true) })
}

func nodeKill(t *testing.T, natsDown bool) {
	nc := natstest.Start(t, 3)
	dir := t.TempDir()
	view, err := natssink.NewClusterView(nc.Connect(), "")
	if err != nil {
		t.Fatal(err)
	}
	child := startChild(t, nc.URL(), dir, "node-k")
	fd := newFeeder(t, "dev", 1000, 4, feedSamples, feedChannels)
	defer fd.close()
	for _, d := range fd.devices {
		if err := d.dial(child.tcp, child.udp); err != nil {
			t.Fatal(err)
		}
	}
	var phase atomic.Int64
	stop := make(chan struct{})
	wg := fd.run(fd.devices, feedInterval, 4, func() int { return int(phase.Load()) }, stop)
	// The child publishes stats every 100 ms; a loaded machine can delay
	// the first past any fixed head start, so wait for what they say.
	waitNodes(t, view, 1)
	waitFor(t, 60*time.Second, "2 rounds of readings stored by the child", func() bool {
		n := view.Nodes()
		return len(n) == 1 && n[0].Summary.Sink.Stored >= rounds(2, len(fd.devices))
	})
	last := view.Nodes()
	if natsDown {
		nc.StopAll()
		time.Sleep(1500 * time.Millisecond)
	}

	// Phase 1: rows written from now on go to a node being killed.
	phase.Store(1)
	if err := child.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	child.cmd.Wait()
	killedAt := time.Now()
	if len(last) != 1 {
		t.Fatalf("no stats from the child node: %+v", last)
	}
	before := last[0].Summary

	if natsDown {
		nc.RestartAll()
	}
	// The devices reconnect to a new node on the same data and name.
	b := startFleetwire(t, nc.URL(), dir, "node-k")
	dialAll(t, fd.devices, b)
	// Phase 2: every device writes to the new node (UDP devices wrote to
	// the dead port until redialled: phase 1).
	phase.Store(2)
	t.Logf("new node up %v after the kill", time.Since(killedAt).Round(time.Millisecond))
	time.Sleep(2 * time.Second)
	close(stop)
	wg.Wait()
	settle(t, len(fd.rows(2))*feedChannels, b)
	deadline := time.Now().Add(30 * time.Second)
	var after natssink.NodeSummary
	for {
		if n := view.Nodes(); len(n) == 1 && n[0].Summary.Sink.Pending == 0 && n[0].Summary.Readings >= uint64(len(fd.rows(2))*feedChannels) {
			after = n[0].Summary
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no stats from the new node showing it settled after 30 s: %+v", view.Nodes())
		}
		time.Sleep(100 * time.Millisecond)
	}
	shutdown(t, b)

	got := sorted(readStreamRaw(t, nc.URL(), natssink.ReadOptions{}))
	all := fd.rows()
	// Nothing twice, nothing that was not sent.
	if _, extra, dups, ex := diff(got, all); extra+dups > 0 {
		t.Fatalf("%d extra, %d duplicated rows (%s)", extra, dups, ex)
	}
	// Everything sent to the new node.
	in := func(want []string) int {
		m, _, _, _ := diff(got, want)
		return len(want) - m
	}
	sent0, sent1, sent2 := fd.rows(0), fd.rows(1), fd.rows(2)
	if n := in(sent2); n != len(sent2) {
		t.Fatalf("%d of %d rows sent to the new node are in the stream", n, len(sent2))
	}
	ch := uint64(feedChannels)
	have0 := uint64(in(sent0)) * ch
	// What the killed node had acknowledged, or written to its spool, by
	// its last stats message is in the stream.
	if have0 < before.Sink.Stored || have0 < before.NATS.Spooled {
		t.Fatalf("stream holds %d readings sent before the kill; the killed node had %d acknowledged and %d spooled",
			have0, before.Sink.Stored, before.NATS.Spooled)
	}
	if after.NATS.RecoveredReadings == 0 || after.NATS.RecoveredAcked != after.NATS.RecoveredReadings ||
		natsDown && after.NATS.RecoveredReadings-after.NATS.DuplicateRead < 1000 {
		t.Fatalf("new node's spool replay: %+v", after.NATS)
	}
	lost0 := uint64(len(sent0))*ch - have0
	// The loss is not silent downstream: consume counts it as sequence
	// gaps. Every device's first and last rows are in the stream (it
	// wrote to the new node last), so the gaps are exactly the sequence
	// numbers the devices used that the stream lacks: rows lost in the
	// dead node's memory, rows written to it while it was dead, and frames
	// whose write failed (their numbers were used all the same).
	st := readStreamTo(t, nc.URL(), natssink.ReadOptions{}, io.Discard)
	var used uint64
	for _, d := range fd.devices {
		d.mu.Lock()
		used += d.next
		d.mu.Unlock()
	}
	lostRows := lost0/ch + uint64(len(sent1)-in(sent1))
	if st.MissingRows != used-uint64(len(got)) || st.MissingRows < lostRows || st.MissingReadings != st.MissingRows*ch || st.DuplicateRows != 0 {
		t.Fatalf("consume counted %d missing rows (%d readings) on %d devices and %d duplicate rows; the devices used %d sequence numbers and the stream holds %d rows; %d rows were lost to the kill",
			st.MissingRows, st.MissingReadings, st.GapDevices, st.DuplicateRows, used, len(got), lostRows)
	}
	t.Logf("consume: %d rows (%d readings) missing by sequence number on %d of %d devices", st.MissingRows, st.MissingReadings, st.GapDevices, st.Devices)
	t.Logf("before the kill: %d readings written to the node; its last stats (%v before the kill): %d received, %d acknowledged, %d spooled",
		uint64(len(sent0))*ch, killedAt.Sub(last[0].Received).Round(time.Millisecond), before.Readings, before.Sink.Stored, before.NATS.Spooled)
	t.Logf("new node replayed %d readings from the spool (%d of them JetStream already had: dropped as duplicates)",
		after.NATS.RecoveredReadings, after.NATS.DuplicateRead)
	t.Logf("lost: %d readings written before the kill are not in the stream (held in memory or socket buffers when it died: at most %d received after the last stats)",
		lost0, uint64(len(sent0))*ch-before.NATS.Spooled)
	t.Logf("during the kill: %d readings written to the dead node (UDP into a closed port; TCP writes fail), %d of them in the stream",
		uint64(len(sent1))*ch, uint64(in(sent1))*ch)
	t.Logf("after: %d readings sent to the new node, all in the stream exactly once", uint64(len(sent2))*ch)
}
