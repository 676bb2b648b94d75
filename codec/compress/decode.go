package compress

import (
	"encoding/binary"
	"errors"
	"math"
	"slices"

	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zstd"

	"github.com/fleetwire/fleetwire/codec"
)

func fail(f codec.Format, off int, r codec.Reason, detail string) error {
	return codec.Errorf(f, off, r, detail)
}

// AppendDecoded decompresses frame, one whole envelope (magic 0xD1, 0xD2
// or 0xD3, as framing returns it), appends the inner bytes to dst and
// returns the extended slice. The inner bytes are bare frames for the
// caller to decode; they do not alias frame.
//
// maxDecoded bounds the inner size (0 means codec.DefaultMaxDecoded, and
// no frame may exceed 1 GiB): a frame declaring more is refused with
// ReasonTooLarge before anything is allocated, and one whose content
// exceeds its declaration is stopped as soon as it does. AppendDecoded
// never writes past cap(dst): it grows dst when the declared size does not
// fit, and allocates nothing when it does (dst and frame must not overlap).
// On error it returns dst unchanged in length, and a *codec.Error whose
// Offset is the byte of frame where the problem was seen.
func (c *Compressor) AppendDecoded(dst []byte, frame []byte, maxDecoded int) ([]byte, error) {
	if len(frame) == 0 {
		return dst, fail(codec.FormatUnknown, 0, codec.ReasonTruncated, "empty frame")
	}
	format := codec.FormatOf(frame[0])
	switch format {
	case codec.FormatZstd, codec.FormatZstdDict, codec.FormatS2:
	default:
		return dst, fail(format, 0, codec.ReasonUnknownFormat, "not a compressed envelope")
	}
	length, n := binary.Uvarint(frame[1:])
	switch {
	case n == 0:
		return dst, fail(format, len(frame), codec.ReasonTruncated, "frame ends inside its length field")
	case n < 0 || n > binary.MaxVarintLen32:
		return dst, fail(format, 1, codec.ReasonBadLength, "length field too long")
	case length != uint64(len(frame)-1-n):
		return dst, fail(format, 1, codec.ReasonBadLength, "length field disagrees with the frame size")
	}
	if maxDecoded <= 0 {
		maxDecoded = codec.DefaultMaxDecoded
	}
	maxDecoded = min(maxDecoded, maxDecodedCeiling)
	p := 1 + n
	if format == codec.FormatS2 {
		return decodeS2(dst, frame, p, maxDecoded)
	}
	return c.decodeZstd(dst, frame, p, format, maxDecoded)
}

func decodeS2(dst, frame []byte, p, maxDecoded int) ([]byte, error) {
	size, err := s2.DecodedLen(frame[p:])
	switch {
	case err != nil:
		return dst, fail(codec.FormatS2, p, codec.ReasonBadCompression, "bad s2 block length")
	case size > maxDecoded:
		return dst, fail(codec.FormatS2, p, codec.ReasonTooLarge, "declared size above the limit")
	}
	start := len(dst)
	dst = grow(dst, size)
	// s2.Decode writes its whole declared size into dst or fails; the
	// capped slice makes sure that is all it can touch.
	if _, err := s2.Decode(dst[start:start+size:start+size], frame[p:]); err != nil {
		return dst[:start], fail(codec.FormatS2, p, codec.ReasonBadCompression, "corrupt s2 block")
	}
	return dst[:start+size], nil
}

func (c *Compressor) decodeZstd(dst, frame []byte, p int, format codec.Format, maxDecoded int) ([]byte, error) {
	var id uint64
	if format == codec.FormatZstdDict {
		var n int
		id, n = binary.Uvarint(frame[p:])
		switch {
		case n == 0:
			return dst, fail(format, len(frame), codec.ReasonTruncated, "frame ends inside the dictionary id")
		case n < 0 || id == 0 || id > math.MaxUint32 || !c.knows(uint32(id)):
			return dst, fail(format, p, codec.ReasonUnknownDict, "")
		}
		p += n
	}
	size, n := binary.Uvarint(frame[p:])
	switch {
	case n == 0:
		return dst, fail(format, len(frame), codec.ReasonTruncated, "frame ends inside the content size")
	case n < 0 || size > uint64(maxDecodedCeiling):
		return dst, fail(format, p, codec.ReasonTooLarge, "declared size above the limit")
	case size > uint64(maxDecoded):
		return dst, fail(format, p, codec.ReasonTooLarge, "declared size above the limit")
	}
	p += n
	if off, detail := checkBlocks(frame[p:]); detail != "" {
		return dst, fail(format, p+off, codec.ReasonBadCompression, detail)
	}

	// Rebuild the zstd frame the decoder wants: magic and header, then the
	// blocks as they came.
	bp := c.getBuf()
	h := zstd.Header{SingleSegment: true, HasFCS: true, FrameContentSize: size, DictionaryID: uint32(id)}
	buf, _ := h.AppendTo((*bp)[:0])
	buf = append(buf, frame[p:]...)

	start := len(dst)
	dst = grow(dst, int(size))
	// With WithDecodeAllCapLimit the decoder refuses to produce more than
	// the capacity it is given: exactly the declared size.
	out, err := c.dec.DecodeAll(buf, dst[start:start:start+int(size)])
	*bp = buf
	c.putBuf(bp)
	if err != nil {
		return dst[:start], fail(format, p, zstdReason(err), "zstd blocks do not decode")
	}
	if len(out) != int(size) {
		return dst[:start], fail(format, p, codec.ReasonBadCompression, "zstd blocks do not decode")
	}
	return dst[:start+len(out)], nil
}

func zstdReason(err error) codec.Reason {
	switch {
	case errors.Is(err, zstd.ErrDecoderSizeExceeded), errors.Is(err, zstd.ErrFrameSizeExceeded),
		errors.Is(err, zstd.ErrWindowSizeExceeded):
		return codec.ReasonTooLarge
	case errors.Is(err, zstd.ErrUnknownDictionary):
		return codec.ReasonUnknownDict
	}
	return codec.ReasonBadCompression
}

func (c *Compressor) knows(id uint32) bool {
	for i := range c.dicts {
		if c.dicts[i].id == id {
			return true
		}
	}
	return false
}

// maxPooledBuf keeps one oversized frame from pinning its buffer.
const maxPooledBuf = 256 << 10

func (c *Compressor) getBuf() *[]byte {
	if bp, ok := c.bufs.Get().(*[]byte); ok {
		return bp
	}
	b := make([]byte, 0, 4<<10)
	return &b
}

func (c *Compressor) putBuf(bp *[]byte) {
	if cap(*bp) <= maxPooledBuf {
		c.bufs.Put(bp)
	}
}

// grow makes room for n more bytes after len(dst).
func grow(dst []byte, n int) []byte {
	if cap(dst)-len(dst) >= n {
		return dst
	}
	return slices.Grow(dst, n)
}
