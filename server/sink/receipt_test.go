package sink

import (
	"fmt"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/fleetwire/fleetwire/codec"
)

// ledger records the receipts settled, in the order they were.
type ledger struct {
	mu  sync.Mutex
	got []settlement
	s   *FileSink // when set, the readings synced at each settlement
}

type settlement struct {
	id      int
	durable bool
	synced  uint64 // s's Synced when it was settled
}

// receipt is a test's receipt: it tells the ledger its id.
type receipt struct {
	id int
	l  *ledger
}

func (r *receipt) Settled(durable bool) {
	r.l.mu.Lock()
	defer r.l.mu.Unlock()
	st := settlement{id: r.id, durable: durable}
	if r.l.s != nil {
		st.synced = r.l.s.c.synced.Load()
	}
	r.l.got = append(r.l.got, st)
}

func (l *ledger) settled() []settlement {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.got)
}

// String lists the receipts settled so far as "id:durable".
func (l *ledger) String() string {
	var b []byte
	for i, s := range l.settled() {
		if i > 0 {
			b = append(b, ' ')
		}
		b = fmt.Appendf(b, "%d:%v", s.id, s.durable)
	}
	return string(b)
}

// chunkOf returns a chunk of frames, with a receipt id for l unless id < 0.
func chunkOf(l *ledger, id int, frames ...*codec.Frame) *Chunk {
	c := GetChunk()
	for _, f := range frames {
		c.Add(f, nil)
	}
	if id >= 0 {
		c.SetReceipt(&receipt{id: id, l: l})
	}
	return c
}

// stepper drives a FileSink's writer by hand, as run would.
type stepper struct {
	t *testing.T
	s *FileSink
}

func newStepper(t *testing.T, cfg FileConfig) stepper {
	t.Helper()
	if cfg.Dir == "" {
		cfg.Dir = t.TempDir()
	}
	if cfg.Logger == nil {
		cfg.Logger = quiet
	}
	s, err := openFiles(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return stepper{t, s}
}

// add submits c and has the writer take it.
func (p stepper) add(c *Chunk) {
	p.t.Helper()
	if !p.s.Submit(c) {
		p.t.Fatal("Submit refused")
	}
	c = <-p.s.queue
	p.s.c.queueBytes.Add(-c.memBytes())
	p.s.w.add(c)
	c.Release()
}

// close ends the writer as run does at Close and returns Close's error.
func (p stepper) close() error {
	p.s.w.finish()
	close(p.s.done)
	return p.s.Close()
}

// A receipt is settled by the first fsync after the write of its chunk's
// last row, never by one before it.
func TestReceipts_FsyncTiming(t *testing.T) {
	var l ledger
	p := newStepper(t, FileConfig{})
	want := func(step, settled string) {
		t.Helper()
		if got := l.String(); got != settled {
			t.Fatalf("after %s: settled %q, want %q", step, got, settled)
		}
	}
	f := testFrame("d", 0, 3, 2, 0, codec.HasSeq)
	g := testFrame("d", 3, 2, 2, 0, codec.HasSeq)
	p.add(chunkOf(&l, 0, &f))
	want("add", "")
	p.s.w.flush()
	want("write", "")
	p.s.w.sync()
	want("fsync", "0:true")

	p.add(chunkOf(&l, 1, &g))
	p.s.w.sync()
	want("an fsync while the rows are buffered", "0:true")
	p.s.w.flush()
	want("write", "0:true")
	p.s.w.sync()
	want("fsync", "0:true 1:true")

	// A chunk without readings is durable once those before it are; one
	// without a receipt is nobody's business.
	p.add(chunkOf(&l, -1, &f))
	p.add(chunkOf(&l, 2))
	want("an empty chunk behind a buffered one", "0:true 1:true")
	p.s.w.flush()
	p.s.w.sync()
	want("fsync", "0:true 1:true 2:true")

	// Sealing fsyncs: Close settles what it wrote.
	p.add(chunkOf(&l, 3, &g))
	if err := p.close(); err != nil {
		t.Fatal(err)
	}
	want("Close", "0:true 1:true 2:true 3:true")
}

// A failed write settles its chunks false, and those written before it
// true once the seal that follows fsyncs them; a failed fsync settles
// false what it should have covered; a segment that cannot be created
// settles false at once.
func TestReceipts_Failures(t *testing.T) {
	var l ledger
	p := newStepper(t, FileConfig{})
	f := testFrame("d", 0, 3, 2, 0, codec.HasSeq)
	p.add(chunkOf(&l, 0, &f))
	p.s.w.flush()
	p.add(chunkOf(&l, 1, &f))
	p.add(chunkOf(&l, 2, &f))
	// Writes now fail (EBADF), while fsync still works.
	ro, err := os.Open(p.s.w.seg.f.Name())
	if err != nil {
		t.Fatal(err)
	}
	p.s.w.seg.f.Close()
	p.s.w.seg.f = ro
	p.s.w.flush()
	if got, want := l.String(), "0:true 1:false 2:false"; got != want {
		t.Fatalf("after a failed write: %q, want %q", got, want)
	}

	p.add(chunkOf(&l, 3, &f))
	p.s.w.flush()
	p.s.w.seg.f.Close() // now fsync fails too
	p.s.w.sync()
	if got, want := l.String(), "0:true 1:false 2:false 3:false"; got != want {
		t.Fatalf("after a failed fsync: %q, want %q", got, want)
	}
	p.s.w.seal()

	gone := p.s.dir + ".gone"
	if err := os.Rename(p.s.dir, gone); err != nil {
		t.Fatal(err)
	}
	p.add(chunkOf(&l, 4, &f))
	p.s.w.flush()
	if got, want := l.String(), "0:true 1:false 2:false 3:false 4:false"; got != want {
		t.Fatalf("after a failed create: %q, want %q", got, want)
	}
	if err := os.Rename(gone, p.s.dir); err != nil {
		t.Fatal(err)
	}
	p.add(chunkOf(&l, 5, &f))
	if err := p.close(); err == nil {
		t.Fatal("Close returned no error after failed writes")
	}
	if got, want := l.String(), "0:true 1:false 2:false 3:false 4:false 5:true"; got != want {
		t.Fatalf("after Close: %q, want %q", got, want)
	}
	st := p.s.Stats()
	checkAccounting(t, st, 6*6)
	if st.Stored != 3*6 || st.Synced != 2*6 {
		t.Fatalf("stored %d, synced %d: want chunks 0, 3 and 5 stored, 0 and 5 synced", st.Stored, st.Synced)
	}
}

// A chunk whose rows span two segments (a wider device in its middle)
// waits for the fsync of the second. A segment full by size is sealed at
// the end of the chunk that filled it, not in its middle.
func TestReceipts_SpanningChunks(t *testing.T) {
	var l ledger
	p := newStepper(t, FileConfig{Channels: 2, FlushBytes: 64, SegmentBytes: 256})
	narrow := testFrame("n", 0, 2, 2, 0, codec.HasSeq)
	wide := testFrame("w", 0, 1, 4, 0, codec.HasSeq)
	p.add(chunkOf(&l, 0, &narrow, &narrow, &wide, &narrow))
	if got := l.String(); got != "" {
		t.Fatalf("settled %q with rows still buffered", got)
	}
	p.s.w.flush()
	if got := p.s.Stats().Segments; got != 2 {
		t.Fatalf("%d segments, want the wide frame to start a second", got)
	}
	if got := l.String(); got != "" {
		t.Fatalf("settled %q before the second segment's fsync", got)
	}
	p.s.w.sync()
	if got := l.String(); got != "0:true" {
		t.Fatalf("settled %q, want 0:true after the second segment's fsync", got)
	}

	// 10 flushes of 64 bytes fill 256 bytes of segment in the middle of
	// the chunk: it is sealed at the chunk's end, all of it inside.
	var fs []*codec.Frame
	for i := range 10 {
		f := testFrame("m", uint64(i*2), 2, 4, 0, codec.HasSeq)
		fs = append(fs, &f)
	}
	p.add(chunkOf(&l, 1, fs...))
	segs, _ := listSegments(p.s.Dir())
	if len(segs) != 2 || segs[1].partial || p.s.w.seg != nil {
		t.Fatalf("segments %v, want the second sealed at the end of the chunk and none open", segs)
	}
	if got := l.String(); got != "0:true 1:true" {
		t.Fatalf("settled %q, want the chunk's receipt settled by the seal", got)
	}
	if err := p.close(); err != nil {
		t.Fatal(err)
	}
}

// Many chunks, some without receipts, through the running writer with
// rotation by size and age, flushes in the middle of chunks and a wider
// device: every receipt is settled once, in submission order, true, and
// only after Synced covers its chunk.
func TestReceipts_Order(t *testing.T) {
	l := ledger{}
	s := openTest(t, FileConfig{Channels: 2, FlushBytes: 2 << 10, SegmentBytes: 16 << 10,
		FlushInterval: 2 * time.Millisecond, FsyncInterval: 5 * time.Millisecond, SegmentAge: 30 * time.Millisecond})
	l.s = s
	var ids int
	var readings uint64
	covered := map[int]uint64{} // receipt id: readings submitted up to its chunk
	seq := map[string]uint64{}
	for i := range 3000 {
		var fs []*codec.Frame
		for j := range 1 + i%4 {
			dev := fmt.Sprintf("d%d", (i+j)%7)
			ch := 1 + (i+j)%2
			if i == 1501 && j == 1 {
				ch = 3 // wider: a new segment in the middle of the chunk
			}
			f := testFrame(dev, seq[dev], 1+j, ch, 0, codec.HasSeq)
			seq[dev] += uint64(1 + j)
			fs = append(fs, &f)
			readings += uint64(f.Readings())
		}
		id := -1
		if i%3 != 2 {
			id = ids
			covered[id] = readings
			ids++
		}
		if !submit(t, s, chunkOf(&l, id, fs...)) {
			t.FailNow()
		}
		if i%500 == 0 {
			time.Sleep(20 * time.Millisecond) // let fsyncs and age rotations in
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	got := l.settled()
	if len(got) != ids {
		t.Fatalf("%d receipts settled, want %d", len(got), ids)
	}
	for i, st := range got {
		if st.id != i || !st.durable {
			t.Fatalf("settlement %d: %+v, want receipt %d durable", i, st, i)
		}
		if st.synced < covered[i] {
			t.Fatalf("receipt %d settled with %d readings synced, its chunk ends at %d", i, st.synced, covered[i])
		}
	}
	if st := s.Stats(); st.Segments < 3 {
		t.Fatalf("%d segments: the test wants rotations", st.Segments)
	}
}

// Close writes what was queued, fsyncs it and settles it true before it
// returns. A refused chunk is never settled by the sink.
func TestReceipts_CloseAndRefused(t *testing.T) {
	var l ledger
	s, err := openFiles(FileConfig{Dir: t.TempDir(), QueueChunks: 5, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	f := testFrame("d", 0, 2, 2, 0, codec.HasSeq)
	for i := range 5 {
		if !s.Submit(chunkOf(&l, i, &f)) {
			t.Fatal("Submit refused with room in the queue")
		}
	}
	refused := chunkOf(&l, 99, &f)
	if s.Submit(refused) {
		t.Fatal("Submit accepted a 6th chunk into a queue of 5")
	}
	go s.run()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if got, want := l.String(), "0:true 1:true 2:true 3:true 4:true"; got != want {
		t.Fatalf("after Close: %q, want %q", got, want)
	}
	if s.Submit(refused) {
		t.Fatal("Submit accepted after Close")
	}
	if refused.Receipt() == nil {
		t.Fatal("a refused chunk lost its receipt")
	}
	refused.Release()
	if got := len(l.settled()); got != 5 {
		t.Fatalf("%d settled: the sink settled a refused chunk", got)
	}
}

// With FsyncOnSeal the writer fsyncs early rather than hold more than
// QueueChunks receipts.
func TestReceipts_Bounded(t *testing.T) {
	var l ledger
	p := newStepper(t, FileConfig{FsyncInterval: FsyncOnSeal, QueueChunks: 4})
	f := testFrame("d", 0, 1, 1, 0, codec.HasSeq)
	for i := range 3 {
		p.add(chunkOf(&l, i, &f))
	}
	if got := l.String(); got != "" {
		t.Fatalf("settled %q before the bound", got)
	}
	p.add(chunkOf(&l, 3, &f))
	if got := l.String(); got != "0:true 1:true 2:true 3:true" || p.s.w.rc.waiting() != 0 {
		t.Fatalf("settled %q, %d waiting: want all 4 settled at the bound", got, p.s.w.rc.waiting())
	}
	if segs, _ := listSegments(p.s.Dir()); len(segs) != 1 || !segs[0].partial {
		t.Fatalf("segments %v, want the open one: an fsync, not a seal", segs)
	}
	if err := p.close(); err != nil {
		t.Fatal(err)
	}
}

func TestNone_Receipts(t *testing.T) {
	var l ledger
	s := None()
	f := testFrame("d", 0, 1, 1, 0, 0)
	c := chunkOf(&l, 0, &f)
	if !s.Submit(c) {
		t.Fatal("None refused")
	}
	if got := l.String(); got != "0:true" {
		t.Fatalf("None settled %q inside Submit, want 0:true", got)
	}
	s.Close()
	c = chunkOf(&l, 1, &f)
	if s.Submit(c) {
		t.Fatal("None accepted after Close")
	}
	c.Release()
	if got := l.String(); got != "0:true" {
		t.Fatalf("None settled a refused chunk: %q", got)
	}
}

func TestChunk_Receipt(t *testing.T) {
	var l ledger
	c := GetChunk()
	if c.Receipt() != nil {
		t.Fatal("a new chunk has a receipt")
	}
	r := &receipt{l: &l}
	c.SetReceipt(r)
	if c.Receipt() != r {
		t.Fatal("Receipt() does not return the receipt set")
	}
	func() {
		defer func() {
			if recover() == nil {
				t.Fatal("no panic for a second receipt")
			}
		}()
		c.SetReceipt(&receipt{l: &l})
	}()
	c.SetReceipt(nil)
	c.SetReceipt(r)
	c.Release()
	if c.Receipt() != nil {
		t.Fatal("Release kept the receipt")
	}
}
