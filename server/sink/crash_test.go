package sink

import (
	"errors"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/fleetwire/fleetwire/codec"
)

const crashEnv = "FLEETWIRE_SINK_CRASH_DIR"

// TestCrash kills a process that is writing segments (SIGKILL, no
// Close) and checks what a crash leaves: whole frames, each device's rows
// a gapless prefix of what it submitted, at most a torn frame at the end,
// which the next OpenFiles cuts.
func TestCrash(t *testing.T) {
	if dir := os.Getenv(crashEnv); dir != "" {
		crashChild(dir)
		return
	}
	if testing.Short() {
		t.Skip("spawns a process")
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrash$")
	cmd.Env = append(os.Environ(), crashEnv+"="+dir)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(700 * time.Millisecond)
	cmd.Process.Kill()
	cmd.Wait()

	check := func(when string) int {
		rows, damage := readAll(t, dir)
		for _, d := range damage {
			if !errors.Is(d, ErrTorn) {
				t.Fatalf("%s: damage other than a torn tail: %v", when, d)
			}
		}
		next := map[string]uint64{}
		for _, r := range rows {
			if r.seq != next[r.dev] {
				t.Fatalf("%s: %s seq %d after %d: a gap or reordering", when, r.dev, r.seq, next[r.dev])
			}
			next[r.dev] = r.seq + 1
		}
		t.Logf("%s: %d rows, %d torn tails", when, len(rows), len(damage))
		return len(rows)
	}
	before := check("after SIGKILL")
	if before == 0 {
		t.Fatalf("the child stored nothing in 700 ms")
	}
	s := openTest(t, FileConfig{Dir: dir})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if after := check("after recovery"); after != before {
		t.Fatalf("recovery changed the rows: %d before, %d after", before, after)
	}
	assertSealed(t, s.Dir())
}

// crashChild writes until it is killed: 4 devices, frames of 10 samples,
// flushing every 10 ms and rotating every 64 KiB, so the kill lands in
// the middle of everything.
func crashChild(dir string) {
	s, err := OpenFiles(FileConfig{Dir: dir, FlushInterval: 10 * time.Millisecond, SegmentBytes: 64 << 10, Logger: quiet})
	if err != nil {
		os.Exit(2)
	}
	seq := make([]uint64, 4)
	for i := 0; ; i++ {
		d := i % 4
		f := testFrame("crash-"+string(rune('a'+d)), seq[d], 10, 3, 1764000000000, codec.HasSeq|codec.HasTime)
		c := GetChunk()
		c.Add(&f, nil)
		if s.Submit(c) {
			seq[d] += 10
		} else {
			c.Release()
			time.Sleep(time.Millisecond)
			i-- // same device again: its sequence must stay gapless
		}
	}
}
