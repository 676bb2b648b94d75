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
// PROTOCOL-compact.md has the bit-level specification.
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
	valueBytes = 16
	timeBytes  = 8
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
	if len(frame) == 0 {
		return fail(0, codec.ReasonTruncated, "empty frame")
	}
	if frame[0] != codec.MagicCompact {
		if frame[0]&0xF0 == codec.MagicCompact&0xF0 {
			return fail(0, codec.ReasonBadVersion, "compact version other than 1")
		}
		return fail(0, codec.ReasonUnknownFormat, "not a compact frame")
	}
	if len(frame) > lim.MaxFrame {
		return fail(0, codec.ReasonTooLong, "frame above the frame limit")
	}
	length, n := binary.Uvarint(frame[1:])
	switch {
	case n == 0:
		return fail(len(frame), codec.ReasonTruncated, "frame ends inside its length field")
	case n < 0 || n > binary.MaxVarintLen32:
		return fail(1, codec.ReasonBadLength, "length field too long")
	case length > uint64(len(frame)-1-n):
		return fail(len(frame), codec.ReasonTruncated, "frame ends before its length field says")
	case length < uint64(len(frame)-1-n):
		return fail(1, codec.ReasonBadLength, "frame longer than its length field says")
	}
	p := 1 + n
	if p == len(frame) {
		return fail(p, codec.ReasonTruncated, "no flags byte")
	}
	flags := frame[p]
	p++
	f := dst.BeginFrame()
	f.Format = codec.FormatCompact
	f.WireBytes = len(frame)
	idLen := int(flags & flagIDLen)
	if idLen == idLenByte {
		if p == len(frame) {
			return fail(p, codec.ReasonTruncated, "no id length byte")
		}
		idLen = int(frame[p])
		if idLen < idLenByte || idLen > codec.MaxIDLen {
			return fail(p, codec.ReasonBadID, "id length byte must be 7-64 (shorter ids go in the flags byte)")
		}
		p++
	}
	if idLen > 0 {
		if len(frame)-p < idLen {
			return fail(len(frame), codec.ReasonTruncated, "frame ends inside the device id")
		}
		id := frame[p : p+idLen : p+idLen]
		if !codec.ValidID(id) {
			return fail(p, codec.ReasonBadID, "device id must be 1-64 bytes of [A-Za-z0-9._-]")
		}
		f.Device = id
		p += idLen
	}
	var d rangeDecoder
	d.init(frame[p:])
	if flags&flagSeq != 0 {
		seq, ok := d.getUint()
		if !ok {
			return fail(p+d.at(), codec.ReasonBadNumber, "sequence number code too long")
		}
		f.Seq = seq
		f.Flags |= codec.HasSeq
	}
	samples, ok := d.getUint()
	if !ok {
		return fail(p+d.at(), codec.ReasonBadNumber, "sample count code too long")
	}
	if samples > uint64(lim.MaxSamples) {
		return fail(p+d.at(), codec.ReasonTooManySamples, "")
	}
	channels := uint64(flags >> channelsShift)
	if channels == 0 {
		if channels, ok = d.getUint(); !ok {
			return fail(p+d.at(), codec.ReasonBadNumber, "channel count code too long")
		}
		if channels >= 1 && channels <= maxFlagChans {
			return fail(p+d.at(), codec.ReasonBadNumber, "channel counts 1-7 go in the flags byte")
		}
	}
	if channels > uint64(lim.MaxChannels) {
		return fail(p+d.at(), codec.ReasonTooManyChannels, "")
	}
	if per := channels*valueBytes + timeBytes; samples > uint64(lim.MaxDecoded)/per {
		return fail(p+d.at(), codec.ReasonTooLarge, "frame decodes to more than the decoded-size limit")
	}
	ns, nc := int(samples), int(channels)
	f.Channels = nc
	if !d.holds(minBits(ns, nc, flags&flagTime != 0)) {
		return fail(len(frame), codec.ReasonTruncated, "coded body too short for its sample and channel counts")
	}

	// Every limit holds: reserve the frame's samples and fill them in.
	for range ns {
		dst.AddTime(0)
	}
	for range ns * nc {
		dst.AddValue(codec.Value{})
	}
	if flags&flagTime != 0 {
		f.Flags |= codec.HasTime
		if ns > 0 {
			if r := d.getTimes(dst.OpenTimes()); r != codec.ReasonNone {
				return fail(p+d.at(), r, "bad times")
			}
		}
	}
	if ns > 0 {
		vals := dst.OpenValues()
		var prev desc
		for c := range nc {
			dsc, ok := d.getDesc(prev, c == 0)
			if !ok {
				return fail(p+d.at(), codec.ReasonBadNumber, "bad channel scale")
			}
			prev = dsc
			if r := d.getChannel(dsc, vals, c, nc, ns); r != codec.ReasonNone {
				return fail(p+d.at(), r, "bad channel values")
			}
			if d.overrun() > maxOverrun {
				return fail(len(frame), codec.ReasonTruncated, "coded body ends early")
			}
		}
	}
	switch o := d.overrun(); {
	case o > maxOverrun:
		return fail(len(frame), codec.ReasonTruncated, "coded body ends early")
	case o < maxOverrun-1:
		return fail(p+d.pos-maxOverrun, codec.ReasonBadLength, "bytes after the end of the coded body")
	}
	dst.EndFrame()
	return nil
}

// minBits is a lower bound on the direct bits a body still holds once
// its counts are read: per series a first value (1 bit), and with two or
// more samples an order and a quantum (1 bit each), plus a descriptor bit
// per channel. Residuals may take no bits at all (quantum 0), so the bound
// is per series, and Limits.MaxDecoded is what bounds a frame's size.
func minBits(ns, nc int, hasTime bool) int {
	if ns == 0 {
		return 0
	}
	series := 1
	if ns > 1 {
		series = 3
	}
	n := nc * (series + 1)
	if hasTime {
		n += series
	}
	return n
}

// holds reports whether the rest of the body can hold n more direct bits.
// Decoding n direct bits narrows the range by 2^n, which shifts in at least
// (n-8)/8 bytes, and a valid body ends at most maxOverrun bytes before the
// decoder's last read.
func (d *rangeDecoder) holds(n int) bool {
	return 8*(len(d.buf)-d.pos+maxOverrun)+8 >= n
}

// at is the offset in the body of the byte being decoded, for errors.
func (d *rangeDecoder) at() int { return min(max(d.pos-maxOverrun, 0), len(d.buf)) }

func (d *rangeDecoder) getTimes(ts []int64) codec.Reason {
	h, ok := d.getSeriesHead(len(ts))
	if !ok {
		return codec.ReasonBadNumber
	}
	ts[0] = h.p1
	if h.start == 2 {
		ts[0], ts[1] = h.p2, h.p1
	}
	if h.q == 0 {
		for i := h.start; i < len(ts); i++ {
			ts[i] = h.constant()
		}
		return codec.ReasonNone
	}
	var im intModel
	for i := h.start; i < len(ts); i++ {
		ts[i] = d.value(&h, &im)
	}

	return codec.ReasonNone
}

// getChannel decodes channel c of n samples into vals (sample-major, nc
// channels per sample).
func (d *rangeDecoder) getChannel(dsc desc, vals []codec.Value, c, nc, n int) codec.Reason {
	h, ok := d.getSeriesHead(n)
	if !ok {
		return codec.ReasonBadNumber
	}
	vals[c].Mant = h.p1
	if h.start == 2 {
		vals[c].Mant, vals[c+nc].Mant = h.p2, h.p1
	}
	if h.q == 0 {
		for i := h.start; i < n; i++ {
			vals[c+i*nc].Mant = h.constant()
		}
	} else {
		var im intModel
		for i := h.start; i < n; i++ {
			vals[c+i*nc].Mant = d.value(&h, &im)
		}
	}
	var sm sideModel
	return d.getSide(&sm, dsc, vals, c, nc, n)
}
