package plan

import (
	"strings"
	"testing"
	"time"

	"github.com/fleetwire/fleetwire/bench"
)

// TestJudge: which resource a step is blamed on, from its figures.
func TestJudge(t *testing.T) {
	l := Load{Transport: "udp", Codec: "text", Batch: 10, Channels: 2, Devices: 100, Rate: 100, Duration: time.Second}
	base := Figures{OfferedPerSec: 20000, SentPerSec: 20000, ServerCores: 0.5, GenCores: 0.5, FDFraction: 0.01}
	f := func(name string, mod func(*Figures, *Counters), ok, gen, disturbed bool, resource, crossed string) {
		t.Helper()
		fig, c := base, Counters{FDLimit: 100}
		mod(&fig, &c)
		lim := DefaultLimits()
		v := Judge(&lim, &l, &c, &fig)
		if v.OK != ok || v.GeneratorLimited != gen || v.Disturbed != disturbed || v.Resource != resource || !strings.Contains(strings.Join(v.Crossed, "; "), crossed) {
			t.Fatalf("%s: got %+v", name, v)
		}
	}
	none := func(*Figures, *Counters) {}
	f("within limits", none, true, false, false, "", "")
	f("server CPU", func(f *Figures, _ *Counters) { f.ServerCores, f.LossPct, f.KernelDrops = 0.95, 3, 10 }, false, false, false, ResServerCPU, "server CPU 0.95 >= 0.90")
	f("server CPU beats a saturated generator", func(f *Figures, _ *Counters) { f.ServerCores, f.GenCores = 0.95, 0.99 }, false, false, false, ResServerCPU, "server CPU")
	f("generator CPU", func(f *Figures, _ *Counters) { f.GenCores, f.LossPct = 0.92, 1 }, false, true, false, ResGenerator, "generator CPU 0.92")
	f("generator late", func(f *Figures, _ *Counters) { f.GenLateP99Ms = 30 }, false, true, false, ResGenerator, "lateness p99 30.0 ms > 20 ms")
	f("generator behind", func(f *Figures, _ *Counters) { f.SentPerSec = 19000 }, false, true, false, ResGenerator, "sent 19000 of 20000")
	f("kernel buffers", func(f *Figures, _ *Counters) { f.LossPct, f.KernelDrops = 0.5, 1000 }, false, false, false, ResKernelBuf, "loss 0.50 % > 0.10 %")
	f("TCP back-pressure", func(f *Figures, _ *Counters) { f.LossPct, f.BackPressure = 0.5, 1000 }, false, false, false, ResKernelBuf, "loss")
	f("server drops", func(f *Figures, c *Counters) {
		f.LossPct, f.ServerDropped, c.Srv.Dropped = 2, 400, map[string]uint64{"sink_full": 400}
	}, false, false, false, ResDropped, "loss 2.00 %")
	f("latency near the CPU limit", func(f *Figures, _ *Counters) { f.P99Ms, f.ServerCores = 120, 0.85 }, false, false, false, ResServerCPU, "p99 120 ms")
	f("descriptors", func(f *Figures, c *Counters) { c.Gen.ConnectFailures = map[string]uint64{"emfile": 3} }, false, false, false, ResFDs, "3 connects failed EMFILE")
	f("descriptors in use", func(f *Figures, c *Counters) { f.FDFraction, c.PeakFDs = 0.97, 97 }, false, false, false, ResFDs, "server used 97 of 100")
	f("memory", func(f *Figures, c *Counters) { c.MemPeak = bench.Memory{RSS: 5 << 30} }, true, false, false, "", "")
	f("latency, cause unknown", func(f *Figures, _ *Counters) { f.P99Ms = 80 }, false, false, false, ResUnknown, "p99 80 ms > 50 ms")
	f("disturbed", func(f *Figures, _ *Counters) { f.P99Ms, f.Foreign = 80, 0.4 }, false, false, true, ResUnknown, "p99 80 ms")
	f("disturbed but fine", func(f *Figures, _ *Counters) { f.GenForeign = 0.4 }, true, false, true, "", "")

	lim := DefaultLimits()
	lim.MaxRSS = 1 << 30
	fig, c := base, Counters{}
	c.MemPeak = bench.Memory{RSS: 2 << 30}
	if v := Judge(&lim, &l, &c, &fig); v.OK || v.Resource != ResMemory {
		t.Fatalf("memory limit: %+v", v)
	}
}
