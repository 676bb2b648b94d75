package faults

import (
	"bytes"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/fleetwire/fleetwire/bench/netns"
	"github.com/fleetwire/fleetwire/loadgen"
	"github.com/fleetwire/fleetwire/server/web"
)

// The fleet of the overflow test: a few devices holding 32 samples, 8 s
// of their readings, and an outage of about 12 s.
const (
	ovfDevices  = 8 // per transport
	ovfWindow   = 32
	ovfRate     = 4
	ovfDuration = 16 * time.Second
	ovfChannels = 2
)

// TestOverflowDuringOutage cuts the server off for longer than the
// devices' buffers last, so that they must give samples up, and checks
// the accounts on both ends: each device's given-up ranges are exactly
// the samples missing from the sink, everything else is there once, and
// the server counts the given-up readings as the device's lost ones.
//
// Exactness needs no sample to be both stored and given up, which the
// protocol allows (a device gives up its oldest samples when its window
// is full, acknowledged or not yet): so nothing may be in flight at
// either end of the outage.
//
//   - At its start, a sample the server stored but had not yet
//     acknowledged when it died is one the device may give up although
//     the sink holds it. So the outage starts with a blackhole of the
//     uplink (readings stop arriving, the server's #stored still get out)
//     until the devices have heard an ack for everything the server
//     holds, which must happen within half a window (4 s; it takes about
//     1 s: the 1 s ack interval and an fsync); then the server is killed
//     with SIGKILL and the blackhole lifted: the server is down, its
//     ports closed.
//   - At its end, a device whose window is full resends it, and each
//     new sample pushes out the oldest, just resent and perhaps stored
//     but not yet acknowledged. So the outage lasts until every device
//     has ended its run and waits for acks (its drain): no new samples.
//     Its run ends 16 s in, about 12 s into the outage.
//
// The server restarts on the same data directory. The blackhole needs a
// link of our own: the test runs across a bench/netns link without
// impairment and skips when links are unavailable.
func TestOverflowDuringOutage(t *testing.T) {
	if testing.Short() {
		t.Skip("a 30 s run of real processes: skipped with -short")
	}
	p, err := netns.ProfileByName("clean")
	if err != nil {
		t.Fatal(err)
	}
	st, l := linkSite(t, p)
	plainTCPHeaders(t, l)
	t0 := time.Now()
	srv := newServer(t, st, killServerFlags...)
	srv.start()
	flags := []string{"--ack", "--devices", fmt.Sprint(ovfDevices), "--rate", fmt.Sprint(ovfRate), "--batch", "2",
		"--duration", ovfDuration.String(), "--channels", fmt.Sprint(ovfChannels), "--ack-window", fmt.Sprint(ovfWindow),
		"--ack-min-rto", "2s", "--ack-drain", "30s", "--connect-retries", "30", "--progress", "100ms"}
	gens := []*generator{
		startGenerator(t, st, "udp", append(flags, "--udp", srv.udp, "--id-prefix", "u-", "--codec", "compact")...),
		startGenerator(t, st, "tcp", append(flags, "--tcp", srv.tcp, "--id-prefix", "t-")...),
	}
	var ids []string
	for _, prefix := range []string{"u-", "t-"} {
		for i := 1; i <= ovfDevices; i++ {
			ids = append(ids, fmt.Sprintf("%s%06d", prefix, i))
		}
	}
	devices := func() ([]web.Device, error) {
		out := make([]web.Device, len(ids))
		for i, id := range ids {
			var err error
			if out[i], err = srv.device(id); err != nil {
				return nil, err
			}
		}
		return out, nil
	}

	// Steady state first: every device acknowledged at least half a
	// window.
	var state string
	waitFor(t, 30*time.Second, func() string { return "before the outage: " + state }, func() bool {
		ds, err := devices()
		if err != nil {
			state = err.Error()
			return false
		}
		for _, d := range ds {
			if d.Ack == nil || d.Ack.AckedThrough < ovfWindow/2 {
				state = fmt.Sprintf("%s: ack %+v", d.ID, d.Ack)
				return false
			}
		}
		return true
	})

	lift := blackhole(t, l)
	cut := time.Now()
	// The devices have heard an ack for everything the server received:
	// it made every sample durable and the generators count as many
	// acknowledged readings as the server holds.
	var held uint64
	half := ovfWindow / ovfRate * time.Second / 2
	waitFor(t, half, func() string {
		return "acks catching up in the blackhole (the devices may give up what they hold once it is full): " + state
	}, func() bool {
		ds, err := devices()
		if err != nil {
			state = err.Error()
			return false
		}
		held = 0
		for _, d := range ds {
			if d.Ack.AckedThrough != d.NextSeq || d.Ack.Ranges != "" {
				state = fmt.Sprintf("%s: next_seq %d, ack %+v", d.ID, d.NextSeq, d.Ack)
				return false
			}
			held += d.NextSeq * ovfChannels
		}
		var acked uint64
		for _, g := range gens {
			acked += g.progress("acked")
		}
		state = fmt.Sprintf("the server holds %d readings, the generators heard acks for %d", held, acked)
		return acked == held
	})
	caughtUp := time.Since(cut)

	srv.kill()
	lift()
	// The runs are over (their progress lines count from the start,
	// connect phase included: milliseconds for 8 devices, hence the 2 s).
	waitFor(t, ovfDuration+10*time.Second, func() string { return "the end of the runs: " + state }, func() bool {
		state = ""
		over := true
		for _, g := range gens {
			e := g.elapsed()
			state += fmt.Sprintf("%s at %v; ", g.name, e)
			over = over && e >= ovfDuration+2*time.Second
		}
		return over
	})
	srv.start()
	restarted := time.Since(cut)

	var reps []*loadgen.Report
	for _, g := range gens {
		reps = append(reps, g.wait(ovfDuration+90*time.Second))
	}
	// The new server's loss count of each device: what it gave up.
	ds, err := devices()
	if err != nil {
		t.Fatal(err)
	}
	srvLost := map[string]uint64{}
	var lostTotal uint64
	for _, d := range ds {
		srvLost[d.ID] = d.Lost
		lostTotal += d.Lost
	}
	srv.stop()
	got, n := exportRows(t, srv.data())
	summary := verifyData(t, srv.data())
	led := reconcile(t, reps, got)

	t.Logf("blackhole at %d readings held; acks caught up %v later; server killed then, restarted after the end of the runs, %v after the blackhole",
		held, caughtUp.Round(time.Millisecond), restarted.Round(time.Millisecond))
	var mismatched []string
	for _, r := range reps {
		t.Logf("%s: %d devices, %d samples produced, %d readings resent, %d readings given up (%d #gaveup), %d unacked at end",
			r.Transport, r.Devices, samplesOf(r), r.ReadingsResent, r.ReadingsGivenUp, r.GaveUpSent, r.ReadingsUnackedAtEnd)
		for _, d := range r.PerDevice {
			if d.ReadingsGivenUp == 0 {
				t.Errorf("%s gave nothing up in a %v outage with a %d-sample window: the outage proved nothing for it", d.Device, restarted.Round(time.Millisecond), ovfWindow)
			}
			if srvLost[d.Device] != d.ReadingsGivenUp {
				mismatched = append(mismatched, fmt.Sprintf("%s: gave up %d readings %v, the server counts %d lost",
					d.Device, d.ReadingsGivenUp, d.GivenUp, srvLost[d.Device]))
			}
		}
		if r.ReadingsUnackedAtEnd > 0 || r.AckDrainTimeouts > 0 || r.ConnectFailuresTotal > 0 {
			t.Errorf("%s: %d readings unacknowledged at the end, %d drain timeouts, %d devices failed to connect; want 0",
				r.Transport, r.ReadingsUnackedAtEnd, r.AckDrainTimeouts, r.ConnectFailuresTotal)
		}
	}
	t.Logf("the new server counts %d readings of these devices lost", lostTotal)
	t.Logf("sink: %d rows; %v; verify: %s; run %v", n, led, summary, time.Since(t0).Round(time.Second))
	if led.devices != 2*ovfDevices || led.lost+led.dups+led.extra > 0 {
		t.Errorf("the sink against the devices' given-up ranges: %v; for example: %v", led, led.examples)
	}
	if len(mismatched) > 0 {
		t.Errorf("%d devices' given-up readings differ from the server's lost count: %v", len(mismatched), mismatched)
	}
}

var elapsedRE = regexp.MustCompile(`\[ *([0-9.]+)s\] connected`)

// elapsed is the time since the generator started, as its last progress
// line says.
func (g *generator) elapsed() time.Duration {
	b, err := os.ReadFile(g.log)
	if err != nil {
		g.t.Fatal(err)
	}
	m := elapsedRE.FindAllSubmatch(b, -1)
	if len(m) == 0 {
		return 0
	}
	sec, _ := strconv.ParseFloat(string(m[len(m)-1][1]), 64)
	return time.Duration(sec * float64(time.Second))
}

// progress is a count from the generator's last progress line (written
// every --progress): "acked", "unacked", "resent", "gaveup" or "waiting";
// 0 before the first line.
func (g *generator) progress(key string) uint64 {
	b, err := os.ReadFile(g.log)
	if err != nil {
		g.t.Fatal(err)
	}
	if i := bytes.LastIndexByte(b, '\n'); i >= 0 {
		b = b[:i] // the last line may be half written
	}
	m := regexp.MustCompile(`\b`+key+` (\d+)`).FindAllSubmatch(b, -1)
	if len(m) == 0 {
		return 0
	}
	n, _ := strconv.ParseUint(string(m[len(m)-1][1]), 10, 64)
	return n
}
