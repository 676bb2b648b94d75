package sink

import "sync/atomic"

// calibrator is bytebufferpool's size calibration, counted in readings:
// it histograms the sizes released into power-of-two buckets and every
// calibrateCalls releases sets the largest size worth keeping to the
// bucket that covers 95 % of the releases.
type calibrator struct {
	calls       [calSteps]atomic.Uint64
	calibrating atomic.Bool
	max         atomic.Int64 // 0 until the first calibration
}

const (
	calMinBits     = 4 // smallest bucket: 16 readings
	calSteps       = 20
	calibrateCalls = 42000
	calPercentile  = 0.95
	// uncalibratedMax bounds what the pool keeps before it has seen enough
	// releases to know better: 64 Ki readings is 1 MiB of values.
	uncalibratedMax = 1 << 16
)

// observe records a release of n readings and returns the largest array
// capacity the pool should keep.
func (c *calibrator) observe(n int) int {
	if c.calls[calIndex(n)].Add(1) > calibrateCalls {
		c.calibrate()
	}
	if m := c.max.Load(); m > 0 {
		return int(m)
	}
	return uncalibratedMax
}

func calIndex(n int) int {
	n = (n - 1) >> calMinBits
	i := 0
	for n > 0 {
		n >>= 1
		i++
	}
	return min(i, calSteps-1)
}

func (c *calibrator) calibrate() {
	if !c.calibrating.CompareAndSwap(false, true) {
		return
	}
	defer c.calibrating.Store(false)
	var calls [calSteps]uint64
	var sum uint64
	for i := range calls {
		calls[i] = c.calls[i].Swap(0)
		sum += calls[i]
	}
	// Take buckets from the most used down until 95 % of the releases are
	// covered; the largest bucket taken is the size worth keeping.
	var taken [calSteps]bool
	var covered uint64
	keep := 0
	for covered <= uint64(float64(sum)*calPercentile) {
		best := -1
		for i := range calls {
			if !taken[i] && (best < 0 || calls[i] > calls[best]) {
				best = i
			}
		}
		if best < 0 {
			break
		}
		taken[best] = true
		covered += calls[best]
		keep = max(keep, (1<<calMinBits)<<best) // the bucket's upper bound
	}
	if keep > 0 {
		c.max.Store(int64(keep))
	}
}
