package compact

import (
	"encoding/binary"
	"sync"

	"github.com/fleetwire/fleetwire/codec"
)

// Encoder encodes compact frames. It keeps one channel's mantissas as
// scratch between calls, so a long-lived Encoder (one per goroutine)
// encodes without allocating once dst has room. The zero value is ready.
type Encoder struct {
	m []int64
}

// maxPooledScratch bounds the scratch an Encoder keeps in the package
// pool, so one huge frame cannot pin memory for good.
const maxPooledScratch = 1 << 16

var encoders = sync.Pool{New: func() any { return new(Encoder) }}

// Append appends f as one compact frame (envelope included) to dst, using
// a pooled Encoder: it allocates nothing when dst has room.
func Append(dst []byte, f *codec.Frame) []byte {
	e := encoders.Get().(*Encoder)
	dst = e.Append(dst, f)
	if cap(e.m) <= maxPooledScratch {
		encoders.Put(e)
	}
	return dst
}

// Append appends f as one compact frame to dst.
//
// f must hold valid Values, as codec.ParseValue makes them: a decimal with
// Scale <= codec.MaxScale (FlagNegZero only with Mant 0) or a finite float
// with Scale 0. Other values cannot be told apart on the wire: Append
// writes them, but what decodes differs or is rejected. The device id must
// be codec.ValidID (or nil); Times are written only with codec.HasTime,
// Seq only with codec.HasSeq, as in every format.
func (e *Encoder) Append(dst []byte, f *codec.Frame) []byte {
	n, nc := f.Samples(), max(f.Channels, 0)
	if nc > 0 && len(f.Values) < n*nc {
		n = len(f.Values) / nc // a malformed frame must not make us read past Values
	}
	// The length goes before the body; guess one byte and move the body
	// if it turns out longer.
	dst = append(dst, codec.MagicCompact, 0)
	start := len(dst)
	var flags byte
	id := f.Device
	if len(id) > 255 {
		id = id[:255]
	}
	switch {
	case len(id) >= idLenByte:
		flags = idLenByte
	default:
		flags = byte(len(id))
	}
	if f.Flags&codec.HasSeq != 0 {
		flags |= flagSeq
	}
	hasTime := f.Flags&codec.HasTime != 0
	if hasTime {
		flags |= flagTime
	}
	if nc >= 1 && nc <= maxFlagChans {
		flags |= byte(nc) << channelsShift
	}
	dst = append(dst, flags)
	if len(id) >= idLenByte {
		dst = append(dst, byte(len(id)))
	}
	dst = append(dst, id...)

	var rc rangeEncoder
	rc.init(dst)
	if f.Flags&codec.HasSeq != 0 {
		rc.putUint(f.Seq)
	}
	rc.putUint(uint64(n))
	if flags>>channelsShift == 0 {
		rc.putUint(uint64(nc))
	}
	var im intModel
	if hasTime && n > 0 {
		rc.putSeries(f.Times[:n], &im)
	}
	if n > 0 {
		if cap(e.m) < n {
			e.m = make([]int64, n)
		}
		m := e.m[:n]
		var prev desc
		for c := range nc {
			d := analyze(m, f.Values, c, nc, prev)
			rc.putDesc(d, prev, c == 0)
			prev = d
			rc.putSeries(m, &im)
			var sm sideModel
			rc.putSide(&sm, d, m, f.Values, c, nc)
		}
	}
	dst = rc.finish()

	size := len(dst) - start
	if extra := uvarintLen(uint64(size)) - 1; extra > 0 {
		for range extra {
			dst = append(dst, 0)
		}
		copy(dst[start+extra:], dst[start:start+size])
	}
	binary.PutUvarint(dst[start-1:], uint64(size))
	return dst
}

func uvarintLen(x uint64) int {
	n := 1
	for x >= 0x80 {
		x >>= 7
		n++
	}
	return n
}
