// Package compact is fleetwire's compact batch format: a device's run of
// samples as per-channel deltas, entropy coded with an adaptive binary
// range coder. On slowly varying sensor data it takes about half a byte
// per reading, a tenth of text, and it keeps every value exactly as the
// device wrote it ("30" and "30.20" stay apart).
//
//	frame  = 0xC1, uvarint len(rest), rest
//	rest   = flags byte, [id length byte], device id, coded body
//	body   = [seq], samples, channels, [times series], per channel: descriptor, series, per-value side info
//
// Each channel is coded on its own (channel-major), with a fresh adaptive
// model, so a frame decodes without any state from earlier frames.
// PROTOCOL.md has the bit-level specification.
//
// Contracts: Decode appends one frame to a codec.Batch, whole or not at
// all; the frame's Device aliases the input, its values and times live in
// the Batch (codec's rules). Decode and Append are safe for concurrent use
// with distinct Batches and buffers: Append borrows an Encoder from a
// package pool. An Encoder keeps scratch between calls and belongs to one
// goroutine; once warm, neither direction allocates when its destination
// has room.
package compact

import (
	"encoding/binary"

	"github.com/fleetwire/fleetwire/codec"
)

// Flags byte.
const (
	flagIDLen    = 0x07 // 0: no device; 1-6: id length; 7: a length byte follows
	flagSeq      = 0x08
	flagTime     = 0x10
	flagChannels = 0xE0 // 1-7: channels; 0: the channel count is coded in the body

	idLenByte     = 7
	channelsShift = 5
	maxFlagChans  = 7
)

// Bytes of decoded output per value and per sample, for Limits.MaxDecoded:
// what the codec.Batch grows by.
const (
	valueBytes = codec.DecodedValueBytes
	timeBytes  = codec.DecodedSampleBytes
)

func fail(off int, r codec.Reason, detail string) error {
	return codec.Errorf(codec.FormatCompact, off, r, detail)
}

// Decode decodes one compact frame (the whole envelope, as framing returns
// it) and appends it to dst as one codec.Frame. On error dst is left as it
// was. Device aliases frame. lim may be nil for codec.DefaultLimits.
//
// Decode allocates nothing once dst has grown to its working size, and
// never lets a frame grow dst by more than lim allows: samples up to
// MaxSamples, channels up to MaxChannels, and 16 bytes per value plus 8 per
// sample up to MaxDecoded, all checked before the first value is appended.
func Decode(dst *codec.Batch, frame []byte, lim *codec.Limits) error {
	l := codec.DefaultLimits
	if lim != nil {
		l = lim.OrDefault()
	}
	m := dst.Mark()
	if err := decode(dst, frame, &l); err != nil {
		dst.Rollback(m)
		return err
	}
	return nil
}

func decode(dst *codec.Batch, frame []byte, lim *codec.Limits) error {
	p, err := envelope(frame, lim)
	if err != nil {
		return err
	}
	flags := frame[p]
	f := dst.BeginFrame()
	f.Format = codec.FormatCompact
	f.WireBytes = len(frame)
	if p, err = deviceID(f, frame, p+1, flags); err != nil {
		return err
	}
	if err := decodeBody(dst, f, frame, p, flags, lim); err != nil {
		return err
	}
	dst.EndFrame()
	return nil
}

// envelope checks the magic byte and the length field and returns the
// offset of the flags byte.
func envelope(frame []byte, lim *codec.Limits) (int, error) {
	if len(frame) == 0 {
		return 0, fail(0, codec.ReasonTruncated, "empty frame")
	}
	if frame[0] != codec.MagicCompact {
		if frame[0]&0xF0 == codec.MagicCompact&0xF0 {
			return 0, fail(0, codec.ReasonBadVersion, "compact version other than 1")
		}
		return 0, fail(0, codec.ReasonUnknownFormat, "not a compact frame")
	}
	if len(frame) > lim.MaxFrame {
		return 0, fail(0, codec.ReasonTooLong, "frame above the frame limit")
	}
	length, n := binary.Uvarint(frame[1:])
	switch {
	case n == 0:
		return 0, fail(len(frame), codec.ReasonTruncated, "frame ends inside its length field")
	case n < 0 || n > binary.MaxVarintLen32:
		return 0, fail(1, codec.ReasonBadLength, "length field too long")
	case length > uint64(len(frame)-1-n):
		return 0, fail(len(frame), codec.ReasonTruncated, "frame ends before its length field says")
	case length < uint64(len(frame)-1-n):
		return 0, fail(1, codec.ReasonBadLength, "frame longer than its length field says")
	case length == 0:
		return 0, fail(len(frame), codec.ReasonTruncated, "no flags byte")
	}
	return 1 + n, nil
}

// deviceID reads the id the flags byte announces, from offset p, and
// returns the offset of the body.
func deviceID(f *codec.Frame, frame []byte, p int, flags byte) (int, error) {
	idLen := int(flags & flagIDLen)
	if idLen == idLenByte {
		if p == len(frame) {
			return 0, fail(p, codec.ReasonTruncated, "no id length byte")
		}
		idLen = int(frame[p])
		if idLen < idLenByte || idLen > codec.MaxIDLen {
			return 0, fail(p, codec.ReasonBadID, "id length byte must be 7-64 (shorter ids go in the flags byte)")
		}
		p++
	}
	if idLen == 0 {
		return p, nil
	}
	if len(frame)-p < idLen {
		return 0, fail(len(frame), codec.ReasonTruncated, "frame ends inside the device id")
	}
	id := frame[p : p+idLen : p+idLen]
	if !codec.ValidID(id) {
		return 0, fail(p, codec.ReasonBadID, "device id must be 1-64 bytes of [A-Za-z0-9._-]")
	}
	f.Device = id
	return p + idLen, nil
}
