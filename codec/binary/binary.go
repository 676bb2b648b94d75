// Package binary is fleetwire's fixed-layout binary format: explicit
// little-endian integers and IEEE-754 floats, the "binary" side of the
// char-vs-binary comparison. A device with a C struct of int16 readings can
// fill a frame with memcpy; a receiver reads every field at a known offset.
//
// A frame is one codec envelope (magic 0xB1, uvarint length of the rest)
// around:
//
//	flags    u8      bit0 HasSeq, bit1 HasTime, bit2 Seq64, bit3 IrregularTime, bit4 WideTime
//	idlen    u8      0..64, 0 = the connection's device
//	id       idlen bytes of [A-Za-z0-9._-]
//	seq      u32 (u64 with Seq64)               if HasSeq
//	t0       i64 unix ms of the first sample    if HasTime
//	samples  u16     1..Limits.MaxSamples
//	channels u8      1..Limits.MaxChannels
//	channels × (type u8, scale u8)
//	times    if HasTime and samples > 1: one step, or samples-1 deltas (Irregular);
//	         i32 each, i64 with WideTime
//	values   samples × channels, sample-major, each at its channel's width
//	         (+ a u8 tag per value in per-value channels)
//
// A channel's type byte holds its width in the low nibble (1 int8, 2 int16,
// 3 int32, 4 int64, 8 float64) and its decimal mode in the high nibble:
// fixed (every value has the channel's scale), trimmed (stored at the
// channel's scale, trailing fraction zeros dropped on decode) or per-value
// (each value carries its own scale). Decoding recovers every Value exactly
// as the device printed it, Scale and FlagNegZero included.
//
// PROTOCOL.md has the byte-by-byte specification, the error each
// violation gets, and worked examples.
//
// Contracts: Decode appends one frame to a codec.Batch, whole or not at
// all, and checks the sizes the header states before the Batch grows; the
// frame's Device aliases the input, its values and times live in the
// Batch (codec's rules). Decode, Append and Size keep no state between
// calls: safe for concurrent use with distinct Batches and buffers.
package binary

import "github.com/fleetwire/fleetwire/codec"

// Frame flags on the wire.
const (
	flagSeq       = 1 << 0 // seq field present
	flagTime      = 1 << 1 // t0 (and steps or deltas) present
	flagSeq64     = 1 << 2 // seq is u64, else u32
	flagIrregular = 1 << 3 // samples-1 deltas, else one step
	flagWideTime  = 1 << 4 // step or deltas are i64, else i32
	knownFlags    = flagSeq | flagTime | flagSeq64 | flagIrregular | flagWideTime
)

// Channel decimal modes: the high nibble of a channel's type byte.
const (
	modeFixed    = 0 // Value{int, scale}
	modeTrimmed  = 1 // int at scale, trailing fraction zeros stripped
	modePerValue = 2 // int at the value's own scale, then a tag byte
)

// Width codes: the low nibble of a channel's type byte.
const (
	codeInt8    = 1
	codeInt16   = 2
	codeInt32   = 3
	codeInt64   = 4
	codeFloat64 = 8
)

// Per-value tag byte.
const (
	tagScale    = 0x1f // the value's Scale, 0..18
	tagReserved = 0x20 // must be 0
	tagFloat    = 0x40 // the int64 holds float64 bits (int64 channels only)
	tagNegZero  = 0x80 // "-0", "-0.00": the int is 0
)

// Wire maxima fixed by the field widths; Limits are usually far lower.
const (
	wireMaxSamples  = 1<<16 - 1
	wireMaxChannels = 1<<8 - 1
)

func fail(off int, r codec.Reason, detail string) error {
	return codec.Errorf(codec.FormatBinary, off, r, detail)
}

// widthOf maps a width code to bytes, 0 for unknown codes.
var widthOf = [16]uint8{codeInt8: 1, codeInt16: 2, codeInt32: 4, codeInt64: 8, codeFloat64: 8}
