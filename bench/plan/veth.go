package plan

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/fleetwire/fleetwire/bench"
	"github.com/fleetwire/fleetwire/bench/netns"
	"github.com/fleetwire/fleetwire/server/web"
)

// VethOptions bound the kernel receive path's measurement.
type VethOptions struct {
	// Duration: the generator's send phase in each round (default 25s);
	// the baseline before it lasts as long as the steady window cut from
	// it.
	Duration time.Duration `json:"duration_ns"`
	// Repeat: rounds, each with a fresh server (default 3); the standard
	// errors are over the rounds.
	Repeat int `json:"repeat"`
	// MaxDevices: the most devices a round runs (default 20,000). The
	// client namespace has one address, so its ephemeral ports
	// (32768-60999) bound the sockets a generator can open to the
	// server; a shape with more devices is run with fewer, each
	// reporting more often, at the same frames/s.
	MaxDevices int `json:"max_devices"`
}

func (o *VethOptions) defaults() {
	if o.Duration == 0 {
		o.Duration = 25 * time.Second
	}
	if o.Repeat == 0 {
		o.Repeat = 3
	}
	if o.MaxDevices == 0 {
		o.MaxDevices = 20000
	}
}

// Ports of the server inside its own namespace, where nothing else
// listens.
const (
	vethTCPPort  = 7070
	vethUDPPort  = 7071
	vethHTTPAddr = "127.0.0.1:7080"
)

// MeasureKernelRx measures the kernel's receive path for shape s: the
// server (pinned to its one core, as the runner pins it) in one network
// namespace, the generator (on its core) in another, joined by a veth
// pair whose server end steers the arriving packets to the server's core
// with RPS, span by span on and off, so that their receive processing
// below the socket runs there in NET_RX softirq or on the sending core.
// Each round reads that core's time with the server idle (baseline) and
// under the load, the server process's CPU and the packets the server's
// veth received (kernelrx.go turns them into figures). It returns a
// KernelRx with Skipped set, and no error, when this host cannot build
// the link.
func (r *Runner) MeasureKernelRx(ctx context.Context, s Shape, o VethOptions) (*KernelRx, error) {
	o.defaults()
	k := &KernelRx{Shape: s.Name, Link: "veth between two network namespaces (bench/netns profile clean: offloads off, no shaping, no loss)"}
	if why := r.vethUnavailable(); why != "" {
		k.Skipped = why
		return k, nil
	}
	k.ServerCPU, k.GenCPU = r.o.ServerCPUs[0], r.o.GenCPUs[0]
	k.Load, k.Note = vethLoad(s, o)
	link, err := setupVeth(ctx)
	if err != nil {
		return k, err
	}
	defer link.Close()
	// The client's veth steers the server's replies (TCP
	// acknowledgements) to the generator's core: without it they would
	// be processed on the core that sent them, the server's.
	cliMask, err := steerRPS(ctx, link, netns.Client, k.GenCPU)
	if err != nil {
		return k, err
	}
	sw, err := startRPSSwitch(ctx, link, k.GenCPU)
	if err != nil {
		return k, err
	}
	defer sw.close()
	srvMask := cpuMask(k.ServerCPU)
	if err := sw.set(srvMask); err != nil {
		return k, err
	}
	k.RPS = fmt.Sprintf("rps_cpus of %s (server) %s and 0 in turn, %v each; of %s (client) %s", link.ServerIface, srvMask, spanLength, link.ClientIface, cliMask)
	for round := 0; round < o.Repeat; round++ {
		rd, cmds, err := r.kernelRxRound(ctx, link, sw, k.Load)
		if err != nil {
			return k, fmt.Errorf("kernel rx round %d: %w", round+1, err)
		}
		k.Rounds, k.Command = append(k.Rounds, rd), cmds
		r.o.Logger.Info("kernel rx: round", "round", round+1, "rx_packets_rps_on", rd.On.RxPackets, "rx_ns_per_packet", rd.RxPerPacket(),
			"server_ns_per_packet_rps_on", rd.On.per(float64(rd.On.ServerNs)), "softirq_ticks_ns_per_packet", rd.SoftirqPerPacket(), "net_rx_per_packet", rd.NetRxPerPacket())
	}
	k.summarize()
	return k, nil
}

// vethUnavailable says why the measurement cannot run here, or "".
func (r *Runner) vethUnavailable() string {
	if len(r.o.ServerCPUs) != 1 || len(r.o.GenCPUs) != 1 {
		return fmt.Sprintf("needs the server pinned to one core and the generator to another (pinning: %s)", r.o.Pinning())
	}
	if r.o.ServerCommand != nil {
		return "the runner's server is not fleetwire serve"
	}
	if err := netns.Available(); err != nil {
		return err.Error()
	}
	return ""
}

// vethLoad is s's load with at most o.MaxDevices devices (at the same
// frames/s: each reports more often) sending for o.Duration, and a note
// when it had to differ from s.
func vethLoad(s Shape, o VethOptions) (Load, string) {
	l := s.Load
	l.Duration = o.Duration
	if l.Devices <= o.MaxDevices {
		return l, ""
	}
	scale := float64(l.Devices) / float64(o.MaxDevices)
	note := fmt.Sprintf("%d devices each reporting %.3gx as often as the shape's %d, at its frames/s: the client namespace's one address has ports for about 28,000 sockets",
		o.MaxDevices, scale, l.Devices)
	l.Devices, l.Rate = o.MaxDevices, l.Rate*scale
	return l, note
}

func setupVeth(ctx context.Context) (*netns.Link, error) {
	p, err := netns.ProfileByName("clean")
	if err != nil {
		return nil, err
	}
	l, err := netns.Setup(ctx, p)
	if err != nil {
		return nil, fmt.Errorf("kernel rx: %w", err)
	}
	return l, nil
}

// rpsPath is where side's veth takes its RPS mask, as seen from inside
// its namespace: `ip netns exec` mounts a sysfs of the namespace, whose
// class/net holds that namespace's devices.
func rpsPath(l *netns.Link, side netns.Side) string {
	iface := l.ServerIface
	if side == netns.Client {
		iface = l.ClientIface
	}
	return "/sys/class/net/" + iface + "/queues/rx-0/rps_cpus"
}

// cpuMask is the hexadecimal mask of cpu alone, as rps_cpus takes it.
func cpuMask(cpu int) string { return strconv.FormatUint(1<<cpu, 16) }

// normMask drops the separators and leading zeros rps_cpus reads back
// with ("00000001", "00000000,00000001").
func normMask(s string) string {
	s = strings.TrimLeft(strings.ReplaceAll(strings.TrimSpace(s), ",", ""), "0")
	if s == "" {
		return "0"
	}
	return s
}

// steerRPS sets the RPS mask of side's veth to cpu alone and checks
// that the kernel took it.
func steerRPS(ctx context.Context, l *netns.Link, side netns.Side, cpu int) (string, error) {
	path, want := rpsPath(l, side), cpuMask(cpu)
	out, err := l.CommandContext(ctx, side, "sh", "-c", `echo "$1" > "$2" && cat "$2"`, "sh", want, path).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("kernel rx: set %s in the %s namespace: %w: %s", path, side, err, out)
	}
	if got := normMask(string(out)); got != want {
		return "", fmt.Errorf("kernel rx: %s reads %q after writing %s", path, out, want)
	}
	return want, nil
}

// rpsSwitch sets the server veth's RPS mask through one shell in the
// server's namespace, pinned to the generator's core so that switching
// costs the server's core nothing; the shell echoes each mask back once
// it is written.
type rpsSwitch struct {
	cmd  *exec.Cmd
	in   io.WriteCloser
	out  *bufio.Reader
	path string
}

func startRPSSwitch(ctx context.Context, l *netns.Link, cpu int) (*rpsSwitch, error) {
	path := rpsPath(l, netns.Server)
	cmd := l.CommandContext(ctx, netns.Server, "taskset", "-c", strconv.Itoa(cpu), "sh", "-c",
		`while read -r m; do echo "$m" > "$1" && cat "$1" || exit 1; done`, "sh", path)
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("kernel rx: start the RPS switch: %w", err)
	}
	return &rpsSwitch{cmd: cmd, in: in, out: bufio.NewReader(out), path: path}, nil
}

// set writes mask and waits until the kernel reports it back.
func (s *rpsSwitch) set(mask string) error {
	if _, err := fmt.Fprintln(s.in, mask); err != nil {
		return fmt.Errorf("kernel rx: RPS switch: %w", err)
	}
	line, err := s.out.ReadString('\n')
	if err != nil {
		return fmt.Errorf("kernel rx: RPS switch: %s: %w", s.path, err)
	}
	if got := normMask(line); got != normMask(mask) {
		return fmt.Errorf("kernel rx: %s reads %q after writing %s", s.path, line, mask)
	}
	return nil
}

// close ends the shell (its input closes) and waits for it.
func (s *rpsSwitch) close() error {
	s.in.Close()
	return s.cmd.Wait()
}

// kernelRxRound runs one round with a fresh server: the baseline, then
// the load, whose receive processing sw moves between the server's core
// and the generator's every spanLength. It returns the round and the two
// commands it ran.
func (r *Runner) kernelRxRound(ctx context.Context, l *netns.Link, sw *rpsSwitch, load Load) (KernelRxRound, string, error) {
	dir, err := os.MkdirTemp(r.o.WorkDir, "veth-")
	if err != nil {
		return KernelRxRound{}, "", err
	}
	defer os.RemoveAll(dir)
	a := Addrs{HTTP: vethHTTPAddr, Data: filepath.Join(dir, "data"), Cores: 1, Sink: r.o.Sink}
	target := net.JoinHostPort(l.ServerAddr.String(), strconv.Itoa(vethUDPPort))
	if load.Transport == "tcp" {
		target = net.JoinHostPort(l.ServerAddr.String(), strconv.Itoa(vethTCPPort))
		a.TCP = target
	} else {
		a.UDP = target
	}
	api, err := bench.NewAPI(a.HTTP, func(ctx context.Context, network, addr string) (net.Conn, error) {
		return netns.DialInNS(ctx, l.ServerNS, network, addr)
	})
	if err != nil {
		return KernelRxRound{}, "", err
	}
	srv := inNamespace(l, netns.Server, r.serverCommand(a))
	t, err := bench.StartServer(ctx, dir, srv, api)
	if err != nil {
		return KernelRxRound{}, "", err
	}
	defer t.Close()
	// The target is the server's veth address, not loopback.
	gen := inNamespace(l, netns.Client, pinned(r.o.GenCPUs, append(r.genArgs(&load, target, t.GenReportPath()), "--allow-remote")))
	cmds := strings.Join(srv.Args, " ") + "\n" + strings.Join(gen.Args, " ")
	read := vethSampler(l, t.Server.PID(), r.o.ServerCPUs[0])

	if err := sw.set(cpuMask(r.o.ServerCPUs[0])); err != nil {
		return KernelRxRound{}, cmds, err
	}
	base, err := baseline(ctx, read, steadyLength(load.Duration)/2)
	if err != nil {
		return KernelRxRound{}, cmds, err
	}
	counts := &frameCounter{api: t.API, transport: load.Transport}
	samples, c, err := runSampled(ctx, t, gen, alternating(ctx, read, sw, cpuMask(r.o.ServerCPUs[0]), counts), &load, r.o.ConnectRate)
	if err != nil {
		return KernelRxRound{}, cmds, err
	}
	if c.Gen.DevicesConnected < load.Devices {
		return KernelRxRound{}, cmds, fmt.Errorf("%w: %d of %d devices connected", ErrConnect, c.Gen.DevicesConnected, load.Devices)
	}
	sendStart := c.Gen.Started.Add(time.Duration(c.Gen.ConnectSeconds * float64(time.Second)))
	counts.takeAfter(ctx, samples[len(samples)-1].at)
	rd, err := roundOf(base, samples, sendStart, c.Gen.DurationSeconds, counts.counts)
	return rd, cmds, err
}

// inNamespace wraps cmd in `ip netns exec` of side's namespace, keeping
// its environment; ip execs the command, so the PID is the command's.
func inNamespace(l *netns.Link, side netns.Side, cmd *exec.Cmd) *exec.Cmd {
	out := l.Command(side, cmd.Args[0], cmd.Args[1:]...)
	out.Env = cmd.Env
	return out
}

// steadyLength is the steady window roundOf cuts from a send phase of d.
func steadyLength(d time.Duration) time.Duration {
	return d - min(time.Second, d/5) - 100*time.Millisecond
}

// vethSampler reads the server core's counters, the server veth's
// receive counters and the server's CPU.
func vethSampler(l *netns.Link, pid, cpu int) func() (vethSample, error) {
	return func() (vethSample, error) {
		s := vethSample{at: time.Now()}
		pfs, err := procFS()
		if err != nil {
			return s, err
		}
		if s.cpu, err = readCPUCounters(pfs, cpu); err != nil {
			return s, err
		}
		dev, err := l.Counters(netns.Server)
		if err != nil {
			return s, err
		}
		s.rxPackets, s.rxBytes = dev.RxPackets, dev.RxBytes
		c, err := bench.ReadCPU(pid)
		if err != nil {
			return s, fmt.Errorf("server cpu: %w", err)
		}
		s.serverNs = c.SchedNs
		return s, nil
	}
}

// baseline reads the counters every 200 ms for d with the server up and
// idle, as the load's spans are read (so the readings' own cost is in
// both).
func baseline(ctx context.Context, read func() (vethSample, error), d time.Duration) ([]vethSample, error) {
	s, err := read()
	if err != nil {
		return nil, err
	}
	out := []vethSample{s}
	for end := s.at.Add(d); time.Now().Before(end); {
		select {
		case <-ctx.Done():
			return out, ctx.Err()
		case <-time.After(min(200*time.Millisecond, time.Until(end))):
		}
		if s, err = read(); err != nil {
			return out, err
		}
		out = append(out, s)
	}
	return out, nil
}

// frameCounter keeps the server's frame counts, one per fresh
// /api/stats snapshot (the server takes one a second).
type frameCounter struct {
	api       *web.Client
	transport string
	counts    []frameCount
}

// take asks for a snapshot and keeps it if it is new. A failed request
// is skipped: the next one brackets the spans as well.
func (f *frameCounter) take(ctx context.Context) {
	st, err := f.api.Stats(ctx)
	if err != nil || len(f.counts) > 0 && !st.SampledAt.After(f.counts[len(f.counts)-1].at) {
		return
	}
	f.counts = append(f.counts, frameCount{at: st.SampledAt, frames: st.Transports[f.transport].Frames})
}

// takeAfter takes snapshots until one was sampled after t (the server
// takes one a second), for 3 s at most: the last span needs one after it.
func (f *frameCounter) takeAfter(ctx context.Context, t time.Time) {
	for end := time.Now().Add(3 * time.Second); time.Now().Before(end); {
		f.take(ctx)
		if n := len(f.counts); n > 0 && f.counts[n-1].at.After(t) {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// alternating wraps read: each reading ends a span and starts the next
// one, processed alternately on the server's core (RPS mask on) and on
// the sending core (mask 0), switched right after the reading; then it
// takes the server's frame count.
func alternating(ctx context.Context, read func() (vethSample, error), sw *rpsSwitch, on string, counts *frameCounter) func() (vethSample, error) {
	rps := false
	return func() (vethSample, error) {
		s, err := read()
		if err != nil {
			return s, err
		}
		rps = !rps
		mask := "0"
		if rps {
			mask = on
		}
		s.rps = rps
		if err := sw.set(mask); err != nil {
			return s, err
		}
		counts.take(ctx)
		return s, nil
	}
}

// spanLength is how long the load's receive processing stays on one core
// before it moves to the other.
const spanLength = 250 * time.Millisecond

// runSampled starts the generator and reads the counters every spanLength
// until it exits, within the runner's bound (connect allowance plus
// three send phases plus 20 s); then it reads the generator's report.
func runSampled(ctx context.Context, t *bench.Trial, gen *exec.Cmd, read func() (vethSample, error), l *Load, connectRate float64) ([]vethSample, bench.Counters, error) {
	var c bench.Counters
	if err := t.StartLoad(gen); err != nil {
		return nil, c, err
	}
	var samples []vethSample
	var readErr error
	limit := time.Duration(l.Devices)*time.Second/time.Duration(max(1, int(connectRate))) + 3*l.Duration + 20*time.Second
	err := t.Watch(ctx, limit, spanLength, func() {
		s, err := read()
		if err != nil {
			readErr = err
			return
		}
		samples = append(samples, s)
	})
	if err != nil {
		return nil, c, err
	}
	if readErr != nil {
		return nil, c, fmt.Errorf("sample: %w", readErr)
	}
	if err := t.GenReport(&c); err != nil {
		return nil, c, err
	}
	if len(samples) < 2 {
		return nil, c, errors.New("fewer than two samples while the generator ran")
	}
	return samples, c, nil
}
