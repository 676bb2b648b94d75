package plan

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/fleetwire/fleetwire/bench"
	"github.com/fleetwire/fleetwire/server/web"
)

// What a step samples while the generator runs: every 100 ms the CPU of
// both processes and of the pinned cores (sample, from which the steady
// window is cut), every 250 ms the server's peaks (peaks).

// sample is one 100 ms reading of CPU.
type sample struct {
	at       time.Time
	srv, gen bench.CPUSample
	genOK    bool
	cores    map[int]coreTimes
}

// takeSample reads the CPU of the server and the generator (genOK: it
// was still there) and the cores' times.
func takeSample(pid, gpid int, cpus []int) sample {
	s := sample{at: time.Now()}
	s.srv, _ = bench.ReadCPU(pid)
	if g, err := treeCPU(gpid); err == nil {
		s.gen, s.genOK = g, true
	}
	s.cores, _ = readCores(cpus)
	return s
}

// treeCPU is the CPU of pid and of its child processes alive now: a
// generator with --procs does its work in workers. A worker that has
// exited is no longer in the sum, so compare samples taken while the
// workers run (the steady window).
func treeCPU(pid int) (bench.CPUSample, error) {
	c, err := bench.ReadCPU(pid)
	if err != nil {
		return c, err
	}
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", pid))
	for _, t := range tasks {
		b, err := os.ReadFile(t)
		if err != nil {
			continue // the thread exited
		}
		for _, f := range strings.Fields(string(b)) {
			kid, err := strconv.Atoi(f)
			if err != nil {
				continue
			}
			if k, err := bench.ReadCPU(kid); err == nil {
				c = c.Add(k)
			}
		}
	}
	return c, nil
}

// genCPU is the generator's CPU from the first sample to the last, when
// both read it.
func genCPU(samples []sample) bench.CPUSample {
	if len(samples) == 0 {
		return bench.CPUSample{}
	}
	first, last := samples[0], samples[len(samples)-1]
	if !first.genOK || !last.genOK {
		return bench.CPUSample{}
	}
	return last.gen.Sub(first.gen)
}

type peaks struct {
	mu    sync.Mutex
	conns int64
	mem   bench.Memory
	fds   int
	// With port set, socket diagnostics of the server's sockets at the
	// highest connection count, at most every 2 s (ss costs CPU).
	port        int
	kernel      KernelSockets
	kernelConns int64
	lastKernel  time.Time
}

// getKernel is the last socket diagnostics taken at the highest
// connection count.
func (p *peaks) getKernel() KernelSockets {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.kernel
}

func (p *peaks) get() (int64, bench.Memory, int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.conns, p.mem, p.fds
}

// sample reads /api/stats (connections, or sessions on UDP), RSS and open
// descriptors, keeping the RSS at the highest connection count seen.
func (p *peaks) sample(ctx context.Context, api *web.Client, pid int, transport string) {
	n := int64(-1)
	if st, err := api.Stats(ctx); err == nil {
		n = st.Connections
		if transport == "udp" {
			n = int64(st.Transports["udp"].Devices)
		}
	}
	m, merr := bench.ReadMemory(pid)
	fds, ferr := countFDs(pid)
	p.mu.Lock()
	due := p.port > 0 && n > 0 && n >= p.kernelConns && time.Since(p.lastKernel) >= 2*time.Second
	p.mu.Unlock()
	if due {
		if k, err := readKernelSockets(ctx, transport, p.port); err == nil {
			p.mu.Lock()
			p.kernel, p.kernelConns, p.lastKernel = k, n, time.Now()
			p.mu.Unlock()
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if merr == nil && (n > p.conns || n == p.conns && m.RSS > p.mem.RSS) {
		p.conns, p.mem = max(n, p.conns), m
	}
	if ferr == nil && fds > p.fds {
		p.fds = fds
	}
}

// steadyWindow picks the samples inside the generator's send phase
// (Started + ConnectSeconds, for DurationSeconds) less its first second
// (or first fifth, if shorter) and its last 100 ms.
func steadyWindow(samples []sample, c *Counters, serverCPUs, genCPUs []int) Window {
	var w Window
	if len(samples) < 2 {
		return w
	}
	from := c.Gen.Started.Add(time.Duration(c.Gen.ConnectSeconds * float64(time.Second)))
	dur := time.Duration(c.Gen.DurationSeconds * float64(time.Second))
	warm := min(time.Second, dur/5)
	a, b := from.Add(warm), from.Add(dur-100*time.Millisecond)
	i, j := -1, -1
	for k, s := range samples {
		if i < 0 && !s.at.Before(a) {
			i = k
		}
		if !s.at.After(b) {
			j = k
		}
	}
	if i < 0 || j <= i {
		i, j = 0, len(samples)-1 // too short to trim: the whole run
	}
	s0, s1 := samples[i], samples[j]
	w.From, w.To = s0.at, s1.at
	w.ServerCPUNs = s1.srv.SchedNs - s0.srv.SchedNs
	if s0.genOK && s1.genOK {
		w.GenCPUNs = s1.gen.SchedNs - s0.gen.SchedNs
	}
	if len(s0.cores) > 0 && len(s1.cores) > 0 {
		w.CoreBusy, w.CoreSteal = map[string]float64{}, map[string]float64{}
		for cpu, t1 := range s1.cores {
			t0, ok := s0.cores[cpu]
			if !ok || t1.Total == t0.Total {
				continue
			}
			tot := float64(t1.Total - t0.Total)
			k := "cpu" + strconv.Itoa(cpu)
			w.CoreBusy[k] = float64(t1.Busy-t0.Busy) / tot
			w.CoreSteal[k] = float64(t1.Steal-t0.Steal) / tot
			if slices.Contains(serverCPUs, cpu) {
				w.ServerCoreBusy += w.CoreBusy[k]
			}
			if slices.Contains(genCPUs, cpu) {
				w.GenCoreBusy += w.CoreBusy[k]
			}
		}
	}
	return w
}
