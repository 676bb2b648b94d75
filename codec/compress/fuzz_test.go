package compress

import (
	"bytes"
	"testing"

	"github.com/fleetwire/fleetwire/codec"
)

var fuzzMagics = [...]byte{codec.MagicZstd, codec.MagicZstdDict, codec.MagicS2}

// fuzzSeeds are real envelopes of every kind and the hand-made bombs.
func fuzzSeeds(f *testing.F) [][]byte {
	c := Default()
	var seeds [][]byte
	for _, batch := range []int{1, 10} {
		frames, _ := multihopWire(f, bareFormats[0], splitHeldOut, batch)
		for _, kind := range kinds {
			seeds = append(seeds, c.Append(nil, kind, frames[0]))
		}
	}
	for _, b := range bombs(c) {
		if len(b) < 4<<10 {
			seeds = append(seeds, b)
		}
	}
	return seeds
}

// FuzzAppendDecoded feeds arbitrary bytes, as they are and behind each
// magic with a correct length: no panic, no write past cap(dst), never
// more than the limit, dst untouched on error.
func FuzzAppendDecoded(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s)
		f.Add(s[2:])
	}
	f.Add([]byte{})
	f.Add([]byte{codec.MagicZstd, 0})
	f.Add([]byte{1, 0x80})
	c := Default()
	const limit = 4 << 10
	backing := make([]byte, 8<<10+8)
	check := func(t *testing.T, frame []byte) {
		copy(backing[8<<10:], "SENTINEL")
		dst := backing[: 3 : 8<<10]
		out, err := c.AppendDecoded(dst, frame, limit)
		if err != nil {
			if _, ok := err.(*codec.Error); !ok {
				t.Fatalf("error of type %T: %v", err, err)
			}
			if len(out) != 3 {
				t.Fatalf("dst grew to %d on error", len(out))
			}
		} else if len(out)-3 > limit {
			t.Fatalf("decoded %d bytes, limit %d", len(out)-3, limit)
		}
		if string(backing[8<<10:]) != "SENTINEL" {
			t.Fatalf("wrote past cap(dst): %q", backing[8<<10:])
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		check(t, data)
		for _, m := range fuzzMagics {
			check(t, envelope(m, data))
		}
	})
}

// FuzzRoundTrip wraps arbitrary bytes in every kind and unwraps them.
func FuzzRoundTrip(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s)
	}
	frames, _ := multihopWire(f, bareFormats[0], splitHeldOut, 60)
	f.Add(frames[0])
	f.Add([]byte{})
	f.Add([]byte{codec.MagicBinary, 0})
	c := Default()
	f.Fuzz(func(t *testing.T, inner []byte) {
		for _, kind := range kinds {
			// Append must not write past cap either.
			backing := make([]byte, 16+8)
			copy(backing[16:], "SENTINEL")
			env := c.Append(backing[:1:16], kind, inner)
			if string(backing[16:]) != "SENTINEL" {
				t.Fatalf("%v: Append wrote past cap(dst)", kind)
			}
			env = env[1:]
			checkMagic(t, c, kind, inner, env)
			out, err := c.AppendDecoded(nil, env, len(inner))
			if err != nil {
				t.Fatalf("%v: %v", kind, err)
			}
			if !bytes.Equal(out, inner) {
				t.Fatalf("%v: round trip changed %x to %x", kind, inner, out)
			}
			if len(inner) > 1 { // a limit of 0 means the default
				if _, err := c.AppendDecoded(nil, env, len(inner)-1); codec.ReasonOf(err) != codec.ReasonTooLarge {
					t.Fatalf("%v: one byte above the limit: %v", kind, err)
				}
			}
		}
	})
}
