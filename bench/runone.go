package bench

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/fleetwire/fleetwire/bench/linkemu"
	"github.com/fleetwire/fleetwire/loadgen"
	"github.com/fleetwire/fleetwire/server"
	"github.com/fleetwire/fleetwire/server/web"
)

// runOne measures scenario s on engine e over link l in the phases of
// Trial: the peak of open connections and of RSS sampled while the
// generator runs, a drain until the server counted every end-of-stream,
// the link's kernel counters before and after.
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
	srvArgs, target, err := serverArgs(o, s, engine, host, ports, dir)
	if err != nil {
		return c, err
	}
	api, err := NewAPI(hostPort("127.0.0.1", ports[3]), l.dial)
	if err != nil {
		return c, err
	}
	name, argv := o.pinned(o.ServerCPU, srvArgs...)
	r, err := StartServer(ctx, dir, l.command("server", name, argv...), api)
	if err != nil {
		return c, err
	}
	defer r.Close()
	pid := r.Server.PID()
	if c.MemBefore, err = ReadMemory(pid); err != nil {
		return c, err
	}
	link0, err := readLinkCounters(l, s.radioGap())
	if err != nil {
		return c, err
	}
	name, argv = o.pinned(o.GenCPU, genArgs(o, s, target, host, r.GenReportPath())...)
	if err := r.StartLoad(l.command("client", name, argv...)); err != nil {
		return c, err
	}
	defer profile(ctx, o, s, engine, pid)()

	// While the generator runs, every 250 ms and once more as it ends: the
	// peak of open connections and, apart, the peak of RSS.
	sample := func() {
		if st, err := r.API.Stats(ctx); err == nil && st.Connections > c.PeakConns {
			c.PeakConns = st.Connections
		}
		if m, err := ReadMemory(pid); err == nil && m.RSS > c.MemPeak.RSS {
			c.MemPeak = m
		}
	}
	if err := r.Watch(ctx, loadLimit(s), 250*time.Millisecond, sample); err != nil {
		return c, err
	}
	sample()
	if err := r.GenReport(&c); err != nil {
		return c, err
	}

	// The server writes #stored after the last thing the generator sends:
	// with acks only a snapshot taken after the generator exited holds
	// all of them.
	var notBefore time.Time
	if s.Acked() {
		notBefore = r.GenExited
	}
	st, err := r.Drain(ctx, s.Drain, s.Wire(), notBefore, drained(s, c.Gen.DevicesConnected))
	if errors.Is(err, ErrTimeout) {
		c.DrainTimedOut = true
	} else if err != nil {
		return c, fmt.Errorf("drain: %w", err)
	}
	if err := r.Finish(&c); err != nil {
		return c, err
	}
	if st == nil {
		return c, ErrNoStats
	}
	c.FromStats(st, s.Wire())
	if s.Acked() {
		c.Acks, c.Sink = &st.Acks, &st.Sink
	}
	if err := link0.deltas(l, &c); err != nil {
		return c, err
	}
	s.steadyRadio(&c)
	if c.Gen.DevicesConnected < s.Devices {
		return c, fmt.Errorf("only %d of %d devices connected (%v)", c.Gen.DevicesConnected, s.Devices, c.Gen.ConnectFailures)
	}
	return c, nil
}

// drained is the end of the drain: the server counted every
// end-of-stream; with acks, the sink wrote all it took; on TCP and TLS,
// it also closed every connection and summed its TCP_INFO. On UDP, lost
// end-of-stream datagrams never arrive: two unchanged snapshots in a row
// end the wait too.
func drained(s *Scenario, connected int) func(x *web.Snapshot, stable int) bool {
	return func(x *web.Snapshot, stable int) bool {
		ts := x.Transports[s.Wire()]
		done := x.EOS >= connected
		if s.Acked() {
			done = done && x.Sink.Pending == 0
		}
		switch s.Wire() {
		case "dtls":
			// Every session ended (close_notify after end-of-stream), or,
			// when a lossy link took an end-of-stream or a close_notify,
			// three unchanged snapshots in a row.
			return done && x.Connections == 0 || stable >= 3
		case "udp":
			return done || stable >= 2
		}
		return done && ts.TCPInfo != nil && ts.TCPInfo.Conns >= uint64(connected) && x.Connections == 0
	}
}

// linkCounters are a link's kernel counters when the load starts: SNMP
// of the server's namespace (hostWide: the host's) and, on a veth, both
// ends' interface counters.
type linkCounters struct {
	snmp     SNMP
	hostWide bool
	cif, sif *IfCounters
	radio    bool // a radio watch is on
}

// readLinkCounters reads the counters at the start and, with radioGap >
// 0 on a link that can, starts a radio watch.
func readLinkCounters(l link, radioGap time.Duration) (b linkCounters, err error) {
	if rl, ok := l.(radioLink); ok && radioGap > 0 {
		rl.watchRadio(radioGap)
		b.radio = true
	}
	if b.snmp, b.hostWide, err = l.snmp(); err != nil {
		return b, fmt.Errorf("snmp: %w", err)
	}
	if b.cif, b.sif, err = l.ifs(); err != nil {
		return b, fmt.Errorf("interface counters: %w", err)
	}
	return b, nil
}

// deltas sets c.SNMP (when the counters can be read again), the veth
// ends' deltas since b and the radio watch's bursts.
func (b linkCounters) deltas(l link, c *Counters) error {
	if b.radio {
		r := l.(radioLink).radio()
		c.Radio = &r
	}
	if snmp1, _, err := l.snmp(); err == nil {
		c.SNMP, c.SNMPHostWide = snmp1.Sub(b.snmp), b.hostWide
	}
	if b.cif == nil {
		return nil
	}
	cif1, sif1, err := l.ifs()
	if err != nil {
		return fmt.Errorf("interface counters: %w", err)
	}
	d1, d2 := cif1.Sub(*b.cif), sif1.Sub(*b.sif)
	c.ClientIf, c.ServerIf = &d1, &d2
	return nil
}

// profile records the server (pid) with perf into o.PerfDir, when set,
// until the returned stop.
func profile(ctx context.Context, o *Options, s *Scenario, engine string, pid int) (stop func()) {
	if o.PerfDir == "" {
		return func() {}
	}
	name := strings.NewReplacer("/", "_", ":", "_", "@", "_").Replace(s.ID()) + "-" + engine
	rec, err := startPerf(o.PerfDir, name, pid)
	if err != nil {
		o.Logger.Warn("bench: no profile", "err", err)
		return func() {}
	}
	return func() {
		if path, err := rec.stop(ctx); err != nil {
			o.Logger.Warn("bench: profile", "err", err)
		} else {
			o.Logger.Info("bench: profile", "scenario", s.ID(), "engine", engine, "path", path)
		}
	}
}

// serverArgs is the server's command line for s on engine, listening on
// host for the scenario's wire (target) and on 127.0.0.1 for HTTP.
// Acknowledged delivery uses the file sink, so that what a #stored
// acknowledges was written and fsynced (docs/bench.md says why not
// --sink none); the server's --ack-interval is its default.
func serverArgs(o *Options, s *Scenario, engine, host string, ports [4]int, dir string) (args []string, target string, err error) {
	sinkName := "none"
	if s.Acked() {
		sinkName = "files"
	}
	args = []string{o.Exe, "serve", "--engine", engine, "--sink", sinkName, "--log-level", "warn",
		"--http", hostPort("127.0.0.1", ports[3]), "--tcp", "", "--udp", "", "--data", filepath.Join(dir, "data")}
	if iv := s.reportInterval(); s.isDevice() && 2*iv > server.Defaults.IdleTimeout {
		// A persistent connection that reports every 10 minutes is idle
		// longer than the default allows: an operator of such a fleet
		// sets the timeout above the interval.
		args = append(args, "--idle-timeout", (2 * iv).String())
	}
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
			return nil, "", err
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
			return nil, "", err
		}
		args = append(args, "--listen", "dtls://"+target+"?name=dtls&handshake-rate=1000000&psk-file="+url.QueryEscape(keys))
	}
	return args, target, nil
}

// emuConnectTimeout is the generator's connect timeout on the emulated
// cellular and satellite links.
const emuConnectTimeout = 60 * time.Second

// genArgs is the generator's command line for s against target, its
// report in jsonPath.
func genArgs(o *Options, s *Scenario, target, host, jsonPath string) []string {
	args := []string{o.Exe, "load", "--" + s.Wire(), target, "--devices", strconv.Itoa(s.Devices),
		"--rate", strconv.FormatFloat(s.Rate, 'g', -1, 64), "--batch", strconv.Itoa(s.Batch), "--codec", s.Codec,
		"--channels", strconv.Itoa(s.Channels), "--json", jsonPath, "--progress", "0", "--log-level", "warn",
		"--drain-timeout", s.Drain.String(), "--connect-rate", "20000", "--allow-remote"}
	if s.Duration > 0 {
		args = append(args, "--duration", s.Duration.String())
	}
	if _, err := linkemu.ProfileByName(s.Profile); err == nil {
		// Seconds of round trip and tens of kbit/s: a TLS handshake of
		// 20 devices at once takes longer than the generator's 5 s, and a
		// real modem waits far longer before it gives up.
		args = append(args, "--connect-timeout", emuConnectTimeout.String())
	}
	if s.Samples > 0 {
		args = append(args, "--samples", strconv.Itoa(s.Samples))
	}
	if s.UDPSockets > 0 {
		args = append(args, "--udp-sockets", strconv.Itoa(s.UDPSockets))
	}
	if s.Acked() {
		args = append(args, "--ack")
		if s.AckWindow > 0 {
			args = append(args, "--ack-window", strconv.Itoa(s.AckWindow))
		}
		if s.AckDrain > 0 {
			args = append(args, "--ack-drain", s.AckDrain.String())
		}
	}
	switch mode := s.SessionMode(); {
	case mode == SessionPersistent:
		if s.KeepAlive > 0 {
			args = append(args, "--keepalive", s.KeepAlive.String())
		}
	case s.Wire() == "udp":
		args = append(args, "--nat-binding", "lose")
	case s.Wire() == "dtls":
		args = append(args, "--dtls-per-report")
		if mode == SessionResume {
			args = append(args, "--dtls-resume")
		}
	default: // tcp, tls
		args = append(args, "--session", "per-report")
		if mode == SessionResume {
			args = append(args, "--tls-resume")
		}
	}
	if s.Wire() == "tls" {
		cert, _, _ := tlsFiles(o.WorkDir, host)
		args = append(args, "--tls-ca", cert)
	}
	if s.Wire() == "dtls" {
		keys, _ := pskFile(o.WorkDir, s.Devices)
		args = append(args, "--dtls-psk-file", keys)
	}
	return args
}

// loadLimit bounds the generator's run: its duration and drain, time to
// connect, the devices' wait for acks after end-of-stream, and the time
// a fixed number of samples takes.
func loadLimit(s *Scenario) time.Duration {
	limit := s.Duration + s.Drain + time.Duration(s.Devices/1000+30)*time.Second
	if s.Acked() {
		limit += cmp.Or(s.AckDrain, loadgen.DefaultAckDrain)
	}
	if s.Samples > 0 && s.Rate > 0 {
		limit += time.Duration(float64(s.Samples)/s.Rate*float64(time.Second)) + time.Second
	}
	return limit
}
