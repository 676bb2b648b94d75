package linkemu

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// packet is one IP packet waiting in a direction's delay line. buf comes
// from the direction's pool and goes back once written.
type packet struct {
	buf *[]byte
	n   int
	due time.Duration
	seq uint64
}

// line is a bounded time-ordered queue (a binary min-heap on due, then
// arrival order), written by the reader and drained by the deliverer.
// Without reordering it is a FIFO and every push lands at the end.
type line struct {
	mu      sync.Mutex
	h       []packet
	writing bool // the deliverer holds packets popped but not yet written
	max     int
	seq     uint64
	pool    sync.Pool
}

func newLine(max, bufSize int) *line {
	l := &line{h: make([]packet, 0, min(max, 1024)), max: max}
	l.pool.New = func() any { b := make([]byte, bufSize); return &b }
	return l
}

func (l *line) less(i, j int) bool {
	if l.h[i].due != l.h[j].due {
		return l.h[i].due < l.h[j].due
	}
	return l.h[i].seq < l.h[j].seq
}

// push adds p; it reports false (and keeps nothing) when the line holds
// max packets already, and head = true when p is now the first to leave,
// so the deliverer must be woken to re-arm its timer.
func (l *line) push(p packet) (ok, head bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.h) >= l.max {
		return false, false
	}
	l.seq++
	p.seq = l.seq
	l.h = append(l.h, p)
	i := len(l.h) - 1
	for i > 0 {
		parent := (i - 1) / 2
		if !l.less(i, parent) {
			break
		}
		l.h[i], l.h[parent] = l.h[parent], l.h[i]
		i = parent
	}
	return true, i == 0
}

// popDue appends to dst every packet due at or before now, in order, and
// returns the wait until the next one (-1: the line is empty).
func (l *line) popDue(dst []packet, now time.Duration) ([]packet, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for len(l.h) > 0 && l.h[0].due <= now {
		l.writing = true
		dst = append(dst, l.h[0])
		last := len(l.h) - 1
		l.h[0] = l.h[last]
		l.h[last] = packet{}
		l.h = l.h[:last]
		l.down(0)
	}
	if len(l.h) == 0 {
		return dst, -1
	}
	return dst, l.h[0].due - now
}

func (l *line) down(i int) {
	n := len(l.h)
	for {
		c := 2*i + 1
		if c >= n {
			return
		}
		if c+1 < n && l.less(c+1, c) {
			c++
		}
		if !l.less(c, i) {
			return
		}
		l.h[i], l.h[c] = l.h[c], l.h[i]
		i = c
	}
}

// written says the packets popDue returned have all been written.
func (l *line) written() {
	l.mu.Lock()
	l.writing = false
	l.mu.Unlock()
}

// idle reports that nothing waits and nothing is being written, so a
// packet due now may leave at once without overtaking another.
func (l *line) idle() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.h) == 0 && !l.writing
}

// len is the number of packets waiting.
func (l *line) len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.h)
}

// Counters are one direction's cumulative figures since Setup. Every
// packet read is counted once in Received and ends in exactly one of
// LossDropped, QueueDropped, LineDropped, Delivered (originals) or
// Pending (still in the delay line); Duplicated copies are delivered on
// top and included in Delivered and DeliveredBytes.
type Counters struct {
	Received, ReceivedBytes   uint64
	LossDropped               uint64 // by the loss model
	QueueDropped              uint64 // by the rate limiter's full queue (drop-tail)
	LineDropped               uint64 // the delay line held MaxInFlight packets
	Delivered, DeliveredBytes uint64 // written to the far side, copies included
	Duplicated                uint64 // copies made
	Reordered                 uint64 // packets scheduled to leave before one that arrived earlier
	WriteErrors               uint64 // writes the far TUN refused (not in Delivered)
	Pending                   uint64 // in the delay line when read

	// Lateness of delivery: how long after its due time each packet was
	// written, the emulator's own error (LateQuantile reads LateHist).
	LateMax   time.Duration
	LateOver1 uint64 // delivered more than 1 ms late
	LateSum   time.Duration
	LateHist  [lateBuckets]uint64 // LateStep wide; the last one holds the rest

	// SojournMax is the longest a packet was scheduled to stay in the
	// emulator (its due time minus its arrival): queue wait plus
	// serialization plus delay and jitter, before any lateness.
	SojournMax time.Duration
}

// String is a one-line summary for logs and reports.
func (c Counters) String() string {
	mean := time.Duration(0)
	if c.Delivered > 0 {
		mean = c.LateSum / time.Duration(c.Delivered)
	}
	return fmt.Sprintf("received %d (%d B), lost %d, queue-dropped %d, line-dropped %d, delivered %d (%d B), duplicated %d, reordered %d, write errors %d, pending %d; late mean %v p50 %v p99 %v p99.9 %v max %v, >1ms %d",
		c.Received, c.ReceivedBytes, c.LossDropped, c.QueueDropped, c.LineDropped, c.Delivered, c.DeliveredBytes,
		c.Duplicated, c.Reordered, c.WriteErrors, c.Pending,
		mean.Round(time.Microsecond), c.LateQuantile(0.5), c.LateQuantile(0.99), c.LateQuantile(0.999), c.LateMax.Round(time.Microsecond), c.LateOver1)
}

// Lateness histogram: LateStep-wide buckets up to lateBuckets·LateStep.
const (
	LateStep    = 25 * time.Microsecond
	lateBuckets = 200 // 5 ms
)

// LateQuantile is the q-quantile (0..1) of the lateness, rounded up to the
// histogram's LateStep; above 5 ms it says LateMax.
func (c Counters) LateQuantile(q float64) time.Duration {
	var n uint64
	for _, v := range c.LateHist {
		n += v
	}
	if n == 0 {
		return 0
	}
	rank := uint64(q * float64(n))
	var seen uint64
	for i, v := range c.LateHist {
		seen += v
		if seen > rank {
			if i == lateBuckets-1 {
				return c.LateMax
			}
			return time.Duration(i+1) * LateStep
		}
	}
	return c.LateMax
}

// Sub is c - b for every cumulative field (Pending and LateMax are c's).
func (c Counters) Sub(b Counters) Counters {
	var hist [lateBuckets]uint64
	for i := range hist {
		hist[i] = c.LateHist[i] - b.LateHist[i]
	}
	return Counters{
		Received: c.Received - b.Received, ReceivedBytes: c.ReceivedBytes - b.ReceivedBytes,
		LossDropped: c.LossDropped - b.LossDropped, QueueDropped: c.QueueDropped - b.QueueDropped,
		LineDropped: c.LineDropped - b.LineDropped,
		Delivered:   c.Delivered - b.Delivered, DeliveredBytes: c.DeliveredBytes - b.DeliveredBytes,
		Duplicated: c.Duplicated - b.Duplicated, Reordered: c.Reordered - b.Reordered,
		WriteErrors: c.WriteErrors - b.WriteErrors, Pending: c.Pending,
		LateMax: c.LateMax, LateOver1: c.LateOver1 - b.LateOver1, LateSum: c.LateSum - b.LateSum,
		LateHist: hist, SojournMax: c.SojournMax,
	}
}

type counters struct {
	received, receivedBytes, lossDropped, queueDropped, lineDropped atomic.Uint64
	delivered, deliveredBytes, duplicated, reordered, writeErrors   atomic.Uint64
	lateMax, lateOver1, lateSum, sojournMax                         atomic.Int64
	lateHist                                                        [lateBuckets]atomic.Uint64
}

func (c *counters) snapshot() Counters {
	var hist [lateBuckets]uint64
	for i := range hist {
		hist[i] = c.lateHist[i].Load()
	}
	return Counters{LateHist: hist,
		Received: c.received.Load(), ReceivedBytes: c.receivedBytes.Load(),
		LossDropped: c.lossDropped.Load(), QueueDropped: c.queueDropped.Load(), LineDropped: c.lineDropped.Load(),
		Delivered: c.delivered.Load(), DeliveredBytes: c.deliveredBytes.Load(),
		Duplicated: c.duplicated.Load(), Reordered: c.reordered.Load(), WriteErrors: c.writeErrors.Load(),
		LateMax: time.Duration(c.lateMax.Load()), LateOver1: uint64(c.lateOver1.Load()),
		LateSum: time.Duration(c.lateSum.Load()), SojournMax: time.Duration(c.sojournMax.Load()),
	}
}

func (c *counters) late(d time.Duration) {
	if d > time.Millisecond {
		c.lateOver1.Add(1)
	}
	c.lateHist[max(0, min(int(d/LateStep), lateBuckets-1))].Add(1)
	c.lateSum.Add(int64(d))
	storeMax(&c.lateMax, d)
}

func storeMax(v *atomic.Int64, d time.Duration) {
	for {
		m := v.Load()
		if int64(d) <= m || v.CompareAndSwap(m, int64(d)) {
			return
		}
	}
}
