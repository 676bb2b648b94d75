package compress

import (
	"encoding/hex"
	"fmt"
	"strings"
	"testing"

	"github.com/fleetwire/fleetwire/codec"
)

// wireBytes is the total size of frames wrapped one per envelope.
func wireBytes(c *Compressor, kind codec.Compression, frames [][]byte) int {
	n := 0
	buf := make([]byte, 0, 64<<10)
	for _, f := range frames {
		n += len(c.Append(buf[:0], kind, f))
	}
	return n
}

// sizeRow measures bytes per reading of one format and batch size on the
// given frames: bare, +zstd, +s2, +zstd-dict.
func sizeRow(c *Compressor, frames [][]byte, readings int) [4]float64 {
	bare := 0
	for _, f := range frames {
		bare += len(f)
	}
	per := func(n int) float64 { return float64(n) / float64(readings) }
	return [4]float64{
		per(bare),
		per(wireBytes(c, codec.CompressZstd, frames)),
		per(wireBytes(c, codec.CompressS2, frames)),
		per(wireBytes(c, codec.CompressZstdDict, frames)),
	}
}

// TestSizes_HeldOut measures the default dictionaries on the half of the
// data they were not trained on (the second half of every mote), prints
// the table of PROTOCOL-compress.md (go test -run TestSizes_HeldOut -v) and
// asserts the gains the dictionaries are there for.
func TestSizes_HeldOut(t *testing.T) {
	c := Default()
	var tab strings.Builder
	fmt.Fprintf(&tab, "\n| format | batch | frames | bare | +zstd | +s2 | +zstd-dict | dict vs bare | dict vs zstd |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, bf := range bareFormats {
		for _, batch := range []int{1, 10, 60} {
			frames, readings := multihopWire(t, bf, splitHeldOut, batch)
			r := sizeRow(c, frames, readings)
			fmt.Fprintf(&tab, "| %s | %d | %d | %.2f | %.2f | %.2f | %.2f | %+.0f%% | %+.0f%% |\n",
				bf.name, batch, len(frames), r[0], r[1], r[2], r[3], 100*(r[3]/r[0]-1), 100*(r[3]/r[1]-1))
			// A dictionary must never lose to plain zstd, which has no
			// dictionary to help and the same framing.
			if r[3] > r[1] {
				t.Errorf("%s batch %d: zstd-dict %.2f B/reading > zstd %.2f", bf.name, batch, r[3], r[1])
			}
			if batch == 1 && bf.name == "text" {
				// The point of dictionaries: tiny text datagrams that plain
				// zstd cannot shrink at all get at least 15% smaller.
				if r[1] < r[0] {
					t.Errorf("text batch 1: plain zstd %.2f < bare %.2f: the dictionary test is moot", r[1], r[0])
				}
				if r[3] > 0.85*r[0] {
					t.Errorf("text batch 1: zstd-dict %.2f B/reading, want at most 85%% of bare %.2f", r[3], r[0])
				}
			}
		}
	}
	t.Log(tab.String())

	// What stripping the zstd header saves: the same frames as zstd makes
	// them (magic, header with dictionary id and content size) inside an
	// envelope of magic and length.
	for _, batch := range []int{1, 10, 60} {
		frames, readings := multihopWire(t, bareFormats[0], splitHeldOut, batch)
		enc := c.dicts[c.byFirst['m']-1].enc
		kept := 0
		for _, f := range frames {
			z := enc.EncodeAll(f, nil)
			kept += 1 + uvarintLen(uint64(len(z))) + len(z)
		}
		stripped := wireBytes(c, codec.CompressZstdDict, frames)
		t.Logf("text+zstd-dict batch %2d: %.2f B/reading with the zstd header kept, %.2f stripped (%.1f bytes a frame)",
			batch, float64(kept)/float64(readings), float64(stripped)/float64(readings), float64(kept-stripped)/float64(len(frames)))
	}
}

// TestSizes_OtherMotes is a harsher split: a text dictionary trained on
// motes 1 and 2 only, measured on motes 3 and 4, devices it never saw
// (their ids and value ranges differ).
func TestSizes_OtherMotes(t *testing.T) {
	if testing.Short() {
		t.Skip("trains a dictionary")
	}
	bf := bareFormats[0]
	pick := func(batch int, train bool) (frames [][]byte, readings int) {
		for _, f := range multihopFrames(t, splitAll, batch) {
			if (string(f.Device) <= "mote-2") == train {
				frames = append(frames, bf.append(nil, &f))
				readings += f.Readings()
			}
		}
		return frames, readings
	}
	var samples [][]byte
	for _, batch := range []int{1, 10} {
		fr, _ := pick(batch, true)
		samples = append(samples, fr...)
	}
	d, err := TrainDict(samples, 1000, DefaultDictSize)
	if err != nil {
		t.Fatal(err)
	}
	c, err := New(Options{Dicts: []Dict{{Format: codec.FormatText, Data: d}}})
	if err != nil {
		t.Fatal(err)
	}
	for _, batch := range []int{1, 10, 60} {
		frames, readings := pick(batch, false)
		r := sizeRow(c, frames, readings)
		t.Logf("text batch %2d, motes 3-4, dictionary of motes 1-2: bare %.2f, +zstd %.2f, +s2 %.2f, +zstd-dict %.2f B/reading", batch, r[0], r[1], r[2], r[3])
		if batch == 1 && r[3] > 0.95*r[0] {
			t.Errorf("batch 1 on unseen motes: zstd-dict %.2f B/reading, want at most 95%% of bare %.2f", r[3], r[0])
		}
	}
}

var kindName = map[codec.Compression]string{codec.CompressZstd: "+zstd", codec.CompressS2: "+s2", codec.CompressZstdDict: "+zstd-dict"}

// TestWireExamples pins the exact bytes of the worked examples in
// PROTOCOL-compress.md: the first held-out frame of mote 3.
func TestWireExamples(t *testing.T) {
	c := Default()
	var inner []byte
	for _, f := range multihopFrames(t, splitHeldOut, 1) {
		if string(f.Device) == "mote-3" {
			inner = textAppend(nil, &f)
			break
		}
	}
	f := func(kind codec.Compression, want string) {
		t.Helper()
		env := c.Append(nil, kind, inner)
		if got := hex.EncodeToString(env); got != want {
			t.Errorf("%v of %q:\n got %s\nwant %s", kind, inner, got, want)
		}
		t.Logf("%-12s %2d bytes: % x", kindName[kind], len(env), env)
	}
	t.Logf("inner        %2d bytes: % x  %q", len(inner), inner, inner)
	f(codec.CompressZstd, "d12a263101006d6f74652d333b323334363b313237383733313732353030303b34362e32333a32372e33380a")
	f(codec.CompressZstdDict, "d2170126950000203333380a04fc004729d355a63313c6e709")
	f(codec.CompressS2, "d32826946d6f74652d333b323334363b313237383733313732353030303b34362e32333a32372e33380a")
}
