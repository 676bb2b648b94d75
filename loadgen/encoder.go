package loadgen

import (
	"github.com/fleetwire/fleetwire/codec"
	"github.com/fleetwire/fleetwire/codec/wire"
)

// encoder is what a loop needs of wire.Encoder: frames in the run's codec
// (compressed ones included) and control frames in the form a device of
// that codec speaks.
type encoder interface {
	Append(dst []byte, f *codec.Frame) []byte
	AppendControl(dst []byte, c *codec.Control) []byte
}

func newEncoder(c codec.Codec, end byte) encoder { return wire.NewEncoder(c, end, nil) }
