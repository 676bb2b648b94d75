package plan

import (
	"math"
	"testing"
)

// TestProject checks the arithmetic against numbers worked by hand.
func TestProject(t *testing.T) {
	f := func(fleet Fleet, in Inputs, want Projection) {
		t.Helper()
		got, err := Project(fleet, in)
		if err != nil {
			t.Fatal(err)
		}
		near := func(name string, g, w float64) {
			t.Helper()
			if math.Abs(g-w) > 1e-9*math.Max(1, math.Abs(w)) {
				t.Fatalf("%s: got %v, want %v", name, g, w)
			}
		}
		near("readings/s", got.ReadingsPerSec, want.ReadingsPerSec)
		near("frames/s", got.FramesPerSec, want.FramesPerSec)
		near("busy cores", got.BusyCores, want.BusyCores)
		near("cores needed", got.CoresNeeded, want.CoresNeeded)
		near("knee cores", got.KneeCores, want.KneeCores)
		near("memory", got.MemoryBytes, want.MemoryBytes)
		near("up Mbit/s", got.UpMbps, want.UpMbps)
		near("down Mbit/s", got.DownMbps, want.DownMbps)
		near("MB/device/month", got.MBPerDeviceMonth, want.MBPerDeviceMonth)
		near("cost/device/month", got.CostPerDeviceMonth, want.CostPerDeviceMonth)
		near("fleet cost/month", got.FleetCostMonth, want.FleetCostMonth)
		near("open files", got.OpenFiles, want.OpenFiles)
		if got.WholeCores != want.WholeCores || got.ProcsForFiles != want.ProcsForFiles {
			t.Fatalf("whole cores, processes for files: got %d %d, want %d %d", got.WholeCores, got.ProcsForFiles, want.WholeCores, want.ProcsForFiles)
		}
	}
	// 1,000,000 devices, one sample of 2 readings every 10 s:
	// 1e6 x 0.1 x 2 = 200,000 readings/s; batch 10: 1e6 x 0.1 / 10 =
	// 10,000 frames/s. 5,000 ns each: 200,000 x 5,000 / 1e9 = 1.0 busy
	// core; at 0.7 utilisation 1 / 0.7 = 1.428571 -> 2 whole cores. Knee
	// 400,000 readings/s per core: 200,000 / 400,000 = 0.5 cores.
	// Memory: 2 x 20 MiB + 1e6 x 1,536 B = 41,943,040 + 1,536,000,000.
	// Wire 20 B up, 5 B down per reading: 200,000 x 20 x 8 / 1e6 = 32
	// Mbit/s up, 8 down. Per device: 25 B x 0.1 x 2 x 2,592,000 s / 1e6
	// = 12.96 MB/month; at 0.01 per MB 0.1296, x 1e6 devices = 129,600.
	// 1.0018 descriptors per connection: 1,001,800 open files, 51
	// processes at 20,000 each (50.09 rounded up).
	f(Fleet{Devices: 1e6, Rate: 0.1, Channels: 2, Headroom: 0.7, PricePerMB: 0.01},
		Inputs{Config: "tcp/compact/b10", Batch: 10, NsPerReading: 5000, KneePerCore: 400e3,
			RSSPerDevice: 1536, BaseRSS: 20 << 20, WireUp: 20, WireDown: 5, FDsPerDevice: 1.0018, FDLimit: 20000},
		Projection{ReadingsPerSec: 200e3, FramesPerSec: 10e3, BusyCores: 1, CoresNeeded: 1 / 0.7, WholeCores: 2, KneeCores: 0.5,
			MemoryBytes: 41943040 + 1536e6, UpMbps: 32, DownMbps: 8, MBPerDeviceMonth: 12.96, CostPerDeviceMonth: 0.1296, FleetCostMonth: 129600,
			OpenFiles: 1001800, ProcsForFiles: 51})
	// Exactly 3 cores at full utilisation stay 3 whole cores; UDP sends
	// nothing down. 30,000 devices x 1 sample/s x 4 readings = 120,000
	// readings/s x 25,000 ns = 3 cores; batch 1: 30,000 frames/s. 48 B up
	// per reading: 120,000 x 48 x 8 / 1e6 = 46.08 Mbit/s; 48 x 1 x 4 x
	// 2,592,000 / 1e6 = 497.664 MB/device/month; no price, no cost.
	f(Fleet{Devices: 30e3, Rate: 1, Channels: 4, Headroom: 1},
		Inputs{Config: "udp/text/b1", Batch: 1, NsPerReading: 25e3, KneePerCore: 40e3, RSSPerDevice: 100, BaseRSS: 1 << 20, WireUp: 48},
		Projection{ReadingsPerSec: 120e3, FramesPerSec: 30e3, BusyCores: 3, CoresNeeded: 3, WholeCores: 3, KneeCores: 3,
			MemoryBytes: 3<<20 + 3e6, UpMbps: 46.08, MBPerDeviceMonth: 497.664})
}

func TestProject_Failure(t *testing.T) {
	f := func(fleet Fleet, batch int) {
		t.Helper()
		if _, err := Project(fleet, Inputs{Batch: batch}); err == nil {
			t.Fatalf("%+v batch %d accepted", fleet, batch)
		}
	}
	ok := Fleet{Devices: 1, Rate: 1, Channels: 1, Headroom: 0.7}
	f(ok, 0)
	bad := ok
	bad.Devices = 0
	f(bad, 1)
	bad = ok
	bad.Headroom = 1.5
	f(bad, 1)
	bad = ok
	bad.Rate = math.NaN()
	f(bad, 1)
	bad = ok
	bad.Channels = 0
	f(bad, 1)
}

// TestInputsOf: the knee step with the higher CPU per reading is the
// input; a repeat without a knee loses to one with; the memory probe
// replaces the knee step's RSS per device.
func TestInputsOf(t *testing.T) {
	step := func(n int, offered, ns, rss float64) Step {
		l := Load{Transport: "tcp", Codec: "text", Batch: 10, Channels: 2, Devices: 100, Duration: 1}.WithOffered(offered)
		st := Step{N: n, Load: l}
		st.Figures.ServerNsPerReading, st.Figures.RSSPerDevice = ns, rss
		st.Figures.Bench.WireUpPerReading = 10
		st.Counters.ServerCoresAllowed = 1
		st.Counters.MemBefore.RSS = 1 << 20
		return st
	}
	r1 := Result{Config: "tcp/text/b10", Run: 1, Steps: []Step{step(1, 1e6, 300, 2000), step(2, 2e6, 280, 2100)}, Knee: 0, FirstBad: 1}
	r2 := Result{Config: "tcp/text/b10", Run: 2, Steps: []Step{step(1, 1e6, 310, 1900), step(2, 1.5e6, 320, 1800)}, Knee: 1, FirstBad: -1}
	in, err := InputsOf([]Result{r1, r2}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if in.NsPerReading != 300 || !in.KneeReached || in.KneePerCore != 1e6 || in.RSSPerDevice != 2000 || in.CPUSource != "tcp/text/b10 run 1 step 1" {
		t.Fatalf("%+v", in)
	}
	r2.FirstBad = 1
	r2.Steps[1].Figures.ServerNsPerReading = 290
	mem := step(1, 1e4, 0, 1500)
	in, _ = InputsOf([]Result{r1, r2}, &mem)
	if in.NsPerReading != 300 || in.RSSPerDevice != 1500 || in.MemSource == in.CPUSource {
		t.Fatalf("%+v", in)
	}
	r1.Steps[0].Figures.ServerNsPerReading = 250
	in, _ = InputsOf([]Result{r1, r2}, &mem)
	if in.NsPerReading != 290 || in.KneePerCore != 1.5e6 || in.CPUSource != "tcp/text/b10 run 2 step 2" {
		t.Fatalf("%+v", in)
	}
}
