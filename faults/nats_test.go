package faults

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/fleetwire/fleetwire/loadgen"
	"github.com/fleetwire/fleetwire/server"
	"github.com/fleetwire/fleetwire/server/natssink"
	"github.com/fleetwire/fleetwire/server/natssink/natstest"
)

// The fleet of the NATS failover test: 300 acknowledging devices over
// TCP (text) and 300 over UDP (compact), spread over two nodes by the
// generators (device n to node n mod 2), 4 samples/s in frames of 4 for
// 15 s: about 36,000 samples, 72,000 readings.
const (
	natsDevices  = 300 // per generator
	natsRate     = 4
	natsBatch    = 4
	natsDuration = 15 * time.Second
	natsChannels = 2
)

// natsGenFlags are killGenFlags' for this fleet: --ack-min-rto 2s above
// the nodes' 1 s ack interval, and retries enough to move to the other
// node and come back from a refused connect or two.
func natsGenFlags() []string {
	return []string{"--ack", "--devices", fmt.Sprint(natsDevices), "--rate", fmt.Sprint(natsRate),
		"--batch", fmt.Sprint(natsBatch), "--duration", natsDuration.String(), "--channels", fmt.Sprint(natsChannels),
		"--ack-min-rto", "2s", "--ack-drain", "30s", "--connect-retries", "10", "--progress", "0"}
}

// TestNATSNodeKill runs two `fleetwire serve` nodes on one JetStream
// stream (a NATS server in this process, on loopback) under 600
// acknowledging devices that the generators spread over both (`--tcp
// A,B`, `--udp A,B`), and kills node A with SIGKILL once a third of its
// share is stored. Its devices find it gone (TCP: the connection breaks;
// UDP: ICMP port unreachable), move to node B and resend what A never
// acknowledged; B, which has no state for them, learns from the
// stream what it holds of each (natssink.Sink.HeldSet) and stores only
// the rest. Every sample the devices produced must be in the stream
// exactly once, as `fleetwire consume` reads it.
//
//   - dead: A stays down.
//   - restarted: once every device is on B, A is started again on its
//     --data and --node, and publishes what its spool held. JetStream
//     drops what it stored under the same message ids. natssink's doc.go
//     leaves one duplicate possible here: a run A had spooled but not yet published
//     when it died, which its device resent through B packed otherwise
//     (under another message id). The test allows exactly those: the
//     readings A republished that JetStream did not drop, each stored
//     twice; so far always none.
func TestNATSNodeKill(t *testing.T) {
	if testing.Short() {
		t.Skip("two 18 s runs of real processes: skipped with -short")
	}
	t.Run("dead", func(t *testing.T) { natsNodeKill(t, false) })
	t.Run("restarted", func(t *testing.T) { natsNodeKill(t, true) })
}

func natsNodeKill(t *testing.T, restart bool) {
	t0 := time.Now()
	// Started first, so that its cleanup (stopping NATS) runs after the
	// nodes' (LIFO).
	nc := natstest.Start(t, 1)
	st := loopback()
	nodeFlags := func(node string) []string {
		return []string{"--sink", nc.URL(), "--nats-create-stream", "--node", node, "--ack-interval", "1s"}
	}
	a := newServer(t, st, nodeFlags("node-a")...)
	b := newServer(t, st, nodeFlags("node-b")...)
	a.start()
	b.start()
	tcp := startGenerator(t, st, "tcp", append(natsGenFlags(), "--tcp", a.tcp+","+b.tcp, "--id-prefix", "t-")...)
	udp := startGenerator(t, st, "udp", append(natsGenFlags(), "--udp", a.udp+","+b.udp, "--id-prefix", "u-", "--codec", "compact")...)

	// Kill A once a third of its share is acknowledged by JetStream:
	// mid-run whatever the machine's speed.
	shareA := uint64(natsDevices * natsRate * natsChannels * natsDuration / time.Second)
	var lastA server.Stats
	waitFor(t, natsDuration+30*time.Second, func() string {
		return fmt.Sprintf("node A stored %d of the %d readings awaited before the kill", lastA.Stored, shareA/3)
	}, func() bool {
		if s, err := a.stats(); err == nil {
			lastA = s
		}
		return lastA.Stored >= shareA/3
	})
	a.kill()
	killedAt := time.Since(t0)

	var restartedAt time.Duration
	if restart {
		// Every device on B (it has opted in there), so that what A
		// republishes meets what its devices resent through B.
		var lastB server.Stats
		waitFor(t, 30*time.Second, func() string {
			return fmt.Sprintf("%d of %d devices opted in on node B", lastB.Acks.Devices, 2*natsDevices)
		}, func() bool {
			if s, err := b.stats(); err == nil {
				lastB = s
			}
			return lastB.Acks.Devices == 2*natsDevices
		})
		a.start()
		restartedAt = time.Since(t0)
	}

	reps := []*loadgen.Report{tcp.wait(natsDuration + 90*time.Second), udp.wait(natsDuration + 90*time.Second)}
	afterB, err := b.stats()
	if err != nil {
		t.Fatal(err)
	}
	var afterA server.Stats
	if restart {
		// Its spool republished and acknowledged to the last batch.
		waitFor(t, 30*time.Second, func() string {
			return fmt.Sprintf("node A's spool replay: %+v", afterA.NATSSink)
		}, func() bool {
			if s, err := a.stats(); err == nil {
				afterA = s
			}
			ns := afterA.NATSSink
			return ns != nil && ns.RecoveredAcked == ns.RecoveredReadings && ns.SpoolBytes == 0
		})
		a.stop()
	}
	b.stop()

	var csv bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rs, err := natssink.Read(ctx, nc.Connect(), &csv, natssink.ReadOptions{}, func(seq uint64, err error) {
		t.Errorf("stream message %d: %v", seq, err)
	})
	if err != nil {
		t.Fatal(err)
	}
	got, n := countRows(t, &csv, "consume")
	led := reconcile(t, reps, got)

	t.Logf("node A killed %v in, at %d of its %d readings stored (%d JetStream duplicates dropped)",
		killedAt.Round(time.Millisecond), lastA.Stored, shareA, natsDup(lastA))
	for _, r := range reps {
		t.Logf("%s: %d devices, %d samples produced, %d failovers, %d readings resent in %d frames, %d given up, %d unacked at end, %d connect retries %v",
			r.Transport, r.Devices, samplesOf(r), r.Failovers, r.ReadingsResent, r.ResentFrames, r.ReadingsGivenUp,
			r.ReadingsUnackedAtEnd, sum(r.ConnectRetries), r.ConnectRetries)
	}
	t.Logf("node B: %d devices opted in, %d resent samples recognised and not stored again, %d frames refused while seeding from the stream, %d readings JetStream dropped as duplicates",
		afterB.Acks.Devices, afterB.Acks.Resent, afterB.Errors["ack_seeding"], natsDup(afterB))
	if restart {
		ns := afterA.NATSSink
		t.Logf("node A restarted %v in: republished %d readings of %d batches from its spool, %d acknowledged, %d dropped by JetStream as duplicates",
			restartedAt.Round(time.Millisecond), ns.RecoveredReadings, ns.RecoveredBatches, ns.RecoveredAcked, ns.DuplicateRead)
	}
	t.Logf("stream: %d messages, %d rows; consume counts %d missing, %d duplicated rows; %v; run %v",
		rs.Messages, n, rs.MissingRows, rs.DuplicateRows, led, time.Since(t0).Round(time.Second))

	for _, r := range reps {
		if r.ConnectFailuresTotal > 0 || r.ReadingsUnackedAtEnd > 0 || r.AckDrainTimeouts > 0 || r.ReadingsGivenUp > 0 {
			t.Errorf("%s generator: %d devices failed to connect, %d readings unacknowledged at the end, %d drain timeouts, %d readings given up; want 0 of each",
				r.Transport, r.ConnectFailuresTotal, r.ReadingsUnackedAtEnd, r.AckDrainTimeouts, r.ReadingsGivenUp)
		}
		if r.Failovers == 0 {
			t.Errorf("%s generator: no device failed over", r.Transport)
		}
	}
	// What A republished from its spool and JetStream did not drop as a
	// duplicate is stored a second time (natssink's doc.go): 0 but for a kill
	// between A's spool write and its publish.
	var again uint64
	if restart {
		again = afterA.NATSSink.RecoveredReadings - afterA.NATSSink.DuplicateRead
	}
	if rs.Skipped > 0 || rs.MissingRows > 0 || rs.DuplicateReadings != again {
		t.Errorf("consume: %+v; want no row missing and %d readings twice (node A's republished batches JetStream did not drop)", rs, again)
	}
	if led.devices != 2*natsDevices || led.lost+led.extra > 0 || led.dups != rs.DuplicateRows || led.dups*natsChannels != again {
		t.Fatalf("%v, want %d duplicated; for example: %v", led, again/natsChannels, led.examples)
	}
}

// natsDup is how many readings JetStream dropped as duplicates of
// batches it had stored, as the node's stats say.
func natsDup(s server.Stats) uint64 {
	if s.NATSSink == nil {
		return 0
	}
	return s.NATSSink.DuplicateRead
}
