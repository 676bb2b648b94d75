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
// rate, counted by the shaper, over a 3 s window during which its queue
// is never empty. The
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
		t.Logf("%s: %.2f kbit/s through the shaper over %v (profile %g), %d B frames offered at 1.3x, tbf dropped %d",
			name, r.kbit, r.window.Round(time.Millisecond), j.kbit, r.frame, r.drops)
		if math.Abs(r.kbit/j.kbit-1) > 0.10 {
			t.Errorf("%s: %.2f kbit/s, want %g within 10%%", name, r.kbit, j.kbit)
		}
	}
}

type rateResult struct {
	kbit   float64
	window time.Duration
	frame  int
	drops  uint64
}

func measureRate(l *Link, from Side, kbit float64) (rateResult, error) {
	var r rateResult
	to := other(from)
	const window = 3 * time.Second
	// ~150 frames per window, so one frame is <1% of it.
	r.frame = min(max(int(kbit*1000*window.Seconds()/8/150), 60), 1242)
	size := r.frame - 28 - ethHeader
	pps := int(1.3 * kbit * 1000 / 8 / float64(r.frame))
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	defer cancel()
	dst := netip.AddrPortFrom(l.addr(to), 9000).String()
	recv, err := spawnHelper(ctx, l, to, "udp-recv", dst)
	if recv != nil {
		defer recv.kill()
	}
	if err != nil {
		return r, err
	}
	// Sends until killed once the window is over.
	send, err := spawnHelper(ctx, l, from, "udp-send", dst, "0", strconv.Itoa(size), strconv.Itoa(pps), "40s")
	if send != nil {
		defer send.kill()
	}
	if err != nil {
		return r, err
	}
	// tbf queues only once its bucket is empty: from then on it passes
	// exactly the rate, with no burst in it. The window starts once the
	// queue holds a margin (a quarter of it, or 250 ms at the rate), so a
	// sender delayed by a busy CPU does not let it run dry.
	margin := min(uint64(l.Profile.queue()/4), uint64(kbit*1000/8/4))
	queued := func() (uint64, error) {
		q, err := l.shaper(ctx, to)
		return q.BacklogBytes, err
	}
	// The IFB's byte counter, read in-process and timed: a read that took
	// long (a preempted thread) is taken again.
	sample := func() (uint64, time.Time, error) {
		for {
			t0 := time.Now()
			n, err := l.shaperPassed(to)
			d := time.Since(t0)
			if err != nil || d < 5*time.Millisecond || ctx.Err() != nil {
				return n, t0.Add(d / 2), err
			}
		}
	}
	// A window in which the queue ran dry measured the sender, not the
	// link: try again, a few times, before calling it a failure.
	for try := 0; ; try++ {
		for {
			b, err := queued()
			if err != nil {
				return r, err
			}
			if b >= margin {
				break
			}
			if ctx.Err() != nil {
				return r, fmt.Errorf("the tbf queue never filled")
			}
			time.Sleep(20 * time.Millisecond)
		}
		n0, t0, err := sample()
		if err != nil {
			return r, err
		}
		time.Sleep(window)
		n1, t1, err := sample()
		if err != nil {
			return r, err
		}
		b, err := queued()
		if err != nil {
			return r, err
		}
		if b == 0 {
			if try < 2 {
				continue
			}
			return r, fmt.Errorf("the tbf queue emptied during 3 windows: the sender could not keep the link busy")
		}
		r.window = t1.Sub(t0)
		r.kbit = float64(n1-n0) * 8 / r.window.Seconds() / 1000
		q, err := l.shaper(ctx, to)
		r.drops = q.Drops
		if err != nil {
			return r, err
		}
		break
	}
	return r, nil
}
