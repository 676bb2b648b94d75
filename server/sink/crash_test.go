package sink

import (
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
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
	dir := t.TempDir()
	// Kill once the child has sealed a segment and is writing the next.
	killChild(t, "TestCrash", dir, "sealed a segment", 100*time.Millisecond, func() bool {
		segs, _ := listSegments(filepath.Join(dir, ReadingsDir))
		for _, seg := range segs {
			if !seg.partial {
				return true
			}
		}
		return false
	})

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

// killChild runs test in a child process that writes to dir, waits until
// ready (what says what it waits for), and SIGKILLs the child after
// delay. Waiting for a state, not for a fixed head start: nothing bounds
// how long a -race child takes to start and write on a loaded machine.
func killChild(t *testing.T, test, dir, what string, delay time.Duration, ready func() bool) {
	t.Helper()
	if testing.Short() {
		t.Skip("spawns a process")
	}
	cmd := exec.Command(os.Args[0], "-test.run=^"+test+"$")
	cmd.Env = append(os.Environ(), crashEnv+"="+dir)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	deadline := time.Now().Add(60 * time.Second)
	for !ready() {
		select {
		case err := <-exited:
			t.Fatalf("the child ended before it was killed: %v", err)
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			<-exited
			t.Fatalf("the child has not %s in 60 s", what)
		}
	}
	time.Sleep(delay)
	cmd.Process.Kill()
	<-exited
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

// TestCrash_Checkpoint kills a process that writes with receipts and a
// checkpoint of what they acknowledged, as the server does for its
// acknowledging devices. The checkpoint and the rows Recover replays
// after it must rebuild exactly what is on disk: every acknowledged
// sample, and nothing twice.
func TestCrash_Checkpoint(t *testing.T) {
	if dir := os.Getenv(crashEnv); dir != "" {
		crashAckChild(dir)
		return
	}
	dir := t.TempDir()
	rd := filepath.Join(dir, ReadingsDir)
	// Kill while it writes rows after a checkpoint, so that there is
	// something to replay.
	killChild(t, "TestCrash_Checkpoint", dir, "written after a checkpoint", 0, func() bool {
		_, ck, ok, _ := readCheckpoint(rd, "")
		segs, _ := listSegments(rd)
		for _, seg := range segs {
			fi, err := os.Stat(filepath.Join(rd, seg.name))
			if ok && seg.partial && seg.counter > ck.counter && err == nil && fi.Size() > 4<<10 {
				return true
			}
		}
		return false
	})

	s := openTest(t, FileConfig{Dir: dir})
	type run struct {
		dev    string
		seq, n uint64
	}
	var runs []run
	ck, err := s.Recover(func(dev []byte, seq uint64, n int) {
		runs = append(runs, run{string(dev), seq, uint64(n)})
	})
	if cerr := s.Close(); cerr != nil {
		t.Fatal(cerr)
	}
	if err != nil || ck == nil || len(runs) == 0 {
		t.Fatalf("Recover: checkpoint %q, %d runs, %v; want both", ck, len(runs), err)
	}
	// What a server rebuilds: the checkpoint, then the runs on top.
	held := map[string]uint64{} // device: next, as its ack.Set would say
	lines := strings.Split(strings.TrimSpace(string(ck)), "\n")
	for _, line := range lines {
		var dev string
		var next uint64
		if _, err := fmt.Sscanf(line, "%s %d", &dev, &next); err != nil {
			t.Fatalf("checkpoint line %q: %v", line, err)
		}
		held[dev] = next
	}
	for _, r := range runs {
		if next := held[r.dev]; r.seq != next {
			t.Fatalf("replayed %s from %d, the checkpoint and the runs before hold it up to %d: a gap or a sample twice", r.dev, r.seq, next)
		}
		held[r.dev] = r.seq + r.n
	}
	rows, damage := readAll(t, dir)
	if len(damage) > 0 {
		t.Fatalf("damage after recovery: %v", damage)
	}
	onDisk := map[string]uint64{}
	for _, r := range rows {
		if r.seq != onDisk[r.dev] {
			t.Fatalf("%s seq %d after %d on disk: a gap or reordering", r.dev, r.seq, onDisk[r.dev])
		}
		onDisk[r.dev] = r.seq + 1
	}
	if !maps.Equal(held, onDisk) {
		t.Fatalf("checkpoint + replay hold %v, the disk %v", held, onDisk)
	}
	t.Logf("%d rows on disk; a checkpoint of %d devices, %d runs replayed after it", len(rows), len(lines), len(runs))
}

// crashAckChild writes as crashChild does, each chunk with a receipt
// that records its device's samples as held once durable, and a
// checkpoint of what is held, until it is killed.
func crashAckChild(dir string) {
	var mu sync.Mutex
	held := map[string]uint64{}
	s, err := OpenFiles(FileConfig{Dir: dir, FlushInterval: 10 * time.Millisecond, FsyncInterval: 20 * time.Millisecond,
		SegmentBytes: 1 << 20, Logger: quiet,
		Checkpoint: func(w io.Writer) error {
			mu.Lock()
			defer mu.Unlock()
			for _, dev := range slices.Sorted(maps.Keys(held)) {
				if _, err := fmt.Fprintf(w, "%s %d\n", dev, held[dev]); err != nil {
					return err
				}
			}
			return nil
		}})
	if err != nil {
		os.Exit(2)
	}
	seq := make([]uint64, 4)
	for i := 0; ; i++ {
		d := i % 4
		dev := "crash-" + string(rune('a'+d))
		f := testFrame(dev, seq[d], 10, 3, 1764000000000, codec.HasSeq|codec.HasTime)
		c := GetChunk()
		c.Add(&f, nil)
		c.SetReceipt(&heldReceipt{mu: &mu, held: held, dev: dev, next: seq[d] + 10})
		if s.Submit(c) {
			seq[d] += 10
		} else {
			c.Release()
			time.Sleep(time.Millisecond)
			i--
		}
	}
}

// heldReceipt marks a device's samples up to next as held.
type heldReceipt struct {
	mu   *sync.Mutex
	held map[string]uint64
	dev  string
	next uint64
}

func (r *heldReceipt) Settled(durable bool) {
	if !durable {
		os.Exit(3) // nothing fails here: the parent sees the exit
	}
	r.mu.Lock()
	r.held[r.dev] = r.next
	r.mu.Unlock()
}
