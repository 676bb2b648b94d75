package compress

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"testing"

	"github.com/fleetwire/fleetwire/codec"
)

var kinds = []codec.Compression{codec.CompressZstd, codec.CompressS2, codec.CompressZstdDict}

// checkMagic checks the envelope kind Append chose: zstd-dict falls back
// to zstd without a dictionary, or when the frame went out as one raw block.
func checkMagic(t *testing.T, c *Compressor, kind codec.Compression, inner, env []byte) {
	t.Helper()
	want := map[codec.Compression]byte{codec.CompressZstd: codec.MagicZstd, codec.CompressS2: codec.MagicS2, codec.CompressZstdDict: codec.MagicZstdDict}[kind]
	if kind == codec.CompressZstdDict {
		if _, ok := c.DictFor(append(inner, 0)[0]); !ok || len(inner) == 0 {
			want = codec.MagicZstd
		} else if env[0] == codec.MagicZstd {
			_, n := binary.Uvarint(env[1:])
			_, m := binary.Uvarint(env[1+n:])
			if b := env[1+n+m]; b&7 != 1 {
				t.Fatalf("zstd-dict fell back to zstd with a block header %#x", b)
			}
			want = codec.MagicZstd
		}
	}
	if env[0] != want {
		t.Fatalf("%v: magic %#x, want %#x", kind, env[0], want)
	}
}

// roundTrip wraps inner, checks the envelope and unwraps it again, twice
// into the same dst to prove reuse.
func roundTrip(t *testing.T, c *Compressor, kind codec.Compression, inner []byte) []byte {
	t.Helper()
	env := c.Append([]byte("prefix"), kind, inner)
	if !bytes.HasPrefix(env, []byte("prefix")) {
		t.Fatalf("Append clobbered dst")
	}
	env = env[len("prefix"):]
	checkMagic(t, c, kind, inner, env)
	length, n := binary.Uvarint(env[1:])
	if n <= 0 || int(length) != len(env)-1-n {
		t.Fatalf("%v: length field %d (%d bytes) for an envelope of %d", kind, length, n, len(env))
	}
	dst := []byte("keep")
	for range 2 {
		out, err := c.AppendDecoded(dst[:4], env, len(inner))
		if err != nil {
			t.Fatalf("%v: %v\nenvelope %x", kind, err, env)
		}
		if string(out[:4]) != "keep" || !bytes.Equal(out[4:], inner) {
			t.Fatalf("%v: round trip of %q gave %q", kind, inner, out[4:])
		}
		dst = out
	}
	return env
}

func TestRoundTrip_Multihop(t *testing.T) {
	c := Default()
	for _, bf := range bareFormats {
		for _, batch := range []int{1, 10, 60} {
			frames, _ := multihopWire(t, bf, splitAll, batch)
			for _, kind := range kinds {
				for i, f := range frames {
					if testing.Short() && i%10 != 0 {
						continue
					}
					roundTrip(t, c, kind, f)
				}
			}
		}
	}
}

func TestRoundTrip_Edges(t *testing.T) {
	c := Default()
	big := bytes.Repeat([]byte("mote-1;1;1278720000000;43.82:30.21\n"), 10000) // 350 KB: several zstd blocks
	random := make([]byte, 300<<10)
	x := uint64(1)
	for i := range random {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		random[i] = byte(x)
	}
	datagram := append(append([]byte("#hello mote-1\n"), "43.82:30.21\n"...), "mote-2;7;43.8:30.2\n"...)
	for _, inner := range [][]byte{
		nil, {}, {'\n'}, []byte("21.5\n"), datagram, big, random,
		{codec.MagicBinary}, {codec.MagicCompact, 0}, {codec.MagicControl, 1, 2}, {0xff, 0xfe},
	} {
		for _, kind := range kinds {
			roundTrip(t, c, kind, inner)
		}
	}
	if got := c.Append([]byte("x"), codec.CompressNone, []byte("21.5\n")); string(got) != "x21.5\n" {
		t.Fatalf("CompressNone: %q", got)
	}
	// Without dictionaries zstd-dict falls back to plain zstd.
	plain, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	if env := plain.Append(nil, codec.CompressZstdDict, []byte("21.5\n")); env[0] != codec.MagicZstd {
		t.Fatalf("no dictionary: magic %#x", env[0])
	}
}

func TestDictFor(t *testing.T) {
	c := Default()
	f := func(first byte, want uint32) {
		t.Helper()
		id, ok := c.DictFor(first)
		if ok != (want != 0) || id != want {
			t.Fatalf("DictFor(%#x) = %d, %v; want %d", first, id, ok, want)
		}
	}
	f('m', 1)
	f('2', 1)
	f('#', 1)
	f(codec.MagicBinary, 2)
	f(codec.MagicCompact, 3)
	f(codec.MagicControl, 0)
	f(codec.MagicZstd, 0)
	f(0xff, 0)
}

func TestNew_Failure(t *testing.T) {
	f := func(o Options) {
		t.Helper()
		if _, err := New(o); err == nil {
			t.Fatalf("New(%+v) succeeded", o)
		}
	}
	text := DefaultDicts()[0]
	f(Options{S2: 9})
	f(Options{Level: 99})
	f(Options{Dicts: []Dict{{ID: 7, Format: codec.FormatText, Data: text.Data}}}) // id inside is 1
	f(Options{Dicts: []Dict{text, text}})
	f(Options{Dicts: []Dict{{ID: 0, Data: []byte("raw history")}}})
	f(Options{Dicts: []Dict{{ID: 5}}})
	f(Options{Dicts: []Dict{{Data: append(append([]byte{}, text.Data[:8]...), 1, 2, 3)}}})
}

func TestRawDict(t *testing.T) {
	history := []byte("mote-1;1;1278720000000;43.82:30.21\nmote-2;1;1278720000000;43.82:30.21\n")
	c, err := New(Options{Dicts: []Dict{{ID: 300, Format: codec.FormatText, Data: history}}})
	if err != nil {
		t.Fatal(err)
	}
	inner := []byte("mote-2;9;1278720040000;43.81:30.22\n")
	env := roundTrip(t, c, codec.CompressZstdDict, inner)
	if env[2] != 0xac || env[3] != 0x02 { // uvarint 300
		t.Fatalf("dictionary id not carried as uvarint 300: % x", env)
	}
	if len(env) >= len(inner) {
		t.Fatalf("raw dictionary did not help: %d bytes for %d", len(env), len(inner))
	}
	// A decoder without it says which problem it is.
	if _, err := Default().AppendDecoded(nil, env, 1<<10); codec.ReasonOf(err) != codec.ReasonUnknownDict {
		t.Fatalf("unknown dictionary: %v", err)
	}
}

// TestDecodeOnlyDict: a second dictionary for a format that has one is
// kept for decoding, e.g. the previous generation still in the field.
func TestDecodeOnlyDict(t *testing.T) {
	old, err := New(Options{Dicts: []Dict{{ID: 40, Format: codec.FormatText, Data: []byte("mote-1;1;1278720000000;43.82:30.21\n")}}})
	if err != nil {
		t.Fatal(err)
	}
	inner := []byte("mote-1;2;1278720005000;43.8:30.2\n")
	env := old.Append(nil, codec.CompressZstdDict, inner)
	c, err := New(Options{Dicts: append(DefaultDicts(), Dict{ID: 40, Format: codec.FormatText, Data: []byte("mote-1;1;1278720000000;43.82:30.21\n")})})
	if err != nil {
		t.Fatal(err)
	}
	if id, _ := c.DictFor('m'); id != 1 {
		t.Fatalf("encodes text with %d, want the first text dictionary", id)
	}
	out, err := c.AppendDecoded(nil, env, 100)
	if err != nil || !bytes.Equal(out, inner) {
		t.Fatalf("decode-only dictionary: %q, %v", out, err)
	}
}

func ExampleCompressor_Append() {
	c := Default()
	inner := []byte("mote-3;2346;1278731725000;30.84:30.8\n")
	env := c.Append(nil, codec.CompressZstdDict, inner)
	fmt.Printf("%d bytes bare, %d wrapped, magic %#x\n", len(inner), len(env), env[0])

	out, err := c.AppendDecoded(nil, env, codec.DefaultMaxDecoded)
	fmt.Printf("%q %v\n", out, err)
	// Output:
	// 37 bytes bare, 31 wrapped, magic 0xd2
	// "mote-3;2346;1278731725000;30.84:30.8\n" <nil>
}

func ExampleCompressor_AppendDecoded() {
	c := Default()
	env := c.Append(nil, codec.CompressS2, bytes.Repeat([]byte("21.5,"), 1000))
	_, err := c.AppendDecoded(nil, env, 1000) // the caller's Limits.MaxDecoded
	fmt.Println(err, errors.Is(err, codec.ErrTooLarge))
	// Output:
	// fleetwire/codec: s2 frame: too_large at byte 2: declared size above the limit true
}
