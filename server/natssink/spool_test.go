package natssink

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
)

var discard = slog.New(slog.DiscardHandler)

func rec(i int) *record {
	return &record{
		id:       fmt.Appendf(nil, "n/dev-%d/%d/r.%d", i%3, i, i),
		subject:  fmt.Appendf(nil, "fleetwire.readings.dev-%d", i%3),
		readings: uint64(i + 1),
		frames:   1,
		payload:  fmt.Appendf(nil, "payload %d %s", i, make([]byte, i%50)),
	}
}

// readAll reads every record from the read position and returns their
// ids, acknowledging each as it goes when ack is set.
func readAll(t *testing.T, sp *spool, ack bool) []string {
	t.Helper()
	var ids []string
	var r record
	for {
		_, end, ok, err := sp.next(&r)
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			return ids
		}
		ids = append(ids, string(r.id))
		if ack {
			if err := sp.acked(end); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func writeN(t *testing.T, sp *spool, from, to int) {
	t.Helper()
	for i := from; i < to; i++ {
		if _, err := sp.append(rec(i)); err != nil {
			t.Fatal(err)
		}
		if i%7 == 0 {
			if err := sp.commit(); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := sp.commit(); err != nil {
		t.Fatal(err)
	}
}

func ids(from, to int) []string {
	var out []string
	for i := from; i < to; i++ {
		out = append(out, string(rec(i).id))
	}
	return out
}

func equal(t *testing.T, got, want []string) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d records, want %d", len(got), len(want))
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("record %d: %q, want %q", i, got[i], want[i])
		}
	}
}

func TestSpoolRotateAckReopen(t *testing.T) {
	dir := t.TempDir()
	sp, err := openSpool(dir, 1<<10, discard)
	if err != nil {
		t.Fatal(err)
	}
	writeN(t, sp, 0, 100)
	if len(sp.segs) < 5 {
		t.Fatalf("%d segments of 1 KiB for 100 records", len(sp.segs))
	}
	// Read and acknowledge the first 60; rewind once on the way, as a
	// failed publish does.
	var r record
	var ackAt pos
	for i := range 60 {
		start, end, ok, err := sp.next(&r)
		if err != nil || !ok || string(r.id) != string(rec(i).id) {
			t.Fatalf("record %d: %q %v %v", i, r.id, ok, err)
		}
		if i == 30 {
			sp.seek(start)
			if _, _, _, err := sp.next(&r); err != nil || string(r.id) != string(rec(30).id) {
				t.Fatalf("after seek: %q %v", r.id, err)
			}
		}
		ackAt = end
		if err := sp.acked(end); err != nil {
			t.Fatal(err)
		}
	}
	before := sp.unacked()
	if err := sp.close(); err != nil {
		t.Fatal(err)
	}
	sp, err = openSpool(dir, 1<<10, discard)
	if err != nil {
		t.Fatal(err)
	}
	defer sp.close()
	if sp.ack != ackAt || sp.recRecords != 40 || sp.unacked() != before {
		t.Fatalf("reopened: ack %v (want %v), %d records recovered, %d bytes unacknowledged (want %d)", sp.ack, ackAt, sp.recRecords, sp.unacked(), before)
	}
	writeN(t, sp, 100, 110)
	got := readAll(t, sp, true)
	equal(t, got, ids(60, 110))
	if sp.unacked() != 0 || len(sp.segs) != 1 {
		t.Fatalf("all acknowledged: %d bytes left in %d segments", sp.unacked(), len(sp.segs))
	}
}

func TestSpoolTornTail(t *testing.T) {
	dir := t.TempDir()
	sp, err := openSpool(dir, 1<<20, discard)
	if err != nil {
		t.Fatal(err)
	}
	writeN(t, sp, 0, 10)
	seg := sp.path(sp.segs[len(sp.segs)-1].n)
	sp.close()
	// A record cut short, as a crash mid-write leaves it.
	whole := sp.segs[len(sp.segs)-1].size
	f, err := os.OpenFile(seg, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte{200, 0, 0, 0, 1, 2, 3, 4, 5})
	f.Close()
	// A segment created as the process died: not even its magic.
	if err := os.WriteFile(filepath.Join(dir, segName(999)), []byte("FWS"), 0o644); err != nil {
		t.Fatal(err)
	}
	sp, err = openSpool(dir, 1<<20, discard)
	if err != nil {
		t.Fatal(err)
	}
	defer sp.close()
	if sp.recRecords != 10 || sp.tornBytes != 9+3 {
		t.Fatalf("recovered %d records, %d torn bytes", sp.recRecords, sp.tornBytes)
	}
	if st, _ := os.Stat(seg); st.Size() != whole {
		t.Fatalf("segment %d bytes after recovery, want %d", st.Size(), whole)
	}
	equal(t, readAll(t, sp, true), ids(0, 10))
}

func TestSpoolCorruptRecord(t *testing.T) {
	dir := t.TempDir()
	sp, err := openSpool(dir, 1<<20, discard)
	if err != nil {
		t.Fatal(err)
	}
	writeN(t, sp, 0, 5)
	seg := sp.path(sp.segs[0].n)
	sp.close()
	b, err := os.ReadFile(seg)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)-3] ^= 0xFF // inside the last record's payload
	if err := os.WriteFile(seg, b, 0o644); err != nil {
		t.Fatal(err)
	}
	sp, err = openSpool(dir, 1<<20, discard)
	if err != nil {
		t.Fatal(err)
	}
	defer sp.close()
	if sp.recRecords != 4 || sp.corrupt != 1 {
		t.Fatalf("recovered %d, corrupt %d", sp.recRecords, sp.corrupt)
	}
	equal(t, readAll(t, sp, true), ids(0, 4))
}

func TestSpoolLocked(t *testing.T) {
	dir := t.TempDir()
	sp, err := openSpool(dir, 1<<20, discard)
	if err != nil {
		t.Fatal(err)
	}
	defer sp.close()
	if _, err := openSpool(dir, 1<<20, discard); err == nil {
		t.Fatal("a second process opened the same spool")
	}
}

// FuzzSpoolRecover: whatever bytes a segment holds, recovery and reading
// back neither panic nor loop, and what is read back passed its checksum.
func FuzzSpoolRecover(f *testing.F) {
	dir := f.TempDir()
	sp, err := openSpool(dir, 1<<20, discard)
	if err != nil {
		f.Fatal(err)
	}
	for i := range 3 {
		sp.append(rec(i))
	}
	sp.commit()
	seg := sp.path(sp.segs[0].n)
	sp.close()
	good, err := os.ReadFile(seg)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add(good[:len(good)-1])
	f.Add([]byte(spoolMagic))
	f.Add([]byte(spoolMagic + "\xff\xff\xff\xff\x00\x00\x00\x00"))
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, segName(1)), data, 0o644); err != nil {
			t.Fatal(err)
		}
		sp, err := openSpool(dir, 1<<20, discard)
		if err != nil {
			t.Fatal(err)
		}
		defer sp.close()
		n := len(readAll(t, sp, true))
		if uint64(n) != sp.recRecords {
			t.Fatalf("read %d records back, recovery counted %d", n, sp.recRecords)
		}
	})
}
