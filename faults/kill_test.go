package faults

import (
	"fmt"
	"testing"
	"time"

	"github.com/fleetwire/fleetwire/bench/netns"
	"github.com/fleetwire/fleetwire/loadgen"
	"github.com/fleetwire/fleetwire/server"
)

// The fleet of the kill tests: 1,000 acknowledging devices over UDP
// (compact codec: binary hellos and #stored) and 1,000 over TCP (text),
// one generator each, 4 samples/s in frames of 4 for 20 s: about
// 160,000 samples, 320,000 readings.
const (
	killDevices  = 1000
	killRate     = 4
	killBatch    = 4
	killDuration = 20 * time.Second
	killChannels = 2
)

// restartDelay is how long the killed server stays down before it is
// started again.
const restartDelay = time.Second

// killServerFlags: the server acknowledges at most once a second per
// device (--ack-interval 1s) instead of every 10 s, so that a device's
// resends and its drain take seconds and the test stays well under a
// minute; the rules are the same at any interval.
var killServerFlags = []string{"--sink", "files", "--ack-interval", "1s"}

// killGenFlags: --ack-min-rto 2s, above the server's 1 s interval plus
// its fsync (200 ms) and flush (100 ms), so that a device does not time
// out what is only waiting for its ack (the generator's default would be
// 12 s, computed for the 10 s default interval).
func killGenFlags() []string {
	return []string{"--ack", "--devices", fmt.Sprint(killDevices), "--rate", fmt.Sprint(killRate),
		"--batch", fmt.Sprint(killBatch), "--duration", killDuration.String(), "--channels", fmt.Sprint(killChannels),
		"--ack-min-rto", "2s", "--ack-drain", "30s", "--connect-retries", "10", "--progress", "0"}
}

// TestKillMidRun kills the server with SIGKILL a third of the way into a
// run of 2,000 acknowledging devices and restarts it a second later on
// the same data directory and ports. Every sample the devices produced
// must be in the sink exactly once: what the dead server had stored is
// in its segments and comes back as the new one's recovered state
// (replay), so its resends are recognised; what it had not made durable
// was never acknowledged, so the devices send it again. (A 20 s run seals
// no segment, so there is no checkpoint yet: the whole segment is
// replayed. Segments seal every minute or 64 MiB.)
func TestKillMidRun(t *testing.T) {
	if testing.Short() {
		t.Skip("a 30 s run of real processes: skipped with -short")
	}
	killMidRun(t, loopback(), nil)
}

// TestKillMidRunLossyLink is TestKillMidRun across an emulated link that
// drops 5 % of the packets in each direction (bench/netns profile
// loss-5): readings, hellos and #stored alike, so devices resend what was
// lost on the way in and what was stored but whose ack was lost on the
// way out, which the server must recognise.
func TestKillMidRunLossyLink(t *testing.T) {
	if testing.Short() {
		t.Skip("a 30 s run of real processes: skipped with -short")
	}
	p, err := netns.ProfileByName("loss-5")
	if err != nil {
		t.Fatal(err)
	}
	st, l := linkSite(t, p)
	killMidRun(t, st, l)
}

// killMidRun runs the fleet against a server on st, kills the server a
// third of the way in, restarts it and reconciles the sink with the
// generators' reports. l, when not nil, is the link whose loss counters
// are logged.
func killMidRun(t *testing.T, st *site, l *netns.Link) {
	var before [2]netns.DevCounters
	if l != nil {
		before = linkCounters(t, l)
	}
	t0 := time.Now()
	srv := newServer(t, st, killServerFlags...)
	srv.start()
	udp := startGenerator(t, st, "udp", append(killGenFlags(), "--udp", srv.udp, "--id-prefix", "u-", "--codec", "compact")...)
	tcp := startGenerator(t, st, "tcp", append(killGenFlags(), "--tcp", srv.tcp, "--id-prefix", "t-")...)

	// Kill once a third of the run is stored: mid-run whatever the
	// machine's speed, with rows on disk to replay.
	total := uint64(2 * killDevices * killRate * killChannels * killDuration / time.Second)
	var last server.Stats
	waitFor(t, killDuration+30*time.Second, func() string {
		return fmt.Sprintf("the server stored %d of the %d readings awaited before the kill", last.Stored, total/3)
	}, func() bool {
		st, err := srv.stats()
		if err == nil {
			last = st
		}
		return last.Stored >= total/3
	})
	killedAt := time.Now()
	srv.kill()
	// Restarted a second later, as a supervisor would: meanwhile the
	// ports are closed, TCP devices are refused and what UDP devices send
	// is lost, and all of it must be sent again.
	time.Sleep(restartDelay)
	srv.start()
	gap := time.Since(killedAt)

	reps := []*loadgen.Report{udp.wait(killDuration + 90*time.Second), tcp.wait(killDuration + 90*time.Second)}
	after, err := srv.stats()
	if err != nil {
		t.Fatal(err)
	}
	logUnacked(t, srv, reps)
	srv.stop()
	if l != nil {
		after := linkCounters(t, l)
		up, down := after[0].Sub(before[0]), after[1].Sub(before[1])
		t.Logf("link %s: uplink %d packets arrived, %d dropped by the loss rule; downlink %d arrived, %d dropped",
			l.Profile.Name, up.RxPackets, up.LossDropped, down.RxPackets, down.LossDropped)
	}
	got, n := exportRows(t, srv.data())
	summary := verifyData(t, srv.data())
	led := reconcile(t, reps, got)

	t.Logf("killed at %d of %d readings stored; restarted and ready %v after the kill", last.Stored, total, gap.Round(time.Millisecond))
	for _, r := range reps {
		t.Logf("%s: %d devices, %d samples produced, %d readings resent in %d frames, %d given up, %d unacked at end, %d drain timeouts, %d disconnects %v, %d connect retries %v",
			r.Transport, r.Devices, samplesOf(r), r.ReadingsResent, r.ResentFrames, r.ReadingsGivenUp,
			r.ReadingsUnackedAtEnd, r.AckDrainTimeouts, sum(r.Disconnects), r.Disconnects, sum(r.ConnectRetries), r.ConnectRetries)
	}
	t.Logf("new server: %d devices opted in, %d resent samples recognised and not stored again, %d #stored writes",
		after.Acks.Devices, after.Acks.Resent, after.Acks.Writes)
	t.Logf("sink: %d rows; %v; verify: %s; run %v", n, led, summary, time.Since(t0).Round(time.Second))

	for _, r := range reps {
		if r.ConnectFailuresTotal > 0 || r.ReadingsUnackedAtEnd > 0 || r.AckDrainTimeouts > 0 || r.ReadingsGivenUp > 0 {
			t.Errorf("%s generator: %d devices failed to connect, %d readings unacknowledged at the end, %d drain timeouts, %d readings given up; want 0 of each",
				r.Transport, r.ConnectFailuresTotal, r.ReadingsUnackedAtEnd, r.AckDrainTimeouts, r.ReadingsGivenUp)
		}
	}
	if led.devices != 2*killDevices || led.lost+led.dups+led.extra > 0 {
		t.Fatalf("%v; for example: %v", led, led.examples)
	}
}

// logUnacked logs, for a few devices that ended with samples not
// acknowledged, what the server holds of them: whether it stored them
// and did not say so, or never got them.
func logUnacked(t *testing.T, srv *fwServer, reps []*loadgen.Report) {
	t.Helper()
	n := 0
	for _, r := range reps {
		for _, d := range r.PerDevice {
			if d.ReadingsUnacked == 0 || n == 5 {
				continue
			}
			n++
			dev, err := srv.device(d.Device)
			if err != nil {
				t.Logf("%s: %d readings unacknowledged, next_seq %d; the server: %v", d.Device, d.ReadingsUnacked, d.NextSeq, err)
				continue
			}
			t.Logf("%s: %d readings unacknowledged, next_seq %d; the server: next_seq %d, eos %v, ack %+v",
				d.Device, d.ReadingsUnacked, d.NextSeq, dev.NextSeq, dev.EOS, dev.Ack)
		}
	}
}

// linkCounters reads both sides' counters: [0] the server's (what
// arrives there is the uplink), [1] the client's.
func linkCounters(t *testing.T, l *netns.Link) [2]netns.DevCounters {
	t.Helper()
	var c [2]netns.DevCounters
	for i, side := range []netns.Side{netns.Server, netns.Client} {
		var err error
		if c[i], err = l.Counters(side); err != nil {
			t.Fatal(err)
		}
	}
	return c
}

func samplesOf(r *loadgen.Report) uint64 {
	var n uint64
	for _, d := range r.PerDevice {
		n += d.NextSeq - d.FirstSeq
	}
	return n
}

func sum(m map[string]uint64) uint64 {
	var n uint64
	for _, v := range m {
		n += v
	}
	return n
}
