package compress

import (
	"bytes"
	"encoding/binary"
	"runtime"
	"testing"

	"github.com/fleetwire/fleetwire/codec"
)

// envelope builds an envelope by hand: magic, the length of the rest, the
// rest.
func envelope(magic byte, rest ...[]byte) []byte {
	body := bytes.Join(rest, nil)
	return append(binary.AppendUvarint([]byte{magic}, uint64(len(body))), body...)
}

func uv(x uint64) []byte { return binary.AppendUvarint(nil, x) }

// rleBlocks is a zstd block sequence that expands to n*size copies of v:
// a few bytes that decompress to anything you like.
func rleBlocks(n, size int, v byte) []byte {
	var b []byte
	for i := range n {
		h := uint32(size)<<3 | blockRLE<<1
		if i == n-1 {
			h |= 1
		}
		b = append(b, byte(h), byte(h>>8), byte(h>>16), v)
	}
	return b
}

// checkDecodeFails decodes frame into a dst with sentinels past its cap,
// twice, and checks the error, its offset, that dst kept its length and
// that nothing past cap was written.
func checkDecodeFails(t *testing.T, c *Compressor, frame []byte, max int, reason codec.Reason, off int) {
	t.Helper()
	backing := bytes.Repeat([]byte{0xAA}, 64+8)
	dst := backing[:5:64]
	for range 2 {
		out, err := c.AppendDecoded(dst, frame, max)
		if codec.ReasonOf(err) != reason {
			t.Fatalf("frame % x: got %v, want %v", frame[:min(len(frame), 24)], err, reason)
		}
		if e := err.(*codec.Error); off >= 0 && e.Offset != off {
			t.Fatalf("frame % x: error at byte %d, want %d (%v)", frame[:min(len(frame), 24)], e.Offset, off, err)
		}
		if len(out) != 5 || &out[:1][0] != &backing[0] {
			t.Fatalf("dst changed on error: len %d", len(out))
		}
		if !bytes.Equal(backing[64:], bytes.Repeat([]byte{0xAA}, 8)) {
			t.Fatalf("wrote past cap(dst): % x", backing[64:])
		}
	}
}

func TestAppendDecoded_Failure(t *testing.T) {
	c := Default()
	f := func(frame []byte, reason codec.Reason, off int) {
		t.Helper()
		checkDecodeFails(t, c, frame, 1<<20, reason, off)
	}
	good := c.Append(nil, codec.CompressZstd, []byte("mote-1;1;43.82:30.21,43.8:30.2,43.8:30.2,43.8:30.2\n"))
	goodDict := c.Append(nil, codec.CompressZstdDict, []byte("mote-1;1;1278720000000;43.82:30.21\n"))
	goodS2 := c.Append(nil, codec.CompressS2, []byte("mote-1;1;1278720000000;43.82:30.21\n"))

	// Envelope.
	f(nil, codec.ReasonTruncated, 0)
	f([]byte("21.5"), codec.ReasonUnknownFormat, 0)
	f([]byte{codec.MagicBinary, 1, 0}, codec.ReasonUnknownFormat, 0)
	f([]byte{codec.MagicZstd}, codec.ReasonTruncated, 1)
	f([]byte{codec.MagicS2, 0x80}, codec.ReasonTruncated, 2)
	f([]byte{codec.MagicZstd, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01}, codec.ReasonBadLength, 1)
	f(good[:len(good)-1], codec.ReasonBadLength, 1)
	f(append(good[:len(good):len(good)], 0), codec.ReasonBadLength, 1)
	f(envelope(codec.MagicZstd), codec.ReasonTruncated, 2)
	f(envelope(codec.MagicZstdDict), codec.ReasonTruncated, 2)

	// zstd bodies.
	f(envelope(codec.MagicZstd, uv(5), []byte{1, 0}), codec.ReasonBadCompression, 3)                 // block header cut
	f(envelope(codec.MagicZstd, uv(5), []byte{0x29, 0, 0, 'a', 'b'}), codec.ReasonBadCompression, 6) // raw block of 5 with 2 bytes
	f(envelope(codec.MagicZstd, uv(1), []byte{0x07, 0, 0}), codec.ReasonBadCompression, 3)           // reserved type
	f(envelope(codec.MagicZstd, uv(1), []byte{0x08, 0, 0, 'a'}), codec.ReasonBadCompression, 7)      // no last block
	f(envelope(codec.MagicZstd, uv(1), []byte{0x09, 0, 0, 'a', 'b'}), codec.ReasonBadCompression, 7) // bytes after it
	f(envelope(codec.MagicZstd, uv(2), []byte{0x09, 0, 0, 'a'}), codec.ReasonBadCompression, 3)      // content shorter than declared
	f(envelope(codec.MagicZstd, uv(20), []byte{0x05, 0, 0, 0xff, 0xff, 0xff}), codec.ReasonBadCompression, 6)
	f(envelope(codec.MagicZstd, uv(30), bytes.Repeat([]byte{0xff}, 30)), codec.ReasonBadCompression, 3)
	f(envelope(codec.MagicZstd, []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}), codec.ReasonTooLarge, 2)
	f(envelope(codec.MagicZstd, []byte{0x80, 0x80}), codec.ReasonTruncated, 4)
	// A zstd frame appended after the blocks would be decoded too by the
	// zstd package; the envelope holds exactly one.
	f(append(bytes.Clone(good), c.plain.EncodeAll([]byte("x"), nil)...), codec.ReasonBadLength, 1)
	f(envelope(codec.MagicZstd, good[2:], c.plain.EncodeAll([]byte("x"), nil)), codec.ReasonBadCompression, -1)

	// Dictionaries.
	f(envelope(codec.MagicZstdDict, uv(99), goodDict[3:]), codec.ReasonUnknownDict, 2)
	f(envelope(codec.MagicZstdDict, uv(0), goodDict[3:]), codec.ReasonUnknownDict, 2)
	f(envelope(codec.MagicZstdDict, uv(1<<32), goodDict[3:]), codec.ReasonUnknownDict, 2)
	f(envelope(codec.MagicZstdDict, []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}), codec.ReasonUnknownDict, 2)
	f(envelope(codec.MagicZstdDict, []byte{0x80}), codec.ReasonTruncated, 3)
	// Right blocks, wrong dictionary: decodes to garbage or fails; it must
	// not be taken for the original.
	if out, err := c.AppendDecoded(nil, envelope(codec.MagicZstdDict, uv(2), goodDict[3:]), 1<<20); err == nil && bytes.Equal(out, []byte("mote-1;1;1278720000000;43.82:30.21\n")) {
		t.Fatalf("decoded with the wrong dictionary")
	}
	// Frames of plain zstd with a dictionary's blocks and vice versa.
	checkNotOriginal(t, c, envelope(codec.MagicZstd, goodDict[3:]), "mote-1;1;1278720000000;43.82:30.21\n")

	// s2.
	f(envelope(codec.MagicS2, []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}), codec.ReasonBadCompression, 2)
	f(envelope(codec.MagicS2, uv(10), []byte{0x00}), codec.ReasonBadCompression, 2)
	f(envelope(codec.MagicS2, uv(3), []byte{0x0c, 'a', 'b', 'c', 'd'}), codec.ReasonBadCompression, 2)
	f(envelope(codec.MagicS2, uv(2), []byte{0x04, 'a', 'b'}, []byte{0x01, 0x10}), codec.ReasonBadCompression, 2)
	f(goodS2[:len(goodS2)-1], codec.ReasonBadLength, 1)
	f(envelope(codec.MagicS2, goodS2[2:len(goodS2)-1]), codec.ReasonBadCompression, 2)

	// Limits.
	checkDecodeFails(t, c, good, 10, codec.ReasonTooLarge, 2)
	checkDecodeFails(t, c, goodDict, 10, codec.ReasonTooLarge, 3)
	checkDecodeFails(t, c, goodS2, 10, codec.ReasonTooLarge, 2)
}

func checkNotOriginal(t *testing.T, c *Compressor, frame []byte, original string) {
	t.Helper()
	if out, err := c.AppendDecoded(nil, frame, 1<<20); err == nil && string(out) == original {
		t.Fatalf("% x decoded to the original", frame)
	}
}

// TestAppendDecoded_Truncated cuts real envelopes at every byte: each
// prefix is an error, never a panic or a silent short frame.
func TestAppendDecoded_Truncated(t *testing.T) {
	c := Default()
	frames, _ := multihopWire(t, bareFormats[0], splitHeldOut, 10)
	for _, kind := range kinds {
		env := c.Append(nil, kind, frames[0])
		for i := range len(env) {
			_, err := c.AppendDecoded(nil, env[:i], 1<<20)
			switch codec.ReasonOf(err) {
			case codec.ReasonTruncated, codec.ReasonBadLength:
			default:
				t.Fatalf("%v cut at %d of %d: %v", kind, i, len(env), err)
			}
		}
	}
}

// TestAppendDecoded_Garbage flips every byte of real envelopes and feeds
// pseudo-random bytes after each magic: errors or some output, bounded,
// never a panic or a write past cap.
func TestAppendDecoded_Garbage(t *testing.T) {
	c := Default()
	frames, _ := multihopWire(t, bareFormats[0], splitHeldOut, 10)
	check := func(frame []byte) {
		t.Helper()
		backing := make([]byte, 512+8)
		copy(backing[512:], "SENTINEL")
		out, err := c.AppendDecoded(backing[:0:512], frame, 400)
		if err == nil && len(out) > 400 {
			t.Fatalf("% x: %d bytes above the limit", frame, len(out))
		}
		if string(backing[512:]) != "SENTINEL" {
			t.Fatalf("% x: wrote past cap", frame)
		}
	}
	for _, kind := range kinds {
		env := c.Append(nil, kind, frames[0])
		for i := range env {
			for _, x := range []byte{0x01, 0x80, 0xff} {
				bad := bytes.Clone(env)
				bad[i] ^= x
				check(bad)
			}
		}
	}
	x := uint64(88172645463325252)
	for range 20000 {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		n := int(x % 64)
		body := make([]byte, n)
		for i := range body {
			x ^= x << 13
			x ^= x >> 7
			x ^= x << 17
			body[i] = byte(x)
		}
		for _, m := range []byte{codec.MagicZstd, codec.MagicZstdDict, codec.MagicS2} {
			check(envelope(m, body))
			check(envelope(m, []byte{1}, body)) // plausible dict id / size
		}
	}
}

// bombs are tiny envelopes that would decompress to 100 MiB.
func bombs(c *Compressor) map[string][]byte {
	const huge = 100 << 20
	rle := rleBlocks(huge/maxBlockSize, maxBlockSize, 'x')
	s2bomb := append(uv(huge), 0xfe, 0x01) // s2: 100 MiB declared, a copy op
	return map[string][]byte{
		"zstd declares 100 MiB":                  envelope(codec.MagicZstd, uv(huge), rle),
		"zstd-dict declares 100 MiB":             envelope(codec.MagicZstdDict, uv(1), uv(huge), rle),
		"zstd declares 1000, has 100 MiB of RLE": envelope(codec.MagicZstd, uv(1000), rle),
		"zstd declares 1000, has 64 KiB of RLE": envelope(codec.MagicZstd, uv(1000),
			rleBlocks(64, 1024, 'x')),
		"zstd declares 60 KiB, has 100 MiB":      envelope(codec.MagicZstd, uv(60<<10), rle),
		"s2 declares 100 MiB":                    envelope(codec.MagicS2, s2bomb),
		"s2 declares 4 GiB":                      envelope(codec.MagicS2, uv(1<<32-1), []byte{0}),
		"real zstd of 100 MiB, limit 1 MiB":      c.Append(nil, codec.CompressZstd, make([]byte, huge)),
		"real zstd-dict of 100 MiB, limit 1 MiB": c.Append(nil, codec.CompressZstdDict, bytes.Repeat([]byte("mote-1;1;1278720000000;43.82:30.21\n"), huge/35)),
	}
}

// TestAppendDecoded_Bombs: each bomb is refused with ReasonTooLarge, and
// refusing it costs kilobytes, not the 100 MiB it asks for.
func TestAppendDecoded_Bombs(t *testing.T) {
	c := Default()
	dst := make([]byte, 0, 64<<10)
	for name, bomb := range bombs(c) {
		if len(bomb) > 64<<10 {
			t.Fatalf("%s: %d bytes is not a bomb", name, len(bomb))
		}
		_, err := c.AppendDecoded(dst, bomb, 1<<20)
		if codec.ReasonOf(err) != codec.ReasonTooLarge {
			t.Fatalf("%s (%d bytes): %v", name, len(bomb), err)
		}
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		const runs = 20
		for range runs {
			c.AppendDecoded(dst, bomb, 1<<20)
		}
		runtime.ReadMemStats(&after)
		perRun := (after.TotalAlloc - before.TotalAlloc) / runs
		t.Logf("%-42s %6d bytes on the wire, refused: %v; %d B allocated per try", name, len(bomb), err, perRun)
		if perRun > 256<<10 {
			t.Errorf("%s: %d bytes allocated per refusal", name, perRun)
		}
	}
}

func TestAppendDecoded_NoAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are meaningless under -race")
	}
	c := Default()
	frames, _ := multihopWire(t, bareFormats[0], splitHeldOut, 10)
	dst := make([]byte, 0, 64<<10)
	for _, kind := range kinds {
		env := c.Append(nil, kind, frames[0])
		if n := testing.AllocsPerRun(100, func() {
			if _, err := c.AppendDecoded(dst, env, 1<<20); err != nil {
				t.Fatal(err)
			}
		}); n != 0 {
			t.Errorf("%v: AppendDecoded %v allocs", kind, n)
		}
		if n := testing.AllocsPerRun(100, func() { c.Append(dst, kind, frames[0]) }); n != 0 {
			t.Errorf("%v: Append %v allocs", kind, n)
		}
	}
}
