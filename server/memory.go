package server

import (
	"runtime/debug"
	"runtime/metrics"
	"time"
)

// memReleaser gives memory back to the system after a burst. The heap
// stays bounded under any input (SECURITY.md), but Go keeps the pages a
// burst used: garbage waits for the next collection, which an idle server
// may not run for two minutes, and freed pages go back slowly (the
// scavenger works at about 1 % of a core). An attack that made every loop
// decode its limit would leave RSS tens of MiB above idle for minutes.
// Once a second the sweeper compares the heap memory held (objects,
// garbage included, and free spans) with what the last collection found
// live; beyond releaseAbove more, it collects and returns the rest at
// once, at most every releaseEvery (a forced collection costs a few
// milliseconds of one core).
type memReleaser struct {
	sample []metrics.Sample
	last   time.Time
}

const (
	releaseAbove = 4 << 20
	releaseEvery = 10 * time.Second
)

func (m *memReleaser) release(now time.Time) {
	if now.Sub(m.last) < releaseEvery {
		return
	}
	if m.sample == nil {
		m.sample = []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}, {Name: "/memory/classes/heap/free:bytes"},
			{Name: "/gc/heap/live:bytes"}}
	}
	metrics.Read(m.sample)
	for _, s := range m.sample {
		if s.Value.Kind() != metrics.KindUint64 {
			return // a runtime without these metrics: leave it to Go
		}
	}
	held := m.sample[0].Value.Uint64() + m.sample[1].Value.Uint64()
	live := m.sample[2].Value.Uint64()
	if held < live+releaseAbove {
		return
	}
	m.last = now
	debug.FreeOSMemory()
}
