package sink

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

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
