package sink

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/fleetwire/fleetwire/codec"
)

// crash ends p as a SIGKILL would: the open segment stays .partial, the
// rows still buffered are lost, and the lock goes with the process.
func (p stepper) crash() {
	if p.s.w.seg != nil {
		p.s.w.seg.f.Close()
	}
	p.s.lock.Close()
}

// replay opens dir as a restarted server does and returns what Recover
// gives: the checkpoint and the runs, as "device:first+n".
func replay(t *testing.T, cfg FileConfig) (s *FileSink, checkpoint string, runs []string) {
	t.Helper()
	s = openTest(t, cfg)
	t.Cleanup(func() { s.Close() })
	ck, err := s.Recover(func(dev []byte, seq uint64, n int) {
		runs = append(runs, fmt.Sprintf("%s:%d+%d", dev, seq, n))
	})
	if err != nil {
		t.Fatalf("Recover: %v", err)
	}
	if ck == nil {
		return s, "<nil>", runs
	}
	return s, string(ck), runs
}

func seqFrame(dev string, seq uint64, n int) *codec.Frame {
	f := testFrame(dev, seq, n, 2, 0, codec.HasSeq)
	return &f
}

// history writes what the Recover tests replay, with a checkpoint after
// the first segment, and crashes: segment 1 (sealed, covered) holds a:0-9;
// segment 2 (.partial) holds a:10-21 and b:0-2 in four frames, one flush
// each, and rows without a sequence number; a chunk of c was still
// buffered.
func history(t *testing.T, cfg FileConfig) FileConfig {
	t.Helper()
	var l ledger
	ck := checkpointer{l: &l}
	cfg.Checkpoint = ck.write
	p := newStepper(t, cfg)
	p.add(chunkOf(&l, 0, seqFrame("a", 0, 10)))
	p.s.w.flush()
	p.s.w.seal()
	noSeq := testFrame("a", 0, 3, 2, 0, 0)
	for i, fs := range [][]*codec.Frame{
		{seqFrame("a", 10, 5), seqFrame("a", 15, 5)},
		{seqFrame("b", 0, 3)},
		{&noSeq},
		{seqFrame("a", 20, 2)},
	} {
		p.add(chunkOf(&l, 1+i, fs...))
		p.s.w.flush()
	}
	p.add(chunkOf(&l, 9, seqFrame("c", 0, 4)))
	p.crash()
	cfg.Checkpoint = nil
	return cfg
}

// Rows after the checkpoint are replayed exactly, those it covers are
// not, nor rows this run writes.
func TestRecover_AfterCheckpoint(t *testing.T) {
	cfg := history(t, FileConfig{Dir: t.TempDir()})
	s, ck, runs := replay(t, cfg)
	if ck != "settled 0:true\n" {
		t.Fatalf("checkpoint %q", ck)
	}
	if want := []string{"a:10+10", "b:0+3", "a:20+2"}; !slices.Equal(runs, want) {
		t.Fatalf("replayed %v, want %v", runs, want)
	}
	if st := s.Stats(); st.Recovered != 1 || st.ReplayDamaged != 0 {
		t.Fatalf("stats %+v", st)
	}
	// What this run writes is not replayed, even when Recover comes late.
	submit(t, s, chunkOf(nil, -1, seqFrame("d", 0, 1)))
	waitStored(t, s, 2)
	s.Close()
	runs = nil
	if _, err := s.Recover(func(dev []byte, seq uint64, n int) { runs = append(runs, string(dev)) }); err != nil || slices.Contains(runs, "d") {
		t.Fatalf("Recover after a write replayed %v (%v)", runs, err)
	}
}

// A torn or corrupt checkpoint is reported and ignored: every segment of
// the node is replayed.
func TestRecover_BadCheckpoint(t *testing.T) {
	for _, damage := range []string{"torn", "flipped"} {
		t.Run(damage, func(t *testing.T) {
			cfg := history(t, FileConfig{Dir: t.TempDir()})
			path := filepath.Join(cfg.Dir, ReadingsDir, "checkpoint")
			b, _ := os.ReadFile(path)
			if damage == "torn" {
				b = b[:len(b)-1]
			} else {
				b[len(b)-3] ^= 1
			}
			os.WriteFile(path, b, 0o644)
			var log strings.Builder
			cfg.Logger = slog.New(slog.NewTextHandler(&log, nil))
			s, ck, runs := replay(t, cfg)
			if ck != "<nil>" {
				t.Fatalf("a %s checkpoint was returned: %q", damage, ck)
			}
			if want := []string{"a:0+20", "b:0+3", "a:20+2"}; !slices.Equal(runs, want) {
				t.Fatalf("replayed %v, want %v: both segments", runs, want)
			}
			if !strings.Contains(log.String(), "checkpoint is torn or corrupt") || s.Stats().ReplayDamaged != 1 {
				t.Fatalf("no warning, or not counted: %d, log %q", s.Stats().ReplayDamaged, log.String())
			}
		})
	}
}

// A .partial whose last frame a crash cut: OpenFiles cuts the torn frame,
// and the rows of the frames before it are replayed.
func TestRecover_TornPartial(t *testing.T) {
	cfg := history(t, FileConfig{Dir: t.TempDir()})
	segs, _ := listSegments(filepath.Join(cfg.Dir, ReadingsDir))
	path := filepath.Join(cfg.Dir, ReadingsDir, segs[1].name)
	fi, _ := os.Stat(path)
	os.Truncate(path, fi.Size()-5) // into the frame of a:20-21
	s, _, runs := replay(t, cfg)
	if want := []string{"a:10+10", "b:0+3"}; !slices.Equal(runs, want) {
		t.Fatalf("replayed %v, want %v", runs, want)
	}
	if st := s.Stats(); st.RecoveredTrunc == 0 || st.ReplayDamaged != 0 {
		t.Fatalf("stats %+v: want the torn frame cut at open, nothing damaged at replay", st)
	}
}

// Without a checkpoint every segment of the node is replayed, and only
// the node's.
func TestRecover_NoCheckpoint(t *testing.T) {
	dir := t.TempDir()
	other := openTest(t, FileConfig{Dir: dir, Node: "other"})
	submit(t, other, chunkOf(nil, -1, seqFrame("z", 0, 2)))
	other.Close()
	cfg := history(t, FileConfig{Dir: dir, Node: "n1"})
	os.Remove(filepath.Join(dir, ReadingsDir, "checkpoint-n1"))
	_, ck, runs := replay(t, cfg)
	if want := []string{"a:0+20", "b:0+3", "a:20+2"}; ck != "<nil>" || !slices.Equal(runs, want) {
		t.Fatalf("checkpoint %q, replayed %v; want none and %v", ck, runs, want)
	}
}

// A damaged frame in a replayed segment is skipped, logged and counted;
// the rest is replayed.
func TestRecover_DamagedFrame(t *testing.T) {
	cfg := history(t, FileConfig{Dir: t.TempDir()})
	segs, _ := listSegments(filepath.Join(cfg.Dir, ReadingsDir))
	path := filepath.Join(cfg.Dir, ReadingsDir, segs[1].name)
	b, _ := os.ReadFile(path)
	// The frame of b:0-2 is the third; flip a byte in its middle.
	f := frameReader{br: bufio.NewReader(bytes.NewReader(b)), max: MaxFrameBytes}
	var offs []int64
	for buf := []byte(nil); ; {
		at := f.off
		var err error
		if buf, _, err = f.next(buf); err != nil {
			break
		}
		offs = append(offs, at)
	}
	b[(offs[2]+offs[3])/2] ^= 0x40
	os.WriteFile(path, b, 0o644)
	var log strings.Builder
	cfg.Logger = slog.New(slog.NewTextHandler(&log, nil))
	s, _, runs := replay(t, cfg)
	if want := []string{"a:10+12"}; !slices.Equal(runs, want) {
		t.Fatalf("replayed %v, want %v: b's frame skipped", runs, want)
	}
	if s.Stats().ReplayDamaged != 1 || !strings.Contains(log.String(), "replay skipped damaged data") {
		t.Fatalf("damage not counted (%d) or not logged: %q", s.Stats().ReplayDamaged, log.String())
	}
}

// An I/O error is Recover's error, not damage.
func TestRecover_IOError(t *testing.T) {
	cfg := history(t, FileConfig{Dir: t.TempDir()})
	s := openTest(t, cfg)
	defer s.Close()
	path := filepath.Join(s.dir, "checkpoint")
	os.Remove(path)
	os.Mkdir(path, 0o755)
	if _, err := s.Recover(func([]byte, uint64, int) {}); err == nil || errors.Is(err, errBadCheckpoint) {
		t.Fatalf("Recover = %v, want the read error", err)
	}
}
