package web

import (
	"math"
	"strconv"
	"sync"
	"time"

	"github.com/fleetwire/fleetwire/server"
)

// Per-device history: each device's last sample at every recorder tick,
// histPoints ticks back (5 minutes at the default 1 s interval), so that a
// device page opened now draws the last minutes at once instead of empty
// charts. It is what the page's live charts show (the last sample of each
// channel, once a tick), kept on the server.
//
// Bounds, whatever the devices send:
//   - channels: the first histChannels of a sample (a device may send 64);
//   - points: histPoints per device, a ring;
//   - devices: Config.HistoryDevices rings at most (default 4096); a device
//     silent for the whole window gives its ring back.
//
// Cost: a ring is histPoints float32 per channel (the charts' precision:
// 7 digits), the tick times are shared by every device. Measured by
// TestDeviceHistoryMemory (go test -run DeviceHistoryMemory -v
// ./server/web/), bytes allocated per device, ring and map entry: 1,454 B
// at 1 channel, 2,862 B at 2, 9,902 B at 8 (the cap; 64 channels cost
// the same), so at most 4096 x 9,902 B = 41 MB with the default bound,
// 12 MB for 4096 devices of 2 channels.
//
// The ingest side pays nothing per reading: the recorder's goroutine
// walks the sessions once a tick (server.LastSamples, the session locks
// Stats takes too) and copies each device's newest sample if it changed.
// A point's time is the tick that saw it, not the sample's arrival (at
// most an interval later); only samples that arrived since the previous
// tick are taken, so a control frame (a hello, an #eos) adds no point.
const (
	histPoints   = 300
	histChannels = 8
)

// DefaultHistoryDevices bounds how many devices have a history.
const DefaultHistoryDevices = 4096

type deviceHistory struct {
	max int

	mu    sync.Mutex
	tick  uint64            // ticks recorded; the newest is tick-1
	times [histPoints]int64 // unix ms of tick t, at t % histPoints
	since int64             // unix ns the previous pass started
	devs  map[string]*devRing
}

// devRing is one device's history. Slot t % histPoints holds tick t's
// values; slots of ticks without a new sample hold NaN.
type devRing struct {
	ch          int
	first, last uint64 // ticks of the oldest and newest values written
	readings    uint64 // the device's readings count at tick last
	vals        []float32
}

func newDeviceHistory(max int) *deviceHistory {
	return &deviceHistory{max: max, devs: map[string]*devRing{}}
}

// sample records tick now: the newest sample of every device that sent
// one since the previous tick, and drops the rings of devices silent for
// the whole window.
func (h *deviceHistory) sample(last func(since int64, fn func(*server.LastSample)), now time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	k := h.tick
	h.times[k%histPoints] = now.UnixMilli()
	since := h.since
	// A sample that lands while the walk runs is seen again next tick:
	// the readings count tells it is not new.
	h.since = now.UnixNano()
	last(since, func(ls *server.LastSample) {
		r := h.devs[ls.ID]
		ch := min(len(ls.Values), histChannels)
		switch {
		case r == nil:
			if len(h.devs) >= h.max {
				return
			}
			r = &devRing{}
			h.devs[ls.ID] = r // the session's own id string: no copy
			r.reset(ch, k)
		case r.readings == ls.Readings:
			return // nothing new since the last point
		case r.ch != ch:
			r.reset(ch, k) // the device came back with other channels
		default:
			// Ticks skipped since the newest point: no sample there.
			for t := max(r.last+1, k-min(k, histPoints-1)); t < k; t++ {
				r.fill(t, float32(math.NaN()))
			}
		}
		row := r.vals[(k%histPoints)*uint64(ch):][:ch]
		for i := range row {
			row[i] = float32(ls.Values[i].Float64())
		}
		r.last, r.readings = k, ls.Readings
	})
	for id, r := range h.devs {
		if k-r.last >= histPoints { // its newest point left the window
			delete(h.devs, id)
		}
	}
	h.tick++
}

func (r *devRing) reset(ch int, k uint64) {
	if cap(r.vals) >= histPoints*ch {
		r.vals = r.vals[:histPoints*ch]
	} else {
		r.vals = make([]float32, histPoints*ch)
	}
	r.ch, r.first = ch, k
	for i := range r.vals {
		r.vals[i] = float32(math.NaN())
	}
}

func (r *devRing) fill(t uint64, v float32) {
	row := r.vals[(t%histPoints)*uint64(r.ch):][:r.ch]
	for i := range row {
		row[i] = v
	}
}

// appendJSON appends the history of device id as the API answers it:
// {"interval_s":1,"channels":["ch1","ch2"],"points":[{"t":ms,"v":[..]}]},
// oldest first, only ticks with a new sample; a value that is not a
// finite float32 is null. At most histPoints points of histChannels
// values: about 30 KB.
func (h *deviceHistory) appendJSON(dst []byte, id string, interval time.Duration) []byte {
	h.mu.Lock()
	defer h.mu.Unlock()
	dst = append(dst, `{"interval_s":`...)
	dst = strconv.AppendFloat(dst, interval.Seconds(), 'g', -1, 64)
	dst = append(dst, `,"channels":[`...)
	r := h.devs[id]
	if r != nil {
		for i := range r.ch {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = append(dst, `"ch`...)
			dst = strconv.AppendInt(dst, int64(i+1), 10)
			dst = append(dst, '"')
		}
	}
	dst = append(dst, `],"points":[`...)
	if r != nil && h.tick > 0 {
		newest := h.tick - 1
		from := max(r.first, newest-min(newest, histPoints-1))
		n := 0
		for t := from; t <= min(r.last, newest); t++ {
			row := r.vals[(t%histPoints)*uint64(r.ch):][:r.ch]
			if len(row) == 0 || row[0] != row[0] { // NaN: no sample at t
				continue
			}
			if n > 0 {
				dst = append(dst, ',')
			}
			n++
			dst = append(dst, `{"t":`...)
			dst = strconv.AppendInt(dst, h.times[t%histPoints], 10)
			dst = append(dst, `,"v":[`...)
			for i, v := range row {
				if i > 0 {
					dst = append(dst, ',')
				}
				if f := float64(v); math.IsInf(f, 0) || math.IsNaN(f) {
					dst = append(dst, "null"...)
				} else {
					dst = strconv.AppendFloat(dst, f, 'g', -1, 32)
				}
			}
			dst = append(dst, "]}"...)
		}
	}
	return append(dst, "]}"...)
}
