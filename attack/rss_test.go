package attack

import (
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/fleetwire/fleetwire/bench"
)

// rssSampler reads the child's VmRSS every 50 ms until stopped (or for
// maxSampling at most) and keeps the peak. The kernel's own peak, VmHWM,
// is reset when sampling starts (clear_refs 5), so it catches a spike
// between two samples; where that write is refused, hwm stays 0 and the
// samples alone tell the peak.
type rssSampler struct {
	pid     int
	stop    chan struct{}
	done    chan struct{}
	mu      sync.Mutex
	peak    int64
	samples int
	err     error
	hwmOK   bool
}

const (
	sampleEvery = 50 * time.Millisecond
	maxSampling = 60 * time.Second
)

func sampleRSS(pid int) *rssSampler {
	s := &rssSampler{pid: pid, stop: make(chan struct{}), done: make(chan struct{})}
	s.hwmOK = os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0) == nil
	go s.run()
	return s
}

func (s *rssSampler) run() {
	defer close(s.done)
	tick := time.NewTicker(sampleEvery)
	defer tick.Stop()
	limit := time.After(maxSampling)
	for {
		m, err := bench.ReadMemory(s.pid)
		s.mu.Lock()
		if err != nil {
			s.err = err
		} else {
			s.peak = max(s.peak, m.RSS)
			s.samples++
		}
		s.mu.Unlock()
		if err != nil {
			return
		}
		select {
		case <-s.stop:
			return
		case <-limit:
			return
		case <-tick.C:
		}
	}
}

// finish stops sampling and returns the peak RSS: the largest sample, or
// VmHWM since sampling started when the kernel kept it.
func (s *rssSampler) finish() (peak, sampled int64, n int, err error) {
	close(s.stop)
	<-s.done
	if s.err != nil {
		return 0, 0, s.samples, s.err
	}
	peak = s.peak
	if s.hwmOK {
		m, err := bench.ReadMemory(s.pid)
		if err != nil {
			return 0, 0, s.samples, err
		}
		peak = max(peak, m.HWM)
	}
	return peak, s.peak, s.samples, nil
}

// idleRSS reads VmRSS five times 50 ms apart and returns the largest.
func idleRSS(pid int) (int64, error) {
	var top int64
	for i := range 5 {
		m, err := bench.ReadMemory(pid)
		if err != nil {
			return 0, err
		}
		top = max(top, m.RSS)
		if i < 4 {
			time.Sleep(sampleEvery)
		}
	}
	return top, nil
}

const mib = 1 << 20

func mb(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/mib) }
