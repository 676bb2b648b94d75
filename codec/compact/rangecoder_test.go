package compact

import "testing"

// TestRangeCoder codes random mixes of modelled bits (from skewed and
// fair sources, so that carries and long runs happen) and direct fields
// of 1-64 bits, and decodes them back; the decoder must end 3 or 4 bytes
// past the end of what the encoder wrote.
func TestRangeCoder(t *testing.T) {
	seed := uint64(1)
	rnd := func() uint64 {
		seed ^= seed << 13
		seed ^= seed >> 7
		seed ^= seed << 17
		return seed
	}
	type sym struct {
		ctx   int // -1: direct
		width int
		v     uint64
	}
	tails := map[int]int{}
	for stream := range 2000 {
		n := 1 + int(rnd()%400)
		syms := make([]sym, n)
		skew := rnd() % 4 // 0: fair, 1-3: ever more skewed
		for i := range syms {
			if rnd()%5 == 0 {
				w := 1 + int(rnd()%64)
				syms[i] = sym{ctx: -1, width: w, v: rnd() & (1<<uint(w) - 1)}
				if w == 64 {
					syms[i].v = rnd()
				}
				continue
			}
			b := uint64(0)
			if rnd()%(1<<(2*skew)) == 0 {
				b = 1
			}
			if stream%2 == 1 { // mostly ones: the low end moves up, carries
				b ^= 1
			}
			syms[i] = sym{ctx: int(rnd() % 8), v: b}
		}
		var e rangeEncoder
		e.init([]byte{0xFF, 0xFF}) // carries must not reach bytes before start
		var em [8]prob
		for _, s := range syms {
			if s.ctx < 0 {
				e.direct(s.v, s.width)
			} else {
				e.encode(&em[s.ctx], s.v)
			}
		}
		out := e.finish()
		if out[0] != 0xFF || out[1] != 0xFF {
			t.Fatalf("stream %d: a carry reached bytes before the coded ones", stream)
		}
		body := out[2:]
		var d rangeDecoder
		d.init(body)
		var dm [8]prob
		for i, s := range syms {
			var got uint64
			if s.ctx < 0 {
				got = d.direct(s.width)
			} else {
				got = d.decode(&dm[s.ctx])
			}
			if got != s.v {
				t.Fatalf("stream %d symbol %d: got %x want %x", stream, i, got, s.v)
			}
		}
		if o := d.overrun(); o != 3 && o != 4 {
			t.Fatalf("stream %d: decoder ends %d bytes past the end", stream, o)
		}
		tails[d.overrun()]++
		if em != dm {
			t.Fatalf("stream %d: models differ after decoding", stream)
		}
	}
	if tails[3] == 0 || tails[4] == 0 {
		t.Errorf("tails %v: want both 0- and 1-byte tails covered", tails)
	}
}

// TestProbBounds checks every probability and count: no update takes P0
// out of [1, 65535], where both outcomes keep a nonzero interval.
func TestProbBounds(t *testing.T) {
	for n := range uint8(rateLimit + 1) {
		for p0 := uint32(1); p0 < probOne; p0++ {
			r := rates[n]
			up := p0 + (probOne-p0)*r>>16
			down := p0 - p0*r>>16
			if up < 1 || up > probOne-1 || down < 1 || down > probOne-1 {
				t.Fatalf("n %d p0 %d: up %d down %d", n, p0, up, down)
			}
		}
	}
}
