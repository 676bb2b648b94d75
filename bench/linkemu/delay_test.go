//go:build !race

package linkemu

import (
	"net/netip"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fleetwire/fleetwire/bench/netns"
	"golang.org/x/sys/unix"
)

// Host conditions under which the 1 ms p99 bound is asserted, all
// measured during the run: a SCHED_FIFO thread's 1 ms sleep ends late by
// at most hostWakeP99 at p99; that thread was held back by more than 1 ms
// for at most hostStalled of the run (this host, a paravirtualized VM
// shared by several engineers' tests, sometimes stalls this process for
// about a second, which one sample cannot show in a p99); and the
// zero-delay link, probed at the same time as the delayed one, returns
// within hostPathP99 at p99. A round
// trip through the delay line takes two timed wakeups (one per
// direction) on top of the zero-delay path's, and crosses the kernel's
// network stack four times (TUN write, softirq, socket): a user-space
// emulator cannot be more exact than the host lets it be.
const (
	hostWakeP99 = 300 * time.Microsecond
	hostStalled = 0.001
	hostPathP99 = time.Millisecond
)

// TestDelay probes two links at once, one with 25 ms each way and one
// with none, at delayPPS datagrams per second each way. Always asserted:
// no probe lost, reordered or back before 50 ms, and the median round trip
// is 50 ms plus the zero-delay median within 1 ms. When the host
// conditions above hold, also: the 99th percentile round trip is 50 ms
// plus the zero-delay median within 1 ms. When they do not, the test says
// so loudly (HOST TOO LOADED) and asserts the median only.
func TestDelay(t *testing.T) {
	const (
		delayPPS = 1000
		n        = 4000
		size     = 64
		oneWay   = 25 * time.Millisecond
	)
	type run struct {
		name string
		d    time.Duration
		l    *Link
		res  probeResult
	}
	runs := []*run{{name: "delay-0"}, {name: "delay-25ms", d: oneWay}}
	for _, r := range runs {
		r.l = setup(t, Config{Name: r.name, Up: Dir{Delay: r.d}, Down: Dir{Delay: r.d}})
	}
	stopCal, host := hostWake()
	var wg sync.WaitGroup
	for _, r := range runs {
		srv := udpSocket(t, r.l, netns.Server, r.l.ServerAddr, 9000)
		defer echo(srv)()
		cli := udpSocket(t, r.l, netns.Client, r.l.ClientAddr, 9001)
		wg.Go(func() {
			r.res = roundTrips(cli, netip.AddrPortFrom(r.l.ServerAddr, 9000), n, size, delayPPS, 2*oneWay+200*time.Millisecond)
		})
	}
	wg.Wait()
	stopCal()
	for _, r := range runs {
		up, down := r.l.Counters()
		t.Logf("%s: up: %s", r.name, up)
		t.Logf("%s: down: %s", r.name, down)
		lost := 0
		for _, x := range r.res.rtt {
			if x < 0 {
				lost++
			}
		}
		if lost > 0 || r.res.order > 0 {
			t.Fatalf("%s: %d of %d probes not back, %d out of order on a link without loss or reordering", r.name, lost, r.res.sent, r.res.order)
		}
	}
	qs := []float64{0, 0.5, 0.9, 0.99, 0.999, 1}
	bq, gq := quantiles(runs[0].res.rtt, qs...), quantiles(runs[1].res.rtt, qs...)
	want := 2 * oneWay
	t.Logf("probes: %d at %d/s each way on both links at once, %d B, endpoints SCHED_FIFO %v, GOMAXPROCS %d", n, delayPPS, size, runs[1].res.fifo, runtime.GOMAXPROCS(0))
	t.Logf("host: a SCHED_FIFO thread's 1 ms sleep ended late by %s at p99 (condition ≤ %s), %s at most; held back beyond 1 ms for %.2f %% of the run (condition ≤ %.1f %%)",
		ms(host.p99), ms(hostWakeP99), ms(host.max), 100*host.stalled, 100*hostStalled)
	t.Logf("zero-delay RTT: min %s p50 %s p90 %s p99 %s p99.9 %s max %s (condition p99 ≤ %s)", ms(bq[0]), ms(bq[1]), ms(bq[2]), ms(bq[3]), ms(bq[4]), ms(bq[5]), ms(hostPathP99))
	t.Logf("50 ms RTT:      min %s p50 %s p90 %s p99 %s p99.9 %s max %s", ms(gq[0]), ms(gq[1]), ms(gq[2]), ms(gq[3]), ms(gq[4]), ms(gq[5]))
	p50, p99 := gq[1]-want-bq[1], gq[3]-want-bq[1]
	t.Logf("round trip - 50 ms - zero-delay median: p50 %s, p99 %s (bound 1 ms)", ms(p50), ms(p99))
	if gq[0] < want {
		t.Errorf("a probe came back after %s, before the configured %s", ms(gq[0]), ms(want))
	}
	if p50 > time.Millisecond {
		t.Errorf("median round trip %s exceeds %s + %s (zero-delay median) by %s > 1 ms", ms(gq[1]), ms(want), ms(bq[1]), ms(p50))
	}
	if host.p99 > hostWakeP99 || host.stalled > hostStalled || bq[3] > hostPathP99 {
		t.Logf("HOST TOO LOADED for the p99 assertion (timer wakeups %s late at p99, stalled %.2f %% of the run, zero-delay path p99 %s): p99 excess %s not asserted",
			ms(host.p99), 100*host.stalled, ms(bq[3]), ms(p99))
		return
	}
	if p99 > time.Millisecond {
		t.Errorf("p99 round trip %s exceeds %s + %s (zero-delay median) by %s > 1 ms", ms(gq[3]), ms(want), ms(bq[1]), ms(p99))
	}
}

// hostCal is what hostWake measured.
type hostCal struct {
	p99, max time.Duration
	stalled  float64 // fraction of the run the thread was held back beyond 1 ms
}

// hostWake measures the host's timer wakeups while a test runs: a
// SCHED_FIFO thread at the emulator's priority sleeps 1 ms in ppoll over
// and over; after stop, the result holds how late it woke.
func hostWake() (stop func(), res *hostCal) {
	var done atomic.Bool
	var wg sync.WaitGroup
	res = new(hostCal)
	wg.Add(1)
	go func() {
		defer wg.Done()
		runtime.LockOSThread() // for good: the thread goes with the goroutine
		_ = unix.SchedSetAttr(0, &unix.SchedAttr{Size: unix.SizeofSchedAttr, Policy: unix.SCHED_FIFO, Priority: rtPriority}, 0)
		lat := make([]time.Duration, 0, 1<<16)
		start := time.Now()
		var stalled time.Duration
		for !done.Load() && len(lat) < cap(lat) {
			t0 := time.Now()
			ts := unix.NsecToTimespec(int64(time.Millisecond))
			_, _ = unix.Ppoll(nil, &ts, nil)
			late := time.Since(t0) - time.Millisecond
			lat = append(lat, late)
			stalled += max(0, late-time.Millisecond)
		}
		slices.Sort(lat)
		if len(lat) > 0 {
			res.p99, res.max = lat[len(lat)*99/100], lat[len(lat)-1]
			res.stalled = float64(stalled) / float64(time.Since(start))
		}
	}()
	return func() { done.Store(true); wg.Wait() }, res
}
