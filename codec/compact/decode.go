package compact

import "github.com/fleetwire/fleetwire/codec"

// decodeBody decodes the range-coded body, which starts at frame[p], into
// f and dst.
func decodeBody(dst *codec.Batch, f *codec.Frame, frame []byte, p int, flags byte, lim *codec.Limits) error {
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
	// As in text and binary: a frame carries at least one sample of at
	// least one channel, so every decoded frame has readings to account.
	if samples == 0 || channels == 0 {
		return fail(p+d.at(), codec.ReasonBadSyntax, "a frame holds at least one sample of at least one channel")
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
