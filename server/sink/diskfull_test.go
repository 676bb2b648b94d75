package sink

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/fleetwire/fleetwire/codec"
	"github.com/fleetwire/fleetwire/internal/tmpfs"
)

// TestFileSink_DiskFull fills a 1 MiB tmpfs. Every reading accepted is
// then either on disk or dropped for write_error, exactly: the readings
// read back are Stored, and Stored + Dropped[write_error] is Accepted.
// Failed writes are undone, so what is on disk reads back undamaged.
func TestFileSink_DiskFull(t *testing.T) {
	dir := tmpfs.Mount(t, 1<<20)
	s := openTest(t, FileConfig{Dir: dir, FlushBytes: 32 << 10, FlushInterval: 5 * time.Millisecond})
	frames := sensorFrames(1000, 20000, 10, 4) // 800k distinct readings: ~8 MiB of CSV
	var accepted uint64
	extra := -1 // chunks still to send once drops began
	deadline := time.Now().Add(30 * time.Second)
	for i := 0; extra != 0; {
		if time.Now().After(deadline) {
			t.Fatalf("no write error after 30 s: %+v", s.Stats())
		}
		c := GetChunk()
		for range 32 {
			c.Add(&frames[i%len(frames)], nil)
			i++
		}
		n := uint64(c.Readings())
		if !submit(t, s, c) {
			t.FailNow()
		}
		accepted += n
		switch st := s.Stats(); {
		case extra > 0:
			extra--
		case extra < 0 && st.Dropped[DropWriteError] > 0:
			extra = 100 // go on writing to the full disk for a while
		}
	}
	err := s.Close()
	if !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("Close = %v, want ENOSPC", err)
	}
	st := s.Stats()
	checkAccounting(t, st, accepted)
	if st.Stored == 0 || st.Dropped[DropWriteError] == 0 || st.WriteErrors == 0 || st.Synced > st.Stored {
		t.Fatalf("stats: %+v", st)
	}
	r, err := OpenReader(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var onDisk uint64
	for r.Next() {
		onDisk += uint64(len(r.Row().Values))
	}
	if r.Err() != nil || len(r.Damage()) > 0 {
		t.Fatalf("reading back: %v, damage %v", r.Err(), r.Damage())
	}
	if onDisk != st.Stored || st.Dropped[DropWriteError] != accepted-onDisk {
		t.Fatalf("%d readings on disk, stored %d; dropped for write_error %d, want accepted - on disk = %d",
			onDisk, st.Stored, st.Dropped[DropWriteError], accepted-onDisk)
	}
	t.Logf("accepted %d readings: %d stored in %d segments, %d dropped in %d write errors",
		accepted, st.Stored, st.Segments, st.Dropped[DropWriteError], st.WriteErrors)
}

// Once there is room again the writer goes on by itself: the next flush
// after a failed one starts a new segment.
func TestFileSink_DiskFullResumes(t *testing.T) {
	dir := tmpfs.Mount(t, 256<<10)
	s := openTest(t, FileConfig{Dir: dir, FlushBytes: 16 << 10, FlushInterval: 5 * time.Millisecond})
	defer s.Close()
	frames := sensorFrames(1000, 5000, 10, 4)
	send := func(from int) {
		c := GetChunk()
		for i := range 32 {
			c.Add(&frames[(from+i)%len(frames)], nil)
		}
		submit(t, s, c)
	}
	deadline := time.Now().Add(30 * time.Second)
	for i := 0; s.Stats().Dropped[DropWriteError] == 0; i += 32 {
		if time.Now().After(deadline) {
			t.Fatalf("no write error after 30 s: %+v", s.Stats())
		}
		send(i)
	}
	// The last free pages may still take a frame: go on until only the
	// drops move.
	var full Stats
	for i := 0; ; i += 32 {
		if time.Now().After(deadline) {
			t.Fatalf("stored still rising on a full disk after 30 s: %+v", s.Stats())
		}
		a := s.Stats()
		for j := range 10 {
			send(i + 32*j)
		}
		time.Sleep(50 * time.Millisecond)
		if full = s.Stats(); full.Stored == a.Stored && full.Dropped[DropWriteError] > a.Dropped[DropWriteError] {
			break
		}
	}
	segs, err := listSegments(s.Dir())
	if err != nil {
		t.Fatal(err)
	}
	for _, seg := range segs {
		if !seg.partial { // the failed write sealed its segment
			if err := os.Remove(filepath.Join(s.Dir(), seg.name)); err != nil {
				t.Fatal(err)
			}
		}
	}
	for i := 0; s.Stats().Stored == full.Stored; i += 32 {
		if time.Now().After(deadline) {
			t.Fatalf("nothing stored after room was made: %+v", s.Stats())
		}
		send(i)
		time.Sleep(time.Millisecond)
	}
}

// On a full disk every receipt is settled once, in order: true exactly
// for the chunks whose rows are all on disk (a tmpfs fsync cannot fail),
// false for those a failed write cost rows.
func TestReceipts_DiskFull(t *testing.T) {
	dir := tmpfs.Mount(t, 1<<20)
	s := openTest(t, FileConfig{Dir: dir, FlushBytes: 32 << 10, FlushInterval: 5 * time.Millisecond})
	var l ledger
	type key struct {
		dev string
		seq uint64
	}
	var chunks [][]key // the rows of each chunk, by receipt id
	seq := make([]uint64, 100)
	extra := -1
	deadline := time.Now().Add(30 * time.Second)
	for id := 0; extra != 0; id++ {
		if time.Now().After(deadline) {
			t.Fatalf("no write error after 30 s: %+v", s.Stats())
		}
		c := GetChunk()
		var rows []key
		for j := range 32 {
			d := (id*32 + j) % len(seq)
			dev := fmt.Sprintf("mote-%03d", d)
			f := testFrame(dev, seq[d], 10, 4, 1764000000000, codec.HasSeq|codec.HasTime)
			c.Add(&f, nil)
			for k := range uint64(10) {
				rows = append(rows, key{dev, seq[d] + k})
			}
			seq[d] += 10
		}
		c.SetReceipt(&receipt{id: id, l: &l})
		chunks = append(chunks, rows)
		if !submit(t, s, c) {
			t.FailNow()
		}
		switch st := s.Stats(); {
		case extra > 0:
			extra--
		case extra < 0 && st.Dropped[DropWriteError] > 0:
			extra = 100
		}
	}
	if err := s.Close(); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("Close = %v, want ENOSPC", err)
	}
	rows, damage := readAll(t, dir)
	if len(damage) > 0 {
		t.Fatalf("damage: %v", damage)
	}
	onDisk := make(map[key]bool, len(rows))
	for _, r := range rows {
		onDisk[key{r.dev, r.seq}] = true
	}
	got := l.settled()
	if len(got) != len(chunks) {
		t.Fatalf("%d receipts settled, want %d", len(got), len(chunks))
	}
	var durable, lost int
	for i, st := range got {
		if st.id != i {
			t.Fatalf("settlement %d is receipt %d: out of order", i, st.id)
		}
		all := true
		for _, k := range chunks[i] {
			all = all && onDisk[k]
		}
		if st.durable != all {
			t.Fatalf("receipt %d settled %v, but all its rows on disk: %v", i, st.durable, all)
		}
		if st.durable {
			durable++
		} else {
			lost++
		}
	}
	if durable == 0 || lost == 0 {
		t.Fatalf("%d chunks durable, %d lost: want both", durable, lost)
	}
	t.Logf("%d chunks settled durable, %d not", durable, lost)
}
