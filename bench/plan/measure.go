package plan

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/fleetwire/fleetwire/bench"
	"github.com/fleetwire/fleetwire/server/web"
)

// Counters are the raw readings of one step, each from the counter its
// comment names. Figures are computed from these alone.
type Counters struct {
	// bench's counters: the generator's --json report (per-device list
	// dropped), GET /api/stats after the server counted everything, the
	// server's CPU from generator start to that moment (WindowNs),
	// memory before the load and at the peak of open connections, and
	// /proc/<server pid>/net/snmp deltas.
	bench.Counters
	// Steady is the send phase without its first second: what the
	// utilisation limits are judged on.
	Steady Window `json:"steady"`
	// GenCPU is the generator process over its whole life as sampled
	// (schedstat of its threads; the report's getrusage is in Gen).
	GenCPU bench.CPUSample `json:"generator_cpu"`
	// UDPSocketDrops: the drops column of /proc/<server pid>/net/udp
	// summed over the server's sockets on its port (receive buffer full;
	// per socket, so no other process's traffic).
	UDPSocketDrops int64 `json:"udp_socket_drops"`
	UDPSockets     int   `json:"udp_sockets"`
	// BacklogDrops: /proc/net/softnet_stat dropped (input backlog full),
	// delta over the step, summed over CPUs; host-wide.
	BacklogDrops int64 `json:"softnet_backlog_drops"`
	// PeakFDs: the most entries /proc/<server pid>/fd held when sampled;
	// FDLimit its soft RLIMIT_NOFILE (/proc/<pid>/limits).
	PeakFDs int `json:"server_peak_fds"`
	FDLimit int `json:"server_fd_limit"`
	// ServerDevices: /api/stats transports.<t>.devices at the end
	// (sessions the server holds).
	ServerDevices int               `json:"server_devices"`
	Dropped       map[string]uint64 `json:"server_dropped,omitempty"` // /api/stats dropped (by reason)
	Errors        map[string]uint64 `json:"server_errors,omitempty"`  // /api/stats errors (by reason)
	Stored        uint64            `json:"server_stored"`            // /api/stats stored: readings the sink stored
	// ServerCoresAllowed: the cores the server was given (Options).
	ServerCoresAllowed int `json:"server_cores_allowed"`
	// Kernel: socket diagnostics of the server's sockets at the highest
	// connection count (Options.SocketDiag only).
	Kernel *KernelSockets `json:"kernel_sockets,omitempty"`
}

// Window is CPU use over [From, To].
type Window struct {
	From        time.Time `json:"from"`
	To          time.Time `json:"to"`
	ServerCPUNs int64     `json:"server_cpu_ns"` // schedstat, server threads
	GenCPUNs    int64     `json:"generator_cpu_ns"`
	// CoreBusy: per pinned CPU, the busy fraction of /proc/stat (user,
	// nice, system, irq, softirq; idle, iowait and steal excluded), and
	// Steal the hypervisor's steal fraction.
	CoreBusy  map[string]float64 `json:"core_busy,omitempty"`
	CoreSteal map[string]float64 `json:"core_steal,omitempty"`
	// ServerCoreBusy sums CoreBusy over the server's CPUs (in cores).
	ServerCoreBusy float64 `json:"server_core_busy"`
	GenCoreBusy    float64 `json:"generator_core_busy"`
}

// Seconds is the window's length.
func (w *Window) Seconds() float64 { return w.To.Sub(w.From).Seconds() }

// Measure offers l to a fresh server and measures what happened, in the
// phases of bench.Trial. Every phase is bounded: the server must be ready
// in 10 s, the generator must end within its connect allowance plus three
// times l.Duration, the server must count everything within
// Options.Drain.
func (r *Runner) Measure(ctx context.Context, l Load) (c Counters, err error) {
	if err := l.Validate(); err != nil {
		return c, err
	}
	o := &r.o
	tp, up, hp, err := freePorts()
	if err != nil {
		return c, fmt.Errorf("ports: %w", err)
	}
	dir, err := os.MkdirTemp(o.WorkDir, "step-")
	if err != nil {
		return c, err
	}
	defer os.RemoveAll(dir)
	a := Addrs{HTTP: hostPort(hp), Data: filepath.Join(dir, "data"), Cores: o.ServerCores, Sink: o.Sink}
	target, port := "", 0
	if l.Transport == "tcp" {
		a.TCP, target, port = hostPort(tp), hostPort(tp), tp
	} else {
		a.UDP, target, port = hostPort(up), hostPort(up), up
	}
	api, err := bench.NewAPI(a.HTTP, nil)
	if err != nil {
		return c, err
	}
	t, err := bench.StartServer(ctx, dir, r.serverCommand(a), api)
	if err != nil {
		return c, err
	}
	defer t.Close()
	pid := t.Server.PID()
	c.ServerCoresAllowed = o.ServerCores
	if c.MemBefore, err = bench.ReadMemory(pid); err != nil {
		return c, err
	}
	c.FDLimit, _ = fdLimit(pid)
	host0, err := readHostCounters(pid)
	if err != nil {
		return c, err
	}
	if err := t.StartLoad(pinned(o.GenCPUs, r.genArgs(&l, target, t.GenReportPath()))); err != nil {
		return c, err
	}

	// While the generator runs: CPU of both processes and the cores
	// every 100 ms; /api/stats, memory and descriptors in a goroutine of
	// their own (until the drain ends), since a saturated server answers
	// HTTP slowly.
	peak := &peaks{}
	var sockBefore int64
	if o.SocketDiag {
		peak.port = port
		sockBefore, _ = sockstatPages(l.Transport)
	}
	stopPoll := t.Poll(ctx, 250*time.Millisecond, func(ctx context.Context) { peak.sample(ctx, t.API, pid, l.Transport) })
	defer stopPoll()
	cpus := append(append([]int{}, o.ServerCPUs...), o.GenCPUs...)
	var samples []sample
	limit := time.Duration(l.Devices)*time.Second/time.Duration(max(1, int(o.ConnectRate))) + 3*l.Duration + 20*time.Second
	err = t.Watch(ctx, limit, 100*time.Millisecond, func() { samples = append(samples, takeSample(pid, t.Gen.PID(), cpus)) })
	if errors.Is(err, bench.ErrTimeout) {
		return c, fmt.Errorf("%w: %v", ErrOverrun, err)
	} else if err != nil {
		return c, err
	}
	if err := t.GenReport(&c.Counters); err != nil {
		return c, err
	}
	// The encoded lateness histogram (its percentiles stay) would make
	// plan.json mostly generator detail.
	c.Gen.Lateness.Histogram = ""

	st, drainErr := t.Drain(ctx, o.Drain, l.Transport, time.Time{}, func(x *web.Snapshot, stable int) bool {
		return drained(x, l.Transport, c.Gen.DevicesConnected, stable)
	})
	stopPoll()
	if err := t.Finish(&c.Counters); err != nil {
		return c, err
	}
	if errors.Is(drainErr, bench.ErrTimeout) {
		c.DrainTimedOut = true
	} else if drainErr != nil {
		return c, fmt.Errorf("drain: %w", drainErr)
	}
	if st == nil {
		return c, bench.ErrNoStats
	}
	host0.deltas(pid, l.Transport, port, &c)
	c.fromServer(st, l.Transport, peak)
	if o.SocketDiag {
		k := peak.getKernel()
		k.SockstatBefore = sockBefore
		c.Kernel = &k
	}
	c.GenCPU = genCPU(samples)
	c.Steady = steadyWindow(samples, &c, o.ServerCPUs, o.GenCPUs)
	if c.Gen.DevicesConnected < l.Devices {
		return c, fmt.Errorf("%w: %d of %d devices connected (%v)", ErrConnect, c.Gen.DevicesConnected, l.Devices, c.Gen.ConnectFailures)
	}
	return c, nil
}

// hostCounters are the kernel's counters when the load starts: net/snmp
// of the server's namespace (the host's) and the backlog drops of
// softnet_stat.
type hostCounters struct {
	snmp    bench.SNMP
	backlog int64
}

func readHostCounters(pid int) (h hostCounters, err error) {
	if h.snmp, err = bench.ReadSNMP(pid); err != nil {
		return h, fmt.Errorf("snmp: %w", err)
	}
	h.backlog, _ = softnetDrops()
	return h, nil
}

// deltas sets c's kernel counters, each when it can be read: the backlog
// and SNMP deltas since h, and on UDP the drops of the server's sockets
// on port.
func (h hostCounters) deltas(pid int, transport string, port int, c *Counters) {
	if backlog1, err := softnetDrops(); err == nil {
		c.BacklogDrops = backlog1 - h.backlog
	}
	if snmp1, err := bench.ReadSNMP(pid); err == nil {
		c.SNMP, c.SNMPHostWide = snmp1.Sub(h.snmp), true
	}
	if transport == "udp" {
		c.UDPSocketDrops, c.UDPSockets, _ = udpSocketDrops(pid, port)
	}
}

// fromServer copies the server's final /api/stats and the peaks sampled.
func (c *Counters) fromServer(st *web.Snapshot, transport string, peak *peaks) {
	c.FromStats(st, transport)
	ts := st.Transports[transport]
	c.ServerDevices, c.Dropped, c.Errors, c.Stored = ts.Devices, nonZero(st.Dropped), nonZero(st.Errors), st.Stored
	c.PeakConns, c.MemPeak, c.PeakFDs = peak.get()
	if c.PeakConns == 0 && transport == "udp" {
		// No connections on UDP: memory per device is per session.
		c.PeakConns = int64(c.ServerDevices)
	}
}

// drained: the server counted every end-of-stream (TCP: and closed every
// connection and summed their TCP_INFO), or its counts stood still over
// two fresh snapshots (lost UDP end-of-stream datagrams never arrive; on
// TCP once every connection closed).
func drained(x *web.Snapshot, transport string, connected, stable int) bool {
	ts := x.Transports[transport]
	done := x.EOS >= connected
	if transport == "tcp" {
		done = done && x.Connections == 0 && ts.TCPInfo != nil && ts.TCPInfo.Conns >= uint64(connected)
		return done || x.Connections == 0 && stable >= 2
	}
	return done || stable >= 2
}

// Errors a step can end with; the search treats them differently.
var (
	ErrNotReady = bench.ErrNotReady
	ErrOverrun  = errors.New("step overran its time bound")
	ErrConnect  = errors.New("devices failed to connect")
)

func nonZero(m map[string]uint64) map[string]uint64 {
	out := map[string]uint64{}
	for k, v := range m {
		if v != 0 {
			out[k] = v
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

func hostPort(port int) string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(port)) }
