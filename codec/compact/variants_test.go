//go:build research

package compact

import (
	"fmt"
	"math"
	"math/bits"
	"strings"
	"testing"
)

// TestVariants prints the table of residual codes this package chose
// between, on multihop's per-channel residuals (each frame and channel
// coded on its own, as the format does). Costs are modelled code lengths
// of the residuals only, in bytes per reading, so that the columns differ
// only in the residual code: adaptive variants are exact ideal code
// lengths (-log2 p with the coder's own integer probability updates),
// static ones count bits. It asserts nothing, so it builds only with the
// research tag: go test -tags research -run Variants -v ./codec/compact/
func TestVariants(t *testing.T) {
	if testing.Short() {
		t.Skip("table, not a check")
	}
	batches := []int{10, 60, 600}
	resid := make(map[int][][]int64) // batch -> one residual slice per frame and channel
	for _, b := range batches {
		for _, f := range multihopFrames(t, b) {
			n := f.Samples()
			m := make([]int64, n)
			for c := range f.Channels {
				analyze(m, f.Values, c, f.Channels, desc{})
				order := orderCost(m)
				start := 1
				if order == 2 {
					start = 2
				}
				r := make([]int64, 0, n)
				for i := start; i < n; i++ {
					r = append(r, residual(m, order, i))
				}
				resid[b] = append(resid[b], r)
			}
		}
	}
	readings := func(b int) float64 { return float64(len(multihopFrames(t, b)[0].Values)) * 0 }
	_ = readings
	total := 2.0 * 4 * 4690 // readings in the data set

	type variant struct {
		name string
		bits func(r []int64) float64
	}
	am := func(o acOpts) func([]int64) float64 { return func(r []int64) float64 { return acBits(r, o) } }
	base := acOpts{limit: rateLimit, tree: treeBits, treeMax: treeMaxLen, signCtx: true}
	with := func(f func(*acOpts)) acOpts { o := base; f(&o); return o }
	variants := []variant{
		{"zigzag varint (bytes)", varintBits},
		{"Rice, best k per frame+channel (4-bit k)", riceBest},
		{"Rice + zero flag, best k", riceZero},
		{"Golomb, best M per frame+channel (6-bit M)", golombBest},
		{"adaptive Rice (LOCO-I running mean)", riceAdaptive},
		{"canonical Huffman per frame+channel, 6 bits/table entry", huffmanBits},
		{"AC, chosen: sign+magnitude, tree 3, limit 30, sign ctx", am(base)},
		{"AC, zigzag instead of sign+magnitude", am(with(func(o *acOpts) { o.zigzag = true }))},
		{"AC, no sign context", am(with(func(o *acOpts) { o.signCtx = false }))},
		{"AC, mantissa tree 0 bits", am(with(func(o *acOpts) { o.tree = 0 }))},
		{"AC, mantissa tree 1 bit", am(with(func(o *acOpts) { o.tree = 1 }))},
		{"AC, mantissa tree 2 bits", am(with(func(o *acOpts) { o.tree = 2 }))},
		{"AC, mantissa tree 4 bits", am(with(func(o *acOpts) { o.tree = 4 }))},
		{"AC, rate limit 14 (1/16)", am(with(func(o *acOpts) { o.limit = 14 }))},
		{"AC, rate limit 62 (1/64)", am(with(func(o *acOpts) { o.limit = 62 }))},
		{"AC, fixed rate 1/16 (LZMA-style, no counting)", am(with(func(o *acOpts) { o.fixedShift = 4 }))},
		{"AC, fixed rate 1/32", am(with(func(o *acOpts) { o.fixedShift = 5 }))},
		{"AC, length contexts by previous length (3 classes)", am(with(func(o *acOpts) { o.lenCtx = true }))},
		{"AC, KT estimator 1/(n+1.5)", am(with(func(o *acOpts) { o.kt = true }))},
		{"AC, mixed with a second estimate limited at 6", am(with(func(o *acOpts) { o.mix = 6 }))},
		{"AC, limit 62 mixed with limit 6", am(with(func(o *acOpts) { o.mix = 6; o.limit = 62 }))},
		{"AC, zero-run flag before each residual", am(with(func(o *acOpts) { o.zeroRun = true }))},
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "\n| residual code (modelled, residuals only) | batch 10 | batch 60 | batch 600 |\n|---|---|---|---|\n")
	for _, v := range variants {
		fmt.Fprintf(&sb, "| %s |", v.name)
		for _, b := range batches {
			var sum float64
			for _, r := range resid[b] {
				sum += v.bits(r)
			}
			fmt.Fprintf(&sb, " %.4f |", sum/8/total)
		}
		sb.WriteByte('\n')
	}
	fmt.Fprintf(&sb, "| order-0 entropy of all residuals, whole data set (no table cost) | %.4f | %.4f | %.4f |\n",
		entropy(resid[10])/8/total, entropy(resid[60])/8/total, entropy(resid[600])/8/total)
	t.Log(sb.String())
}

func varintBits(r []int64) float64 {
	var n float64
	for _, x := range r {
		n += 8 * float64((bits.Len64(zigzag(x)|1)+6)/7)
	}
	return n
}

func riceCost(r []int64, k int) float64 {
	var n float64
	for _, x := range r {
		n += float64(zigzag(x)>>uint(k)) + 1 + float64(k)
	}
	return n
}

func riceBest(r []int64) float64 {
	best := math.Inf(1)
	for k := range 16 {
		best = min(best, riceCost(r, k)+4)
	}
	return best
}

func riceZero(r []int64) float64 {
	best := math.Inf(1)
	for k := range 16 {
		var n float64
		for _, x := range r {
			n++
			if x != 0 {
				n += float64((zigzag(x)-1)>>uint(k)) + 1 + float64(k)
			}
		}
		best = min(best, n+4)
	}
	return best
}

func golombBest(r []int64) float64 {
	best := math.Inf(1)
	for m := uint64(1); m < 64; m++ {
		b := bits.Len64(m)
		cut := uint64(1)<<uint(b) - m
		var n float64
		for _, x := range r {
			u := zigzag(x)
			n += float64(u/m) + 1
			if u%m < cut {
				n += float64(b - 1)
			} else {
				n += float64(b)
			}
		}
		best = min(best, n+6)
	}
	return best
}

func riceAdaptive(r []int64) float64 {
	a, cnt := uint64(4), uint64(1)
	var n float64
	for _, x := range r {
		k := 0
		for cnt<<uint(k) < a {
			k++
		}
		u := zigzag(x)
		n += float64(u>>uint(k)) + 1 + float64(k)
		a += u
		if cnt++; cnt >= 16 {
			a, cnt = a/2, cnt/2
		}
	}
	return n
}

// huffmanBits is an optimistic per-frame Huffman code: code lengths from
// the frame's own histogram, plus 6 bits per distinct symbol for a table.
func huffmanBits(r []int64) float64 {
	hist := map[int64]int{}
	for _, x := range r {
		hist[x]++
	}
	if len(hist) == 1 {
		return 6
	}
	// Huffman cost = sum of internal node weights.
	w := make([]int, 0, len(hist))
	for _, c := range hist {
		w = append(w, c)
	}
	var cost int
	for len(w) > 1 {
		// two smallest
		for i := 0; i < 2; i++ {
			m := i
			for j := i; j < len(w); j++ {
				if w[j] < w[m] {
					m = j
				}
			}
			w[i], w[m] = w[m], w[i]
		}
		s := w[0] + w[1]
		cost += s
		w = append(w[2:], s)
	}
	return float64(cost) + 6*float64(len(hist))
}

func entropy(frames [][]int64) float64 {
	hist := map[int64]int{}
	n := 0
	for _, r := range frames {
		for _, x := range r {
			hist[x]++
			n++
		}
	}
	var h float64
	for _, c := range hist {
		p := float64(c) / float64(n)
		h -= float64(c) * math.Log2(p)
	}
	return h
}

// acOpts are the knobs of the modelled adaptive coder.
type acOpts struct {
	limit      int  // counting adaptation 1/(n+2), down to 1/(limit+2)
	fixedShift int  // if > 0: fixed adaptation 1/2^shift instead
	tree       int  // mantissa bits with contexts
	treeMax    int  // longest magnitude with mantissa contexts
	signCtx    bool // sign context: previous nonzero sign
	zigzag     bool // code zigzag(r) as a magnitude instead of sign+magnitude
	lenCtx     bool // length contexts by the previous residual's length class
	zeroRun    bool // an extra "is zero" context before the length
	kt         bool // rate 1/(n+1.5) (Krichevsky-Trofimov) instead of 1/(n+2)
	mix        int  // if > 0: average with a second estimate limited at mix
}

type vprob struct {
	p0, q0 uint32
	n      int
}

type acModel struct {
	o   acOpts
	ctx map[[3]int]*vprob
}

func (m *acModel) bit(key [3]int, b uint64) float64 {
	p := m.ctx[key]
	if p == nil {
		p = &vprob{p0: probOne / 2, q0: probOne / 2}
		m.ctx[key] = p
	}
	var cost float64
	var r, r2 uint32
	switch {
	case m.o.fixedShift > 0:
		r = probOne >> uint(m.o.fixedShift)
	case m.o.kt:
		r = 2 * probOne / uint32(2*min(p.n, m.o.limit)+3)
	default:
		r = probOne / uint32(min(p.n, m.o.limit)+2)
	}
	r2 = probOne / uint32(min(p.n, m.o.mix)+2)
	pp := p.p0
	if m.o.mix > 0 {
		pp = (p.p0 + p.q0) / 2
	}
	if b == 0 {
		cost = -math.Log2(float64(pp) / probOne)
		p.p0 += (probOne - p.p0) * r >> 16
		p.q0 += (probOne - p.q0) * r2 >> 16
	} else {
		cost = -math.Log2(float64(probOne-pp) / probOne)
		p.p0 -= p.p0 * r >> 16
		p.q0 -= p.q0 * r2 >> 16
	}
	p.n++
	return cost
}

func acBits(r []int64, o acOpts) float64 {
	m := &acModel{o: o, ctx: map[[3]int]*vprob{}}
	var n float64
	last, prevLen := 0, 0
	for _, x := range r {
		mag, neg := abs(x), x < 0
		if o.zigzag {
			mag, neg = zigzag(x), false
		}
		nb := bits.Len64(mag)
		lc := 0
		if o.lenCtx {
			lc = min(prevLen, 2)
		}
		prevLen = nb
		i0 := 0
		if o.zeroRun {
			n += m.bit([3]int{10, lc, 0}, b2u(nb != 0))
			i0 = 1
		}
		for i := i0; i < nb; i++ {
			n += m.bit([3]int{0, lc, i}, 1)
		}
		if nb < 64 && (nb > 0 || !o.zeroRun) {
			n += m.bit([3]int{0, lc, nb}, 0)
		}
		if nb == 0 {
			continue
		}
		if !o.zigzag {
			sc := 0
			if o.signCtx {
				sc = last
			}
			n += m.bit([3]int{1, sc, 0}, b2u(neg))
			last = 1 + int(b2u(neg))
		}
		k := nb - 1
		if nb <= o.treeMax {
			t := min(k, o.tree)
			node := 1
			for j := 1; j <= t; j++ {
				b := mag >> uint(k-j) & 1
				n += m.bit([3]int{2, nb, node}, b)
				node = node<<1 | int(b)
			}
			k -= t
		}
		n += float64(k)
	}
	return n
}

// The speed side of the choice: decoding the same residuals (multihop,
// batch 60, per frame and channel) with the range coder and with a Rice
// code (best k per frame and channel, LSB-first bit reader). Residuals
// only, no frame around them.
//
//	go test -run XXX -bench Variant ./codec/compact/

type residualStreams struct {
	resid [][]int64
	n     int
}

func loadResiduals(b *testing.B) residualStreams {
	var rs residualStreams
	for _, f := range multihopFrames(b, 60) {
		m := make([]int64, f.Samples())
		for c := range f.Channels {
			analyze(m, f.Values, c, f.Channels, desc{})
			r := make([]int64, 0, len(m))
			for i := 1; i < len(m); i++ {
				r = append(r, m[i]-m[i-1])
			}
			rs.resid = append(rs.resid, r)
			rs.n += len(r)
		}
	}
	return rs
}

func BenchmarkVariantRangeDecode(b *testing.B) {
	rs := loadResiduals(b)
	var coded [][]byte
	size := 0
	for _, r := range rs.resid {
		var e rangeEncoder
		e.init(nil)
		var m intModel
		for _, x := range r {
			e.putResidual(&m, x < 0, abs(x))
		}
		coded = append(coded, e.finish())
		size += len(coded[len(coded)-1])
	}
	b.ReportAllocs()
	var sink uint64
	for b.Loop() {
		for i, c := range coded {
			var d rangeDecoder
			d.init(c)
			var m intModel
			for range rs.resid[i] {
				_, mag := d.getResidual(&m)
				sink += mag
			}
		}
	}
	_ = sink
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(rs.n), "ns/residual")
	b.ReportMetric(float64(size)/float64(rs.n), "B/residual")
}

func BenchmarkVariantRiceDecode(b *testing.B) {
	rs := loadResiduals(b)
	type stream struct {
		k    uint
		bits []uint64
	}
	var coded []stream
	size := 0
	for _, r := range rs.resid {
		best, bk := math.Inf(1), 0
		for k := range 16 {
			if c := riceCost(r, k); c < best {
				best, bk = c, k
			}
		}
		s := stream{k: uint(bk)}
		var acc uint64
		var n uint
		put := func(v uint64, w uint) { // LSB-first
			for w > 0 {
				take := min(w, 64-n)
				acc |= (v & (1<<take - 1)) << n
				v >>= take
				w -= take
				n += take
				if n == 64 {
					s.bits = append(s.bits, acc)
					acc, n = 0, 0
				}
			}
		}
		for _, x := range r {
			u := zigzag(x)
			for q := u >> s.k; q > 0; q-- {
				put(0, 1)
			}
			put(1, 1)
			put(u, s.k)
		}
		s.bits = append(s.bits, acc, 0)
		size += (len(s.bits)-2)*8 + int(n+7)/8 + 1 // + the k byte
		coded = append(coded, s)
	}
	b.ReportAllocs()
	var sink uint64
	for b.Loop() {
		for i, s := range coded {
			pos := uint(0) // bit position
			k := s.k
			for range rs.resid[i] {
				w, off := pos>>6, pos&63
				buf := s.bits[w] >> off
				if off != 0 {
					buf |= s.bits[w+1] << (64 - off)
				}
				q := uint(bits.TrailingZeros64(buf))
				u := uint64(q)<<k | (buf>>(q+1))&(1<<k-1)
				pos += q + 1 + k
				sink += uint64(unzigzag(u))
			}
		}
	}
	_ = sink
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(rs.n), "ns/residual")
	b.ReportMetric(float64(size)/float64(rs.n), "B/residual")
}
