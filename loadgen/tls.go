package loadgen

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// TLS devices run on goroutines: crypto/tls has no non-blocking engine, so
// each device has a sender goroutine (which sleeps until its frames are
// due) and a command reader. That costs about 45 KiB per device (measured
// with 2,000), fine for the fleets TLS is measured with (thousands), not
// for 100k; MaxTLSDevices bounds it.

// MaxTLSDevices is the largest TLS fleet one process runs.
const MaxTLSDevices = 10000

type tlsRun struct {
	r     *runner
	confs []*tls.Config // per target: the server name differs
	dtls  *dtlsSetup    // DTLS devices: their clients' setup and the wire counters
	limit limiter
	sem   chan struct{} // handshakes in flight

	live    live
	mu      sync.Mutex // guards acc, tally and the devices' counters
	tally   *tally
	acc     *loop         // accounting only: account() and the tally, no sockets
	started chan struct{} // closed when t0 is set
	stopped chan struct{} // closed when the run is cancelled
	ready   sync.WaitGroup
	t0, end int64
}

// tlsConfigs returns one client configuration per target: each verifies
// its own host name unless --tls-server-name names one for all.
func (r *runner) tlsConfigs() ([]*tls.Config, error) {
	c := r.cfg
	pem, err := os.ReadFile(c.TLSCA)
	if err != nil {
		return nil, fmt.Errorf("--tls-ca: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("--tls-ca %s: no PEM certificate in it", c.TLSCA)
	}
	conf := &tls.Config{RootCAs: pool, ServerName: c.TLSServerName, MinVersion: tls.VersionTLS12}
	if c.TLSCert != "" {
		cert, err := tls.LoadX509KeyPair(c.TLSCert, c.TLSKey)
		if err != nil {
			return nil, fmt.Errorf("--tls-cert/--tls-key: %w", err)
		}
		conf.Certificates = []tls.Certificate{cert}
	}
	confs := make([]*tls.Config, len(r.tgts.list))
	for i, t := range r.tgts.list {
		confs[i] = conf
		if conf.ServerName == "" {
			confs[i] = conf.Clone()
			confs[i].ServerName = t.host
		}
	}
	return confs, nil
}

func (r *runner) runTLS(ctx context.Context, progress func(Progress)) (*Report, error) {
	c := r.cfg
	if c.Devices > MaxTLSDevices {
		return nil, fmt.Errorf("loadgen: %d TLS devices: one process runs at most %d (a goroutine pair each); use --procs", c.Devices, MaxTLSDevices)
	}
	var confs []*tls.Config
	var ds *dtlsSetup
	var err error
	switch c.Transport {
	case DTLS:
		ds, err = r.dtlsSetup()
	case TLS:
		confs, err = r.tlsConfigs()
	}
	if err != nil {
		return nil, fmt.Errorf("loadgen: %w", err)
	}
	r.nloops = 1
	t := &tlsRun{
		r: r, confs: confs, dtls: ds, sem: make(chan struct{}, maxInflight),
		limit:   limiter{every: time.Duration(float64(time.Second) / c.ConnectRate)},
		tally:   newTally(),
		started: make(chan struct{}), stopped: make(chan struct{}),
	}
	t.acc = &loop{framer: framer{r: r, s: &r.sched}, live: &t.live, tally: t.tally}
	devs := make([]device, c.Devices)
	for i := range devs {
		r.sched.initDevice(&devs[i], c, c.IDOffset+i)
		devs[i].lid = int32(i)
		devs[i].tgt = int32(r.tgts.of(devs[i].num))
	}
	t.acc.devs = devs
	if c.Ack {
		if err := t.acc.newAckLoop(); err != nil {
			return nil, fmt.Errorf("loadgen: %w", err)
		}
	}
	u0, s0 := cpuTimes()
	started := time.Now()
	var wg sync.WaitGroup
	t.ready.Add(len(devs))
	for i := range devs {
		if c.DTLSPerReport || c.perReport() {
			wg.Go(func() { t.perReport(ctx, &devs[i]) })
		} else {
			wg.Go(func() { t.device(ctx, &devs[i]) })
		}
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	connected := make(chan struct{})
	go func() { t.ready.Wait(); close(connected) }()

	lives := []*live{&t.live}
	r.lives = lives
	r.logStart()
	tick := func() { progress(snapshot(lives, c.Devices, time.Since(started))) }
	ticker := time.NewTicker(max(c.ProgressEvery, 10*time.Millisecond))
	defer ticker.Stop()
	var connectSec float64
	ctxDone := ctx.Done()
	start := make(chan int64, 1)
wait:
	for {
		select {
		case <-connected:
			connected = nil
			connectSec = float64(r.now()) / 1e9
			r.logConnected(connectSec)
			r.requestStart(start)
		case t0 := <-start:
			t.t0 = r.runClock(t0)
			if c.Duration > 0 {
				t.end = t.t0 + int64(c.Duration)
			}
			t.acc.t0, t.acc.end, t.acc.started = t.t0, t.end, true // published by closing t.started
			r.t0.Store(t.t0)
			close(t.started)
		case <-ctxDone:
			ctxDone = nil
			t.mu.Lock()
			t.acc.cancelled = true // no waiting for acknowledgements
			t.mu.Unlock()
			close(t.stopped)
		case <-ticker.C:
			tick()
		case <-done:
			break wait
		}
	}
	tick()
	rep := r.newReport(started, connectSec)
	u1, s1 := cpuTimes()
	rep.CPUUserSeconds, rep.CPUSysSeconds = (u1 - u0).Seconds(), (s1 - s0).Seconds()
	rep.LoopCPUSeconds = rep.CPUUserSeconds + rep.CPUSysSeconds // no loops: the goroutines are the generator
	hist, ackHist := newLatenessHist(), newLatenessHist()
	r.addLoop(rep, t.acc, hist, ackHist)
	if t.t0 > 0 && t.acc.lastAt > t.t0 {
		rep.DurationSeconds = float64(t.acc.lastAt-t.t0) / 1e9
	}
	if rep.AckReport != nil {
		setLateness(&rep.AckLatency, ackHist)
	}
	setLateness(&rep.Lateness, hist)
	setSession(rep.Session, r.radioOn)
	if ds != nil {
		rep.DTLS = ds.report(*c)
	}
	rep.sortDevices()
	rep.finish()
	r.logDone(rep)
	return rep, nil
}

// limiter spaces events every apart, whoever asks.
type limiter struct {
	mu    sync.Mutex
	next  time.Time
	every time.Duration
}

func (l *limiter) wait(stop <-chan struct{}) bool {
	l.mu.Lock()
	now := time.Now()
	at := l.next
	if at.Before(now) {
		at = now
	}
	l.next = at.Add(l.every)
	l.mu.Unlock()
	return sleepUntil(at, stop)
}

func closed(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

func sleepUntil(at time.Time, stop <-chan struct{}) bool {
	d := time.Until(at)
	if d <= 0 {
		return !closed(stop)
	}
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-tm.C:
		return true
	case <-stop:
		return false
	}
}

func (t *tlsRun) count(f func(*tally)) {
	t.mu.Lock()
	f(t.tally)
	t.mu.Unlock()
}

// dial connects d with retries and back-off; nil when it gives up.
func (t *tlsRun) dial(ctx context.Context, d *device) secConn {
	c := t.r.cfg
	for attempt := 0; ; attempt++ {
		if !t.limit.wait(t.stopped) {
			return nil
		}
		t.sem <- struct{}{}
		conn, err := t.dialOnce(ctx, d)
		<-t.sem
		if err == nil {
			return conn
		}
		why := tlsReason(err)
		t.live.connErrors.Add(1)
		if attempt >= c.ConnectRetries {
			t.count(func(tl *tally) { tl.connectFailures[why]++ })
			return nil
		}
		t.mu.Lock()
		t.tally.connectRetries[why]++
		t.acc.failover(d) // with Ack and several targets: the next one
		t.mu.Unlock()
		jitter := mix(uint64(d.num)^t.r.sched.seed, uint64(time.Now().UnixNano()))
		if !sleepUntil(time.Now().Add(time.Duration(backoff(uint8(attempt+1), jitter))), t.stopped) {
			return nil
		}
	}
}

func (t *tlsRun) dialOnce(ctx context.Context, d *device) (secConn, error) {
	c := t.r.cfg
	if t.dtls != nil {
		return t.dialDTLS(ctx, d)
	}
	nd := &net.Dialer{Timeout: c.ConnectTimeout, KeepAliveConfig: c.keepAliveConfig()}
	ti := int(d.tgt)
	if src, ok := t.r.tgts.source(d.num, ti); ok {
		nd.LocalAddr = &net.TCPAddr{IP: src.AsSlice()}
		nd.Control = func(_, _ string, rc syscall.RawConn) error {
			var serr error
			if err := rc.Control(func(fd uintptr) {
				serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_BIND_ADDRESS_NO_PORT, 1)
			}); err != nil {
				return err
			}
			return serr
		}
	}
	if c.Transport == TCP {
		return t.dialTCP(ctx, nd, t.r.tgts.list[ti].addr.String())
	}
	td := &tls.Dialer{NetDialer: nd, Config: t.tlsConfigFor(d)}
	conn, err := td.DialContext(ctx, "tcp", t.r.tgts.list[ti].addr.String())
	if err != nil {
		return nil, err
	}
	tc := conn.(*tls.Conn)
	if tcp, ok := tc.NetConn().(*net.TCPConn); ok {
		tcp.SetNoDelay(c.NoDelay)
	}
	return tc, nil
}

func tlsReason(err error) string {
	var (
		verr *tls.CertificateVerificationError
		aerr tls.AlertError
		rerr tls.RecordHeaderError
		oerr *net.OpError
		ne   net.Error
	)
	switch {
	case err == nil:
		return ""
	case errors.As(err, &verr):
		return "tls_verify"
	case errors.As(err, &aerr), errors.As(err, &oerr) && oerr.Op == "remote error": // the peer's alert
		return "tls_alert"
	case errors.As(err, &rerr):
		return "tls_record"
	case errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	}
	return reason(err)
}
