package loadgen

import (
	"runtime"
	"testing"
	"time"

	"github.com/fleetwire/fleetwire/codec"
)

// TestAckMemory measures what acknowledged delivery costs per device, at
// 100,000 devices in one loop: the heap of a loop with Ack minus the same
// loop without, both after every device sent 12 one-sample frames (rate
// 1/s, batch 1) of which a #stored acknowledged the first 2. That is the
// steady state against a server that acks every 10 s: about ten samples
// in the air, each its own flight. The worst case, a full window of 256
// one-sample flights (the receiver gone), is measured at 10,000 devices.
// The bounds are what a 100k fleet can afford; the figures are logged
// (go test -run TestAckMemory -v) and quoted in docs/load.md.
func TestAckMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("100,000 devices")
	}
	heap := func(devices, frames int, ack bool) float64 {
		c := DefaultConfig()
		c.Ack, c.Rate, c.Batch, c.Duration, c.Devices = ack, 1, 1, time.Hour, devices
		r, err := newRunner(&c, &targets{list: []target{{}}, perSource: c.PerSource})
		if err != nil {
			t.Fatal(err)
		}
		r.nloops = 1
		nums := make([]int, devices)
		for i := range nums {
			nums[i] = i
		}
		var m0, m1 runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&m0)
		l, err := newLoop(r, 0, nums)
		if err != nil {
			t.Fatal(err)
		}
		defer l.close()
		sec := int64(time.Second)
		stored := codec.Control{Kind: codec.ControlStored, Seq: 2}
		for i := range l.devs {
			for k := range int64(frames) {
				l.reset()
				l.dataFrame(int32(i), 1, k*sec, k*sec)
			}
			if ack && frames == 12 {
				l.applyStored(int32(i), &stored, 20, 12*sec)
			}
		}
		runtime.GC()
		runtime.ReadMemStats(&m1)
		runtime.KeepAlive(l)
		return float64(m1.HeapAlloc-m0.HeapAlloc) / float64(devices)
	}
	base, acking := heap(100000, 12, false), heap(100000, 12, true)
	t.Logf("100,000 devices, steady state: %.0f B per device without ack, %.0f with: %.0f B per acking device", base, acking, acking-base)
	if acking-base > 1024 {
		t.Errorf("acknowledged delivery costs %.0f B per device in the steady state, want at most 1 KiB", acking-base)
	}
	wbase, wfull := heap(10000, 256, false), heap(10000, 256, true)
	t.Logf("10,000 devices, full window of 256 one-sample flights: %.0f B per acking device", wfull-wbase)
	if wfull-wbase > 8192 {
		t.Errorf("a full window costs %.0f B per device, want at most 8 KiB", wfull-wbase)
	}
}
