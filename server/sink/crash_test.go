package sink

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
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
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	// Kill once the child has sealed a segment and is writing the next,
	// rather than after a fixed head start: nothing bounds how long a
	// -race child takes to start and write on a loaded machine.
	deadline := time.Now().Add(60 * time.Second)
	for sealed := false; !sealed; {
		select {
		case err := <-exited:
			t.Fatalf("the child ended before it was killed: %v", err)
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			<-exited
			t.Fatal("the child sealed no segment in 60 s")
		}
		segs, _ := listSegments(filepath.Join(dir, ReadingsDir))
		for _, seg := range segs {
			sealed = sealed || !seg.partial
		}
	}
	time.Sleep(100 * time.Millisecond) // some way into the next segment
	cmd.Process.Kill()
	<-exited

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
		t.Fatalf("the child stored nothing before it was killed")
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
