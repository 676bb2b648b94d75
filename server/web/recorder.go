package web

import (
	"encoding/json"
	"log/slog"
	"sync"
	"time"

	"github.com/fleetwire/fleetwire/server"
)

// Point is one interval of the fleet's history: rates over the interval
// that ended at T, and gauges at T.
type Point struct {
	T               int64   `json:"t"` // unix ms
	Frames          float64 `json:"frames_per_s"`
	Readings        float64 `json:"readings_per_s"`
	PayloadBytes    float64 `json:"payload_bytes_per_s"`
	RxBytes         float64 `json:"rx_bytes_per_s"`
	BytesPerReading float64 `json:"bytes_per_reading"` // payload bytes per reading in the interval
	Lost            float64 `json:"lost_per_s"`        // net: gaps opened minus gaps filled late
	Loss            float64 `json:"loss"`              // lost / (readings + lost) in the interval, 0..1
	Errors          float64 `json:"errors_per_s"`
	Devices         int     `json:"devices"`
	Connections     int64   `json:"connections"`
}

// Snapshot is what /api/stats and the /api/events stream carry: the
// server's Stats plus the rates of the last interval.
type Snapshot struct {
	server.Stats
	SampledAt time.Time `json:"sampled_at"`
	Rates     Point     `json:"rates"`
}

// sample is one Stats snapshot, marshalled once for every client.
type sample struct {
	Snapshot
	json []byte
}

// recorder samples Stats every interval on one goroutine, keeps the last
// n Points for the charts, and wakes every stream waiting for a sample.
type recorder struct {
	stats    func() server.Stats
	also     func(now time.Time) // run at every sample, before streams wake: the device history
	interval time.Duration
	done     chan struct{}
	stopped  chan struct{}
	stopOnce sync.Once

	mu     sync.Mutex
	latest *sample
	ring   []Point // oldest first once full: ring[head:] then ring[:head]
	head   int
	tick   chan struct{} // closed and replaced at every sample
}

func newRecorder(stats func() server.Stats, also func(time.Time), interval time.Duration, n int) *recorder {
	if also == nil {
		also = func(time.Time) {}
	}
	r := &recorder{stats: stats, also: also, interval: interval, ring: make([]Point, 0, max(n, 2)),
		done: make(chan struct{}), stopped: make(chan struct{}), tick: make(chan struct{})}
	r.record(time.Now()) // serve a snapshot from the first request on
	return r
}

func (r *recorder) run() {
	defer close(r.stopped)
	t := time.NewTicker(r.interval)
	defer t.Stop()
	for {
		select {
		case <-r.done:
			return
		case now := <-t.C:
			r.record(now)
		}
	}
}

func (r *recorder) stop() {
	r.stopOnce.Do(func() { close(r.done) })
	<-r.stopped
}

func (r *recorder) record(now time.Time) {
	st := r.stats()
	smp := &sample{Snapshot: Snapshot{Stats: st, SampledAt: now}}
	r.mu.Lock()
	prev := r.latest
	r.mu.Unlock()
	if prev != nil {
		smp.Rates = rates(&prev.Snapshot, &smp.Snapshot)
	} else {
		smp.Rates = Point{T: now.UnixMilli(), Devices: st.Devices, Connections: st.Connections}
	}
	b, err := json.Marshal(&smp.Snapshot)
	if err != nil {
		// Not expected (no NaN reaches Stats), but never leave clients
		// without a sample.
		slog.Error("web: marshal stats", "err", err)
		b, _ = json.Marshal(map[string]string{"error": "marshal stats: " + err.Error()})
	}
	smp.json = b
	r.also(now)
	r.mu.Lock()
	r.latest = smp
	if prev != nil {
		r.push(smp.Rates)
	}
	close(r.tick)
	r.tick = make(chan struct{})
	r.mu.Unlock()
}

func (r *recorder) push(p Point) {
	if len(r.ring) < cap(r.ring) {
		r.ring = append(r.ring, p)
		return
	}
	r.ring[r.head] = p
	r.head = (r.head + 1) % len(r.ring)
}

// current returns the latest sample and a channel closed when the next
// one is ready.
func (r *recorder) current() (*sample, <-chan struct{}) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.latest, r.tick
}

// history returns the Points, oldest first.
func (r *recorder) history() []Point {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]Point, 0, len(r.ring))
	out = append(out, r.ring[r.head:]...)
	return append(out, r.ring[:r.head]...)
}

// rates derives one Point from two consecutive snapshots. Counters that
// went backwards (lost falls when late readings fill gaps) give negative
// deltas, which are kept for lost (a net rate) and clamped elsewhere.
func rates(a, b *Snapshot) Point {
	p := Point{T: b.SampledAt.UnixMilli(), Devices: b.Devices, Connections: b.Connections}
	dt := b.SampledAt.Sub(a.SampledAt).Seconds()
	if dt <= 0 {
		return p
	}
	d := func(x, y uint64) float64 {
		if y < x {
			return 0
		}
		return float64(y - x)
	}
	readings := d(a.Readings, b.Readings)
	payload := d(a.PayloadBytes, b.PayloadBytes)
	lost := float64(b.Lost) - float64(a.Lost)
	p.Frames = d(a.Frames, b.Frames) / dt
	p.Readings = readings / dt
	p.PayloadBytes = payload / dt
	p.RxBytes = d(a.RxBytes, b.RxBytes) / dt
	p.Lost = lost / dt
	p.Errors = d(sum(a.Errors), sum(b.Errors)) / dt
	if readings > 0 {
		p.BytesPerReading = payload / readings
	}
	if lost > 0 {
		p.Loss = lost / (readings + lost)
	}
	return p
}

func sum(m map[string]uint64) uint64 {
	var n uint64
	for _, v := range m {
		n += v
	}
	return n
}
