package attack

import (
	"bytes"
	"testing"

	"github.com/fleetwire/fleetwire/codec"
	"github.com/fleetwire/fleetwire/codec/compress"
	"github.com/fleetwire/fleetwire/codec/wire"
)

// The server's defaults that the bounds below are derived from.
const (
	maxFrame   = codec.DefaultMaxFrame   // --max-frame
	maxDecoded = codec.DefaultMaxDecoded // --max-decoded: one frame, and a stream's bucket
	maxAmp     = 2048                    // --max-amplification
	maxBadRun  = 64                      // bad frames in a row before a stream is closed
)

// bombFrame is a valid compact frame of device "amp": 4096 samples of 15
// constant channels, 26 bytes that decode to bombCost, just under
// maxDecoded (as in package server's amplification tests).
func bombFrame(t *testing.T) []byte {
	t.Helper()
	const samples, channels = 4096, 15
	f := codec.Frame{Device: []byte("amp"), Seq: 1, Flags: codec.HasSeq, Channels: channels}
	for range samples {
		f.Times = append(f.Times, 0)
		for range channels {
			f.Values = append(f.Values, codec.Decimal(1, 0))
		}
	}
	b := wire.NewEncoder(codec.Codec{Format: codec.FormatCompact}, 0, nil).Append(nil, &f)
	if len(b) > 64 {
		t.Fatalf("bomb frame is %d bytes", len(b))
	}
	return b
}

var bombCost = int64(codec.DecodedSize(4096*15, 4096))

// zstdEnvelope is a zstd frame of our envelope holding n bomb frames:
// a few dozen bytes, each inner frame within the limit, together n times
// it.
func zstdEnvelope(t *testing.T, n int) []byte {
	t.Helper()
	return compress.Default().Append(nil, codec.CompressZstd, bytes.Repeat(bombFrame(t), n))
}

// zstdBomb is a real zstd frame of our envelope that declares and expands
// to 10 MiB, ten times maxDecoded (as in package server's hostile tests).
func zstdBomb(t *testing.T) []byte {
	t.Helper()
	b := compress.Default().Append(nil, codec.CompressZstd, bytes.Repeat([]byte("1,"), 5<<20))
	if len(b) > 4096 {
		t.Fatalf("zstd bomb is %d bytes", len(b))
	}
	return b
}

// junkEnvelope is a zstd frame of our envelope, 37 bytes, that declares
// and decompresses to junkSize bytes of b: 0xff starts no format (the
// whole work of a frame within the limit, then a frame that fails), and
// END bytes are blank lines (a frame that holds nothing).
func junkEnvelope(t *testing.T, b byte) []byte {
	t.Helper()
	return compress.Default().Append(nil, codec.CompressZstd, bytes.Repeat([]byte{b}, junkSize))
}

const junkSize = maxDecoded - 64

// bucket is the amplification rule as --max-amplification documents it:
// a stream's bucket is maxDecoded deep, starts full and earns maxAmp
// decoded bytes per wire byte of each frame; a datagram starts with
// maxAmp times its size, at most maxDecoded. A frame that would decode to
// more than the bucket holds is refused: too_large when the bucket was
// full (the frame is above the limit itself), amplification otherwise.
type bucket struct{ credit int64 }

func streamBucket() *bucket { return &bucket{credit: maxDecoded} }

func datagramBucket(size int) *bucket { return &bucket{credit: min(int64(size)*maxAmp, maxDecoded)} }

// frame applies one frame of wire bytes that decodes to cost and returns
// "" when it is decoded, else the reason it is refused. A frame that is
// decompressed costs what it decompressed to even if what it holds then
// fails to decode: that work was done (--max-decoded counts decompressed
// bytes). A stream earns
// before the frame; a datagram's bucket earns nothing (wire 0).
func (b *bucket) frame(wireBytes int, cost int64) string {
	b.credit = min(b.credit+int64(wireBytes)*maxAmp, maxDecoded)
	switch {
	case cost <= b.credit:
		b.credit -= cost
		return ""
	case b.credit >= maxDecoded:
		return "too_large"
	}
	return "amplification"
}
