package sink

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/fleetwire/fleetwire/codec"
	"github.com/klauspost/compress/zstd"
)

// FuzzReader feeds arbitrary bytes to the Reader as a segment file: it
// must never panic or hang, and whatever it reads must export.
func FuzzReader(f *testing.F) {
	enc, _ := zstd.NewWriter(nil, zstd.WithEncoderCRC(true))
	seg := enc.EncodeAll(header(2), nil)
	seg = enc.EncodeAll([]byte("mote-1,1,1700000000000,30.20,1\nmote-1,2,,-0.00,\n"), seg)
	f.Add(seg)
	f.Add(seg[:len(seg)-3])                                                       // torn
	f.Add(append(bytes.Clone(seg), 0x50, 0x2a, 0x4d, 0x18, 2, 0, 0, 0, 'h', 'i')) // skippable frame
	f.Add(enc.EncodeAll([]byte("device,seq,unix_ms,ch1\nd,,,1,2\n"), nil))        // rows in the header frame
	f.Add([]byte("device,seq,unix_ms,ch1\nplain text\n"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		os.Mkdir(filepath.Join(dir, ReadingsDir), 0o755)
		if err := os.WriteFile(filepath.Join(dir, ReadingsDir, "seg-20260101T000000.000Z-000001.csv.zst"), data, 0o644); err != nil {
			t.Fatal(err)
		}
		r, err := OpenReader(dir)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		var out bytes.Buffer
		n, err := Export(&out, r, Filter{})
		if err != nil {
			t.Fatalf("Export: %v", err)
		}
		if lines := bytes.Count(out.Bytes(), []byte{'\n'}); lines != n+1 {
			t.Fatalf("Export wrote %d lines for %d rows", lines, n)
		}
	})
}

// FuzzParseRow: a row the parser accepts prints back to the same row.
func FuzzParseRow(f *testing.F) {
	f.Add("mote-1,7,1700000000000,30.20,1", 2)
	f.Add("mote-1,,,-0.00,,", 3)
	f.Add("d,18446744073709551615,-5,1.5e-07", 1)
	f.Add("d,1,2,,4", 2)
	f.Fuzz(func(t *testing.T, line string, k int) {
		if k < 0 || k > codec.DefaultMaxChannels {
			return
		}
		var r Reader
		if r.parse([]byte(line), k) != nil {
			return
		}
		first := copyRow(r.Row())
		printed := appendRow(nil, r.Row(), k)
		if err := r.parse(printed[:len(printed)-1], k); err != nil {
			t.Fatalf("parse(%q) ok, but its print %q fails: %v", line, printed, err)
		}
		if again := copyRow(r.Row()); again != first {
			t.Fatalf("row %v printed as %q parses as %v", first, printed, again)
		}
	})
}
