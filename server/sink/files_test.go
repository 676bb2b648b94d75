package sink

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fleetwire/fleetwire/codec"
)

// TestFileSink_Concurrent is what the server does: several event loops,
// each owning its devices, submit chunks at once. Every reading must come
// back byte-exact, each device's in sequence order.
func TestFileSink_Concurrent(t *testing.T) {
	const loops, devicesPerLoop, framesPerDevice = 4, 25, 120
	s := openTest(t, FileConfig{QueueChunks: 64, FlushBytes: 32 << 10, SegmentBytes: 1 << 20})
	want := make(map[string][]row)
	var mu sync.Mutex
	var wg sync.WaitGroup
	var total uint64
	for l := 0; l < loops; l++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sent := make(map[string][]row)
			seq := make([]uint64, devicesPerLoop)
			var readings uint64
			c := GetChunk()
			for i := 0; i < framesPerDevice; i++ {
				for d := 0; d < devicesPerLoop; d++ {
					dev := fmt.Sprintf("loop%d-dev%02d", l, d)
					n, ch := 1+(i+d)%4, 1+d%8
					f := testFrame(dev, seq[d], n, ch, 1700000000000+int64(seq[d])*1000, codec.HasSeq|codec.HasTime)
					if d%5 == 4 { // some devices name themselves only in a hello
						f.Device = nil
					}
					seq[d] += uint64(n)
					c.Add(&f, []byte(dev))
					sent[dev] = append(sent[dev], rowsOf(&f, dev)...)
					readings += uint64(f.Readings())
				}
				if i%3 == 2 {
					if !submit(t, s, c) {
						return
					}
					c = GetChunk()
				}
			}
			if !submit(t, s, c) {
				return
			}
			mu.Lock()
			defer mu.Unlock()
			total += readings
			for dev, rows := range sent {
				want[dev] = rows
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	st := s.Stats()
	checkAccounting(t, st, total)
	if st.Stored != total || st.Synced != total {
		t.Fatalf("stored %d, synced %d, want %d", st.Stored, st.Synced, total)
	}
	if st.Segments < 2 {
		t.Fatalf("%d segments, want rotation by size at 1 MiB", st.Segments)
	}
	rows, damage := readAll(t, s.cfg.Dir)
	if len(damage) > 0 {
		t.Fatalf("damage after a clean close: %v", damage)
	}
	got := make(map[string][]row)
	for _, r := range rows {
		got[r.dev] = append(got[r.dev], r)
	}
	if len(got) != len(want) {
		t.Fatalf("%d devices read back, want %d", len(got), len(want))
	}
	n := 0
	for dev, w := range want {
		if !slices.Equal(got[dev], w) {
			g := got[dev]
			for i := range min(len(g), len(w)) {
				if g[i] != w[i] {
					t.Fatalf("%s: row %d = %v, want %v", dev, i, g[i], w[i])
				}
			}
			t.Fatalf("%s: %d rows read back, want %d", dev, len(g), len(w))
		}
		n += len(w)
	}
	t.Logf("%d readings in %d rows, %d segments, %d B CSV -> %d B zstd", total, n, st.Segments, st.RawBytes, st.Bytes)
	assertSealed(t, s.Dir())
}

func assertSealed(t *testing.T, dir string) {
	t.Helper()
	segs, err := listSegments(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, seg := range segs {
		if seg.partial {
			t.Fatalf("%s left unsealed after Close", seg.name)
		}
	}
}

func TestFileSink_RotateBySize(t *testing.T) {
	s := openTest(t, FileConfig{SegmentBytes: 8 << 10, FlushBytes: 2 << 10})
	var want []row
	for i := 0; i < 400; i++ {
		f := testFrame("mote-1", uint64(i*4), 4, 2, 1700000000000+int64(i)*4000, codec.HasSeq|codec.HasTime)
		c := GetChunk()
		c.Add(&f, nil)
		want = append(want, rowsOf(&f, "")...)
		submit(t, s, c)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	st := s.Stats()
	if atLeast := st.RawBytes / (8 << 10); st.Segments < atLeast {
		t.Fatalf("%d segments for %d CSV bytes at 8 KiB per segment, want at least %d", st.Segments, st.RawBytes, atLeast)
	}
	segs, _ := listSegments(s.Dir())
	if uint64(len(segs)) != st.Segments {
		t.Fatalf("%d segment files, Stats says %d", len(segs), st.Segments)
	}
	rows, damage := readAll(t, s.cfg.Dir)
	if len(damage) > 0 || !slices.Equal(rows, want) {
		t.Fatalf("read back %d rows (damage %v), want the %d written in order", len(rows), damage, len(want))
	}
}

func TestFileSink_RotateByTime(t *testing.T) {
	s := openTest(t, FileConfig{SegmentAge: 30 * time.Millisecond, FlushInterval: 5 * time.Millisecond})
	var want []row
	for i := 0; i < 3; i++ {
		f := testFrame("mote-1", uint64(i), 1, 1, 0, codec.HasSeq)
		c := GetChunk()
		c.Add(&f, nil)
		want = append(want, rowsOf(&f, "")...)
		start := time.Now()
		submit(t, s, c)
		// Nothing else is written: only the age limit can seal it.
		for {
			segs, _ := listSegments(s.Dir())
			if len(segs) == i+1 && !segs[i].partial {
				break
			}
			if time.Since(start) > 10*time.Second {
				t.Fatalf("segment %d not sealed 10 s after its only write, at an age limit of 30 ms: %v", i, segs)
			}
			time.Sleep(5 * time.Millisecond)
		}
		if el := time.Since(start); el < 30*time.Millisecond {
			t.Fatalf("segment %d sealed after %v, before its age limit", i, el)
		}
		if got := s.Stats().Segments; got != uint64(i+1) {
			t.Fatalf("after %d submits: %d segments", i+1, got)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	rows, damage := readAll(t, s.cfg.Dir)
	if len(damage) > 0 || !slices.Equal(rows, want) {
		t.Fatalf("read back %v (damage %v), want %v", rows, damage, want)
	}
}

// With the default FsyncInterval, what was written is fsynced within
// about two intervals of its Submit, with no rotation to help: the
// segment stays open (.partial) throughout.
func TestFileSink_FsyncInterval(t *testing.T) {
	s := openTest(t, FileConfig{FlushInterval: 10 * time.Millisecond, SegmentAge: time.Hour})
	defer s.Close()
	iv := s.cfg.FsyncInterval
	if iv != DefaultFsyncInterval {
		t.Fatalf("FsyncInterval %v, want the default %v", iv, DefaultFsyncInterval)
	}
	for i := range 3 {
		f := testFrame("mote-1", uint64(i), 1, 4, 0, codec.HasSeq)
		c := GetChunk()
		c.Add(&f, nil)
		start := time.Now()
		submit(t, s, c)
		for st := s.Stats(); st.Synced != st.Accepted; st = s.Stats() {
			if el := time.Since(start); el > 2*iv {
				t.Fatalf("round %d: %d of %d readings synced %v after Submit, want all within 2 x %v", i, st.Synced, st.Accepted, el, iv)
			}
			time.Sleep(5 * time.Millisecond)
		}
		st := s.Stats()
		if st.Synced != uint64(4*(i+1)) || st.Segments != 1 {
			t.Fatalf("round %d: synced %d, segments %d; want %d synced in one segment", i, st.Synced, st.Segments, 4*(i+1))
		}
	}
	segs, _ := listSegments(s.Dir())
	if len(segs) != 1 || !segs[0].partial {
		t.Fatalf("segments %v, want the one open .partial: no rotation", segs)
	}
}

// FsyncOnSeal is the old behaviour, on request and with a warning: rows
// are written at once but fsynced only when the segment is sealed.
func TestFileSink_FsyncOnSeal(t *testing.T) {
	var log strings.Builder
	s := openTest(t, FileConfig{FsyncInterval: FsyncOnSeal, FlushInterval: 5 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(&log, nil))})
	if !strings.Contains(log.String(), "a power cut may lose up to a rotation period") {
		t.Fatalf("no warning logged, log: %q", log.String())
	}
	f := testFrame("mote-1", 0, 2, 2, 0, codec.HasSeq)
	c := GetChunk()
	c.Add(&f, nil)
	submit(t, s, c)
	waitStored(t, s, 4)
	time.Sleep(2 * DefaultFsyncInterval)
	if st := s.Stats(); st.Synced != 0 {
		t.Fatalf("synced %d before the segment was sealed", st.Synced)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if st := s.Stats(); st.Synced != 4 {
		t.Fatalf("synced %d after Close, want 4", st.Synced)
	}
}

// waitStored waits until s has written n readings.
func waitStored(t *testing.T, s Sink, n uint64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for s.Stats().Stored < n {
		if time.Now().After(deadline) {
			t.Fatalf("stored %d of %d readings after 10 s", s.Stats().Stored, n)
		}
		time.Sleep(time.Millisecond)
	}
}

// A device wider than the segment starts a wider segment; export pads the
// narrower rows to the widest.
func TestFileSink_WiderDevice(t *testing.T) {
	s := openTest(t, FileConfig{Channels: 2})
	narrow := testFrame("narrow", 0, 2, 2, 0, codec.HasSeq)
	wide := testFrame("wide", 0, 1, 5, 0, codec.HasSeq)
	narrow2 := testFrame("narrow", 2, 1, 1, 0, codec.HasSeq)
	for _, f := range []*codec.Frame{&narrow, &wide, &narrow2} {
		c := GetChunk()
		c.Add(f, nil)
		submit(t, s, c)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if st := s.Stats(); st.Segments != 2 {
		t.Fatalf("%d segments, want 2: the 5-channel device starts a new one", st.Segments)
	}
	r, err := OpenReader(s.cfg.Dir)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if r.Channels() != 5 {
		t.Fatalf("Channels() = %d, want 5", r.Channels())
	}
	var out strings.Builder
	if _, err := Export(&out, r, Filter{}); err != nil {
		t.Fatal(err)
	}
	want := "device,seq,unix_ms,ch1,ch2,ch3,ch4,ch5\n" +
		"narrow,0,,30.20,1,,,\n" +
		"narrow,1,,-0.014,-0.00,,,\n" +
		"wide,0,,30.20,1,-0.014,-0.00,1.5e-07\n" +
		"narrow,2,,-0.014,,,,\n"
	if out.String() != want {
		t.Fatalf("export:\n%s\nwant:\n%s", out.String(), want)
	}
}

func TestFileSink_QueueFull(t *testing.T) {
	s, err := openFiles(FileConfig{Dir: t.TempDir(), QueueChunks: 3, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	// The writer is not running yet, so the queue fills for certain.
	f := testFrame("d", 0, 2, 2, 0, codec.HasSeq)
	for i := 0; i < 3; i++ {
		c := GetChunk()
		c.Add(&f, nil)
		if !s.Submit(c) {
			t.Fatalf("Submit %d refused with room in the queue", i)
		}
	}
	c := GetChunk()
	c.Add(&f, nil)
	if s.Submit(c) {
		t.Fatalf("Submit accepted a 4th chunk into a queue of 3")
	}
	st := s.Stats()
	if st.Refused[DropQueueFull] != 1 || st.RefusedReadings[DropQueueFull] != 4 || st.QueueChunks != 3 || st.QueueHighWater != 3 || st.Pending != 12 {
		t.Fatalf("stats after a refusal: %+v", st)
	}
	// c is still the caller's: it keeps it and submits it again once the
	// writer runs, which is back-pressure rather than a drop.

	// Bound by memory as well: a chunk larger than the byte bound.
	s.cfg.QueueBytes = s.c.queueBytes.Load() + 100
	big := GetChunk()
	big.Add(&f, nil)
	if s.Submit(big) {
		t.Fatalf("Submit accepted a chunk beyond QueueBytes")
	}
	big.Release()

	go s.run()
	submit(t, s, c)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	st = s.Stats()
	checkAccounting(t, st, 16)
	// The resubmission may itself be refused while the writer catches up.
	if r := st.Refused[DropQueueFull]; st.QueueBytes != 0 || r < 2 || st.RefusedReadings[DropQueueFull] != 4*r {
		t.Fatalf("after Close: %+v", st)
	}
}

func TestFileSink_SubmitAfterClose(t *testing.T) {
	f := testFrame("d", 0, 3, 1, 0, codec.HasSeq)
	for name, s := range map[string]Sink{"files": openTest(t, FileConfig{}), "none": None()} {
		c := GetChunk()
		c.Add(&f, nil)
		if !s.Submit(c) {
			t.Fatalf("%s: Submit refused an open sink", name)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatalf("%s: second Close: %v", name, err)
		}
		c = GetChunk()
		c.Add(&f, nil)
		if s.Submit(c) {
			t.Fatalf("%s: Submit accepted after Close", name)
		}
		st := s.Stats()
		if st.Refused[DropClosed] != 1 || st.RefusedReadings[DropClosed] != 3 || st.Accepted != 3 || st.Pending != 0 {
			t.Fatalf("%s: stats %+v", name, st)
		}
	}
}

func TestNone(t *testing.T) {
	s := None()
	f := testFrame("d", 0, 4, 2, 0, 0)
	for i := 0; i < 10; i++ {
		c := GetChunk()
		c.Add(&f, nil)
		if !s.Submit(c) {
			t.Fatalf("None refused a chunk")
		}
	}
	st := s.Stats()
	if st.Accepted != 80 || st.Dropped[DropDiscardedByConfig] != 80 || st.Stored != 0 || st.Pending != 0 {
		t.Fatalf("None stats: %+v", st)
	}
	if DropDiscardedByConfig.String() != "discarded_by_config" {
		t.Fatalf("reason name %q", DropDiscardedByConfig)
	}
}

// A failed write loses exactly the rows of that flush, counted, and
// leaves the segment readable up to them.
func TestFileSink_WriteError(t *testing.T) {
	s, err := openFiles(FileConfig{Dir: t.TempDir(), Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	f := testFrame("d", 0, 5, 2, 0, codec.HasSeq)
	g := testFrame("d", 5, 3, 2, 0, codec.HasSeq)
	h := testFrame("d", 8, 1, 2, 0, codec.HasSeq)
	// Drive the writer by hand, as run would, to fail the second flush.
	step := func(fr *codec.Frame) {
		c := GetChunk()
		c.Add(fr, nil)
		if !s.Submit(c) {
			t.Fatal("Submit refused")
		}
		c = <-s.queue
		s.c.queueBytes.Add(-c.memBytes())
		s.w.add(c)
		c.Release()
	}
	step(&f)
	s.w.flush()
	step(&g)
	s.w.seg.f.Close() // the disk goes away under the writer
	s.w.flush()
	step(&h)
	s.w.finish()
	close(s.done)
	err = s.Close()
	if err == nil || !errors.Is(err, os.ErrClosed) {
		t.Fatalf("Close = %v, want the write error", err)
	}
	st := s.Stats()
	checkAccounting(t, st, 18)
	if st.Stored != 12 || st.Dropped[DropWriteError] != 6 || st.WriteErrors == 0 {
		t.Fatalf("stats: %+v", st)
	}
	rows, damage := readAll(t, s.cfg.Dir)
	if len(damage) > 0 || len(rows) != 6 || rows[4].seq != 4 || rows[5].seq != 8 {
		t.Fatalf("read back %v, damage %v; want seq 0-4 and 8", rows, damage)
	}
	if st.Segments != 2 {
		t.Fatalf("%d segments, want a fresh one after the failed write", st.Segments)
	}
}

func TestOpenFiles_Locked(t *testing.T) {
	s := openTest(t, FileConfig{})
	defer s.Close()
	_, err := OpenFiles(FileConfig{Dir: s.cfg.Dir, Logger: quiet})
	if err == nil || !strings.Contains(err.Error(), "in use by another") {
		t.Fatalf("second OpenFiles on one directory: %v", err)
	}
}

// A crash leaves a .partial with a torn last frame; the next OpenFiles
// cuts the torn frame, seals the segment, and numbering continues.
func TestOpenFiles_RecoversPartial(t *testing.T) {
	dir := t.TempDir()
	s := openTest(t, FileConfig{Dir: dir, FlushBytes: 256})
	var want []row
	for i := 0; i < 50; i++ {
		f := testFrame("m", uint64(i*3), 3, 3, 0, codec.HasSeq)
		c := GetChunk()
		c.Add(&f, nil)
		want = append(want, rowsOf(&f, "")...)
		submit(t, s, c)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	segs, _ := listSegments(s.Dir())
	if len(segs) != 1 {
		t.Fatalf("%d segments", len(segs))
	}
	// Make it look like the crash hit during the last write.
	sealed := filepath.Join(s.Dir(), segs[0].name)
	partial := sealed + partialSuffix
	if err := os.Rename(sealed, partial); err != nil {
		t.Fatal(err)
	}
	fi, _ := os.Stat(partial)
	if err := os.Truncate(partial, fi.Size()-7); err != nil {
		t.Fatal(err)
	}
	rows, damage := readAll(t, dir)
	if len(damage) != 1 || !errors.Is(damage[0], ErrTorn) {
		t.Fatalf("damage %v, want one torn frame", damage)
	}
	if len(rows) == 0 || len(rows) >= len(want) || !slices.Equal(rows, want[:len(rows)]) {
		for i := range rows {
			if rows[i] != want[i] {
				t.Logf("row %d: %v, want %v", i, rows[i], want[i])
				break
			}
		}
		t.Fatalf("read %d rows of %d, want a proper prefix", len(rows), len(want))
	}

	// And one created just before the crash, with nothing in it yet.
	empty := filepath.Join(s.Dir(), segName(time.Now(), "", 7)+partialSuffix)
	if err := os.WriteFile(empty, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	s2 := openTest(t, FileConfig{Dir: dir})
	if _, err := os.Stat(empty); !os.IsNotExist(err) {
		t.Fatalf("an empty .partial survived recovery: %v", err)
	}
	st := s2.Stats()
	if st.Recovered != 2 || st.RecoveredTrunc == 0 {
		t.Fatalf("recovery stats %+v", st)
	}
	f := testFrame("m", 1000, 1, 1, 0, codec.HasSeq)
	c := GetChunk()
	c.Add(&f, nil)
	submit(t, s2, c)
	if err := s2.Close(); err != nil {
		t.Fatal(err)
	}
	after, damage := readAll(t, dir)
	if len(damage) != 0 {
		t.Fatalf("damage after recovery: %v", damage)
	}
	if !slices.Equal(after, append(rows, rowsOf(&f, "")...)) {
		t.Fatalf("after recovery read %d rows, want the %d whole ones and the new one", len(after), len(rows))
	}
	segs, _ = listSegments(s.Dir())
	if len(segs) != 2 || segs[1].counter != 8 {
		t.Fatalf("segments after restart %v, want numbering to continue after 7", segs)
	}
}

// Two server processes with node names share one data directory; each
// recovers and numbers only its own segments, and a reader reads both.
func TestFileSink_Nodes(t *testing.T) {
	dir := t.TempDir()
	a := openTest(t, FileConfig{Dir: dir, Node: "node-a"})
	b := openTest(t, FileConfig{Dir: dir, Node: "b"})
	if _, err := OpenFiles(FileConfig{Dir: dir, Node: "b", Logger: quiet}); err == nil {
		t.Fatalf("a second process with node name b was let in")
	}
	if _, err := OpenFiles(FileConfig{Dir: dir, Node: "bad/name", Logger: quiet}); err == nil {
		t.Fatalf("node name with a slash accepted")
	}
	fa := testFrame("dev-a", 0, 2, 1, 0, codec.HasSeq)
	fb := testFrame("dev-b", 0, 3, 1, 0, codec.HasSeq)
	for _, p := range []struct {
		s *FileSink
		f *codec.Frame
	}{{a, &fa}, {b, &fb}} {
		c := GetChunk()
		c.Add(p.f, nil)
		submit(t, p.s, c)
		if err := p.s.Close(); err != nil {
			t.Fatal(err)
		}
	}
	segs, _ := listSegments(a.Dir())
	if len(segs) != 2 || segs[0].counter != 1 || segs[1].counter != 1 {
		t.Fatalf("segments %v, want one per node, each numbered 1", segs)
	}
	rows, damage := readAll(t, dir)
	if len(rows) != 5 || len(damage) != 0 {
		t.Fatalf("read %v, damage %v", rows, damage)
	}
	// A .partial of node b is not node-a's to recover.
	other := filepath.Join(a.Dir(), segs[0].name)
	if segs[0].node == "node-a" {
		other = filepath.Join(a.Dir(), segs[1].name)
	}
	os.Rename(other, other+partialSuffix)
	a2 := openTest(t, FileConfig{Dir: dir, Node: "node-a"})
	a2.Close()
	if _, err := os.Stat(other + partialSuffix); err != nil || a2.Stats().Recovered != 0 {
		t.Fatalf("node-a touched node b's .partial: %v, recovered %d", err, a2.Stats().Recovered)
	}
}

func TestParseSegName(t *testing.T) {
	f := func(name string, ok bool, node string, counter uint64, partial bool) {
		t.Helper()
		s, gotOK := parseSegName(name)
		if gotOK != ok || ok && (s.node != node || s.counter != counter || s.partial != partial) {
			t.Fatalf("parseSegName(%q) = %+v, %v", name, s, gotOK)
		}
	}
	now := time.Date(2026, 11, 25, 11, 6, 50, 123e6, time.UTC)
	f(segName(now, "", 1), true, "", 1, false)
	f(segName(now, "node-7", 42), true, "node-7", 42, false)
	f(segName(now, "", 3)+partialSuffix, true, "", 3, true)
	f("seg-20261125T110650.123Z-000001.csv.zst", true, "", 1, false)
	f("seg-20261125T110650.123Z-000001.csv", false, "", 0, false)
	f("seg-2026-000001.csv.zst", false, "", 0, false)
	f("seg-20261125T110650.123Z-x.csv.zst", false, "", 0, false)
	f("log-20261125T110650.123Z-000001.csv.zst", false, "", 0, false)
	if got := segName(now, "", 1); got != "seg-20261125T110650.123Z-000001.csv.zst" {
		t.Fatalf("segName = %q", got)
	}
}

func TestStats_JSON(t *testing.T) {
	var st Stats
	st.Dropped[DropWriteError] = 7
	b, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"dropped":{"queue_full":0,"closed":0,"write_error":7,"discarded_by_config":0}`) {
		t.Fatalf("JSON: %s", b)
	}
	var back map[string]any
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatalf("not JSON: %v", err)
	}
}
