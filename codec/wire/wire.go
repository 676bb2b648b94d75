// Package wire ties fleetwire's formats together: Decoder decodes any frame
// by its first byte (text, binary, compact, control, and compressed frames
// of any of those), and Encoder writes frames in a named codec such as
// "compact+zstd". Servers, generators and tools use this package; the
// format packages stay independent of each other.
//
// Contracts: a Decoder holds only configuration and the process-wide
// Compressor, so one Decoder serves every connection and goroutine; the
// per-call state is the codec.Batch, which belongs to one goroutine. What
// Decode appends aliases the frame (and, for a compressed frame, the
// Batch's Scratch): valid while those bytes are and until the Batch's next
// Reset. A frame is accepted whole or not at all. An Encoder keeps scratch
// between calls and is not safe for concurrent use: one per goroutine.
package wire

import (
	"github.com/fleetwire/fleetwire/codec"
	"github.com/fleetwire/fleetwire/codec/binary"
	"github.com/fleetwire/fleetwire/codec/compact"
	"github.com/fleetwire/fleetwire/codec/compress"
	"github.com/fleetwire/fleetwire/codec/control"
	"github.com/fleetwire/fleetwire/codec/framing"
	"github.com/fleetwire/fleetwire/codec/text"
)

// Decoder decodes whole frames as framing.Splitter finds them. It holds
// only configuration and the process-wide decompressor, so one Decoder
// serves every connection and goroutine; the per-call state is the Batch.
type Decoder struct {
	limits     codec.Limits
	end        byte
	compressor *compress.Compressor
	text       text.Options
}

// Option configures a Decoder beyond what NewDecoder's arguments say.
type Option func(*Decoder)

// WithRadix makes the Decoder read the sample values of text frames in
// base radix: 2, 8 or 16 for devices that print integers so, 10 (the
// default) for decimals; see text.Options. Header fields and steps stay
// decimal, and so do the frames fleetwire's own encoders write: a decoder
// with another radix is for ports such devices speak to. It panics when
// text.CheckRadix refuses radix: check a flag with CheckRadix first.
func WithRadix(radix int) Option {
	if err := text.CheckRadix(radix); err != nil {
		panic(err)
	}
	return func(d *Decoder) { d.text.Radix = radix }
}

// NewDecoder returns a Decoder with the given limits (zero fields take
// their defaults), text END byte (0 means '\n'; text.EndAllowed says which
// bytes make sense), compressor (nil means compress.Default(), with the
// embedded dictionaries) and options.
func NewDecoder(lim codec.Limits, end byte, c *compress.Compressor, opts ...Option) *Decoder {
	if end == 0 {
		end = '\n'
	}
	if c == nil {
		c = compress.Default()
	}
	d := &Decoder{limits: lim.OrDefault(), end: end, compressor: c}
	for _, o := range opts {
		o(d)
	}
	return d
}

// Radix returns the base of text sample values (10 unless WithRadix).
func (d *Decoder) Radix() int {
	if d.text.Radix == 0 {
		return 10
	}
	return d.text.Radix
}

// Limits returns the decoder's limits.
func (d *Decoder) Limits() codec.Limits { return d.limits }

// End returns the text END byte.
func (d *Decoder) End() byte { return d.end }

// NewSplitter returns a splitter for one stream with the decoder's END
// byte and frame limit.
func (d *Decoder) NewSplitter() *framing.Splitter {
	return framing.NewSplitter(d.end, d.limits.MaxFrame)
}

// Decode decodes one whole frame and appends what it holds to dst: sample
// frames to dst.Frames, control frames to dst.Controls. A frame is
// accepted whole or not at all. Slices in dst alias frame (and dst.Scratch
// for compressed frames).
func (d *Decoder) Decode(dst *codec.Batch, frame []byte) error {
	return d.DecodeBudget(dst, frame, 0)
}

// DecodeBudget is Decode with a tighter bound on what the frame may grow
// into: budget bytes of decoded readings (codec.DecodedSize) and of
// decompressed bytes, instead of the decoder's Limits.MaxDecoded, when
// budget is positive and smaller. A server passes what a connection may
// still spend, so that decoded bytes per wire byte (amplification) stay
// bounded; a frame above the budget is codec.ReasonTooLarge.
func (d *Decoder) DecodeBudget(dst *codec.Batch, frame []byte, budget int) error {
	if len(frame) == 0 {
		return codec.Errorf(codec.FormatUnknown, 0, codec.ReasonTruncated, "empty frame")
	}
	lim := d.limits
	if budget > 0 && budget < lim.MaxDecoded {
		lim.MaxDecoded = budget
	}
	switch f := codec.FormatOf(frame[0]); f {
	case codec.FormatZstd, codec.FormatZstdDict, codec.FormatS2:
		return d.decodeCompressed(dst, frame, f, &lim)
	default:
		return d.decodeBare(dst, frame, f, &lim)
	}
}

// decodeBare decodes a frame that is not compressed.
func (d *Decoder) decodeBare(dst *codec.Batch, frame []byte, f codec.Format, lim *codec.Limits) error {
	switch f {
	case codec.FormatText:
		return text.DecodeWith(dst, frame, lim, d.text)
	case codec.FormatBinary:
		return binary.Decode(dst, frame, lim)
	case codec.FormatCompact:
		return compact.Decode(dst, frame, lim)
	case codec.FormatControl:
		return control.Decode(dst, frame)
	case codec.FormatZstd, codec.FormatZstdDict, codec.FormatS2:
		return codec.Errorf(f, 0, codec.ReasonNested, "compressed frame inside a compressed frame")
	default:
		return codec.Errorf(codec.FormatUnknown, 0, codec.ReasonUnknownFormat, "first byte starts no format")
	}
}

// decodeCompressed decompresses into dst.Scratch and decodes the frames
// inside. Nesting is refused: one level of decompression is all a frame
// can cost, and lim.MaxDecoded bounds both the decompressed bytes and the
// decoded readings of all inner frames together.
func (d *Decoder) decodeCompressed(dst *codec.Batch, frame []byte, f codec.Format, lim *codec.Limits) error {
	start := len(dst.Scratch)
	out, err := d.compressor.AppendDecoded(dst.Scratch, frame, lim.MaxDecoded)
	if err != nil {
		return err
	}
	dst.Scratch = out
	inner := out[start:len(out):len(out)]
	m := dst.Mark()
	comp := compressionOf(f)
	split := framing.Splitter{End: d.end, MaxFrame: lim.MaxDecoded}
	innerLim := *lim
	first := len(dst.Frames)
	off := 0 // of the inner frame being decoded
	var ferr error
	_, err = split.Scan(inner, true, func(fr []byte, size int, serr error) bool {
		switch {
		case serr != nil: // inner frames are all or nothing: no resync
			ferr = serr
		case lim.MaxDecoded-dst.DecodedSince(m) <= 0:
			ferr = codec.Errorf(f, off, codec.ReasonTooLarge, "inner frames decode to more than the decoded-size limit")
		default:
			innerLim.MaxDecoded = lim.MaxDecoded - dst.DecodedSince(m)
			ferr = d.decodeBare(dst, fr, codec.FormatOf(fr[0]), &innerLim)
		}
		off += size
		return ferr == nil
	})
	if err == nil {
		err = ferr
	}
	if err != nil {
		dst.Rollback(m)
		return err
	}
	// The wire cost of the compressed frame is shared by what it carried:
	// the first sample frame pays for it, the rest count 0, so per-device
	// byte totals add up to what arrived.
	for i := first; i < len(dst.Frames); i++ {
		dst.Frames[i].Compression = comp
		dst.Frames[i].WireBytes = 0
	}
	if first < len(dst.Frames) {
		dst.Frames[first].WireBytes = len(frame)
	}
	return nil
}

func compressionOf(f codec.Format) codec.Compression {
	switch f {
	case codec.FormatZstd:
		return codec.CompressZstd
	case codec.FormatZstdDict:
		return codec.CompressZstdDict
	case codec.FormatS2:
		return codec.CompressS2
	}
	return codec.CompressNone
}
