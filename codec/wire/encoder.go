package wire

import (
	"github.com/fleetwire/fleetwire/codec"
	"github.com/fleetwire/fleetwire/codec/binary"
	"github.com/fleetwire/fleetwire/codec/compact"
	"github.com/fleetwire/fleetwire/codec/compress"
	"github.com/fleetwire/fleetwire/codec/control"
	"github.com/fleetwire/fleetwire/codec/text"
)

// Encoder writes frames in one codec. It keeps scratch space between
// calls, so it allocates nothing once warm, and is not safe for concurrent
// use: give each goroutine its own.
type Encoder struct {
	codec      codec.Codec
	end        byte
	compressor *compress.Compressor
	inner      []byte // a frame before compression
}

// NewEncoder returns an Encoder for c. end is the text END byte (0 means
// '\n'); compressor nil means compress.Default().
func NewEncoder(c codec.Codec, end byte, compressor *compress.Compressor) *Encoder {
	if end == 0 {
		end = '\n'
	}
	if compressor == nil {
		compressor = compress.Default()
	}
	return &Encoder{codec: c, end: end, compressor: compressor}
}

// Codec returns the encoder's codec.
func (e *Encoder) Codec() codec.Codec { return e.codec }

// Append appends f as one frame of the encoder's codec: bare, or wrapped
// in one compressed envelope.
func (e *Encoder) Append(dst []byte, f *codec.Frame) []byte {
	if e.codec.Compression == codec.CompressNone {
		return e.appendBare(dst, f)
	}
	e.inner = e.appendBare(e.inner[:0], f)
	return e.compressor.Append(dst, e.codec.Compression, e.inner)
}

func (e *Encoder) appendBare(dst []byte, f *codec.Frame) []byte {
	switch e.codec.Format {
	case codec.FormatBinary:
		return binary.Append(dst, f)
	case codec.FormatCompact:
		return compact.Append(dst, f)
	default:
		return text.Append(dst, f, e.end)
	}
}

// AppendControl appends a control frame in the form a device of this
// codec speaks: a '#' line for text, a binary control frame otherwise.
// Control frames are never compressed: they are rare and must be readable
// by the simplest device.
func (e *Encoder) AppendControl(dst []byte, c *codec.Control) []byte {
	if e.codec.Format == codec.FormatText {
		return control.AppendText(dst, c, e.end)
	}
	return control.AppendBinary(dst, c)
}
