package loadgen

import (
	"context"
	"crypto/tls"
	"net"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"golang.org/x/sys/unix"
)

// Session modes. A battery device does not keep a connection open: it
// wakes, connects, sends its report and sleeps. With SessionPerReport a
// TCP or TLS device opens a connection for each report (the frames due
// together): connect (TLS: a handshake, resumed from a session ticket
// with TLSResume), hello, the report's frames, FIN, and it waits for the
// receiver's FIN (at most DrainTimeout) before it closes. Such devices
// run on goroutines like TLS devices (tlsdevice.go): a report's
// connection is short and blocking I/O keeps it simple. A UDP device
// with NATBinding "lose" sends each report from a new socket, so from a
// new source port, as one behind a NAT whose binding expired while it
// slept; the receiver names devices by their id, so nothing else
// changes. KeepAlive sets TCP keep-alive on persistent TCP and TLS
// connections, the cost of keeping a NAT binding open; its probes are
// on the wire, so the bench's kernel counters see them.

// Session is how long a device's connection lives.
type Session string

// Session modes.
const (
	SessionPersistent Session = "persistent" // one connection for the whole run
	SessionPerReport  Session = "per-report" // a connection per report
)

// NAT binding of UDP devices between reports.
const (
	NATKeep = "keep" // one socket, one source port, for the whole run
	NATLose = "lose" // a new socket (source port) per report
)

func (c *Config) perReport() bool { return c.Session == SessionPerReport }

// SessionReport says how devices held their connections and what the
// radio-on time of a report was.
type SessionReport struct {
	Mode             Session `json:"mode"`
	TLSResume        bool    `json:"tls_resume,omitempty"`
	NATBinding       string  `json:"nat_binding,omitempty"` // UDP
	KeepAliveSeconds float64 `json:"keepalive_seconds,omitempty"`
	// Connects counts connections opened (per-report TCP and TLS, one per
	// report and one for the end-of-stream) or sockets opened for a report
	// (UDP with NAT binding lost); Resumed the TLS handshakes that resumed
	// a session.
	Connects uint64 `json:"connects"`
	Resumed  uint64 `json:"tls_resumed,omitempty"`
	// RadioOn is, per report, the time from its first packet to its last
	// as the device sees them: per-report TCP and TLS from the connect
	// (the SYN) to the receiver's FIN, handshake and teardown included;
	// UDP from the first datagram of the report to the last one written.
	// Without acknowledgements a UDP report's time is only its writes: a
	// real radio stays on for its own transmission, not a reply. It is not
	// measured for persistent TCP and TLS (Count is 0): their radio stays
	// on between reports, or pays the keep-alives.
	RadioOn Lateness `json:"radio_on"`
}

func (c *Config) newSessionReport() *SessionReport {
	s := &SessionReport{Mode: c.session()}
	if c.Transport == UDP {
		s.NATBinding = c.natBinding()
	}
	s.TLSResume = c.TLSResume
	s.KeepAliveSeconds = c.KeepAlive.Seconds()
	return s
}

func (c *Config) session() Session {
	if c.DTLSPerReport {
		return SessionPerReport
	}
	if c.Session == "" {
		return SessionPersistent
	}
	return c.Session
}

func (c *Config) natBinding() string {
	if c.NATBinding == "" {
		return NATKeep
	}
	return c.NATBinding
}

func (c *Config) validateSession(bad func(string, ...any)) {
	switch c.Session {
	case "", SessionPersistent:
	case SessionPerReport:
		if c.Transport != TCP && c.Transport != TLS {
			bad("--session per-report: for tcp and tls (dtls has --dtls-per-report; udp --nat-binding)")
		}
		if c.Ack {
			bad("--session per-report and --ack: not implemented (a report's connection would wait for its #stored)")
		}
		if c.Rate == 0 {
			bad("--session per-report needs --rate > 0: a report is the frames due together")
		}
	default:
		bad("--session %q: want persistent or per-report", c.Session)
	}
	if c.TLSResume && (c.Transport != TLS || !c.perReport()) {
		bad("--tls-resume needs --tls and --session per-report")
	}
	switch c.NATBinding {
	case "", NATKeep:
	case NATLose:
		if c.Transport != UDP || c.UDPSockets > 0 {
			bad("--nat-binding lose: for udp devices with sockets of their own (no --udp-sockets)")
		}
	default:
		bad("--nat-binding %q: want keep or lose", c.NATBinding)
	}
	if c.KeepAlive != 0 && (c.KeepAlive < time.Second || c.Transport != TCP && c.Transport != TLS || c.perReport()) {
		bad("--keepalive %v: at least 1s, for persistent tcp and tls connections", c.KeepAlive)
	}
}

// setKeepAlive turns TCP keep-alive on for fd: the first probe after
// KeepAlive idle, then one every KeepAlive.
func (r *runner) setKeepAlive(fd int) error {
	secs := int(r.cfg.KeepAlive / time.Second)
	if secs <= 0 {
		return nil
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_KEEPALIVE, 1); err != nil {
		return err
	}
	if err := unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_KEEPIDLE, secs); err != nil {
		return err
	}
	return unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_KEEPINTVL, secs)
}

// keepAliveConfig is the dialer's view of Config.KeepAlive: off unless
// set (Go's dialer would otherwise probe after 15 s idle, which the
// event-loop devices do not).
func (c *Config) keepAliveConfig() net.KeepAliveConfig {
	if c.KeepAlive <= 0 {
		return net.KeepAliveConfig{Enable: false}
	}
	return net.KeepAliveConfig{Enable: true, Idle: c.KeepAlive, Interval: c.KeepAlive, Count: 9}
}

// tlsConfigFor returns the client configuration of device d: with
// TLSResume a clone holding the device's own session cache, so that its
// later connections resume its first.
func (t *tlsRun) tlsConfigFor(d *device) *tls.Config {
	conf := t.confs[d.tgt]
	if !t.r.cfg.TLSResume {
		return conf
	}
	if d.tlsConf == nil || d.tlsConfTgt != d.tgt {
		d.tlsConf = conf.Clone()
		d.tlsConf.ClientSessionCache = tls.NewLRUClientSessionCache(1)
		d.tlsConfTgt = d.tgt
	}
	return d.tlsConf
}

// dialTCP opens a plain TCP connection of d (per-report sessions).
func (t *tlsRun) dialTCP(ctx context.Context, nd *net.Dialer, addr string) (secConn, error) {
	conn, err := nd.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	tc := conn.(*net.TCPConn)
	tc.SetNoDelay(t.r.cfg.NoDelay)
	return tc, nil
}

// streamSession sends what w holds (the report's frames, or the
// end-of-stream) on a TCP or TLS connection of its own: connect, hello,
// the frames, FIN; it waits for the receiver's FIN, at most DrainTimeout,
// and records the report's radio-on time.
func (w *tlsWriter) streamSession(ctx context.Context) {
	t, d := w.t, w.d
	if len(w.out) == 0 {
		return
	}
	start := time.Now()
	conn := t.dial(ctx, d)
	if conn == nil {
		t.mu.Lock()
		t.acc.dropQueued(d, w.marks, dropDisconnected)
		t.mu.Unlock()
		return
	}
	t.sessionOpened(conn)
	report := append([]byte(nil), w.out...)
	marks := append([]mark(nil), w.marks...)
	w.reset()
	w.appendControl(t.acc.helloControl(d), markHello)
	hello := len(w.out)
	w.out = append(w.out, report...)
	for _, m := range marks {
		m.end += hello
		w.marks = append(w.marks, m)
	}
	w.attach(conn)
	go w.read(w.c)
	if err := w.write(); err != nil {
		t.count(func(tl *tally) { tl.disconnects[tlsReason(err)]++ })
	}
	w.c.conn.CloseWrite()
	select {
	case <-w.c.closed:
	case <-time.After(t.r.cfg.DrainTimeout):
		t.count(func(tl *tally) { tl.disconnects["drain_timeout"]++ })
	}
	on := time.Since(start)
	w.down()
	t.count(func(tl *tally) { recordLateness(tl.radioOn, int64(on)) })
}

// sessionOpened counts a per-report connection.
func (t *tlsRun) sessionOpened(conn secConn) {
	resumed := false
	if tc, ok := conn.(*tls.Conn); ok {
		resumed = tc.ConnectionState().DidResume
	}
	t.count(func(tl *tally) {
		tl.sessions++
		if resumed {
			tl.resumed++
		}
	})
}

// setSession fills rep.Session from the tallies' radio-on times.
func setSession(s *SessionReport, h *hdrhistogram.Histogram) {
	setLateness(&s.RadioOn, h)
}
