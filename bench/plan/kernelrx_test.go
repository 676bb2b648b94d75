package plan

import (
	"cmp"
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/procfs"
)

// Captured on the 2-core test host (kernel 6.18), trimmed.
const (
	fixtureStat = `cpu  1910261 18093 873962 1802811 9815 0 76671 0 0 0
cpu0 950344 10105 421056 936721 3596 0 34714 0 0 0
cpu1 959916 7988 452906 866090 6218 0 41956 0 0 0
intr 116665869 0 0 0
ctxt 297058353
btime 1796529719
processes 464694
procs_running 4
procs_blocked 0
softirq 120317093 0 2886946 195731 104858487 2138497 0 361968 4000715 70779 5803970
`
	fixtureSoftirqs = `                    CPU0       CPU1       
          HI:          0          0
       TIMER:    1196208    1590249
      NET_TX:     109399      86186
      NET_RX:   24959022   77805625
       BLOCK:          0    2122361
    IRQ_POLL:          0          0
     TASKLET:     184631     177337
       SCHED:    1840304    1966157
     HRTIMER:      42758      27990
         RCU:    2527630    3189049
`
)

func fixtureFS(t *testing.T) procfs.FS {
	t.Helper()
	dir := t.TempDir()
	for name, text := range map[string]string{"stat": fixtureStat, "softirqs": fixtureSoftirqs} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	pfs, err := procfs.NewFS(dir)
	if err != nil {
		t.Fatal(err)
	}
	return pfs
}

func TestReadCPUCounters(t *testing.T) {
	pfs := fixtureFS(t)
	for _, tc := range []struct {
		cpu     int
		want    cpuCounters
		wantErr bool
	}{
		// softirq: the 7th field, ticks of 10 ms; idle: idle + iowait.
		{cpu: 0, want: cpuCounters{SoftirqNs: 34714 * 1e7, IdleNs: (936721 + 3596) * 1e7, NetRx: 24959022}},
		{cpu: 1, want: cpuCounters{SoftirqNs: 41956 * 1e7, IdleNs: (866090 + 6218) * 1e7, NetRx: 77805625}},
		{cpu: 2, wantErr: true},
	} {
		got, err := readCPUCounters(pfs, tc.cpu)
		if (err != nil) != tc.wantErr {
			t.Errorf("cpu %d: err %v, want error %v", tc.cpu, err, tc.wantErr)
			continue
		}
		if got != tc.want {
			t.Errorf("cpu %d: got %+v, want %+v", tc.cpu, got, tc.want)
		}
	}
}

// plantedSpan is what one span of 500 ms adds to the counters.
type plantedSpan struct {
	idleNs, softirqNs int64
	netRx, packets    uint64
	serverNs          int64
}

// plantSamples plays n spans from start, RPS on and off in turn from on,
// as alternating switches them.
func plantSamples(start time.Time, n int, on, off plantedSpan) []vethSample {
	s := vethSample{at: start, rps: true}
	out := []vethSample{s}
	for i := 1; i <= n; i++ {
		sp := off
		if s.rps {
			sp = on
		}
		s.at = s.at.Add(500 * time.Millisecond)
		s.cpu.IdleNs += sp.idleNs
		s.cpu.SoftirqNs += sp.softirqNs
		s.cpu.NetRx += sp.netRx
		s.rxPackets += sp.packets
		s.rxBytes += 100 * sp.packets
		s.serverNs += sp.serverNs
		s.rps = !s.rps
		out = append(out, s)
	}
	return out
}

// plantCounts is the server's frame count at rate frames/s from start,
// one snapshot a second from 0.3 s before it (so that roundOf must
// interpolate) for n seconds.
func plantCounts(start time.Time, rate float64, n int) []frameCount {
	var out []frameCount
	for i := 0; i <= n; i++ {
		at := start.Add(time.Duration(i)*time.Second - 300*time.Millisecond)
		out = append(out, frameCount{at: at, frames: uint64(max(0, rate*at.Sub(start).Seconds()))})
	}
	return out
}

func TestKernelRxRoundOf(t *testing.T) {
	t0 := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	// Baseline: 5 spans, idle 450 ms of 500, 10 ms softirq, 50 NET_RX each.
	base := plantSamples(t0, 5, plantedSpan{idleNs: 450e6, softirqNs: 10e6, netRx: 50}, plantedSpan{idleNs: 450e6, softirqNs: 10e6, netRx: 50})
	for _, tc := range []struct {
		name                     string
		on, off                  plantedSpan
		spans                    int
		send                     float64 // seconds
		framesPerSec             float64
		countSeconds             int // of server snapshots (default 12)
		rxPerPacket, softirqPerP float64
		netRxPerPacket, perFrame float64
		wantErr                  bool
	}{{
		// 10,000 packets per span either way. RPS on: the core is busy
		// 250 ms of 500 (server 100 ms); off: busy 150 ms (server 80 ms).
		// Receive path: (250e6 - 150e6) / 1e4 = 10 µs.
		// Softirq beyond idle: 60 ms - 10 ms per span -> 5 µs/packet;
		// NET_RX 5050 - 50 -> 0.5 per packet.
		name: "steady", spans: 20, send: 10, framesPerSec: 20000,
		on:          plantedSpan{idleNs: 250e6, softirqNs: 60e6, netRx: 5050, packets: 10000, serverNs: 100e6},
		off:         plantedSpan{idleNs: 350e6, softirqNs: 10e6, netRx: 50, packets: 10000, serverNs: 80e6},
		rxPerPacket: 10000, softirqPerP: 5000, netRxPerPacket: 0.5, perFrame: 1,
	}, {
		// Two packets a frame (TCP data and its acknowledgement, say):
		// 20,000 frames/s, 20,000 packets per span of 500 ms (40,000/s).
		name: "two packets a frame", spans: 20, send: 10, framesPerSec: 20000,
		on:          plantedSpan{idleNs: 250e6, softirqNs: 60e6, netRx: 5050, packets: 20000, serverNs: 100e6},
		off:         plantedSpan{idleNs: 350e6, softirqNs: 10e6, netRx: 50, packets: 20000, serverNs: 80e6},
		rxPerPacket: 5000, softirqPerP: 2500, netRxPerPacket: 0.25, perFrame: 2,
	}, {
		name: "no span with RPS off", spans: 1, send: 10, framesPerSec: 1000,
		on:      plantedSpan{idleNs: 200e6, packets: 10000},
		wantErr: true,
	}, {
		name: "no server snapshot after the spans", spans: 20, send: 10, framesPerSec: 20000, countSeconds: 5,
		on:      plantedSpan{idleNs: 250e6, packets: 10000},
		off:     plantedSpan{idleNs: 350e6, packets: 10000},
		wantErr: true,
	}} {
		t.Run(tc.name, func(t *testing.T) {
			start := t0.Add(10 * time.Second)
			samples := plantSamples(start, tc.spans, tc.on, tc.off)
			// The send phase starts at the first sample, so roundOf keeps
			// the spans from 1 s to 9 s of its 10 s.
			r, err := roundOf(base, samples, start, tc.send, plantCounts(start, tc.framesPerSec, cmp.Or(tc.countSeconds, 12)))
			if (err != nil) != tc.wantErr {
				t.Fatalf("err %v, want error %v", err, tc.wantErr)
			}
			if tc.wantErr {
				return
			}
			if r.On.Spans != 8 || r.Off.Spans != 8 {
				t.Errorf("spans on %d, off %d: want 8 and 8 (1 s to 9 s)", r.On.Spans, r.Off.Spans)
			}
			near := func(what string, got, want float64) {
				t.Helper()
				if math.Abs(got-want) > 1e-9*math.Max(1, math.Abs(want)) {
					t.Errorf("%s = %v, want %v", what, got, want)
				}
			}
			near("receive path per packet", r.RxPerPacket(), tc.rxPerPacket)
			near("softirq per packet", r.SoftirqPerPacket(), tc.softirqPerP)
			near("NET_RX per packet", r.NetRxPerPacket(), tc.netRxPerPacket)
			near("packets per frame", r.PacketsPerFrame(), tc.perFrame)
			k := KernelRx{Rounds: []KernelRxRound{r, r}}
			k.summarize()
			near("mean receive path", k.RxPerPacket.Value, tc.rxPerPacket)
			near("its std. error", k.RxPerPacket.StdErr, 0)
			cores, se := k.Cores(10000)
			near("cores at 10,000 frames/s", cores, tc.rxPerPacket*tc.perFrame*10000/1e9)
			near("their std. error", se, 0)
		})
	}
}

// TestKernelRx_Cores: the standard error of the cores is the relative
// errors of the time per packet and the packets per frame in quadrature.
func TestKernelRx_Cores(t *testing.T) {
	k := KernelRx{RxPerPacket: Term{Value: 5000, StdErr: 300}, PacketsPerFrame: Term{Value: 2, StdErr: 0.08}}
	cores, se := k.Cores(10000)
	if want := 5000 * 2 * 10000 / 1e9; math.Abs(cores-want) > 1e-12 {
		t.Errorf("cores %v, want %v", cores, want)
	}
	if want := cores * math.Hypot(300.0/5000, 0.08/2); math.Abs(se-want) > 1e-12 {
		t.Errorf("std. error %v, want %v", se, want)
	}
}
