package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fleetwire/fleetwire/server/sink"
)

// zstdMagic starts every zstd frame.
var zstdMagic = []byte{0x28, 0xb5, 0x2f, 0xfd}

// oneFramePerLine stores each line as a zstd frame of its own (FlushBytes
// 1) in one segment and returns the segment's path, its bytes and its
// frames' offsets, the header frame's first.
func oneFramePerLine(t *testing.T, dir string, lines ...string) (string, []byte, []int) {
	t.Helper()
	storeLinesWith(t, sink.FileConfig{Dir: dir, FlushBytes: 1}, lines...)
	segs, _ := filepath.Glob(filepath.Join(dir, "readings", "seg-*.csv.zst"))
	if len(segs) != 1 {
		t.Fatalf("segments %v, want one", segs)
	}
	b, err := os.ReadFile(segs[0])
	if err != nil {
		t.Fatal(err)
	}
	var offs []int
	for i := 0; ; i++ {
		j := bytes.Index(b[i:], zstdMagic)
		if j < 0 {
			break
		}
		i += j
		offs = append(offs, i)
	}
	if len(offs) != len(lines)+1 {
		t.Fatalf("%d frames in the segment, want a header and %d", len(offs), len(lines))
	}
	return segs[0], b, offs
}

// A flipped byte in a middle frame of a sealed segment: verify names the
// segment and the frame's offset and fails; export prints every row of
// the other frames, a summary, and fails. In the header frame: the same,
// and no row is lost.
func TestVerifyAndExport_Damage(t *testing.T) {
	dir := t.TempDir()
	var lines, rows []string
	for i := range 6 {
		lines = append(lines, fmt.Sprintf("mote-1;%d;1764068400000;%d.5:%d", i, i, 10*i))
		rows = append(rows, fmt.Sprintf("mote-1,%d,1764068400000,%d.5,%d,,,,,,\n", i, i, 10*i))
	}
	path, whole, offs := oneFramePerLine(t, dir, lines...)
	name := filepath.Base(path)
	const header = "device,seq,unix_ms,ch1,ch2,ch3,ch4,ch5,ch6,ch7,ch8\n"

	out, _, err := run(t, "verify", "--data", dir)
	if err != nil || !strings.Contains(out, "verify: 1 segments (0 not sealed), 0 damaged; 0 frames skipped, 0 rows skipped; 7 intact frames, 6 rows") {
		t.Fatalf("verify of an intact segment: %v\n%s", err, out)
	}

	f := func(what string, frame int, wantRows []string) {
		t.Helper()
		bad := bytes.Clone(whole)
		bad[(offs[frame]+offs[frame+1])/2] ^= 0x55
		if err := os.WriteFile(path, bad, 0o644); err != nil {
			t.Fatal(err)
		}
		at := fmt.Sprintf("byte %d", offs[frame])
		out, _, err := run(t, "verify", "--data", dir)
		if err == nil || !strings.Contains(err.Error(), "1 of 1 segments") {
			t.Fatalf("%s: verify: %v", what, err)
		}
		if !strings.Contains(out, "DAMAGED "+name+": ") || !strings.Contains(out, at+": corrupt zstd frame") ||
			!strings.Contains(out, "1 damaged; 1 frames skipped") {
			t.Fatalf("%s: verify does not name %s at %s:\n%s", what, name, at, out)
		}
		out, errOut, err := run(t, "export", "--data", dir)
		if err == nil || !strings.Contains(err.Error(), "1 damaged segments") {
			t.Fatalf("%s: export: %v", what, err)
		}
		if want := header + strings.Join(wantRows, ""); out != want {
			t.Fatalf("%s: export printed\n%s\nwant\n%s", what, out, want)
		}
		summary := fmt.Sprintf("export: 1 segments (0 not sealed), 1 damaged; 1 frames skipped (%d bytes: %s@%d), 0 rows skipped; %d rows exported\n",
			offs[frame+1]-offs[frame], name, offs[frame], len(wantRows))
		if errOut != summary {
			t.Fatalf("%s: export's stderr\n%q\nwant\n%q", what, errOut, summary)
		}
	}
	f("middle frame", 3, append(rows[:2:2], rows[3:]...)) // frame 3 holds line 2
	f("header frame", 0, rows)

	// A crash's .partial with a torn end is reported, not a failure.
	if err := os.WriteFile(path, whole[:offs[5]+3], 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(path, path+".partial"); err != nil {
		t.Fatal(err)
	}
	out, _, err = run(t, "verify", "--data", dir)
	if err != nil || !strings.Contains(out, "partial "+name+".partial: 4 rows in 5 intact frames; not sealed") ||
		!strings.Contains(out, fmt.Sprintf("byte %d: torn end, 3 bytes", offs[5])) {
		t.Fatalf("verify of a torn .partial: %v\n%s", err, out)
	}
	out, errOut, err := run(t, "export", "--data", dir)
	if err != nil || out != header+strings.Join(rows[:4], "") || !strings.Contains(errOut, "1 torn ends of .partial segments") {
		t.Fatalf("export of a torn .partial: %v\n%s\n%s", err, out, errOut)
	}
}
