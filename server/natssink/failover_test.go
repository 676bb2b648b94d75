package natssink_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/fleetwire/fleetwire/codec"
	"github.com/fleetwire/fleetwire/codec/ack"
	"github.com/fleetwire/fleetwire/server/natssink"
	"github.com/fleetwire/fleetwire/server/natssink/natstest"
	"github.com/fleetwire/fleetwire/server/sink"
)

// The failover test kills a node that publishes acking devices' runs: a
// child process (this test binary again) that runs only a sink, so that
// SIGKILL stops it as a crash does.
const sinkChildEnv = "NATSSINK_TEST_SINK_CHILD"

// childSink runs a NATS sink (URL, data directory and node of its
// environment) fed by _DEVICES acking devices, each with a window of one
// run of 5 samples: it prints "S <device> <lo> <hi>" before it submits a
// run, waits for the run's receipt, prints "A <device> <lo> <hi>" when
// it settled durable and its ack delay (ackStep) has passed (what the server would
// acknowledge to the device, later than JetStream acknowledged it) and
// goes on with the next run, or submits the same run again. It runs
// until killed.
func childSink() int {
	env := func(k string) string { return os.Getenv(sinkChildEnv + "_" + k) }
	devices, _ := strconv.Atoi(env("DEVICES"))
	s, err := natssink.Open(natssink.Config{URL: env("URL"), Dir: env("DIR"), Node: env("NODE"),
		CreateStream: true, Replicas: 3, Linger: 20 * time.Millisecond, AckTimeout: 2 * time.Second,
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	var mu sync.Mutex
	say := func(format string, args ...any) {
		mu.Lock()
		fmt.Printf(format, args...) // one write(2) per line: os.Stdout is not buffered
		mu.Unlock()
	}
	for d := range devices {
		go func() {
			dev := fmt.Sprintf("acker-%d", d)
			for lo := uint64(0); ; {
				hi := lo + 4
				say("S %s %d %d\n", dev, lo, hi)
				settled := make(chan bool, 1)
				c := sink.GetChunk()
				f := run(dev, lo, hi)
				c.AddAcked(&f, nil)
				c.SetReceipt(chanReceipt(settled))
				for !s.Submit(c) {
					time.Sleep(time.Millisecond)
				}
				if <-settled {
					// The server acknowledges a device some time after
					// JetStream did (it coalesces #stored): a node killed
					// meanwhile leaves runs stored that their device
					// resends.
					time.Sleep(time.Duration(d%4) * ackStep)
					say("A %s %d %d\n", dev, lo, hi)
					lo = hi + 1
				}
			}
		}()
	}
	select {}
}

// ackStep: device d is acknowledged (d%4)*ackStep after JetStream
// acknowledged its run, so that some devices' runs are in the stream
// unacknowledged when the node dies, and others' not yet.
const ackStep = 20 * time.Millisecond

type chanReceipt chan bool

func (c chanReceipt) Settled(durable bool) { c <- durable }

// deviceLog is what the parent learns of a device from the child.
type deviceLog struct {
	sent  map[uint64]uint64 // runs, lo -> hi
	acked ack.Set
}

// TestFailoverExactlyOnce: acking devices publish through node A, which
// is killed (SIGKILL) mid-run. Node B, which has no state for them, asks
// HeldSet what the stream holds of each, as the server does when a device
// moves to it; the devices resend what A never acknowledged (half of
// them with new samples behind), and B stores only what HeldSet does not
// name: every sample a device sent is in the stream exactly once. Then A
// restarts on its spool, whose batches go out again under their runs'
// message ids: JetStream drops those it has, and what it does not drop
// (a run resent packed with other samples) consume counts as duplicates.
//
// nats-down: NATS is stopped before the kill, so that A's last runs are
// in its spool and nowhere else, and the devices' resends with new
// samples show, after A's restart, the duplicates doc.go leaves
// possible.
func TestFailoverExactlyOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("kills a node mid-run: skipped with -short")
	}
	t.Run("nats-up", func(t *testing.T) { failover(t, false) })
	t.Run("nats-down", func(t *testing.T) { failover(t, true) })
}

func failover(t *testing.T, natsDown bool) {
	nc := natstest.Start(t, 3)
	dirA := t.TempDir()
	devices := 40 / raceScale

	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), sinkChildEnv+"=1", sinkChildEnv+"_URL="+nc.URL(), sinkChildEnv+"_DIR="+dirA,
		sinkChildEnv+"_NODE=node-a", sinkChildEnv+"_DEVICES="+strconv.Itoa(devices))
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	logs := map[string]*deviceLog{}
	var mu sync.Mutex
	acks := 0
	readDone := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			var kind, dev string
			var lo, hi uint64
			if _, err := fmt.Sscan(sc.Text(), &kind, &dev, &lo, &hi); err != nil {
				readDone <- fmt.Errorf("child said %q: %v", sc.Text(), err)
				return
			}
			mu.Lock()
			d := logs[dev]
			if d == nil {
				d = &deviceLog{sent: map[uint64]uint64{}}
				logs[dev] = d
			}
			if kind == "S" {
				d.sent[lo] = hi
			} else {
				_, _ = d.acked.Add(lo, hi, nil)
				acks++
			}
			mu.Unlock()
		}
		readDone <- sc.Err()
	}()
	// Let every device get a few runs acknowledged, then kill the node
	// wherever it is.
	deadline := time.Now().Add(60 * time.Second)
	for {
		mu.Lock()
		n := acks
		mu.Unlock()
		if n >= 10*devices {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d runs acknowledged by node A after 60 s", n)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if natsDown {
		nc.StopAll()
	}
	time.Sleep(500 * time.Millisecond)
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	if err := <-readDone; err != nil { // EOF: the child is gone
		t.Fatal(err)
	}
	cmd.Wait()
	if natsDown {
		nc.RestartAll()
	}
	// A device reconnects to another node after it noticed the loss; by
	// then NATS has handled what the dead node had sent. The test waits
	// for that instead of guessing how long it takes: every NATS node has
	// closed the dead node's connection, and a message published after
	// that is stored after everything it had sent (doc.go says what a
	// device reconnecting sooner risks).
	for nc.Clients("fleetwire node-a") > 0 {
		if time.Now().After(deadline) {
			t.Fatal("NATS still holds the killed node's connection")
		}
		time.Sleep(20 * time.Millisecond)
	}
	barrier(t, nc)

	replicas := func(c *natssink.Config) { c.Replicas = 3 }
	b := openSink(t, nc.URL(), t.TempDir(), "node-b", replicas)
	var log receiptLog
	var sent []codec.Frame
	var total, acked, unacked, heldUnacked, resent uint64
	i := 0
	for dev, d := range logs {
		h := heldSetRetry(t, b, dev)
		received := new(ack.Set) // the server's set, seeded as it would be
		if h != nil {
			received = h
		}
		// What A acknowledged (the device dropped it) the stream holds,
		// and HeldSet says so.
		ackedRuns := d.acked.Ranges(ack.MaxRanges)
		if d.acked.Next() > 0 {
			ackedRuns = append([]codec.SeqRange{{Lo: 0, Hi: d.acked.Next() - 1}}, ackedRuns...)
		}
		for _, r := range ackedRuns {
			for q := r.Lo; q <= r.Hi; q++ {
				if !received.Contains(q) {
					t.Fatalf("%s: sample %d was acknowledged by node A; HeldSet says %v", dev, q, h)
				}
			}
		}
		los := slices.Sorted(maps.Keys(d.sent))
		c := sink.GetChunk()
		resend := func(lo, hi uint64) {
			_, _ = received.Add(lo, hi, func(flo, fhi uint64) {
				f := run(dev, flo, fhi)
				c.AddAcked(&f, nil)
				resent += fhi - flo + 1
			})
		}
		for _, lo := range los {
			hi := d.sent[lo]
			sent = append(sent, run(dev, lo, hi))
			total += hi - lo + 1
			if d.acked.Contains(lo) {
				acked += hi - lo + 1
				continue
			}
			// Not acknowledged: the device resends it; the server stores
			// what its set does not hold.
			unacked += hi - lo + 1
			if received.Contains(lo) {
				heldUnacked += hi - lo + 1 // in the stream: without HeldSet, stored twice
			}
			resend(lo, hi)
		}
		if odd(dev) {
			// Half the devices send new samples right behind the resend,
			// so that the new node packs both into one run: a message id
			// the dead node never used.
			lo := d.sent[los[len(los)-1]] + 1
			sent = append(sent, run(dev, lo, lo+4))
			total += 5
			resend(lo, lo+4)
		}
		c.SetReceipt(logReceipt{log: &log, i: i})
		i++
		for !b.Submit(c) {
			time.Sleep(time.Millisecond)
		}
	}
	if got := log.wait(t, i); !slices.Equal(got, want(i, true)) {
		t.Fatalf("node B's receipts: %v", got)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	wantRows := rows(sent)
	got := readStreamRaw(t, nc.URL(), natssink.ReadOptions{})
	checkExactlyOnce(t, sorted(got), wantRows)
	st := readStreamTo(t, nc.URL(), natssink.ReadOptions{}, io.Discard)
	if st.DuplicateRows != 0 || st.MissingRows != 0 || st.Devices != devices {
		t.Fatalf("after the failover, consume counts %+v", st)
	}
	t.Logf("%d devices sent %d samples through node A, %d acknowledged when it was killed; of the %d not acknowledged, HeldSet named %d (stored, and so not stored again), the devices resent %d through node B, with %d new ones",
		devices, total-5*uint64((devices+1)/2), acked, unacked, heldUnacked, resent-5*uint64((devices+1)/2), 5*((devices+1)/2))

	// Node A comes back on its spool: what it had not seen acknowledged
	// goes out again under the runs' message ids. JetStream drops what it
	// stored under the same ids: A's own runs, and the runs resent alone.
	// A run resent with new samples went out under another id: stored
	// twice, and consume counts exactly that.
	a := openSink(t, nc.URL(), dirA, "node-a", replicas)
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	ns := a.NATSStats()
	if ns.RecoveredAcked != ns.RecoveredReadings {
		t.Fatalf("node A's spool replay: %+v", ns)
	}
	got = readStreamRaw(t, nc.URL(), natssink.ReadOptions{})
	missing, extra, dups, ex := diff(got, wantRows)
	st = readStreamTo(t, nc.URL(), natssink.ReadOptions{}, io.Discard)
	if missing+extra > 0 || uint64(dups) != st.DuplicateRows || st.DuplicateReadings != ns.RecoveredReadings-ns.DuplicateRead {
		t.Fatalf("after node A's restart: %d missing, %d extra, %d duplicated rows (%s); consume counts %+v; node A %+v", missing, extra, dups, ex, st, ns)
	}
	seen := map[string]bool{}
	for _, r := range got {
		if dev, _, _ := strings.Cut(r, ","); seen[r] && !odd(dev) {
			t.Fatalf("row %s twice: that device resent runs alone", r)
		}
		seen[r] = true
	}
	t.Logf("node A restarted: republished %d readings from its spool, %d dropped by JetStream as duplicates; consume counts the other %d as duplicates (%d rows on %d devices)",
		ns.RecoveredReadings, ns.DuplicateRead, st.DuplicateReadings, st.DuplicateRows, st.DupDevices)
}

// heldSetRetry calls HeldSet until it answers, as the server would
// (refusing the device's frames meanwhile): a stream whose NATS nodes
// just restarted takes a while to elect a leader.
func heldSetRetry(t testing.TB, s *natssink.Sink, dev string) *ack.Set {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		h, err := s.HeldSet(ctx, []byte(dev))
		cancel()
		if err == nil {
			return h
		}
		if time.Now().After(deadline) {
			t.Fatalf("HeldSet(%s) after 60 s: %v", dev, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// odd reports whether device acker-N has an odd N.
func odd(dev string) bool { return (dev[len(dev)-1]-'0')%2 == 1 }

// barrier returns once JetStream has stored everything that reached it
// before: a message published now on the stream goes after it (one
// stream leader, one order). The message is deleted again. It retries
// while the stream has no leader (NATS just restarted).
func barrier(t testing.TB, c *natstest.Cluster) {
	t.Helper()
	js, err := jetstream.New(c.Connect())
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := func() error {
			pa, err := js.Publish(ctx, natssink.DefaultSubject+".barrier", nil)
			if err != nil {
				return err
			}
			st, err := js.Stream(ctx, natssink.DefaultStream)
			if err != nil {
				return err
			}
			return st.DeleteMsg(ctx, pa.Sequence)
		}()
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("barrier after 60 s: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
