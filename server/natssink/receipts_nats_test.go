package natssink_test

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/fleetwire/fleetwire/codec"
	"github.com/fleetwire/fleetwire/server/natssink"
	"github.com/fleetwire/fleetwire/server/natssink/natstest"
	"github.com/fleetwire/fleetwire/server/sink"
)

// receiptLog records how receipts settle, in the order they do.
type receiptLog struct {
	mu  sync.Mutex
	got []string // "i:true"
}

type logReceipt struct {
	log *receiptLog
	i   int
}

func (r logReceipt) Settled(durable bool) {
	r.log.mu.Lock()
	r.log.got = append(r.log.got, fmt.Sprintf("%d:%v", r.i, durable))
	r.log.mu.Unlock()
}

func (l *receiptLog) settled() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.got)
}

// wait waits until n receipts settled, or fails the test after 30 s.
func (l *receiptLog) wait(t testing.TB, n int) []string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		got := l.settled()
		if len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d receipts settled after 30 s: %v", len(got), n, got)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// want is "0:durable", ..., "n-1:durable".
func want(n int, durable bool) []string {
	var out []string
	for i := range n {
		out = append(out, fmt.Sprintf("%d:%v", i, durable))
	}
	return out
}

// offer submits frames as one chunk with receipt i, once: acked frames
// through AddAcked. It reports whether the sink took it; a refused
// chunk is released, its receipt unsettled (the caller's, by contract).
func offer(s sink.Sink, log *receiptLog, i int, acked bool, frames ...codec.Frame) bool {
	c := sink.GetChunk()
	for k := range frames {
		if acked {
			c.AddAcked(&frames[k], nil)
		} else {
			c.Add(&frames[k], nil)
		}
	}
	c.SetReceipt(logReceipt{log: log, i: i})
	if s.Submit(c) {
		return true
	}
	c.Release()
	return false
}

// TestReceiptsSettleOnAck: receipts settle true only once JetStream has
// acknowledged every batch holding their readings (not while NATS is
// away), exactly once, in submission order; a chunk without readings
// settles in its turn.
func TestReceiptsSettleOnAck(t *testing.T) {
	nc := natstest.Start(t, 1)
	dir := t.TempDir()
	s := openSink(t, nc.URL(), dir, "node-a", nil) // creates the stream
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	nc.StopAll()
	s = openSink(t, nc.URL(), dir, "node-a", nil)
	g := newGen()
	var log receiptLog
	var all []codec.Frame
	const n = 40
	for i := range n {
		var frames []codec.Frame
		acked := i%2 == 1
		switch {
		case i == 7: // no readings
		case acked: // an acking device, one run per chunk or continuing
			frames = []codec.Frame{g.frame("ack-1", 3, 2, codec.HasSeq|codec.HasTime), g.frame(fmt.Sprintf("ack-%d", i%3), 2, 1, codec.HasSeq)}
		default:
			frames = mixed(g, 1)
		}
		if !offer(s, &log, i, acked, frames...) {
			t.Fatalf("chunk %d refused", i)
		}
		all = append(all, frames...)
	}
	time.Sleep(300 * time.Millisecond) // 15 lingers: every batch is in the spool
	if got := log.settled(); len(got) != 0 {
		t.Fatalf("receipts settled while NATS was away: %v", got)
	}
	nc.RestartAll()
	if got := log.wait(t, n); !slices.Equal(got, want(n, true)) {
		t.Fatalf("settled %v", got)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if got := log.settled(); len(got) != n {
		t.Fatalf("%d settles for %d receipts", len(got), n)
	}
	if ns := s.NATSStats(); ns.ReceiptsDurable != n || ns.ReceiptsLost != 0 || ns.ReceiptsWaiting != 0 {
		t.Fatalf("receipt stats %+v", ns)
	}
	checkExactlyOnce(t, readStream(t, nc.URL(), natssink.ReadOptions{}), rows(all))
}

// TestReceiptsSpoolFull: with NATS away and the spool at its bound, the
// sink refuses chunks (their receipts stay the caller's: the sink never
// settles them); those it accepted settle false at Close, in order: their
// batches stay in the spool, and the next Open publishes them.
func TestReceiptsSpoolFull(t *testing.T) {
	nc := natstest.Start(t, 1)
	dir := t.TempDir()
	s := openSink(t, nc.URL(), dir, "node-a", nil)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	nc.StopAll()
	s = openSink(t, nc.URL(), dir, "node-a", func(c *natssink.Config) {
		c.SpoolMaxBytes, c.DrainTimeout = 16<<10, 100*time.Millisecond
	})
	g := newGen()
	var log receiptLog
	var accepted []codec.Frame
	n, refused := 0, 0
	for i := 0; refused < 3 && i < 10000; i++ {
		f := g.frame(fmt.Sprintf("dev-%d", i%50), 4, 2, codec.HasSeq|codec.HasTime)
		if offer(s, &log, n, i%2 == 0, f) {
			accepted = append(accepted, f)
			n++
		} else {
			refused++
			time.Sleep(30 * time.Millisecond)
		}
		if i%20 == 19 {
			time.Sleep(30 * time.Millisecond)
		}
	}
	if refused == 0 || s.NATSStats().RefusedSpoolFull == 0 {
		t.Fatalf("the spool never filled: %+v", s.NATSStats())
	}
	if got := log.settled(); len(got) != 0 {
		t.Fatalf("receipts settled while NATS was away: %v", got)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if got := log.settled(); !slices.Equal(got, want(n, false)) {
		t.Fatalf("at Close: settled %d %v, want %d false", len(got), got, n)
	}
	if ns := s.NATSStats(); ns.ReceiptsLost != uint64(n) || ns.ReceiptsWaiting != 0 {
		t.Fatalf("receipt stats %+v", ns)
	}
	nc.RestartAll()
	s = openSink(t, nc.URL(), dir, "node-a", nil)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	checkExactlyOnce(t, readStream(t, nc.URL(), natssink.ReadOptions{}), rows(accepted))
}

// TestReceiptsRejected: a batch JetStream refuses for good (larger than
// the stream's max_msg_size) is dropped and counted, its receipt settles
// false, and the batches after it go on.
func TestReceiptsRejected(t *testing.T) {
	nc := natstest.Start(t, 1)
	js, err := jetstream.New(nc.Connect())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: natssink.DefaultStream,
		Subjects: []string{natssink.DefaultSubject + ".>"}, MaxMsgSize: 4 << 10}); err != nil {
		t.Fatal(err)
	}
	s := openSink(t, nc.URL(), t.TempDir(), "node-a", func(c *natssink.Config) { c.CreateStream = false })
	g := newGen()
	small := g.frame("small", 4, 2, codec.HasSeq)
	big := g.frame("big", 2000, 4, codec.HasSeq)
	rnd := rand.New(rand.NewPCG(1, 2))
	for i := range big.Values {
		big.Values[i] = codec.Value{Mant: rnd.Int64()} // incompressible
	}
	var log receiptLog
	for i, f := range []codec.Frame{small, big} {
		if !offer(s, &log, i, i == 1, f) {
			t.Fatal("refused")
		}
		log.wait(t, i+1) // its own batch
	}
	after := g.frame("small", 4, 2, codec.HasSeq)
	if !offer(s, &log, 2, false, after) {
		t.Fatal("refused")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if got := log.settled(); !slices.Equal(got, []string{"0:true", "1:false", "2:true"}) {
		t.Fatalf("settled %v", got)
	}
	st, ns := s.Stats(), s.NATSStats()
	if ns.RejectedBatches != 1 || ns.RejectedReadings != 8000 || st.Dropped[sink.DropWriteError] != 8000 ||
		st.Stored != 16 || st.Pending != 0 {
		t.Fatalf("after a rejected batch:\n%+v\n%+v", st, ns)
	}
	checkExactlyOnce(t, readStream(t, nc.URL(), natssink.ReadOptions{}), rows([]codec.Frame{small, after}))
}

// streamHeaders returns "msg-id held-header" of every message of the
// stream, in order.
func streamHeaders(t testing.TB, c *natstest.Cluster) []string {
	t.Helper()
	var out []string
	for _, m := range streamMessages(t, c.Connect(), natssink.DefaultStream) {
		out = append(out, m.Header.Get("Nats-Msg-Id")+" "+m.Header.Get(natssink.HeaderHeld))
	}
	return out
}

// heldSet calls HeldSet and returns its set as text, "nil" for none.
func heldSet(t testing.TB, s *natssink.Sink, device string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	set, err := s.HeldSet(ctx, []byte(device))
	if err != nil {
		t.Fatalf("HeldSet(%s): %v", device, err)
	}
	if set == nil {
		return "nil"
	}
	return set.String()
}

// run is the frame of samples [lo, hi] of dev, as gen makes them.
func run(dev string, lo, hi uint64) codec.Frame {
	g := newGen()
	g.next[dev] = lo
	return g.frame(dev, int(hi-lo+1), 2, codec.HasSeq|codec.HasTime)
}

// TestAckingRuns: an acking device's samples go one contiguous run per
// message, named device/lo-hi, each with the Fleetwire-Held header: what
// JetStream had acknowledged of the device before, plus the run. HeldSet
// reads the last one's, and seeds the headers of the sink it is called on.
func TestAckingRuns(t *testing.T) {
	nc := natstest.Start(t, 1)
	a := openSink(t, nc.URL(), t.TempDir(), "node-a", nil)
	var log receiptLog
	i := 0
	send := func(s *natssink.Sink, frames ...codec.Frame) {
		t.Helper()
		if !offer(s, &log, i, true, frames...) {
			t.Fatal("refused")
		}
		i++
		log.wait(t, i)
	}
	if got := heldSet(t, a, "m"); got != "nil" {
		t.Fatalf("HeldSet before any message: %s", got)
	}
	send(a, run("m", 0, 9))
	send(a, run("m", 20, 24), run("m", 25, 29)) // one run from two frames
	send(a, run("m", 10, 19))
	if got := heldSet(t, a, "m"); got != "30" {
		t.Fatalf("HeldSet = %s, want 30", got)
	}
	send(a, run("m", 40, 41))
	send(a, run("m", 50, 50))
	// Devices whose ids differ in '.' and '_' share a subject: the last
	// message there is a_b's, which says nothing of a.b.
	send(a, run("a.b", 0, 0))
	send(a, run("a_b", 5, 5))
	if got := heldSet(t, a, "a.b"); got != "nil" {
		t.Fatalf("HeldSet(a.b) after a_b's message = %s", got)
	}
	if got := heldSet(t, a, "a_b"); got != "0 5-5" {
		t.Fatalf("HeldSet(a_b) = %s", got)
	}
	// Another node learns what the stream holds, and says it on.
	b := openSink(t, nc.URL(), t.TempDir(), "node-b", nil)
	if got := heldSet(t, b, "m"); got != "30 40-41 50-50" {
		t.Fatalf("HeldSet(m) on node-b = %s", got)
	}
	send(b, run("m", 30, 39))
	if got := heldSet(t, a, "m"); got != "42 50-50" {
		t.Fatalf("HeldSet(m) after node-b's message = %s", got)
	}
	send(a, run("n", 0, 1), run("n", 5, 5)) // two runs of one chunk: two messages
	for _, s := range []*natssink.Sink{a, b} {
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
	got := streamHeaders(t, nc)
	// The last two, in either order: each names its own run, and the
	// other's if that was acknowledged before it went out.
	n := got[len(got)-2:]
	got = got[:len(got)-2]
	slices.Sort(n)
	if !(n[0] == "n/0-1 2" || n[0] == "n/0-1 2 5-5") || !(n[1] == "n/5-5 0 5-5" || n[1] == "n/5-5 2 5-5") {
		t.Fatalf("two runs of one chunk: %q", n)
	}
	wantHdr := []string{
		"m/0-9 10",
		"m/20-29 10 20-29",
		"m/10-19 30",
		"m/40-41 30 40-41",
		"m/50-50 30 40-41 50-50",
		"a.b/0-0 1",
		"a_b/5-5 0 5-5",
		"m/30-39 42 50-50",
	}
	if !slices.Equal(got, wantHdr) {
		t.Fatalf("messages\n%q\nwant\n%q", got, wantHdr)
	}
	if got := log.settled(); !slices.Equal(got, want(i, true)) {
		t.Fatalf("settled %v", got)
	}
}

// TestDupWindow: the same run of an acking device published by two nodes
// is stored once, within the stream's duplicate window; past it, twice,
// and Read counts the second copy as duplicate rows.
func TestDupWindow(t *testing.T) {
	nc := natstest.Start(t, 1)
	window := func(c *natssink.Config) { c.DupWindow = time.Second }
	a := openSink(t, nc.URL(), t.TempDir(), "node-a", window)
	b := openSink(t, nc.URL(), t.TempDir(), "node-b", window)
	var log receiptLog
	r := run("m", 100, 149)
	for i, s := range []*natssink.Sink{a, b} {
		if !offer(s, &log, i, true, r) {
			t.Fatal("refused")
		}
		log.wait(t, i+1)
	}
	if ns := b.NATSStats(); ns.DuplicateAcks != 1 || ns.DuplicateRead != 100 || ns.DupWindowMs != 1000 {
		t.Fatalf("node-b: %+v", ns)
	}
	if st := readStreamTo(t, nc.URL(), natssink.ReadOptions{}, io.Discard); st.Rows != 50 || st.DuplicateRows != 0 || st.Messages != 1 {
		t.Fatalf("within the window: %+v", st)
	}
	time.Sleep(1500 * time.Millisecond)
	if !offer(b, &log, 2, true, r) {
		t.Fatal("refused")
	}
	if got := log.wait(t, 3); !slices.Equal(got, want(3, true)) {
		t.Fatalf("settled %v", got)
	}
	for _, s := range []*natssink.Sink{a, b} {
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
	st := readStreamTo(t, nc.URL(), natssink.ReadOptions{}, io.Discard)
	if st.Rows != 100 || st.DuplicateRows != 50 || st.DuplicateReadings != 100 || st.DupDevices != 1 || st.MissingRows != 0 {
		t.Fatalf("past the window: %+v", st)
	}
}
