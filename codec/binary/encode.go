package binary

import (
	encbin "encoding/binary"
	"math"
	"slices"

	"github.com/fleetwire/fleetwire/codec"
)

// chanPlan is how one channel of one frame goes on the wire.
type chanPlan struct {
	typ   byte  // mode<<4 | width code
	scale uint8 // the type's scale byte
	width uint8 // bytes per value, without the per-value tag
	mode  uint8
}

// plan is what Append decides before writing a byte, so that the length
// field can precede the body without a second buffer.
type plan struct {
	flags byte
	step  int64 // regular time step
	body  int   // bytes after the envelope header
	ch    []chanPlan
}

// smallPlan covers most frames; clearing room for 255 channels would cost
// more than planning a one-sample frame.
const smallPlan = 8

// Size returns the number of bytes Append(nil, f) appends, envelope
// included: what a sender packing frames into a datagram needs to know.
func Size(f *codec.Frame) int {
	var p plan
	var small [smallPlan]chanPlan
	if f.Channels <= smallPlan {
		p.ch = small[:]
	} else {
		var big [wireMaxChannels]chanPlan
		p.ch = big[:]
	}
	p.make(f)
	return 1 + uvarintLen(uint64(p.body)) + p.body
}

// Append appends f as one enveloped binary frame and returns the extended
// buffer. It allocates nothing when dst has room (see Size).
//
// For every channel it picks the narrowest width and mode that keep each
// Value exact, Scale and flags included. Seq is written when f has HasSeq,
// Times when f has HasTime (a frame without HasTime decodes with zero
// times).
//
// f must be a frame a decoder could have produced: 1-65535 samples, 1-255
// channels, len(Values) == samples*channels, Device nil or codec.ValidID,
// decimal Scale <= 18, FlagNegZero only on a zero, finite floats with no
// other flag. Append panics otherwise, because such a frame would be
// rejected by every receiver and the bug is the sender's.
func Append(dst []byte, f *codec.Frame) []byte {
	var p plan
	var small [smallPlan]chanPlan
	if f.Channels <= smallPlan {
		p.ch = small[:]
	} else {
		var big [wireMaxChannels]chanPlan
		p.ch = big[:]
	}
	p.make(f)
	total := 1 + uvarintLen(uint64(p.body)) + p.body
	dst = slices.Grow(dst, total)
	start := len(dst)
	dst = dst[:start+total]
	b := dst[start:]
	b[0] = codec.MagicBinary
	w := 1 + encbin.PutUvarint(b[1:], uint64(p.body))
	w = p.writeHeader(b, w, f)
	w = p.writeTimes(b, w, f)
	w = p.writeValues(b, w, f)
	if w != total {
		panic("fleetwire/codec/binary: internal error: frame size disagrees with its plan")
	}
	return dst
}

func (p *plan) make(f *codec.Frame) {
	n, nc := f.Samples(), f.Channels
	switch {
	case n < 1 || n > wireMaxSamples:
		panic("fleetwire/codec/binary: Append: frame needs 1-65535 samples")
	case nc < 1 || nc > wireMaxChannels:
		panic("fleetwire/codec/binary: Append: frame needs 1-255 channels")
	case len(f.Values) != n*nc:
		panic("fleetwire/codec/binary: Append: len(Values) != samples*channels")
	case f.Device != nil && !codec.ValidID(f.Device):
		panic("fleetwire/codec/binary: Append: invalid device id")
	}
	body := 2 + len(f.Device) + 2 + 1 + 2*nc
	if f.Flags&codec.HasSeq != 0 {
		p.flags |= flagSeq
		body += 4
		if f.Seq > math.MaxUint32 {
			p.flags |= flagSeq64
			body += 4
		}
	}
	if f.Flags&codec.HasTime != 0 {
		p.flags |= flagTime
		body += 8 + p.planTimes(f.Times)
	}
	perSample := 0
	for c := 0; c < nc; c++ {
		cp := planChannel(f.Values, c, nc)
		p.ch[c] = cp
		perSample += int(cp.width)
		if cp.mode == modePerValue {
			perSample++
		}
	}
	p.body = body + n*perSample
}

// planTimes chooses between one step and per-sample deltas, i32 or i64,
// and returns the bytes they take. Deltas wrap like the decoder's
// additions, so any int64 times come back exactly.
func (p *plan) planTimes(t []int64) int {
	if len(t) < 2 {
		return 0
	}
	step := t[1] - t[0]
	regular, wide := true, !fits32(step)
	for i := 2; i < len(t); i++ {
		d := t[i] - t[i-1]
		regular = regular && d == step
		wide = wide || !fits32(d)
	}
	size := 4
	if wide {
		p.flags |= flagWideTime
		size = 8
	}
	if regular {
		p.step = step
		return size
	}
	p.flags |= flagIrregular
	return size * (len(t) - 1)
}

func fits32(d int64) bool { return d >= math.MinInt32 && d <= math.MaxInt32 }

// planChannel picks the cheapest exact encoding of channel c.
func planChannel(vals []codec.Value, c, nc int) chanPlan {
	var (
		minS, maxS uint8 = codec.MaxScale, 0
		n, floats  int
		negZero    bool
		trimmed    = true
		lo, hi     int64 // decimal mantissas at their own scale
	)
	for i := c; i < len(vals); i += nc {
		v := vals[i]
		n++
		if !validValue(v) {
			panic("fleetwire/codec/binary: Append: invalid Value (scale > 18, stray flags, -0 that is not 0, or a non-finite float)")
		}
		if v.Flags&codec.FlagFloat != 0 {
			floats++
			continue
		}
		negZero = negZero || v.Flags&codec.FlagNegZero != 0
		trimmed = trimmed && (v.Scale == 0 || v.Mant%10 != 0)
		minS, maxS = min(minS, v.Scale), max(maxS, v.Scale)
		lo, hi = min(lo, v.Mant), max(hi, v.Mant)
	}
	switch {
	case floats == n:
		return chanPlan{typ: codeFloat64, width: 8, mode: modeFixed}
	case floats > 0:
		// Floats among decimals: keep both exact, tag says which is which.
		return chanPlan{typ: modePerValue<<4 | codeInt64, width: 8, mode: modePerValue}
	case !negZero && minS == maxS:
		code, w := intWidth(lo, hi)
		return chanPlan{typ: modeFixed<<4 | code, scale: maxS, width: w, mode: modeFixed}
	}
	code, w := intWidth(lo, hi)
	pv := chanPlan{typ: modePerValue<<4 | code, width: w, mode: modePerValue}
	if negZero || !trimmed {
		return pv
	}
	// Trimmed needs every value at the largest scale: usually the smallest
	// choice, but not when that overflows or widens past the tag's cost.
	lo, hi = 0, 0
	for i := c; i < len(vals); i += nc {
		v := vals[i]
		d := maxS - v.Scale
		if lim := maxRescalable[d]; v.Mant > lim || v.Mant < -lim {
			return pv
		}
		m := v.Mant * codec.Pow10[d]
		lo, hi = min(lo, m), max(hi, m)
	}
	if code, w := intWidth(lo, hi); w <= pv.width+1 {
		return chanPlan{typ: modeTrimmed<<4 | code, scale: maxS, width: w, mode: modeTrimmed}
	}
	return pv
}

// maxRescalable[d] is the largest magnitude that can be multiplied by
// 10^d without overflow (a table, because planning is the encoder's hot loop).
var maxRescalable = func() (t [codec.MaxScale + 1]int64) {
	for d := range t {
		t[d] = math.MaxInt64 / codec.Pow10[d]
	}
	return t
}()

// validValue reports whether v is a Value the decoder can return.
func validValue(v codec.Value) bool {
	switch v.Flags {
	case 0:
		return v.Scale <= codec.MaxScale
	case codec.FlagNegZero:
		return v.Mant == 0 && v.Scale <= codec.MaxScale
	case codec.FlagFloat:
		return v.Scale == 0 && finite(uint64(v.Mant))
	}
	return false
}

// finite reports whether float64 bits are neither Inf nor NaN.
func finite(bits uint64) bool { return bits>>52&0x7ff != 0x7ff }

// intWidth returns the width code and bytes of the narrowest signed
// integer holding lo..hi.
func intWidth(lo, hi int64) (byte, uint8) {
	switch {
	case lo >= math.MinInt8 && hi <= math.MaxInt8:
		return codeInt8, 1
	case lo >= math.MinInt16 && hi <= math.MaxInt16:
		return codeInt16, 2
	case lo >= math.MinInt32 && hi <= math.MaxInt32:
		return codeInt32, 4
	}
	return codeInt64, 8
}

func uvarintLen(x uint64) int {
	n := 1
	for x >= 0x80 {
		x >>= 7
		n++
	}
	return n
}

func (p *plan) writeHeader(b []byte, w int, f *codec.Frame) int {
	b[w] = p.flags
	b[w+1] = byte(len(f.Device))
	w += 2
	w += copy(b[w:], f.Device)
	if p.flags&flagSeq64 != 0 {
		encbin.LittleEndian.PutUint64(b[w:], f.Seq)
		w += 8
	} else if p.flags&flagSeq != 0 {
		encbin.LittleEndian.PutUint32(b[w:], uint32(f.Seq))
		w += 4
	}
	if p.flags&flagTime != 0 {
		encbin.LittleEndian.PutUint64(b[w:], uint64(f.Times[0]))
		w += 8
	}
	encbin.LittleEndian.PutUint16(b[w:], uint16(f.Samples()))
	b[w+2] = byte(f.Channels)
	w += 3
	for c := 0; c < f.Channels; c++ {
		b[w] = p.ch[c].typ
		b[w+1] = p.ch[c].scale
		w += 2
	}
	return w
}

func (p *plan) writeTimes(b []byte, w int, f *codec.Frame) int {
	t := f.Times
	if p.flags&flagTime == 0 || len(t) < 2 {
		return w
	}
	wide := p.flags&flagWideTime != 0
	if p.flags&flagIrregular == 0 {
		return putInt(b, w, p.step, wide)
	}
	for i := 1; i < len(t); i++ {
		w = putInt(b, w, t[i]-t[i-1], wide)
	}
	return w
}

func putInt(b []byte, w int, d int64, wide bool) int {
	if wide {
		encbin.LittleEndian.PutUint64(b[w:], uint64(d))
		return w + 8
	}
	encbin.LittleEndian.PutUint32(b[w:], uint32(d))
	return w + 4
}

func (p *plan) writeValues(b []byte, w int, f *codec.Frame) int {
	nc := f.Channels
	ch := p.ch[:nc]
	for i := 0; i < len(f.Values); i += nc {
		row := f.Values[i : i+nc]
		for c := range ch {
			cp := &ch[c]
			v := row[c]
			m := v.Mant
			if cp.mode == modeTrimmed {
				m *= codec.Pow10[cp.scale-v.Scale] // checked by planChannel
			}
			switch cp.width {
			case 1:
				b[w] = byte(m)
			case 2:
				encbin.LittleEndian.PutUint16(b[w:], uint16(m))
			case 4:
				encbin.LittleEndian.PutUint32(b[w:], uint32(m))
			default:
				encbin.LittleEndian.PutUint64(b[w:], uint64(m))
			}
			w += int(cp.width)
			if cp.mode == modePerValue {
				b[w] = tagOf(v)
				w++
			}
		}
	}
	return w
}

func tagOf(v codec.Value) byte {
	switch {
	case v.Flags&codec.FlagFloat != 0:
		return tagFloat
	case v.Flags&codec.FlagNegZero != 0:
		return tagNegZero | v.Scale
	}
	return v.Scale
}
