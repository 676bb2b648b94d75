package binary

import (
	encbin "encoding/binary"

	"github.com/fleetwire/fleetwire/codec"
)

// Decode decodes one whole binary frame (envelope included, as
// framing.Splitter returns it) and appends it to dst as one codec.Frame.
// lim may be nil for codec.DefaultLimits.
//
// The length field must agree exactly with len(frame): a datagram cut
// short is ReasonTruncated, bytes beyond the length or beyond the last
// value are ReasonBadLength. On any error dst is left as it was. The
// frame's Device aliases frame; its values and times live in dst.
func Decode(dst *codec.Batch, frame []byte, lim *codec.Limits) error {
	m := dst.Mark()
	if err := decode(dst, frame, lim); err != nil {
		dst.Rollback(m)
		return err
	}
	return nil
}

// chanInfo is a channel's type as the decoder uses it.
type chanInfo struct {
	width uint8 // bytes
	kind  uint8 // modeFixed, modeTrimmed, modePerValue or kindFloat
	scale uint8
}

const kindFloat = 3

func decode(dst *codec.Batch, b []byte, lim *codec.Limits) error {
	l := codec.DefaultLimits
	if lim != nil {
		l = lim.OrDefault()
	}
	p, err := envelope(b, l.MaxFrame)
	if err != nil {
		return err
	}

	// Fixed part of the header: flags, idlen, then id, seq and t0 by flags.
	if len(b)-p < 2 {
		return fail(p, codec.ReasonTruncated, "header")
	}
	flags := b[p]
	switch {
	case flags&^knownFlags != 0:
		return fail(p, codec.ReasonBadVersion, "unknown flag bits")
	case flags&flagSeq64 != 0 && flags&flagSeq == 0:
		return fail(p, codec.ReasonBadVersion, "Seq64 without HasSeq")
	case flags&(flagIrregular|flagWideTime) != 0 && flags&flagTime == 0:
		return fail(p, codec.ReasonBadVersion, "time layout flags without HasTime")
	}
	f := dst.BeginFrame()
	f.Format = codec.FormatBinary
	f.WireBytes = len(b)
	idLen := int(b[p+1])
	p += 2
	if idLen > codec.MaxIDLen {
		return fail(p-1, codec.ReasonBadID, "device id longer than 64 bytes")
	}
	if len(b)-p < idLen {
		return fail(p, codec.ReasonTruncated, "device id")
	}
	if idLen > 0 {
		if !codec.ValidID(b[p : p+idLen]) {
			return fail(p, codec.ReasonBadID, "device id must be [A-Za-z0-9._-]")
		}
		f.Device = b[p : p+idLen : p+idLen]
		p += idLen
	}
	if flags&flagSeq != 0 {
		f.Flags |= codec.HasSeq
		if flags&flagSeq64 != 0 {
			if len(b)-p < 8 {
				return fail(p, codec.ReasonTruncated, "seq")
			}
			f.Seq = encbin.LittleEndian.Uint64(b[p:])
			p += 8
		} else {
			if len(b)-p < 4 {
				return fail(p, codec.ReasonTruncated, "seq")
			}
			f.Seq = uint64(encbin.LittleEndian.Uint32(b[p:]))
			p += 4
		}
	}
	var t0 int64
	if flags&flagTime != 0 {
		f.Flags |= codec.HasTime
		if len(b)-p < 8 {
			return fail(p, codec.ReasonTruncated, "t0")
		}
		t0 = int64(encbin.LittleEndian.Uint64(b[p:]))
		p += 8
	}

	// Counts and the channel table.
	if len(b)-p < 3 {
		return fail(p, codec.ReasonTruncated, "sample and channel counts")
	}
	n := int(encbin.LittleEndian.Uint16(b[p:]))
	nc := int(b[p+2])
	switch {
	case n == 0:
		return fail(p, codec.ReasonBadSyntax, "no samples")
	case n > l.MaxSamples:
		return fail(p, codec.ReasonTooManySamples, "")
	case nc == 0:
		return fail(p+2, codec.ReasonBadSyntax, "no channels")
	case nc > l.MaxChannels:
		return fail(p+2, codec.ReasonTooManyChannels, "")
	case codec.DecodedSize(n*nc, n) > l.MaxDecoded:
		return fail(p, codec.ReasonTooLarge, "frame decodes to more than the decoded-size limit")
	}
	p += 3
	if len(b)-p < 2*nc {
		return fail(p, codec.ReasonTruncated, "channel table")
	}
	var info [wireMaxChannels]chanInfo
	perSample := 0
	for c := 0; c < nc; c++ {
		ci, r, detail := channelType(b[p], b[p+1])
		if r != codec.ReasonNone {
			off := p
			if r == codec.ReasonBadNumber {
				off++ // the scale byte
			}
			return fail(off, r, detail)
		}
		info[c] = ci
		perSample += int(ci.width)
		if ci.kind == modePerValue {
			perSample++
		}
		p += 2
	}
	f.Channels = nc

	// Everything left is times and values, whose size is now known: check
	// it once, so that a short or padded frame is rejected before the batch
	// grows, and the loops below need no checks of their own.
	timeSize, wide := 0, flags&flagWideTime != 0
	if flags&flagTime != 0 && n > 1 {
		timeSize = 4
		if wide {
			timeSize = 8
		}
		if flags&flagIrregular != 0 {
			timeSize *= n - 1
		}
	}
	rest := len(b) - p
	if need := timeSize + n*perSample; rest != need {
		if rest > need {
			return fail(p+need, codec.ReasonBadLength, "bytes after the last value")
		}
		if rest < timeSize {
			return fail(p, codec.ReasonTruncated, "times")
		}
		whole := (rest - timeSize) / perSample
		return fail(p+timeSize+whole*perSample, codec.ReasonTruncated, "values")
	}

	p = decodeTimes(dst, b, p, n, flags, t0)
	if off, r := decodeValues(dst, b, p, n, info[:nc]); r != codec.ReasonNone {
		return fail(off, r, "")
	}
	dst.EndFrame()
	return nil
}

// envelope checks the magic byte and that the length field agrees exactly
// with len(b), and returns where the body starts.
func envelope(b []byte, maxFrame int) (int, error) {
	if len(b) == 0 {
		return 0, fail(0, codec.ReasonTruncated, "empty frame")
	}
	if b[0] != codec.MagicBinary {
		if b[0]&0xf0 == codec.MagicBinary&0xf0 {
			return 0, fail(0, codec.ReasonBadVersion, "unknown binary format version")
		}
		return 0, fail(0, codec.ReasonUnknownFormat, "not a binary frame")
	}
	if len(b) > maxFrame {
		return 0, fail(0, codec.ReasonTooLong, "frame above the frame limit")
	}
	length, n := encbin.Uvarint(b[1:])
	switch {
	case n == 0 && len(b) <= 1+encbin.MaxVarintLen32:
		return 0, fail(len(b), codec.ReasonTruncated, "length field")
	case n <= 0 || n > encbin.MaxVarintLen32: // as framing.EnvelopeHeader
		return 0, fail(1, codec.ReasonBadLength, "length field too long")
	}
	h := 1 + n
	switch rest := uint64(len(b) - h); {
	case length > rest:
		return 0, fail(len(b), codec.ReasonTruncated, "frame ends before its length field says")
	case length < rest:
		return 0, fail(1, codec.ReasonBadLength, "frame longer than its length field says")
	}
	return h, nil
}

// channelType validates a channel's type and scale bytes.
func channelType(typ, scale byte) (chanInfo, codec.Reason, string) {
	code, mode := typ&0x0f, typ>>4
	switch {
	case code == codeFloat64 && mode == modeFixed:
		if scale != 0 {
			return chanInfo{}, codec.ReasonBadNumber, "float64 channel with a scale"
		}
		return chanInfo{width: 8, kind: kindFloat}, codec.ReasonNone, ""
	case code < codeInt8 || code > codeInt64 || mode > modePerValue:
		return chanInfo{}, codec.ReasonBadVersion, "unknown channel type"
	case mode == modePerValue && scale != 0:
		return chanInfo{}, codec.ReasonBadNumber, "per-value channel with a scale"
	case scale > codec.MaxScale:
		return chanInfo{}, codec.ReasonBadNumber, "channel scale above 18"
	}
	return chanInfo{width: widthOf[code], kind: mode, scale: scale}, codec.ReasonNone, ""
}

// decodeTimes adds the n sample times, whose bytes the caller checked.
func decodeTimes(dst *codec.Batch, b []byte, p, n int, flags byte, t0 int64) int {
	if flags&flagTime == 0 {
		for range n {
			dst.AddTime(0)
		}
		return p
	}
	t := t0
	dst.AddTime(t)
	if n == 1 {
		return p
	}
	wide := flags&flagWideTime != 0
	if flags&flagIrregular == 0 {
		step, p := readDelta(b, p, wide)
		for i := 1; i < n; i++ {
			t += step // wraps like the encoder's subtraction: exact for any int64
			dst.AddTime(t)
		}
		return p
	}
	var d int64
	for i := 1; i < n; i++ {
		d, p = readDelta(b, p, wide)
		t += d
		dst.AddTime(t)
	}
	return p
}

func readDelta(b []byte, p int, wide bool) (int64, int) {
	if wide {
		return int64(encbin.LittleEndian.Uint64(b[p:])), p + 8
	}
	return int64(int32(encbin.LittleEndian.Uint32(b[p:]))), p + 4
}

// decodeValues adds n samples of values, whose bytes the caller checked.
// It returns the offset and reason of the first invalid value.
func decodeValues(dst *codec.Batch, b []byte, p, n int, info []chanInfo) (int, codec.Reason) {
	for range n {
		for c := range info {
			ci := &info[c]
			var m int64
			switch ci.width {
			case 1:
				m = int64(int8(b[p]))
			case 2:
				m = int64(int16(encbin.LittleEndian.Uint16(b[p:])))
			case 4:
				m = int64(int32(encbin.LittleEndian.Uint32(b[p:])))
			default:
				m = int64(encbin.LittleEndian.Uint64(b[p:]))
			}
			v := codec.Value{Mant: m, Scale: ci.scale}
			switch ci.kind {
			case modeTrimmed:
				for v.Scale > 0 && v.Mant%10 == 0 {
					v.Mant /= 10
					v.Scale--
				}
			case kindFloat:
				if !finite(uint64(m)) {
					return p, codec.ReasonNonFinite
				}
				v.Flags = codec.FlagFloat
			case modePerValue:
				tag := b[p+int(ci.width)]
				var r codec.Reason
				if v, r = perValue(m, tag, ci.width); r != codec.ReasonNone {
					return p + int(ci.width), r
				}
				p++
			}
			p += int(ci.width)
			dst.AddValue(v)
		}
	}
	return p, codec.ReasonNone
}

// perValue builds a value of a per-value channel from its int and tag.
func perValue(m int64, tag byte, width uint8) (codec.Value, codec.Reason) {
	s := tag & tagScale
	switch {
	case tag&tagReserved != 0 || s > codec.MaxScale:
		return codec.Value{}, codec.ReasonBadNumber
	case tag&tagFloat != 0:
		if tag != tagFloat || width != 8 {
			return codec.Value{}, codec.ReasonBadNumber
		}
		if !finite(uint64(m)) {
			return codec.Value{}, codec.ReasonNonFinite
		}
		return codec.Value{Mant: m, Flags: codec.FlagFloat}, codec.ReasonNone
	case tag&tagNegZero != 0:
		if m != 0 {
			return codec.Value{}, codec.ReasonBadNumber
		}
		return codec.Value{Scale: s, Flags: codec.FlagNegZero}, codec.ReasonNone
	}
	return codec.Value{Mant: m, Scale: s}, codec.ReasonNone
}
