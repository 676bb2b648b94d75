package loadgen

import (
	"fmt"

	"github.com/fleetwire/fleetwire/codec"
	"github.com/fleetwire/fleetwire/codec/binary"
	"github.com/fleetwire/fleetwire/codec/compact"
	"github.com/fleetwire/fleetwire/codec/control"
	"github.com/fleetwire/fleetwire/codec/text"
)

// encoder is what a loop needs of codec/wire.Encoder.
type encoder interface {
	Append(dst []byte, f *codec.Frame) []byte
	AppendControl(dst []byte, c *codec.Control) []byte
}

type bareEncoder struct {
	format codec.Format
	end    byte
}

func newEncoder(c codec.Codec, end byte) (encoder, error) {
	if end == 0 {
		end = '\n'
	}
	if c.Compression != codec.CompressNone {
		return nil, fmt.Errorf("codec %v: compression not available yet", c)
	}
	return &bareEncoder{c.Format, end}, nil
}

func (e *bareEncoder) Append(dst []byte, f *codec.Frame) []byte {
	switch e.format {
	case codec.FormatBinary:
		return binary.Append(dst, f)
	case codec.FormatCompact:
		return compact.Append(dst, f)
	}
	return text.Append(dst, f, e.end)
}

func (e *bareEncoder) AppendControl(dst []byte, c *codec.Control) []byte {
	if e.format == codec.FormatText {
		return control.AppendText(dst, c, e.end)
	}
	return control.AppendBinary(dst, c)
}
