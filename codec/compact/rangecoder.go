package compact

// A binary adaptive range coder in the style of LZMA's, with two changes
// that matter for small frames: no leading zero byte (carries walk back
// through the bytes already written instead of being cached), and a flush
// of at most one byte (the decoder reads zeros past the end). The compact
// section of PROTOCOL.md has the exact arithmetic; encoder and decoder
// below must stay its mirror.

const (
	probBits = 16
	probOne  = 1 << probBits
	topValue = 1 << 24 // the coder renormalises when its range drops below this

	// rateLimit bounds how slowly a probability adapts: after n bits a
	// context moves by 1/(n+2) towards each new bit (a counting estimate,
	// so a frame's first few samples already teach it), and never by less
	// than 1/(rateLimit+2). See the variants table in variants_test.go (build tag research).
	rateLimit = 30

	// maxOverrun is how far past its end the decoder may read: its four
	// bytes of look-ahead. The flush writes 0 or 1 byte, so a valid body
	// leaves the decoder 3 or 4 bytes past its end.
	maxOverrun = 4
)

// rates[n] is the adaptation step after n bits, in 1/65536; the table
// covers every uint8 so that indexing it needs no bounds check.
var rates = func() (r [256]uint32) {
	for n := range r {
		r[n] = probOne / uint32(min(n, rateLimit)+2)
	}
	return r
}()

// nextCount[n] is n+1 saturating at rateLimit, without a branch.
var nextCount = func() (c [256]uint8) {
	for n := range c {
		c[n] = uint8(min(n+1, rateLimit))
	}
	return c
}()

// prob is an adaptive estimate of P(bit == 0). x holds the probability in
// 1/65536 XOR 0x8000, so the zero value means 1/2 and a model resets with
// one clear; n counts the bits seen, saturating at rateLimit.
type prob struct {
	x uint16
	n uint8
}

// p0 is P(0) in 1/65536; it stays in [1, 65535], so neither outcome ever
// gets a zero-width interval.
func (p *prob) p0() uint32 { return uint32(p.x ^ 0x8000) }

func (p *prob) set(p0 uint32) {
	p.x = uint16(p0) ^ 0x8000
	p.n = nextCount[p.n]
}

// rangeEncoder appends coded bytes to buf.
type rangeEncoder struct {
	buf   []byte
	start int // first coded byte: carries never walk back past it
	low   uint64
	rng   uint32
}

func (e *rangeEncoder) init(buf []byte) {
	*e = rangeEncoder{buf: buf, start: len(buf), rng: 0xFFFFFFFF}
}

// carry adds one to the bytes written so far. The coded interval always
// lies inside [0, 1), so the walk stops before it passes start.
func (e *rangeEncoder) carry() {
	for i := len(e.buf) - 1; i >= e.start; i-- {
		e.buf[i]++
		if e.buf[i] != 0 {
			return
		}
	}
}

func (e *rangeEncoder) shift() {
	for e.rng < topValue {
		e.buf = append(e.buf, byte(e.low>>24))
		e.low = (e.low << 8) & 0xFFFFFFFF
		e.rng <<= 8
	}
}

// encode codes bit (0 or 1) with the adaptive probability p, without a
// branch on the bit (see decode).
func (e *rangeEncoder) encode(p *prob, bit uint64) {
	p0 := p.p0()
	bound := (e.rng >> 16) * p0
	r := rates[p.n]
	mask := -uint32(bit)
	e.low += uint64(bound & mask)
	e.rng = bound ^ (((e.rng - bound) ^ bound) & mask)
	up := p0 + (probOne-p0)*r>>16
	down := p0 - p0*r>>16
	p.set(up ^ ((up ^ down) & mask))
	if e.low > 0xFFFFFFFF {
		e.carry()
		e.low &= 0xFFFFFFFF
	}
	if e.rng < topValue {
		e.shift()
	}
}

// maxChunk is how many direct bits are coded as one symbol.
const maxChunk = 16

// direct codes the low n bits of v with no model, most significant first,
// in chunks of up to 16 bits: each chunk is one of 2^k equally likely
// symbols, so a 64-bit value costs four steps, not 64.
func (e *rangeEncoder) direct(v uint64, n int) {
	for n > 0 {
		k := min(n, maxChunk)
		n -= k
		c := v >> uint(n) & (1<<uint(k) - 1)
		e.rng >>= uint(k)
		e.low += c * uint64(e.rng)
		if e.low > 0xFFFFFFFF {
			e.carry()
			e.low &= 0xFFFFFFFF
		}
		if e.rng < topValue {
			e.shift()
		}
	}
}

// finish writes the shortest tail that keeps the decoder inside the final
// interval: low rounded up to a multiple of 2^24 (the range is at least
// that wide), of which only the top byte can be nonzero.
func (e *rangeEncoder) finish() []byte {
	if e.low != 0 {
		v := (e.low + topValue - 1) &^ (topValue - 1)
		if v > 0xFFFFFFFF {
			e.carry()
		} else {
			e.buf = append(e.buf, byte(v>>24))
		}
	}
	return e.buf
}

// rangeDecoder mirrors rangeEncoder. Bytes past the end of buf read as
// zero; pos counts them, so the caller can tell a body that ended early
// (pos - len(buf) > maxOverrun) from one with bytes left over.
type rangeDecoder struct {
	buf  []byte
	pos  int
	code uint32
	rng  uint32
}

func (d *rangeDecoder) init(buf []byte) {
	*d = rangeDecoder{buf: buf, rng: 0xFFFFFFFF}
	for range 4 {
		d.code = d.code<<8 | uint32(d.next())
	}
}

func (d *rangeDecoder) next() byte {
	p := d.pos
	d.pos++
	if p < len(d.buf) {
		return d.buf[p]
	}
	return 0
}

func (d *rangeDecoder) shift() {
	for d.rng < topValue {
		d.code = d.code<<8 | uint32(d.next())
		d.rng <<= 8
	}
}

// decode returns the next bit coded with p. It is branch-free but for
// renormalisation: the bit is data, and a mispredicted branch on it costs
// more than computing both outcomes.
func (d *rangeDecoder) decode(p *prob) uint64 {
	p0 := p.p0()
	bound := (d.rng >> 16) * p0
	r := rates[p.n]
	one := uint32(0)
	if d.code >= bound {
		one = 1
	}
	mask := -one
	d.code -= bound & mask
	d.rng = bound ^ (((d.rng - bound) ^ bound) & mask)
	up := p0 + (probOne-p0)*r>>16
	down := p0 - p0*r>>16
	p.set(up ^ ((up ^ down) & mask))
	if d.rng < topValue {
		d.shift()
	}
	return uint64(one)
}

// direct returns n bits coded by rangeEncoder.direct.
func (d *rangeDecoder) direct(n int) uint64 {
	var v uint64
	for n > 0 {
		k := min(n, maxChunk)
		n -= k
		d.rng >>= uint(k)
		var c uint32
		if k == 1 { // the common case, and a compare is cheaper than a divide
			if d.code >= d.rng {
				c = 1
			}
		} else if c = d.code / d.rng; c>>uint(k) != 0 {
			c = 1<<uint(k) - 1 // only a corrupt body gets here
		}
		d.code -= c * d.rng
		v = v<<uint(k) | uint64(c)
		if d.rng < topValue {
			d.shift()
		}
	}
	return v
}

// overrun is how many bytes past the end of buf the decoder has read.
func (d *rangeDecoder) overrun() int { return d.pos - len(d.buf) }
