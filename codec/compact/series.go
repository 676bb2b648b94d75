package compact

import "math/bits"

// A series is one channel's mantissas (or the sample times) of a frame:
//
//	first value          int code
//	order                "1": delta, "00": the values themselves, "01": delta of delta
//	first delta          int code, order 2 only
//	quantum q            "1": q = 1; "0" + uint code x: q = 0 if x == 0, else x+1
//	residuals            q > 0: one adaptive residual per remaining sample, divided by q
//
// q = 0 says every remaining residual is zero: a constant channel, or
// times with a constant step, cost a few bits whatever their length.

// orderCost picks the predictor order whose residuals are shortest: a
// proxy (sum of bit lengths) that tracks the adaptive coder closely enough
// and costs one pass. Ties go to delta, the usual winner for sensor data.
func orderCost(m []int64) int {
	var c0, c1, c2 int
	for i := 1; i < len(m); i++ {
		d := m[i] - m[i-1]
		c0 += bits.Len64(abs(m[i]))
		c1 += bits.Len64(abs(d))
		if i == 1 {
			c2 += 2*bits.Len64(abs(d)) + 1 // the first delta goes in the header
		} else {
			c2 += bits.Len64(abs(d - (m[i-1] - m[i-2])))
		}
	}
	switch {
	case c1 <= c0 && c1 <= c2:
		return 1
	case c2 <= c0:
		return 2
	}
	return 0
}

func residual(m []int64, order, i int) int64 {
	switch order {
	case 0:
		return m[i]
	case 1:
		return m[i] - m[i-1]
	}
	return m[i] - 2*m[i-1] + m[i-2]
}

// quantum returns the greatest common divisor of the residuals from start
// on, 0 when they are all zero. Data printed with a fixed step ("21.50",
// "21.60") has q = 10 and saves log2(10) bits per reading.
func quantum(m []int64, order, start int) uint64 {
	var g uint64
	for i := start; i < len(m) && g != 1; i++ {
		a := abs(residual(m, order, i))
		for a != 0 {
			g, a = a, g%a
		}
	}
	return g
}

func (e *rangeEncoder) putSeries(m []int64, im *intModel) {
	n := len(m)
	e.putInt(m[0])
	if n == 1 {
		return
	}
	order := orderCost(m)
	switch order {
	case 1:
		e.direct(1, 1)
	case 0:
		e.direct(0, 1)
		e.direct(0, 1)
	case 2:
		e.direct(0, 1)
		e.direct(1, 1)
	}
	start := 1
	if order == 2 {
		e.putInt(m[1] - m[0])
		start = 2
	}
	if start == n {
		return
	}
	q := quantum(m, order, start)
	if q == 1 {
		e.direct(1, 1)
	} else {
		e.direct(0, 1)
		if q == 0 {
			e.putUint(0)
			return
		}
		e.putUint(q - 1)
	}
	*im = intModel{}
	for i := start; i < n; i++ {
		r := residual(m, order, i)
		e.putResidual(im, r < 0, abs(r)/q)
	}
}

// seriesHead is what the decoder knows of a series before its residuals.
type seriesHead struct {
	order  int
	start  int    // index of the first residual
	q      uint64 // 0: all residuals are zero
	p1, p2 int64  // the values at start-1 and start-2
}

// getSeriesHead reads a series up to its residuals; it returns false on
// a malformed integer code.
func (d *rangeDecoder) getSeriesHead(n int) (h seriesHead, ok bool) {
	if h.p1, ok = d.getInt(); !ok {
		return h, false
	}
	h.start = 1
	if n == 1 {
		return h, true
	}
	h.order = 1
	if d.direct(1) == 0 {
		h.order = int(d.direct(1)) << 1 // "00" -> 0, "01" -> 2
	}
	if h.order == 2 {
		d1, ok := d.getInt()
		if !ok {
			return h, false
		}
		h.p1, h.p2 = h.p1+d1, h.p1
		h.start = 2
	}
	if h.start == n {
		return h, true
	}
	h.q = 1
	if d.direct(1) == 0 {
		x, ok := d.getUint()
		if !ok || x >= 1<<63 {
			return h, false
		}
		h.q = 0
		if x != 0 {
			h.q = x + 1
		}
	}
	return h, true
}

// value decodes the residual of the next sample and returns its value;
// h.q must not be 0.
func (d *rangeDecoder) value(h *seriesHead, im *intModel) int64 {
	neg, mag := d.getResidual(im)
	u := mag * h.q
	if neg {
		u = -u
	}
	return h.predict(int64(u))
}

// constant returns the next value of a series whose residuals are zero.
func (h *seriesHead) constant() int64 { return h.predict(0) }

// predict returns the next value given its residual r.
func (h *seriesHead) predict(r int64) int64 {
	var v int64
	switch h.order {
	case 0:
		v = r
	case 1:
		v = h.p1 + r
	default:
		v = 2*h.p1 - h.p2 + r
	}
	h.p2, h.p1 = h.p1, v
	return v
}
