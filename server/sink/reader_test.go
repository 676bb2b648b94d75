package sink

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/fleetwire/fleetwire/codec"
	"github.com/klauspost/compress/zstd"
)

// writeSegment stores frames of one device, n readings a flush, and
// returns the rows written, the segment's path and its frames' offsets
// (the header frame's first) with the rows each frame holds.
func writeSegment(t *testing.T, frames int) (dir string, want []row, path string, offs []int64, rowsIn []int) {
	t.Helper()
	dir = t.TempDir()
	s, err := openFiles(FileConfig{Dir: dir, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < frames; i++ {
		f := testFrame("mote-7", uint64(i*3), 3, 2, 1700000000000+int64(i)*3000, codec.HasSeq|codec.HasTime)
		c := GetChunk()
		c.Add(&f, nil)
		want = append(want, rowsOf(&f, "")...)
		s.w.add(c)
		c.Release()
		s.w.flush() // one zstd frame per chunk
		rowsIn = append(rowsIn, 3)
	}
	s.w.finish()
	close(s.done)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	segs, _ := listSegments(s.Dir())
	path = filepath.Join(s.Dir(), segs[0].name)
	fh, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	fr := frameReader{br: bufio.NewReader(fh), max: MaxFrameBytes}
	var buf []byte
	for {
		at := fr.off
		if buf, _, err = fr.next(buf); err != nil {
			break
		}
		offs = append(offs, at)
	}
	if len(offs) != frames+1 {
		t.Fatalf("%d frames in the segment, want a header and %d", len(offs), frames)
	}
	return dir, want, path, offs, rowsIn
}

// Cut the segment at every byte of its last frame: the rows of the
// frames before it come back, and the torn frame is reported where it
// starts.
func TestReader_TornTail(t *testing.T) {
	dir, want, path, offs, _ := writeSegment(t, 4)
	whole, _ := os.ReadFile(path)
	last := offs[len(offs)-1]
	for cut := last + 1; cut < int64(len(whole)); cut++ {
		if err := os.WriteFile(path, whole[:cut], 0o644); err != nil {
			t.Fatal(err)
		}
		rows, damage := readAll(t, dir)
		if !slices.Equal(rows, want[:9]) {
			t.Fatalf("cut at %d: read %d rows, want the 9 of the 3 whole frames", cut, len(rows))
		}
		var d *DamageError
		if len(damage) != 1 || !errors.As(damage[0], &d) || !errors.Is(d, ErrTorn) || d.Offset != last {
			t.Fatalf("cut at %d: damage %v, want a torn frame at byte %d", cut, damage, last)
		}
	}
	// Cut exactly between frames: nothing is torn.
	if err := os.WriteFile(path, whole[:last], 0o644); err != nil {
		t.Fatal(err)
	}
	if rows, damage := readAll(t, dir); len(damage) != 0 || len(rows) != 9 {
		t.Fatalf("cut at a frame boundary: %d rows, damage %v", len(rows), damage)
	}
}

// A damaged frame in the middle costs that frame only, wherever the
// damage is: in its data (the checksum fails), its block header (its
// length is wrong) or its magic number. The reader goes on at the next
// frame, reports the frame once with its extent, and counts it.
func TestReader_CorruptFrame(t *testing.T) {
	dir, want, path, offs, _ := writeSegment(t, 4)
	whole, _ := os.ReadFile(path)
	f := func(what string, damage func(b []byte)) {
		t.Helper()
		bad := bytes.Clone(whole)
		damage(bad)
		if err := os.WriteFile(path, bad, 0o644); err != nil {
			t.Fatal(err)
		}
		r, err := OpenReader(dir)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		var rows []row
		for r.Next() {
			rows = append(rows, copyRow(r.Row()))
		}
		d := r.Damage()
		if len(d) != 1 || !errors.Is(d[0], ErrCorrupt) || d[0].Offset != offs[2] || d[0].Bytes != offs[3]-offs[2] {
			t.Fatalf("%s: damage %v, want one corrupt frame at byte %d, %d bytes", what, d, offs[2], offs[3]-offs[2])
		}
		if !slices.Equal(rows, slices.Concat(want[:3], want[6:])) {
			t.Fatalf("%s: read %v, want all rows but frame 2's", what, rows)
		}
		segs := r.Segments()
		if st := segs[0]; len(segs) != 1 || st.Frames != 4 || st.Rows != 9 || st.BadFrames != 1 || st.BadBytes != offs[3]-offs[2] ||
			st.BadRows != 0 || st.Torn || !st.Damaged() || st.Width != DefaultChannels {
			t.Fatalf("%s: segment stats %+v", what, segs)
		}
	}
	f("data", func(b []byte) { b[offs[3]-6] ^= 0x55 }) // inside frame 2's last block, before its checksum
	f("checksum", func(b []byte) { b[offs[3]-1] ^= 0x01 })
	f("magic", func(b []byte) { b[offs[2]] ^= 0xff })
	f("block length, past the end", func(b []byte) { setBlockSize(t, b[offs[2]:], 100<<10) })
	f("block length, short", func(b []byte) { setBlockSize(t, b[offs[2]:], 3) })

	// Garbage where a frame should start, and no frame after it: the
	// rest of the segment is the damage.
	if err := os.WriteFile(path, append(bytes.Clone(whole[:offs[2]]), "garbage, not zstd"...), 0o644); err != nil {
		t.Fatal(err)
	}
	rows, damage := readAll(t, dir)
	if len(damage) != 1 || !errors.Is(damage[0], ErrCorrupt) || damage[0].Bytes != int64(len("garbage, not zstd")) || !slices.Equal(rows, want[:3]) {
		t.Fatalf("after garbage: rows %v, damage %v", rows, damage)
	}
}

// A damaged header frame loses no rows: the width comes from the first
// row frame, and the segment is reported damaged.
func TestReader_HeaderDamaged(t *testing.T) {
	dir, want, path, offs, _ := writeSegment(t, 3)
	whole, _ := os.ReadFile(path)
	bad := bytes.Clone(whole)
	bad[offs[1]-6] ^= 0x55
	if err := os.WriteFile(path, bad, 0o644); err != nil {
		t.Fatal(err)
	}
	r, err := OpenReader(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var rows []row
	for r.Next() {
		rows = append(rows, copyRow(r.Row()))
	}
	if d := r.Damage(); len(d) != 1 || !errors.Is(d[0], ErrCorrupt) || d[0].Offset != 0 || d[0].Bytes != offs[1] {
		t.Fatalf("damage %v, want the header frame, %d bytes", d, offs[1])
	}
	if !slices.Equal(rows, want) || r.Channels() != DefaultChannels {
		t.Fatalf("read %d rows of width %d, want all %d of width %d", len(rows), r.Channels(), len(want), DefaultChannels)
	}
	if st := r.Segments()[0]; !st.HeaderLost || st.Width != DefaultChannels || st.Frames != 3 || st.BadFrames != 1 || !st.Damaged() {
		t.Fatalf("segment stats %+v", st)
	}
}

// Recovery cuts a torn last frame, but a middle frame whose length field
// runs past the end is damage, not a tear: cutting there would throw away
// the frames after it.
func TestOpenFiles_KeepsFramesAfterDamage(t *testing.T) {
	dir, want, path, offs, _ := writeSegment(t, 4)
	b, _ := os.ReadFile(path)
	setBlockSize(t, b[offs[2]:], 100<<10)
	os.Remove(path)
	if err := os.WriteFile(path+partialSuffix, b, 0o644); err != nil {
		t.Fatal(err)
	}
	s := openTest(t, FileConfig{Dir: dir})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if st := s.Stats(); st.Recovered != 1 || st.RecoveredTrunc != 0 {
		t.Fatalf("recovered %d segments, cut %d bytes; want 1 sealed whole", st.Recovered, st.RecoveredTrunc)
	}
	if after, err := os.ReadFile(path); err != nil || !bytes.Equal(after, b) {
		t.Fatalf("sealed segment: %v, %d bytes, want the %d bytes untouched", err, len(after), len(b))
	}
	rows, damage := readAll(t, dir)
	if len(damage) != 1 || !errors.Is(damage[0], ErrCorrupt) || !slices.Equal(rows, slices.Concat(want[:3], want[6:])) {
		t.Fatalf("read %d rows, damage %v; want all but frame 2's and it reported", len(rows), damage)
	}
}

// After a power cut a file's end may be zeros (its size reached the disk,
// its data did not): recovery cuts them as a torn end.
func TestOpenFiles_CutsZeroTail(t *testing.T) {
	dir, want, path, _, _ := writeSegment(t, 3)
	b, _ := os.ReadFile(path)
	os.Remove(path)
	if err := os.WriteFile(path+partialSuffix, append(bytes.Clone(b), make([]byte, 5000)...), 0o644); err != nil {
		t.Fatal(err)
	}
	s := openTest(t, FileConfig{Dir: dir})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if st := s.Stats(); st.Recovered != 1 || st.RecoveredTrunc != 5000 {
		t.Fatalf("recovered %d segments, cut %d bytes; want the 5000 zeros cut", st.Recovered, st.RecoveredTrunc)
	}
	if rows, damage := readAll(t, dir); len(damage) != 0 || !slices.Equal(rows, want) {
		t.Fatalf("read %d rows of %d, damage %v", len(rows), len(want), damage)
	}
}

// setBlockSize rewrites the size of the first block of the zstd frame at
// the start of b.
func setBlockSize(t *testing.T, b []byte, size int) {
	t.Helper()
	var h zstd.Header
	if _, err := h.DecodeAndStrip(b); err != nil {
		t.Fatal(err)
	}
	bh := b[h.HeaderSize:]
	v := uint32(bh[0]) | uint32(bh[1])<<8 | uint32(bh[2])<<16
	v = v&7 | uint32(size)<<3
	bh[0], bh[1], bh[2] = byte(v), byte(v>>8), byte(v>>16)
}

func TestReader_EmptyAndMissing(t *testing.T) {
	dir := t.TempDir()
	if _, err := OpenReader(dir); err == nil {
		t.Fatalf("OpenReader of a directory without readings/: no error")
	}
	os.Mkdir(filepath.Join(dir, ReadingsDir), 0o755)
	os.WriteFile(filepath.Join(dir, ReadingsDir, "seg-20260101T000000.000Z-000001.csv.zst.partial"), nil, 0o644)
	os.WriteFile(filepath.Join(dir, ReadingsDir, "notes.txt"), []byte("not a segment"), 0o644)
	rows, damage := readAll(t, dir)
	if len(rows) != 0 || len(damage) != 1 || !errors.Is(damage[0], ErrTorn) {
		t.Fatalf("empty .partial: rows %v, damage %v; want it reported torn", rows, damage)
	}
}

func TestReaderParse_Success(t *testing.T) {
	f := func(line string, k int, want string) {
		t.Helper()
		var r Reader
		r.segs = []segFile{{name: "s"}}
		if err := r.parse([]byte(line), k); err != nil {
			t.Fatalf("parse(%q): %v", line, err)
		}
		if got := copyRow(r.Row()).String(); got != want {
			t.Fatalf("parse(%q) = %s, want %s", line, got, want)
		}
		if got := string(appendRow(nil, r.Row(), k)); got != line+"\n" {
			t.Fatalf("appendRow(parse(%q)) = %q", line, got)
		}
	}
	f("mote-1,7,1700000000000,30.20,1", 2, "mote-1 seq=7/true ms=1700000000000/true [30.20:1]")
	f("mote-1,,,-0.00,,", 3, "mote-1 seq=0/false ms=0/false [-0.00]")
	f("d,18446744073709551615,-5,1.5e-07", 1, "d seq=18446744073709551615/true ms=-5/true [1.5e-07]")
	f("127.0.0.1:9,1,,9223372036854775807,0.123456789012345678", 2, "127.0.0.1:9 seq=1/true ms=0/false [9223372036854775807:0.123456789012345678]")
}

func TestReaderParse_Failure(t *testing.T) {
	f := func(line string, k int) {
		t.Helper()
		var r Reader
		for i := 0; i < 2; i++ { // twice on one Reader: no state survives a failure
			if err := r.parse([]byte(line), k); !errors.Is(err, errBadRow) {
				t.Fatalf("parse(%q, %d) = %v, want a malformed row", line, k, err)
			}
		}
	}
	f("", 1)
	f(",1,2,3", 1)    // no device
	f("d", 1)         // no seq column
	f("d,1", 1)       // no unix_ms column
	f("d,1,2", 1)     // no value column
	f("d,1,2,3,4", 1) // one too many
	f("d,1,2,,", 2)   // no values at all
	f("d,1,2,,4", 2)  // a hole before a value
	f("d,x,2,3", 1)   // bad seq
	f("d,-1,2,3", 1)  // negative seq
	f("d,18446744073709551616,2,3", 1)
	f("d,1,2.5,3", 1) // bad unix_ms
	f("d,1,9223372036854775808,3", 1)
	f("d,1,2,NaN", 1)
	f("d,1,2,1e400", 1)
	f("d,1,2,12a", 1)
	f("a\"b,1,2,3", 1) // quote in device
	f("a\rb,1,2,3", 1)
}

func TestParseHeader(t *testing.T) {
	f := func(h string, want int, ok bool) {
		t.Helper()
		if k, gotOK := parseHeader([]byte(h)); k != want || gotOK != ok {
			t.Fatalf("parseHeader(%q) = %d, %v; want %d, %v", h, k, gotOK, want, ok)
		}
	}
	f(string(header(8)), 8, true)
	f(string(header(0)), 0, true)
	f("device,seq,unix_ms,ch1,ch3\n", 0, false)
	f("device,seq,unix_ms,ch1", 0, false)
	f("device,seq,time,ch1\n", 0, false)
}

// zstdcat must read a segment as plain CSV: one header, then rows of the
// header's width, exactly what Reader reads.
func TestSegment_Zstdcat(t *testing.T) {
	zstdcat, err := exec.LookPath("zstdcat")
	if err != nil {
		t.Skip("zstdcat not installed (apt-get install zstd); the segment format is checked by the other tests")
	}
	dir, want, path, _, _ := writeSegment(t, 5)
	out, err := exec.Command(zstdcat, path).Output()
	if err != nil {
		t.Fatalf("zstdcat %s: %v", path, err)
	}
	recs, err := csv.NewReader(bytes.NewReader(out)).ReadAll()
	if err != nil {
		t.Fatalf("zstdcat output is not CSV: %v\n%s", err, out)
	}
	if strings.Join(recs[0], ",") != "device,seq,unix_ms,ch1,ch2,ch3,ch4,ch5,ch6,ch7,ch8" || len(recs) != len(want)+1 {
		t.Fatalf("zstdcat: header %v and %d rows, want %d rows", recs[0], len(recs)-1, len(want))
	}
	var exported bytes.Buffer
	r, err := OpenReader(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if _, err := Export(&exported, r, Filter{}); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out, exported.Bytes()) {
		t.Fatalf("zstdcat and Export differ:\n%s\n---\n%s", out, exported.Bytes())
	}
}
