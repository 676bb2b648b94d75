package sink

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fleetwire/fleetwire/codec"
)

// checkpointer is a FileConfig.Checkpoint that writes what a ledger holds
// when it is called, as a server writes its ack state.
type checkpointer struct {
	l     *ledger
	calls int
	fail  error
}

func (c *checkpointer) write(w io.Writer) error {
	c.calls++
	if c.fail != nil {
		return c.fail
	}
	_, err := fmt.Fprintf(w, "settled %s\n", c.l)
	return err
}

// checkpointOf reads node's checkpoint under dir, failing the test if
// there is none or it is bad.
func checkpointOf(t *testing.T, dir, node string) (body string, seg string) {
	t.Helper()
	b, s, ok, err := readCheckpoint(dir, node)
	if err != nil || !ok {
		t.Fatalf("checkpoint of %q: %v, found %v", node, err, ok)
	}
	return string(b), s.name
}

// The writer calls Checkpoint after each seal, once the segment's
// receipts are settled, and keeps one file that names the segment.
func TestCheckpoint_AfterSeal(t *testing.T) {
	var l ledger
	ck := checkpointer{l: &l}
	p := newStepper(t, FileConfig{Checkpoint: ck.write})
	f := testFrame("d", 0, 2, 2, 0, codec.HasSeq)
	for i, want := range []string{"settled 0:true\n", "settled 0:true 1:true\n"} {
		p.add(chunkOf(&l, i, &f))
		p.s.w.flush()
		seg := p.s.w.seg.name
		p.s.w.sync()
		if ck.calls != i {
			t.Fatalf("checkpoint written before the seal")
		}
		p.s.w.seal()
		body, covers := checkpointOf(t, p.s.dir, "")
		if body != want || covers != seg {
			t.Fatalf("checkpoint %d: %q covering %s, want %q covering %s", i, body, covers, want, seg)
		}
	}
	ents, _ := os.ReadDir(p.s.dir)
	var names []string
	for _, e := range ents {
		if !strings.HasPrefix(e.Name(), segPrefix) {
			names = append(names, e.Name())
		}
	}
	if !slices.Equal(names, []string{".lock", "checkpoint"}) {
		t.Fatalf("files beside the segments: %v, want the lock and one checkpoint", names)
	}
	if err := p.close(); err != nil {
		t.Fatal(err)
	}
	if st := p.s.Stats(); st.Checkpoints != 2 || st.CheckpointErrors != 0 || ck.calls != 2 {
		t.Fatalf("%d checkpoints, %d errors, %d calls; want 2 written (Close sealed nothing)", st.Checkpoints, st.CheckpointErrors, ck.calls)
	}
}

// With a node name the checkpoint is the node's: checkpoint-<node>.
func TestCheckpoint_Node(t *testing.T) {
	var l ledger
	ck := checkpointer{l: &l}
	s := openTest(t, FileConfig{Node: "node-b", Checkpoint: ck.write})
	f := testFrame("d", 0, 2, 2, 0, codec.HasSeq)
	submit(t, s, chunkOf(&l, 0, &f))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if body, _ := checkpointOf(t, s.dir, "node-b"); body != "settled 0:true\n" {
		t.Fatalf("node-b's checkpoint %q", body)
	}
	if _, _, ok, err := readCheckpoint(s.dir, ""); ok || err != nil {
		t.Fatalf("a checkpoint without a node: %v, %v", ok, err)
	}
	if _, err := os.Stat(filepath.Join(s.dir, "checkpoint-node-b")); err != nil {
		t.Fatal(err)
	}
}

// A checkpoint that fails (its writer's error, or the disk's) is logged
// and counted and leaves the previous one; the sink goes on, and the next
// seal writes one. A seal that failed, or that cut a chunk in two, writes
// none.
func TestCheckpoint_Failures(t *testing.T) {
	var l ledger
	var log strings.Builder
	ck := checkpointer{l: &l}
	p := newStepper(t, FileConfig{Channels: 2, Checkpoint: ck.write, Logger: slog.New(slog.NewTextHandler(&log, nil))})
	f := testFrame("d", 0, 2, 2, 0, codec.HasSeq)
	seal := func(id int) {
		p.add(chunkOf(&l, id, &f))
		p.s.w.flush()
		p.s.w.seal()
	}
	seal(0)
	first, _ := checkpointOf(t, p.s.dir, "")

	ck.fail = errors.New("state unavailable")
	seal(1)
	if st := p.s.Stats(); st.CheckpointErrors != 1 || st.Checkpoints != 1 {
		t.Fatalf("after a failing Checkpoint: %d written, %d errors", st.Checkpoints, st.CheckpointErrors)
	}
	if !strings.Contains(log.String(), "state unavailable") {
		t.Fatalf("failure not logged: %q", log.String())
	}
	ck.fail = nil
	_, tmp := checkpointFile("")
	if err := os.Mkdir(filepath.Join(p.s.dir, tmp), 0o755); err != nil { // the disk refuses the file
		t.Fatal(err)
	}
	p.s.w.lastErrLog = time.Time{}
	seal(2)
	if st := p.s.Stats(); st.CheckpointErrors != 2 || st.Checkpoints != 1 || st.WriteErrors != 0 {
		t.Fatalf("after a failing create: %d written, %d errors, %d write errors", st.Checkpoints, st.CheckpointErrors, st.WriteErrors)
	}
	if body, _ := checkpointOf(t, p.s.dir, ""); body != first {
		t.Fatalf("a failed checkpoint changed the last one: %q, was %q", body, first)
	}
	os.Remove(filepath.Join(p.s.dir, tmp))

	// A wider device in the middle of a chunk seals a segment that holds
	// part of it: no checkpoint then.
	calls := ck.calls
	wide := testFrame("w", 0, 1, 4, 0, codec.HasSeq)
	p.add(chunkOf(&l, 3, &f))
	p.s.w.flush()
	p.add(chunkOf(&l, 4, &f, &wide))
	if ck.calls != calls || p.s.Stats().Segments != 4 {
		t.Fatalf("%d checkpoint calls, %d segments: want a seal and no checkpoint", ck.calls-calls, p.s.Stats().Segments)
	}
	// A seal whose fsync fails: no checkpoint either.
	p.s.w.flush()
	p.s.w.seg.f.Close()
	p.s.w.seal()
	if ck.calls != calls {
		t.Fatalf("a checkpoint after a failed seal")
	}
	seal(5)
	if body, _ := checkpointOf(t, p.s.dir, ""); ck.calls != calls+1 || !strings.HasSuffix(body, " 3:true 4:false 5:true\n") {
		t.Fatalf("checkpoint after the failures: %q", body)
	}
	p.close()
}

// checkpointBytes is the file writeCheckpoint writes for body.
func checkpointBytes(t *testing.T, node, seg, body string) []byte {
	t.Helper()
	dir := t.TempDir()
	err := writeCheckpoint(dir, node, seg, func(w io.Writer) error {
		_, err := io.WriteString(w, body)
		return err
	}, bufio.NewWriterSize(nil, 16))
	if err != nil {
		t.Fatal(err)
	}
	name, _ := checkpointFile(node)
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The format of doc.go, byte for byte.
func TestCheckpoint_Format(t *testing.T) {
	got := checkpointBytes(t, "", "seg-20261125T114331.143Z-000001.csv.zst", "mote-3 4690 4700-4705\n")
	want := "fleetwire-checkpoint 1 crc32c=ee5f679e bytes=00000000000000000070\n" +
		"segment seg-20261125T114331.143Z-000001.csv.zst\n" +
		"mote-3 4690 4700-4705\n"
	if string(got) != want {
		t.Fatalf("checkpoint file:\n%s\nwant:\n%s", got, want)
	}
}

func TestParseCheckpoint_Success(t *testing.T) {
	f := func(node, body string) {
		t.Helper()
		seg := segName(time.Date(2026, 11, 25, 11, 43, 31, 0, time.UTC), node, 42)
		b := checkpointBytes(t, node, seg, body)
		got, s, err := parseCheckpoint(b, node)
		if err != nil || string(got) != body || s.name != seg || s.counter != 42 || got == nil {
			t.Fatalf("%q: body %q, segment %+v, %v", body, got, s, err)
		}
	}
	f("", "")
	f("", "x")
	f("", "line\nline\n\x00\xff")
	f("node-7", "a")
	f("", strings.Repeat("mote-1 100 200-300\n", 10000))
}

func TestParseCheckpoint_Failure(t *testing.T) {
	f := func(what string, b []byte, node string) {
		t.Helper()
		for range 2 {
			body, _, err := parseCheckpoint(b, node)
			if !errors.Is(err, errBadCheckpoint) || body != nil {
				t.Fatalf("%s: body %q, err %v; want errBadCheckpoint", what, body, err)
			}
		}
	}
	seg := "seg-20261125T114331.143Z-000001.csv.zst"
	good := checkpointBytes(t, "", seg, "mote-3 4690 4700-4705\n")
	for n := range len(good) {
		f(fmt.Sprintf("cut to %d bytes", n), good[:n], "")
	}
	for i := range good {
		for _, bit := range []byte{0x01, 0x20, 0x80} {
			b := bytes.Clone(good)
			b[i] ^= bit
			f(fmt.Sprintf("byte %d ^ %#x", i, bit), b, "")
		}
	}
	f("a byte more", append(bytes.Clone(good), '\n'), "")
	f("another node's", good, "node-b")
	f("a .partial", checkpointBytes(t, "", seg+partialSuffix, "x"), "")
	f("no segment", checkpointBytes(t, "", "", "x"), "")
	f("not a segment", checkpointBytes(t, "", "seg-1.csv.zst", "x"), "")
	f("empty", nil, "")
	f("zeros", make([]byte, len(good)), "")
	v2 := bytes.Replace(good, []byte("checkpoint 1 "), []byte("checkpoint 2 "), 1)
	f("version 2", v2, "")
}

// readCheckpoint tells none from bad, and an I/O error from both.
func TestReadCheckpoint(t *testing.T) {
	dir := t.TempDir()
	if _, _, ok, err := readCheckpoint(dir, ""); ok || err != nil {
		t.Fatalf("no file: %v, %v", ok, err)
	}
	os.WriteFile(filepath.Join(dir, "checkpoint"), []byte("fleetwire-checkpoint 1 crc32c="), 0o644)
	if _, _, ok, err := readCheckpoint(dir, ""); ok || !errors.Is(err, errBadCheckpoint) || !strings.Contains(err.Error(), "checkpoint:") {
		t.Fatalf("torn file: %v, %v", ok, err)
	}
	os.Remove(filepath.Join(dir, "checkpoint"))
	os.Mkdir(filepath.Join(dir, "checkpoint"), 0o755)
	if _, _, ok, err := readCheckpoint(dir, ""); ok || err == nil || errors.Is(err, errBadCheckpoint) {
		t.Fatalf("unreadable: %v, %v", ok, err)
	}
}

// Segments are numbered after the checkpoint's even when the segments it
// covers are gone, and a checkpoint a crash interrupted is removed.
func TestOpenFiles_AfterCheckpoint(t *testing.T) {
	dir := t.TempDir()
	rd := filepath.Join(dir, ReadingsDir)
	os.MkdirAll(rd, 0o755)
	seg := segName(time.Now(), "", 42)
	b := checkpointBytes(t, "", seg, "state")
	os.WriteFile(filepath.Join(rd, "checkpoint"), b, 0o644)
	_, tmp := checkpointFile("")
	os.WriteFile(filepath.Join(rd, tmp), b[:10], 0o644)
	s := openTest(t, FileConfig{Dir: dir})
	f := testFrame("d", 0, 1, 1, 0, codec.HasSeq)
	submit(t, s, chunkOf(nil, -1, &f))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	segs, _ := listSegments(rd)
	if len(segs) != 1 || segs[0].counter != 43 {
		t.Fatalf("segments %v, want one numbered 43", segs)
	}
	if _, err := os.Stat(filepath.Join(rd, tmp)); !os.IsNotExist(err) {
		t.Fatalf("the interrupted checkpoint is still there: %v", err)
	}
}
