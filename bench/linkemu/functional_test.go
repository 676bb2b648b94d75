package linkemu

import (
	"testing"
	"time"
)

// TestFunctional drives every stage at once (loss, a rate limit with a
// small queue, jitter, reordering, duplication) and checks the books
// balance exactly: every packet the emulator read was lost, dropped by
// the queue or delivered, the receiver got each delivered packet once
// plus exactly the copies, and reordering and duplication happened. It
// runs under the race detector too (the timing tests do not: see
// race_test.go).
func TestFunctional(t *testing.T) {
	const n, size, pps = 3000, 200, 2000
	up := Dir{
		Delay: 5 * time.Millisecond, Jitter: 2 * time.Millisecond,
		Loss:     RandomLoss(5),
		RateKbit: 3000, QueueBytes: 8 << 10, // offered 2000*228*8 = 3648 kbit/s: the queue overflows
		ReorderPct: 5, DuplicatePct: 5,
	}
	l := setup(t, Config{Name: "functional", Up: up})
	a := stream(t, l, n, size, pps, 300*time.Millisecond)
	c, _ := l.Counters()
	got := a.received()
	t.Logf("up: %s", c)
	t.Logf("receiver: %d unique of %d sent, %d copies", got, n, a.copies)
	if c.Pending != 0 || c.WriteErrors != 0 || c.LineDropped != 0 {
		t.Fatalf("pending %d, write errors %d, line drops %d", c.Pending, c.WriteErrors, c.LineDropped)
	}
	if c.Received != n || c.Received != c.LossDropped+c.QueueDropped+c.Delivered-c.Duplicated {
		t.Errorf("read %d of %d; lost %d + queue %d + delivered %d - copies %d do not add up", c.Received, n, c.LossDropped, c.QueueDropped, c.Delivered, c.Duplicated)
	}
	if uint64(got) != c.Delivered-c.Duplicated || uint64(a.copies) != c.Duplicated {
		t.Errorf("receiver got %d + %d copies; emulator delivered %d with %d copies", got, a.copies, c.Delivered, c.Duplicated)
	}
	if c.LossDropped == 0 || c.QueueDropped == 0 || c.Duplicated == 0 || c.Reordered == 0 {
		t.Errorf("a stage did nothing: %s", c)
	}
	// The receiver's view of reordering: arrivals out of send order.
	var outOfOrder int
	var last time.Duration = -1
	hi := -1
	for i, at := range a.at {
		if at < 0 {
			continue
		}
		if at < last && i > hi {
			outOfOrder++
		}
		last, hi = max(last, at), max(hi, i)
	}
	if outOfOrder == 0 {
		t.Errorf("no packet arrived before one sent earlier")
	}
}

// TestJitterInOrder sends through 10 ms ± 8 ms of jitter, packets 0.5 ms
// apart, so that drawn delays would reorder them often: without
// JitterReorder none may arrive out of order, and none before its
// smallest possible delay (2 ms).
func TestJitterInOrder(t *testing.T) {
	const n, size, pps = 3000, 64, 2000
	l := setup(t, Config{Name: "jitter-in-order", Up: Dir{Delay: 10 * time.Millisecond, Jitter: 8 * time.Millisecond}})
	a := stream(t, l, n, size, pps, 200*time.Millisecond)
	c, _ := l.Counters()
	t.Logf("up: %s", c)
	if got := a.received(); got != n || c.Reordered != 0 {
		t.Fatalf("received %d of %d, reordered %d", got, n, c.Reordered)
	}
	var last time.Duration = -1
	minDelay := time.Hour
	for i, at := range a.at {
		if at < last {
			t.Fatalf("packet %d arrived at %v, before packet %d (%v)", i, at, i-1, last)
		}
		last = at
		minDelay = min(minDelay, a.oneWay[i])
	}
	if minDelay < 2*time.Millisecond {
		t.Fatalf("a packet took %v, below the 2 ms minimum", minDelay)
	}
	t.Logf("%d in order; smallest one-way delay %v", n, minDelay)
}
