package compact

import "math/bits"

// Integer codes. Header integers (counts, scales, first values) are coded
// once per frame, so they use fixed codes of direct bits; residuals, coded
// per reading, use an adaptive model that learns each series as it goes.

// putUint codes x with an Elias-delta code of direct bits: the bit length
// nb of x (0-64) as Elias gamma of nb+1, then the nb-1 bits of x below its
// leading one. 0 takes 1 bit, 1 takes 3, 4690 takes 19, 2^64-1 takes 76.
func (e *rangeEncoder) putUint(x uint64) {
	nb := bits.Len64(x)
	g := uint64(nb + 1)
	gl := bits.Len64(g)
	for range gl - 1 {
		e.direct(0, 1) // one bit at a time: the decoder looks for the 1
	}
	e.direct(1, 1)
	e.direct(g, gl-1)
	if nb > 1 {
		e.direct(x, nb-1)
	}
}

func (e *rangeEncoder) putInt(x int64) { e.putUint(zigzag(x)) }

// getUint decodes putUint; ok is false for a bit length above 64.
func (d *rangeDecoder) getUint() (x uint64, ok bool) {
	z := 0
	for d.direct(1) == 0 {
		if z++; z > 6 {
			return 0, false
		}
	}
	nb := int(uint64(1)<<z|d.direct(z)) - 1
	switch {
	case nb > 64:
		return 0, false
	case nb == 0:
		return 0, true
	}
	return 1<<(nb-1) | d.direct(nb-1), true
}

func (d *rangeDecoder) getInt() (int64, bool) {
	u, ok := d.getUint()
	return unzigzag(u), ok
}

func zigzag(x int64) uint64   { return uint64(x<<1) ^ uint64(x>>63) }
func unzigzag(u uint64) int64 { return int64(u>>1) ^ -int64(u&1) }

// abs returns |x| as uint64, which holds |MinInt64| too.
func abs(x int64) uint64 {
	if x < 0 {
		return -uint64(x)
	}
	return uint64(x)
}

const (
	treeBits   = 3  // mantissa bits below the leading one that get contexts
	treeMaxLen = 16 // longer magnitudes code their mantissa as direct bits
)

// intModel codes signed residuals as sign and magnitude: the magnitude's
// bit length in unary (one context per position), the sign (context: sign
// of the previous nonzero residual), then the bits below the leading one,
// the first treeBits of them through a binary tree of contexts per length
// and the rest direct. The zero value is a fresh model.
type intModel struct {
	length [64]prob                            // length[i]: longer than i bits?
	sign   [3]prob                             // previous sign: none, +, -
	mant   [treeMaxLen + 1][1 << treeBits]prob // [length][tree node]
	last   uint8
}

func (e *rangeEncoder) putResidual(m *intModel, neg bool, mag uint64) {
	nb := bits.Len64(mag)
	// Fast path: the unary length with the coder state in registers, the
	// same arithmetic as encode.
	low, rng := e.low, e.rng
	for i := 0; i <= nb && i < 64; i++ {
		bit := uint32(1)
		if i == nb {
			bit = 0
		}
		p := &m.length[i]
		p0 := p.p0()
		bound := (rng >> 16) * p0
		r := rates[p.n]
		mask := -bit
		low += uint64(bound & mask)
		rng = bound ^ (((rng - bound) ^ bound) & mask)
		up := p0 + (probOne-p0)*r>>16
		down := p0 - p0*r>>16
		p.set(up ^ ((up ^ down) & mask))
		if low > 0xFFFFFFFF {
			e.carry()
			low &= 0xFFFFFFFF
		}
		if rng < topValue {
			e.low, e.rng = low, rng
			e.shift()
			low, rng = e.low, e.rng
		}
	}
	e.low, e.rng = low, rng
	if nb == 0 {
		return
	}
	s := uint64(0)
	if neg {
		s = 1
	}
	e.encode(&m.sign[m.last], s)
	m.last = uint8(1 + s)
	k := nb - 1 // bits below the leading one
	if nb <= treeMaxLen {
		t := min(k, treeBits)
		node := 1
		for j := 1; j <= t; j++ {
			b := mag >> uint(k-j) & 1
			e.encode(&m.mant[nb][node], b)
			node = node<<1 | int(b)
		}
		k -= t
	}
	e.direct(mag, k)
}

func (d *rangeDecoder) getResidual(m *intModel) (neg bool, mag uint64) {
	// Fast path: the unary length with the coder state in registers; this
	// loop is most of the decisions of a frame. Same arithmetic as decode.
	code, rng := d.code, d.rng
	nb := 0
	for nb < 64 {
		p := &m.length[nb]
		p0 := p.p0()
		bound := (rng >> 16) * p0
		r := rates[p.n]
		one := uint32(0)
		if code >= bound {
			one = 1
		}
		mask := -one
		code -= bound & mask
		rng = bound ^ (((rng - bound) ^ bound) & mask)
		up := p0 + (probOne-p0)*r>>16
		down := p0 - p0*r>>16
		p.set(up ^ ((up ^ down) & mask))
		if rng < topValue {
			d.code, d.rng = code, rng
			d.shift()
			code, rng = d.code, d.rng
		}
		if one == 0 {
			break
		}
		nb++
	}
	d.code, d.rng = code, rng
	if nb == 0 {
		return false, 0
	}
	s := d.decode(&m.sign[m.last])
	m.last = uint8(1 + s)
	mag = 1
	k := nb - 1
	if nb <= treeMaxLen {
		t := min(k, treeBits)
		node := 1
		for range t {
			b := d.decode(&m.mant[nb][node])
			node = node<<1 | int(b)
		}
		mag = uint64(node)
		k -= t
	}
	return s == 1, mag<<uint(k) | d.direct(k)
}

// putSmall codes x in [0, max] in unary with one context per position;
// x == max needs no terminator.
func (e *rangeEncoder) putSmall(ps []prob, x, max int) {
	for i := range x {
		e.encode(&ps[i], 1)
	}
	if x < max {
		e.encode(&ps[x], 0)
	}
}

func (d *rangeDecoder) getSmall(ps []prob, max int) int {
	x := 0
	for x < max && d.decode(&ps[x]) == 1 {
		x++
	}
	return x
}
