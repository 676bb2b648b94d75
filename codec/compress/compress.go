package compress

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/fleetwire/fleetwire/codec"
	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zstd"
)

// S2Level chooses the s2 encoder. All levels decode the same way.
type S2Level uint8

// S2 levels; the zero value is S2Better.
const (
	S2Better  S2Level = iota // s2.EncodeBetter: 15% smaller than S2Fastest on our frames
	S2Fastest                // s2.Encode
	S2Best                   // s2.EncodeBest: a few % smaller again, several times slower
)

// Options configure a Compressor. The zero value is usable: no
// dictionaries, the default levels.
type Options struct {
	// Dicts are the zstd dictionaries the Compressor encodes with (one per
	// base format at most) and accepts when decoding.
	Dicts []Dict
	// Level of the zstd encoders; 0 means DefaultLevel.
	Level zstd.EncoderLevel
	// S2 is the s2 encoder.
	S2 S2Level
	// Concurrency is the number of zstd encoders (per dictionary) and
	// decoders, i.e. of EncodeAll and DecodeAll calls that run at once
	// (others wait); 0 means GOMAXPROCS.
	Concurrency int
}

// DefaultLevel is the zstd level used when Options.Level is 0. With the
// default dictionaries it makes batch-10 and batch-60 text frames 6-9%
// smaller than SpeedFastest and batch-1 frames as small, at about twice
// the encoding time (bench/results/2026-12-06-codecs has the numbers). SpeedBestCompression
// is not worth it: with a dictionary it copies 34 MiB of match tables
// before every frame, and without one it still holds 34 MiB per encoder.
const DefaultLevel = zstd.SpeedBetterCompression

// maxDecodedCeiling bounds what a single frame may decompress to whatever
// limit a caller passes; the zstd decoder is configured with it as a last
// line of defence.
const maxDecodedCeiling = 1 << 30

// windowSize is the zstd encoders' window. Envelopes wrap frames of a
// datagram or a stream segment (codec.Limits.MaxFrame, 64 KiB by default),
// so a larger window buys nothing and an 8 MiB default would cost each
// encoder 16 MiB of history.
const windowSize = 128 << 10

// Compressor encodes and decodes the compressed envelopes. It is safe for
// concurrent use; make one per process (or use Default) and keep it.
type Compressor struct {
	plain *zstd.Encoder
	dec   *zstd.Decoder
	dicts []dictEntry
	// byFirst maps the first byte of the inner frames to 1 + the index in
	// dicts of the dictionary to encode them with; 0 means none.
	byFirst [256]uint8
	s2      func(dst, src []byte) []byte
	bufs    sync.Pool // *[]byte: rebuilt zstd frames for the decoder
}

type dictEntry struct {
	id     uint32
	format codec.Format
	enc    *zstd.Encoder
}

// New returns a Compressor with the given options.
func New(o Options) (*Compressor, error) {
	if o.Level == 0 {
		o.Level = DefaultLevel
	}
	c := &Compressor{}
	switch o.S2 {
	case S2Better:
		c.s2 = s2.EncodeBetter
	case S2Fastest:
		c.s2 = s2.Encode
	case S2Best:
		c.s2 = s2.EncodeBest
	default:
		return nil, fmt.Errorf("compress: unknown S2Level %d", o.S2)
	}
	eopts := []zstd.EOption{
		zstd.WithEncoderLevel(o.Level),
		zstd.WithEncoderConcurrency(o.Concurrency),
		zstd.WithEncoderCRC(false),   // the transport has its own; 4 bytes a frame
		zstd.WithSingleSegment(true), // no window descriptor; content size always present
		zstd.WithZeroFrames(true),    // an empty input still makes a decodable frame
		zstd.WithWindowSize(windowSize),
		zstd.WithLowerEncoderMem(true),
	}
	var err error
	if c.plain, err = zstd.NewWriter(nil, eopts...); err != nil {
		return nil, fmt.Errorf("compress: zstd encoder: %w", err)
	}
	dopts := []zstd.DOption{
		zstd.WithDecoderConcurrency(o.Concurrency),
		zstd.WithDecoderMaxMemory(maxDecodedCeiling),
		zstd.WithDecoderMaxWindow(maxDecodedCeiling),
		zstd.WithDecodeAllCapLimit(true), // never write past the room AppendDecoded gives
	}
	seen := map[uint32]bool{}
	for i, d := range o.Dicts {
		e, dopt, err := d.load(eopts)
		if err != nil {
			return nil, fmt.Errorf("compress: dictionary %d (id %d): %w", i, d.ID, err)
		}
		if seen[e.id] {
			return nil, fmt.Errorf("compress: dictionary id %d given twice", e.id)
		}
		seen[e.id] = true
		dopts = append(dopts, dopt)
		if e.format != codec.FormatUnknown && c.dictFor(e.format) < 0 {
			if len(c.dicts) == 255 {
				return nil, errors.New("compress: more than 255 dictionaries")
			}
			c.dicts = append(c.dicts, e)
			for b := range 256 {
				if baseFormat(byte(b)) == e.format {
					c.byFirst[b] = uint8(len(c.dicts))
				}
			}
		} else {
			// Decode-only: kept so that frames made with it still decode,
			// e.g. an older dictionary devices in the field still use.
			e.enc = nil
			c.dicts = append(c.dicts, e)
		}
	}
	if c.dec, err = zstd.NewReader(nil, dopts...); err != nil {
		return nil, fmt.Errorf("compress: zstd decoder: %w", err)
	}
	return c, nil
}

// baseFormat is the format whose dictionary suits inner frames starting
// with first. Text control lines ('#') travel in text streams, so they
// share the text dictionary.
func baseFormat(first byte) codec.Format {
	if codec.Delimited(first) {
		return codec.FormatText
	}
	return codec.FormatOf(first)
}

func (c *Compressor) dictFor(f codec.Format) int {
	for i, e := range c.dicts {
		if e.format == f && e.enc != nil {
			return i
		}
	}
	return -1
}

// DictFor returns the id of the dictionary Append uses for inner frames
// whose first byte is first.
func (c *Compressor) DictFor(first byte) (id uint32, ok bool) {
	if i := c.byFirst[first]; i > 0 {
		return c.dicts[i-1].id, true
	}
	return 0, false
}

// Append appends inner wrapped in one compressed envelope of the given kind
// to dst and returns the extended slice. inner is one or more whole bare
// frames. CompressZstdDict uses the dictionary of inner's format (see
// DictFor) and falls back to plain zstd (0xD1) when there is none or when
// the frame did not compress with it (it is sent as one raw zstd block).
// CompressNone appends inner as it is. It allocates nothing when dst has
// room for the result (len(inner) + 16 bytes is always enough for zstd,
// s2.MaxEncodedLen(len(inner)) + 6 for s2).
func (c *Compressor) Append(dst []byte, kind codec.Compression, inner []byte) []byte {
	switch kind {
	case codec.CompressNone:
		return append(dst, inner...)
	case codec.CompressZstd:
		return appendZstd(dst, codec.MagicZstd, c.plain, 0, inner)
	case codec.CompressZstdDict:
		if len(inner) > 0 {
			if i := c.byFirst[inner[0]]; i > 0 {
				e := &c.dicts[i-1]
				return appendZstd(dst, codec.MagicZstdDict, e.enc, e.id, inner)
			}
		}
		return appendZstd(dst, codec.MagicZstd, c.plain, 0, inner)
	case codec.CompressS2:
		return c.appendS2(dst, inner)
	}
	panic(fmt.Sprintf("compress: unknown Compression %d", kind))
}

// zeros is what header room is reserved with.
var zeros [headerRoom]byte

// headerRoom is the most an envelope header can take before its content
// size: magic, a 5-byte length, a 5-byte dictionary id.
const headerRoom = 1 + 2*binary.MaxVarintLen32

// appendZstd lets the encoder write a whole zstd frame after room for our
// header, then moves the blocks down over the zstd header, which is always
// at least as long as the content size that replaces it.
func appendZstd(dst []byte, magic byte, enc *zstd.Encoder, id uint32, inner []byte) []byte {
	start := len(dst)
	dst = append(dst, zeros[:]...)
	zs := len(dst)
	dst = enc.EncodeAll(inner, dst)
	blocks := dst[zs+zstdHeaderLen(dst[zs+4]):]

	if magic == codec.MagicZstdDict && blocks[0]&7 == blockRaw<<1|1 {
		// One raw block: the dictionary did not help (the frame is
		// incompressible, compact for one), so do not pay for its id.
		magic = codec.MagicZstd
	}
	var hdr [headerRoom + binary.MaxVarintLen64]byte
	var idLen int
	if magic == codec.MagicZstdDict {
		idLen = uvarintLen(uint64(id))
	}
	rest := idLen + uvarintLen(uint64(len(inner))) + len(blocks)
	hdr[0] = magic
	n := 1 + binary.PutUvarint(hdr[1:], uint64(rest))
	if idLen > 0 {
		n += binary.PutUvarint(hdr[n:], uint64(id))
	}
	n += binary.PutUvarint(hdr[n:], uint64(len(inner)))
	copy(dst[start:], hdr[:n])
	m := copy(dst[start+n:], blocks)
	return dst[:start+n+m]
}

// appendS2 encodes in place after room for the largest length field the
// block can need, then closes the gap if the real length is shorter.
func (c *Compressor) appendS2(dst []byte, inner []byte) []byte {
	bound := s2.MaxEncodedLen(len(inner))
	if bound < 0 {
		panic("compress: s2 input above 4 GiB")
	}
	room := 1 + uvarintLen(uint64(bound))
	start := len(dst)
	dst = slices.Grow(dst, room+bound)
	dst = dst[:start+room]
	body := c.s2(dst[start+room:start+room+bound], inner)
	dst = dst[:start+room+len(body)]
	dst[start] = codec.MagicS2
	n := 1 + binary.PutUvarint(dst[start+1:], uint64(len(body)))
	m := copy(dst[start+n:], body)
	return dst[:start+n+m]
}

func uvarintLen(x uint64) int {
	n := 1
	for x >= 0x80 {
		x >>= 7
		n++
	}
	return n
}
