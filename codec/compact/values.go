package compact

import (
	"math"

	"github.com/fleetwire/fleetwire/codec"
)

// How a channel's values become one int64 series and back.
const (
	// modeFixed: every value has the channel's scale ("21.50", "21.60").
	modeFixed = iota
	// modeTrimmed: values are written with trailing fraction zeros dropped
	// ("30.21", "30.2", "30"); the series holds them at the channel's
	// scale and each value's own scale follows from its mantissa.
	modeTrimmed
	// modePerValue: scales vary otherwise; each value's is coded after
	// the series as the channel's scale minus its own.
	modePerValue
	// modeRaw: floats, or decimals that overflow int64 at a common scale:
	// the series holds Mant as it is, each value's flags and scale follow.
	modeRaw
)

// desc describes how a channel is coded.
type desc struct {
	mode  uint8
	scale uint8 // the common scale; 0 in modeRaw
	neg   bool  // each zero mantissa carries a negative-zero bit (not modeRaw)
}

// sideModel codes what a channel's series leaves out: per-value scales,
// negative zeros, float flags. The zero value is a fresh model.
type sideModel struct {
	scale [codec.MaxScale]prob
	neg   prob
	float prob
}

// analyze picks the cheapest mode that holds the channel's values exactly
// and writes their series to m. vals[off+i*stride] is value i. Where both
// fixed and trimmed hold, it picks the previous channel's, which then
// costs one bit.
func analyze(m []int64, vals []codec.Value, off, stride int, prev desc) desc {
	dec, trim, neg := true, true, false
	lo, hi := uint8(codec.MaxScale), uint8(0)
	for i := range m {
		v := vals[off+i*stride]
		if v.Flags&^codec.FlagNegZero != 0 || v.Scale > codec.MaxScale || (v.Flags != 0 && v.Mant != 0) {
			dec = false
			break
		}
		neg = neg || v.Flags != 0
		lo, hi = min(lo, v.Scale), max(hi, v.Scale)
		if v.Scale > 0 && v.Mant%10 == 0 {
			trim = false
		}
	}
	if dec && lo == hi {
		for i := range m {
			m[i] = vals[off+i*stride].Mant
		}
		if d := (desc{mode: modeTrimmed, scale: hi, neg: neg}); trim && prev == d {
			return d
		}
		return desc{mode: modeFixed, scale: hi, neg: neg}
	}
	if dec {
		for i := range m {
			mm, ok := vals[off+i*stride].Rescale(hi)
			if !ok {
				dec = false
				break
			}
			m[i] = mm
		}
	}
	if !dec {
		for i := range m {
			m[i] = vals[off+i*stride].Mant
		}
		return desc{mode: modeRaw}
	}
	if trim {
		return desc{mode: modeTrimmed, scale: hi, neg: neg}
	}
	return desc{mode: modePerValue, scale: hi, neg: neg}
}

// putDesc codes a channel's descriptor: "1" when it equals the previous
// channel's, else "0" (absent for the first channel), the mode in 2 bits
// and, for decimal modes, the scale (uint code) and the negative-zero bit.
func (e *rangeEncoder) putDesc(d, prev desc, first bool) {
	if !first {
		if d == prev {
			e.direct(1, 1)
			return
		}
		e.direct(0, 1)
	}
	e.direct(uint64(d.mode), 2)
	if d.mode != modeRaw {
		e.putUint(uint64(d.scale))
		e.direct(b2u(d.neg), 1)
	}
}

func (dd *rangeDecoder) getDesc(prev desc, first bool) (desc, bool) {
	if !first && dd.direct(1) == 1 {
		return prev, true
	}
	d := desc{mode: uint8(dd.direct(2))}
	if d.mode != modeRaw {
		s, ok := dd.getUint()
		if !ok || s > codec.MaxScale {
			return d, false
		}
		d.scale = uint8(s)
		d.neg = dd.direct(1) == 1
	}
	return d, true
}

func b2u(b bool) uint64 {
	if b {
		return 1
	}
	return 0
}

// putSide codes, per value, what the series does not hold.
func (e *rangeEncoder) putSide(sm *sideModel, d desc, m []int64, vals []codec.Value, off, stride int) {
	if d.mode == modeFixed || d.mode == modeTrimmed {
		if !d.neg {
			return
		}
		for i := range m {
			if m[i] == 0 {
				e.encode(&sm.neg, uint64(vals[off+i*stride].Flags&codec.FlagNegZero>>1))
			}
		}
		return
	}
	for i := range m {
		v := vals[off+i*stride]
		if d.mode == modePerValue {
			e.putSmall(sm.scale[:], int(d.scale-v.Scale), int(d.scale))
			if d.neg && m[i] == 0 {
				e.encode(&sm.neg, uint64(v.Flags&codec.FlagNegZero>>1))
			}
			continue
		}
		isFloat := v.Flags&codec.FlagFloat != 0
		e.encode(&sm.float, b2u(isFloat))
		if isFloat {
			continue
		}
		if m[i] == 0 {
			e.encode(&sm.neg, uint64(v.Flags&codec.FlagNegZero>>1))
		}
		e.putSmall(sm.scale[:], int(min(v.Scale, codec.MaxScale)), codec.MaxScale)
	}
}

// getSide turns the mantissas the series left in out into Values.
func (dd *rangeDecoder) getSide(sm *sideModel, d desc, out []codec.Value, off, stride, n int) codec.Reason {
	for i := range n {
		v := &out[off+i*stride]
		switch d.mode {
		case modeFixed:
			v.Scale = d.scale
		case modeTrimmed:
			s := d.scale
			for s > 0 && v.Mant%10 == 0 {
				v.Mant /= 10
				s--
			}
			v.Scale = s
		case modePerValue:
			x := dd.getSmall(sm.scale[:], int(d.scale))
			p := codec.Pow10[x]
			if v.Mant%p != 0 {
				return codec.ReasonBadNumber
			}
			v.Mant /= p
			v.Scale = d.scale - uint8(x)
		case modeRaw:
			if dd.decode(&sm.float) == 1 {
				if f := math.Float64frombits(uint64(v.Mant)); math.IsNaN(f) || math.IsInf(f, 0) {
					return codec.ReasonNonFinite
				}
				v.Flags = codec.FlagFloat
				continue
			}
			if v.Mant == 0 && dd.decode(&sm.neg) == 1 {
				v.Flags = codec.FlagNegZero
			}
			v.Scale = uint8(dd.getSmall(sm.scale[:], codec.MaxScale))
			continue
		}
		if d.neg && v.Mant == 0 && dd.decode(&sm.neg) == 1 {
			v.Flags = codec.FlagNegZero
		}
	}
	return codec.ReasonNone
}
