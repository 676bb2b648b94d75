package bench

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/fleetwire/fleetwire/loadgen"
)

// Options configure a benchmark run.
type Options struct {
	Exe     string   // the fleetwire binary; both processes run it
	Engines []string // nil means Engines
	// Pin puts the server on CPU ServerCPU and the generator on
	// GenCPU with taskset (sched_setaffinity), so neither steals the
	// other's core. Options.Defaults turns it on with 2+ usable cores.
	Pin               bool
	ServerCPU, GenCPU int
	WorkDir           string // logs, generator reports, TLS files
	Logger            *slog.Logger
	// PerfDir, when set, gets a perf profile of the server over each
	// load window (<scenario>-<engine>.perf.data and .perf.txt).
	PerfDir string
	// PrivateLoopback runs "loopback" scenarios in a namespace of their
	// own when `ip netns` works (counters then hold only the run's
	// traffic); false, or when it fails, uses the host's loopback.
	PrivateLoopback bool
}

// Defaults fills the zero fields: pinning when this process may use 2+
// cores and taskset (util-linux) is installed.
func (o *Options) Defaults() error {
	if o.Exe == "" {
		exe, err := os.Executable()
		if err != nil {
			return fmt.Errorf("find the fleetwire binary: %w", err)
		}
		o.Exe = exe
	}
	if len(o.Engines) == 0 {
		o.Engines = Engines
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.WorkDir == "" {
		return errors.New("bench: no work directory")
	}
	var set unix.CPUSet
	_, noTaskset := exec.LookPath("taskset")
	if !o.Pin && noTaskset == nil && unix.SchedGetaffinity(0, &set) == nil && set.Count() >= 2 {
		cpus := []int{}
		for i := 0; i < 1024 && len(cpus) < 2; i++ {
			if set.IsSet(i) {
				cpus = append(cpus, i)
			}
		}
		o.Pin, o.ServerCPU, o.GenCPU = true, cpus[0], cpus[1]
	}
	return nil
}

// Result is one scenario on one engine.
type Result struct {
	Scenario Scenario `json:"scenario"`
	Engine   string   `json:"engine"`
	Link     string   `json:"link"`
	Counters Counters `json:"counters"`
	Figures  Figures  `json:"figures"`
	Skipped  string   `json:"skipped,omitempty"` // why it did not run
	Err      string   `json:"error,omitempty"`
}

// Run runs every scenario on every engine: for each scenario the engines
// back to back, their order alternating from one scenario to the next so
// that drift of a noisy machine does not always favour the same one. One
// failed run is recorded and the rest go on; ctx cancels the whole run.
func Run(ctx context.Context, o Options, scenarios []Scenario) ([]Result, error) {
	if err := o.Defaults(); err != nil {
		return nil, err
	}
	links := newLinks(&o)
	defer links.closeAll()
	var out []Result
	for i := range scenarios {
		s := &scenarios[i]
		engines := s.RunsOn(o.Engines)
		if i%2 == 1 {
			engines = reversed(engines)
		}
		if len(engines) == 0 {
			why := fmt.Sprintf("runs only on %s, not among the engines of this run (%s)", strings.Join(s.Engines, ", "), strings.Join(o.Engines, ", "))
			o.Logger.Warn("bench: skipped", "scenario", s.ID(), "why", why)
			out = append(out, Result{Scenario: *s, Engine: strings.Join(s.Engines, ","), Skipped: why})
			continue
		}
		l, why := links.get(ctx, s.Profile)
		for _, e := range engines {
			if err := ctx.Err(); err != nil {
				return out, err
			}
			r := Result{Scenario: *s, Engine: e}
			if l == nil {
				r.Skipped = why
				o.Logger.Warn("bench: skipped", "scenario", s.ID(), "engine", e, "why", why)
				out = append(out, r)
				continue
			}
			r.Link = l.describe()
			t0 := time.Now()
			c, err := runOne(ctx, &o, l, s, e)
			if errors.Is(err, errNotReady) {
				// Nothing was measured yet: a server that did not come up
				// (a stall of this shared machine) gets one more try.
				o.Logger.Warn("bench: server not ready, retrying once", "scenario", s.ID(), "engine", e, "err", err)
				c, err = runOne(ctx, &o, l, s, e)
			}
			r.Counters = c
			if err != nil {
				r.Err = err.Error()
				o.Logger.Error("bench: run failed", "scenario", s.ID(), "engine", e, "err", err)
			}
			r.Figures = Compute(s, &r.Counters)
			o.Logger.Info("bench: ran", "scenario", s.ID(), "engine", e, "secs", time.Since(t0).Seconds(),
				"sent", r.Figures.Sent, "delivered", r.Figures.Delivered, "lost", r.Figures.Lost,
				"cpu_ns_per_reading", int64(r.Figures.ServerCPUNsPerReading), "wire_b_per_reading", r.Figures.WirePerReading)
			out = append(out, r)
		}
	}
	return out, nil
}

func reversed(s []string) []string {
	r := make([]string, len(s))
	for i, v := range s {
		r[len(s)-1-i] = v
	}
	return r
}

// pinned prefixes a command with taskset when pinning.
func (o *Options) pinned(cpu int, args ...string) (string, []string) {
	if !o.Pin {
		return args[0], args[1:]
	}
	return "taskset", append([]string{"-c", strconv.Itoa(cpu)}, args...)
}

// runOne measures scenario s on engine e over link l.
func runOne(ctx context.Context, o *Options, l link, s *Scenario, engine string) (c Counters, err error) {
	ports, err := l.ports()
	if err != nil {
		return c, fmt.Errorf("ports: %w", err)
	}
	host := l.serverHost()
	dir, err := os.MkdirTemp(o.WorkDir, "run-")
	if err != nil {
		return c, err
	}
	// Acknowledged delivery: the file sink, so that what a #stored
	// acknowledges was written and fsynced (bench/README.md says why not
	// --sink none); the server's --ack-interval is its default.
	sinkName := "none"
	if s.Acked() {
		sinkName = "files"
	}
	args := []string{o.Exe, "serve", "--engine", engine, "--sink", sinkName, "--log-level", "warn",
		"--http", hostPort("127.0.0.1", ports[3]), "--tcp", "", "--udp", "", "--data", filepath.Join(dir, "data")}
	target := ""
	switch s.Wire() {
	case "tcp":
		target = hostPort(host, ports[0])
		args = append(args, "--tcp", target)
	case "udp":
		target = hostPort(host, ports[1])
		args = append(args, "--udp", target)
	case "tls":
		target = hostPort(host, ports[2])
		cert, key, err := tlsFiles(o.WorkDir, host)
		if err != nil {
			return c, err
		}
		args = append(args, "--tls", target, "--tls-cert", cert, "--tls-key", key)
	case "dtls":
		// PSK, as constrained devices use it: the generator's devices
		// speak DTLS 1.2 with AES-128-CCM-8 and the server's connection ID.
		// They all come from one address, as a fleet behind one NAT does:
		// the per-source handshake rate is lifted, or most of the fleet's
		// first ClientHellos would be refused (dtls_rate) and resent, and
		// their bytes counted as DTLS's cost.
		target = hostPort(host, ports[1])
		keys, err := pskFile(o.WorkDir, s.Devices)
		if err != nil {
			return c, err
		}
		args = append(args, "--listen", "dtls://"+target+"?name=dtls&handshake-rate=1000000&psk-file="+url.QueryEscape(keys))
	}
	name, argv := o.pinned(o.ServerCPU, args...)
	srv, err := StartProc(l.command("server", name, argv...), filepath.Join(dir, "server.log"))
	if err != nil {
		return c, err
	}
	defer srv.Stop(15 * time.Second)
	pid := srv.cmd.Process.Pid
	sc := NewStatsClient(l.dial, hostPort("127.0.0.1", ports[3]))
	defer sc.Close()
	if err := WaitFor(ctx, 10*time.Second, 20*time.Millisecond, func() (bool, error) {
		if srv.Exited() {
			return false, fmt.Errorf("server exited: %v (log %s)", srv.err, filepath.Join(dir, "server.log"))
		}
		return sc.Ready(ctx), nil
	}); err != nil {
		b, _ := os.ReadFile(filepath.Join(dir, "server.log"))
		return c, fmt.Errorf("%w: %v; server log: %s", errNotReady, err, lastLines(b, 5))
	}

	if c.MemBefore, err = ReadMemory(pid); err != nil {
		return c, err
	}
	snmp0, hostWide, err := l.snmp()
	if err != nil {
		return c, fmt.Errorf("snmp: %w", err)
	}
	cif0, sif0, err := l.ifs()
	if err != nil {
		return c, fmt.Errorf("interface counters: %w", err)
	}
	genJSON := filepath.Join(dir, "load.json")
	gargs := []string{o.Exe, "load", "--" + s.Wire(), target, "--devices", strconv.Itoa(s.Devices),
		"--rate", strconv.FormatFloat(s.Rate, 'g', -1, 64), "--batch", strconv.Itoa(s.Batch), "--codec", s.Codec,
		"--channels", strconv.Itoa(s.Channels), "--json", genJSON, "--progress", "0", "--log-level", "warn",
		"--drain-timeout", s.Drain.String(), "--connect-rate", "20000", "--allow-remote"}
	if s.Duration > 0 {
		gargs = append(gargs, "--duration", s.Duration.String())
	}
	if s.Samples > 0 {
		gargs = append(gargs, "--samples", strconv.Itoa(s.Samples))
	}
	if s.UDPSockets > 0 {
		gargs = append(gargs, "--udp-sockets", strconv.Itoa(s.UDPSockets))
	}
	if s.Acked() {
		gargs = append(gargs, "--ack")
		if s.AckWindow > 0 {
			gargs = append(gargs, "--ack-window", strconv.Itoa(s.AckWindow))
		}
		if s.AckDrain > 0 {
			gargs = append(gargs, "--ack-drain", s.AckDrain.String())
		}
	}
	if s.Wire() == "tls" {
		cert, _, _ := tlsFiles(o.WorkDir, host)
		gargs = append(gargs, "--tls-ca", cert)
	}
	if s.Wire() == "dtls" {
		keys, _ := pskFile(o.WorkDir, s.Devices)
		gargs = append(gargs, "--dtls-psk-file", keys)
	}
	cpu0, err := ReadCPU(pid)
	if err != nil {
		return c, err
	}
	t0 := time.Now()
	name, argv = o.pinned(o.GenCPU, gargs...)
	gen, err := StartProc(l.command("client", name, argv...), filepath.Join(dir, "load.log"))
	if err != nil {
		return c, err
	}
	defer gen.Stop(5 * time.Second)
	if o.PerfDir != "" {
		name := strings.NewReplacer("/", "_", ":", "_", "@", "_").Replace(s.ID()) + "-" + engine
		if rec, err := startPerf(o.PerfDir, name, pid); err != nil {
			o.Logger.Warn("bench: no profile", "err", err)
		} else {
			defer func() {
				if path, err := rec.stop(ctx); err != nil {
					o.Logger.Warn("bench: profile", "err", err)
				} else {
					o.Logger.Info("bench: profile", "scenario", s.ID(), "engine", engine, "path", path)
				}
			}()
		}
	}

	// While the generator runs: the peak of open connections and of RSS.
	limit := s.Duration + s.Drain + time.Duration(s.Devices/1000+30)*time.Second
	if s.Acked() {
		limit += cmp.Or(s.AckDrain, loadgen.DefaultAckDrain) // the devices' wait for acks after end-of-stream
	}
	if s.Samples > 0 && s.Rate > 0 {
		limit += time.Duration(float64(s.Samples)/s.Rate*float64(time.Second)) + time.Second
	}
	sample := func() {
		if st, err := sc.Stats(ctx); err == nil && st.Connections > c.PeakConns {
			c.PeakConns = st.Connections
		}
		if m, err := ReadMemory(pid); err == nil && m.RSS > c.MemPeak.RSS {
			c.MemPeak = m
		}
	}
	err = WaitFor(ctx, limit, 250*time.Millisecond, func() (bool, error) {
		if srv.Exited() {
			return false, fmt.Errorf("server exited during the load: %v", srv.err)
		}
		sample()
		return gen.Exited(), nil
	})
	if err != nil {
		return c, fmt.Errorf("generator: %w", err)
	}
	if gen.err != nil {
		b, _ := os.ReadFile(filepath.Join(dir, "load.log"))
		return c, fmt.Errorf("generator: %v: %s", gen.err, lastLines(b, 5))
	}
	genExited := time.Now()
	if ps := gen.cmd.ProcessState; ps != nil {
		c.GenWaitCPUNs = int64(ps.UserTime() + ps.SystemTime())
	}
	b, err := os.ReadFile(genJSON)
	if err != nil {
		return c, fmt.Errorf("generator report: %w", err)
	}
	if err := json.Unmarshal(b, &c.Gen); err != nil {
		return c, fmt.Errorf("generator report: %w", err)
	}
	c.Gen.PerDevice = nil

	// Until the server counted every end-of-stream (and, on TCP, summed
	// every connection's TCP_INFO as it closed), or the drain timeout.
	// /api/stats is refreshed once a second.
	var st *APIStats
	var last uint64
	stable := 0
	err = WaitFor(ctx, s.Drain, 200*time.Millisecond, func() (bool, error) {
		x, err := sc.Stats(ctx)
		if err != nil {
			return false, err
		}
		if st != nil && x.SampledAt.Equal(st.SampledAt) {
			return false, nil
		}
		if s.Acked() && x.SampledAt.Before(genExited) {
			// The server writes #stored after the last thing the
			// generator sends: only a snapshot taken after the generator
			// exited holds all of them.
			return false, nil
		}
		st = x
		ts := x.Transports[s.Wire()]
		done := x.EOS >= c.Gen.DevicesConnected
		if s.Acked() {
			done = done && x.Sink.Pending == 0 // the sink wrote all it took
		}
		switch {
		case s.Wire() == "dtls":
			// Every session ended (close_notify after end-of-stream), or,
			// when a lossy link took an end-of-stream or a close_notify,
			// three unchanged snapshots in a row.
			if ts.Readings == last {
				stable++
			} else {
				stable = 0
			}
			done = done && x.Connections == 0 || stable >= 3
		case s.Wire() != "udp":
			done = done && ts.TCPInfo != nil && ts.TCPInfo.Conns >= uint64(c.Gen.DevicesConnected) && x.Connections == 0
		case ts.Readings == last:
			// Lost end-of-stream datagrams never arrive: two unchanged
			// snapshots in a row end the wait.
			stable++
			done = done || stable >= 2
		default:
			stable = 0
		}
		last = ts.Readings
		return done, nil
	})
	if errors.Is(err, ErrTimeout) {
		c.DrainTimedOut = true
	} else if err != nil {
		return c, fmt.Errorf("drain: %w", err)
	}
	cpu1, err := ReadCPU(pid)
	if err != nil {
		return c, err
	}
	c.WindowNs = int64(time.Since(t0))
	c.ServerCPU = cpu1.Sub(cpu0)
	if st == nil {
		return c, errors.New("no stats after the run")
	}
	c.Srv, c.Datagrams, c.EOS, c.Latency = st.Transports[s.Wire()], st.Datagrams, st.EOS, st.Latency
	if s.Acked() {
		c.Acks, c.Sink = &st.Acks, &st.Sink
	}
	if snmp1, _, err := l.snmp(); err == nil {
		c.SNMP, c.SNMPHostWide = snmp1.Sub(snmp0), hostWide
	}
	if cif0 != nil {
		cif1, sif1, err := l.ifs()
		if err != nil {
			return c, fmt.Errorf("interface counters: %w", err)
		}
		d1, d2 := cif1.Sub(*cif0), sif1.Sub(*sif0)
		c.ClientIf, c.ServerIf = &d1, &d2
	}
	if c.Gen.DevicesConnected < s.Devices {
		return c, fmt.Errorf("only %d of %d devices connected (%v)", c.Gen.DevicesConnected, s.Devices, c.Gen.ConnectFailures)
	}
	return c, nil
}

var (
	// ErrTimeout is what WaitFor returns when its condition never held.
	ErrTimeout  = errors.New("timed out")
	errNotReady = errors.New("server not ready")
)

// WaitFor calls cond every interval until it returns true or an error,
// for at most limit (then ErrTimeout).
func WaitFor(ctx context.Context, limit, interval time.Duration, cond func() (bool, error)) error {
	deadline := time.Now().Add(limit)
	for {
		ok, err := cond()
		if err != nil || ok {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%w after %v", ErrTimeout, limit)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(interval):
		}
	}
}

func lastLines(b []byte, n int) string {
	end := len(b)
	for i := len(b) - 1; i >= 0 && n >= 0; i-- {
		if b[i] == '\n' {
			n--
			if n < 0 {
				return string(b[i+1 : end])
			}
		}
	}
	return string(b[:end])
}

// links sets up each profile's link once per run and closes them all.
type links struct {
	o    *Options
	up   map[string]link
	why  map[string]string
	list []link
}

func newLinks(o *Options) *links {
	return &links{o: o, up: map[string]link{}, why: map[string]string{}}
}

func (ls *links) get(ctx context.Context, profile string) (link, string) {
	if l, ok := ls.up[profile]; ok {
		return l, ""
	}
	if why, ok := ls.why[profile]; ok {
		return nil, why
	}
	l, err := ls.open(ctx, profile)
	if err != nil {
		ls.why[profile] = err.Error()
		return nil, err.Error()
	}
	ls.up[profile] = l
	ls.list = append(ls.list, l)
	return l, ""
}

func (ls *links) open(ctx context.Context, profile string) (link, error) {
	if profile != Loopback {
		return openNetns(ctx, profile)
	}
	if ls.o.PrivateLoopback && runtime.GOOS == "linux" {
		l, err := newNSLoopback(ctx)
		if err == nil {
			return l, nil
		}
		ls.o.Logger.Warn("bench: no private namespace, using the host loopback", "err", err)
	}
	return hostLoopback{}, nil
}

func (ls *links) closeAll() {
	for _, l := range ls.list {
		if err := l.close(); err != nil {
			ls.o.Logger.Warn("bench: close link", "err", err)
		}
	}
}
