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
		t.Logf("%s: %.2f kbit/s through the shaper over %v (profile %g), %d B frames, tbf dropped %d of %d offered",
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
	// The shaper's own byte counter, timed at the middle of the tc call.
	sample := func() (QdiscStats, time.Time, error) {
		t0 := time.Now()
		q, err := l.shaper(ctx, to)
		return q, t0.Add(time.Since(t0) / 2), err
	}
	// tbf queues only once its bucket is empty: from then on it passes
	// exactly the rate, with no burst in it.
	for {
		q, _, err := sample()
		if err != nil {
			return r, err
		}
		if q.BacklogPackets > 0 {
			break
		}
		if ctx.Err() != nil {
			return r, fmt.Errorf("the tbf queue never filled")
		}
		time.Sleep(20 * time.Millisecond)
	}
	q0, t0, err := sample()
	if err != nil {
		return r, err
	}
	time.Sleep(window)
	q1, t1, err := sample()
	if err != nil {
		return r, err
	}
	if q0.BacklogPackets == 0 || q1.BacklogPackets == 0 {
		return r, fmt.Errorf("the tbf queue emptied during the window: the link idled")
	}
	r.window = t1.Sub(t0)
	r.kbit = float64(q1.Bytes-q0.Bytes) * 8 / r.window.Seconds() / 1000
	var sr udpSendResult
	if err := send.resultErr(&sr); err != nil {
		return r, err
	}
	c, err := l.Counters(to)
	r.drops, r.offered = c.Shaper.Drops, sr.Sent
	return r, err
}
