package netns

import (
	"context"
	"fmt"
	"math"
	"net/netip"
	"strconv"
	"sync"
	"testing"
	"time"
)

// TestRate offers 1.3x each limited direction's rate and checks the wire
// rate over a 3 s window during which tbf's queue is never empty. The
// measurements mostly wait, so they all run at once, in goroutines rather
// than parallel subtests, which -parallel would cap at GOMAXPROCS.
func TestRate(t *testing.T) {
	needLinks(t)
	type job struct {
		l    *Link
		from Side
		kbit float64
		res  rateResult
		err  error
	}
	var jobs []*job
	for _, p := range Profiles() {
		if !p.Limited() {
			continue
		}
		l := setup(t, p)
		for _, from := range []Side{Client, Server} {
			if k := egressKbit(p, from); k > 0 {
				jobs = append(jobs, &job{l: l, from: from, kbit: k})
			}
		}
	}
	var wg sync.WaitGroup
	for _, j := range jobs {
		wg.Go(func() { j.res, j.err = measureRate(j.l, j.from, j.kbit) })
	}
	wg.Wait()
	for _, j := range jobs {
		name := fmt.Sprintf("%s %s->%s", j.l.Profile.Name, j.from, other(j.from))
		if j.err != nil {
			t.Errorf("%s: %v", name, j.err)
			continue
		}
		r := j.res
		t.Logf("%s: %.2f kbit/s on the wire over %v (profile %g), %d B frames, tbf dropped %d of %d offered",
			name, r.kbit, r.window.Round(time.Millisecond), j.kbit, r.frame, r.drops, r.offered)
		if math.Abs(r.kbit/j.kbit-1) > 0.10 {
			t.Errorf("%s: %.2f kbit/s, want %g within 10%%", name, r.kbit, j.kbit)
		}
	}
}

type rateResult struct {
	kbit           float64
	window         time.Duration
	frame          int
	drops, offered uint64
}

func measureRate(l *Link, from Side, kbit float64) (rateResult, error) {
	var r rateResult
	to := other(from)
	const window = 3 * time.Second
	// ~150 frames per window, so one frame is <1% of it.
	r.frame = min(max(int(kbit*1000*window.Seconds()/8/150), 60), 1242)
	size := r.frame - 28 - ethHeader
	pps := int(1.3 * kbit * 1000 / 8 / float64(r.frame))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	dst := netip.AddrPortFrom(l.addr(to), 9000).String()
	recv, err := spawnHelper(ctx, l, to, "udp-recv", dst)
	if recv != nil {
		defer recv.kill()
	}
	if err != nil {
		return r, err
	}
	send, err := spawnHelper(ctx, l, from, "udp-send", dst, "0", strconv.Itoa(size), strconv.Itoa(pps), "6s")
	if send != nil {
		defer send.kill()
	}
	if err != nil {
		return r, err
	}
	backlog := func() (uint64, error) {
		c, err := l.Counters(from)
		return c.Qdisc.BacklogPackets, err
	}
	// tbf queues only once its bucket is empty: from then on the wire
	// runs at exactly the rate, with no burst in it.
	for {
		b, err := backlog()
		if err != nil {
			return r, err
		}
		if b > 0 {
			break
		}
		if ctx.Err() != nil {
			return r, fmt.Errorf("the tbf queue never filled")
		}
		time.Sleep(20 * time.Millisecond)
	}
	c0, err := l.DevStats(to)
	t0 := time.Now()
	if err != nil {
		return r, err
	}
	time.Sleep(window)
	c1, err := l.DevStats(to)
	t1 := time.Now()
	if err != nil {
		return r, err
	}
	if b, err := backlog(); err != nil || b == 0 {
		return r, fmt.Errorf("the tbf queue emptied during the window (%v): the link idled", err)
	}
	r.window = t1.Sub(t0)
	r.kbit = float64(c1.RxBytes-c0.RxBytes) * 8 / r.window.Seconds() / 1000
	var sr udpSendResult
	if err := send.resultErr(&sr); err != nil {
		return r, err
	}
	c, err := l.Counters(from)
	r.drops, r.offered = c.Qdisc.Drops, sr.Sent
	return r, err
}
