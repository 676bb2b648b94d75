package loadgen

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/fleetwire/fleetwire/codec"
	"github.com/fleetwire/fleetwire/codec/framing"
)

// TLS devices run on goroutines: crypto/tls has no non-blocking engine, so
// each device has a sender goroutine (which sleeps until its frames are
// due) and a command reader. That costs about 20-40 KiB per device, fine
// for the fleets TLS is measured with (thousands), not for 100k; MaxTLS
// bounds it.

// MaxTLSDevices is the largest TLS fleet one process runs.
const MaxTLSDevices = 10000

type tlsRun struct {
	r     *runner
	conf  *tls.Config
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

func (r *runner) tlsConfig() (*tls.Config, error) {
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
	if conf.ServerName == "" {
		conf.ServerName = r.tgt.host
	}
	if c.TLSCert != "" {
		cert, err := tls.LoadX509KeyPair(c.TLSCert, c.TLSKey)
		if err != nil {
			return nil, fmt.Errorf("--tls-cert/--tls-key: %w", err)
		}
		conf.Certificates = []tls.Certificate{cert}
	}
	return conf, nil
}

func (r *runner) runTLS(ctx context.Context, progress func(Progress)) (*Report, error) {
	c := r.cfg
	if c.Devices > MaxTLSDevices {
		return nil, fmt.Errorf("loadgen: %d TLS devices: one process runs at most %d (a goroutine pair each); use --procs", c.Devices, MaxTLSDevices)
	}
	conf, err := r.tlsConfig()
	if err != nil {
		return nil, fmt.Errorf("loadgen: %w", err)
	}
	r.nloops = 1
	t := &tlsRun{
		r: r, conf: conf, sem: make(chan struct{}, maxInflight),
		limit:   limiter{every: time.Duration(float64(time.Second) / c.ConnectRate)},
		tally:   newTally(),
		started: make(chan struct{}), stopped: make(chan struct{}),
	}
	t.acc = &loop{r: r, s: &r.sched, live: &t.live, tally: t.tally}
	devs := make([]device, c.Devices)
	for i := range devs {
		r.sched.initDevice(&devs[i], c, c.IDOffset+i)
	}
	u0, s0 := cpuTimes()
	started := time.Now()
	var wg sync.WaitGroup
	t.ready.Add(len(devs))
	for i := range devs {
		wg.Go(func() { t.device(ctx, &devs[i]) })
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
			r.t0.Store(t.t0)
			close(t.started)
		case <-ctxDone:
			ctxDone = nil
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
	t.acc.devs = devs
	hist := newLatenessHist()
	r.addLoop(rep, t.acc, hist)
	if t.t0 > 0 && t.acc.lastAt > t.t0 {
		rep.DurationSeconds = float64(t.acc.lastAt-t.t0) / 1e9
	}
	setLateness(&rep.Lateness, hist)
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
func (t *tlsRun) dial(ctx context.Context, d *device) *tls.Conn {
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
		t.count(func(tl *tally) { tl.connectRetries[why]++ })
		if !sleepUntil(time.Now().Add(time.Duration(backoff(uint8(attempt+1), &d.rng))), t.stopped) {
			return nil
		}
	}
}

func (t *tlsRun) dialOnce(ctx context.Context, d *device) (*tls.Conn, error) {
	c := t.r.cfg
	nd := &net.Dialer{Timeout: c.ConnectTimeout}
	if src, ok := t.r.tgt.source(d.num); ok {
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
	td := &tls.Dialer{NetDialer: nd, Config: t.conf}
	conn, err := td.DialContext(ctx, "tcp", t.r.tgt.addr.String())
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

// tlsConn is one connection of a TLS device and its command reader.
type tlsConn struct {
	conn    *tls.Conn
	closed  chan struct{} // the reader saw the end
	readErr error         // why, valid once closed is
}

// device is the sender goroutine of one TLS device.
func (t *tlsRun) device(ctx context.Context, d *device) {
	c := t.r.cfg
	s := &t.r.sched
	w := &tlsWriter{t: t, d: d, enc: newEncoder(c.Codec, c.End)}
	conn := t.dial(ctx, d)
	if conn != nil {
		w.up(conn)
	}
	t.ready.Done()
	if conn == nil {
		t.live.finished.Add(1)
		return
	}
	select {
	case <-t.started:
	case <-t.stopped:
		<-t.started
	}
	for w.c != nil {
		if s.frameSamples(d.k) == 0 {
			break
		}
		if s.periodNs > 0 {
			due := t.t0 + s.due(d, d.k)
			if t.end > 0 && due >= t.end || !sleepUntil(t.r.base.Add(time.Duration(due)), t.stopped) {
				break
			}
		} else if closed(t.stopped) || t.end > 0 && t.r.now() >= t.end {
			break
		}
		w.out, w.marks = w.out[:0], w.marks[:0]
		now := t.r.now()
		for built := 0; built < maxFramesFire; built++ {
			n := s.frameSamples(d.k)
			due := t.t0 + s.due(d, d.k)
			if n == 0 || t.end > 0 && due >= t.end || s.periodNs > 0 && due > now {
				break
			}
			if s.periodNs == 0 {
				due = now
			}
			w.appendFrame(n, due)
			if s.periodNs == 0 && len(w.out) >= bulkBytes {
				break
			}
		}
		if err := w.write(); err != nil {
			w.broken(ctx, err)
		}
	}
	if w.c != nil {
		w.out, w.marks = w.out[:0], w.marks[:0]
		w.appendControl(&codec.Control{Kind: codec.ControlEOS, Device: d.id, Seq: d.seq}, markEOS)
		if err := w.write(); err != nil {
			t.count(func(tl *tally) { tl.disconnects[tlsReason(err)]++ })
		}
		w.c.conn.CloseWrite()
		select {
		case <-w.c.closed:
		case <-time.After(c.DrainTimeout):
			t.count(func(tl *tally) { tl.disconnects["drain_timeout"]++ })
		}
		w.down()
	}
	t.live.finished.Add(1)
}

// tlsWriter is a TLS device's sending side.
type tlsWriter struct {
	t     *tlsRun
	d     *device
	enc   encoder
	c     *tlsConn
	wmu   sync.Mutex // the reader writes acks too
	out   []byte
	marks []mark
	vals  []codec.Value
	times []int64
	frame codec.Frame
}

func (w *tlsWriter) up(conn *tls.Conn) {
	d := w.d
	w.c = &tlsConn{conn: conn, closed: make(chan struct{})}
	w.t.live.connected.Add(1)
	if !d.everUp {
		d.everUp = true
		w.t.live.everConn.Add(1)
	}
	w.out, w.marks = w.out[:0], w.marks[:0]
	w.appendControl(&codec.Control{Kind: codec.ControlHello, Device: d.id}, markHello)
	w.write() // a failure shows on the next write
	go w.read(w.c)
}

func (w *tlsWriter) down() {
	w.c.conn.Close()
	<-w.c.closed
	w.c = nil
	w.t.live.connected.Add(-1)
}

// broken reconnects after a failed write, skipping the frames that fall
// due meanwhile (their sequence numbers are consumed).
func (w *tlsWriter) broken(ctx context.Context, err error) {
	t, d := w.t, w.d
	c := w.c
	w.down()
	// The reader often knows better: with TLS 1.3 a server that rejects the
	// client certificate says so with an alert after the handshake, and
	// the writer only sees the broken pipe that follows.
	why := tlsReason(err)
	if r := tlsReason(c.readErr); strings.HasPrefix(r, "tls_") {
		why = r
	}
	t.count(func(tl *tally) { tl.disconnects[why]++ })
	if !t.r.cfg.Reconnect {
		return
	}
	select {
	case <-t.stopped:
		return
	default:
	}
	conn := t.dial(ctx, d)
	if conn == nil {
		return
	}
	w.up(conn)
	now := t.r.now()
	for {
		n := t.r.sched.frameSamples(d.k)
		if n == 0 || t.t0+t.r.sched.due(d, d.k) >= now {
			break
		}
		t.r.sched.fill(w.vals[:0], d, n)
		d.k++
		d.seq += uint64(n)
		d.skipped++
		t.live.dropped.Add(1)
		t.count(func(tl *tally) { tl.dropped[dropDisconnected]++ })
	}
}

func (w *tlsWriter) appendFrame(n int, due int64) {
	s, d := &w.t.r.sched, w.d
	w.vals = s.fill(w.vals[:0], d, n)
	if cap(w.times) < n {
		w.times = make([]int64, n)
	}
	w.times = w.times[:n]
	last := w.t.r.wallMs(due)
	for j := range w.times {
		w.times[j] = last - int64(n-1-j)*s.stepMs
	}
	w.frame = codec.Frame{Device: d.id, Seq: d.seq, Flags: codec.HasSeq | codec.HasTime, Format: w.t.r.cfg.Codec.Format,
		Channels: s.channels, Times: w.times, Values: w.vals}
	start := len(w.out)
	w.out = w.enc.Append(w.out, &w.frame)
	w.marks = append(w.marks, mark{end: len(w.out), size: int32(len(w.out) - start), due: due, samples: int32(n), kind: markData})
	d.k++
	d.seq += uint64(n)
}

func (w *tlsWriter) appendControl(c *codec.Control, kind markKind) {
	start := len(w.out)
	w.out = w.enc.AppendControl(w.out, c)
	w.marks = append(w.marks, mark{end: len(w.out), size: int32(len(w.out) - start), kind: kind})
}

// write writes w.out and counts what the connection accepted. A frame
// the connection took only part of is lost with it.
func (w *tlsWriter) write() error {
	if len(w.out) == 0 {
		return nil
	}
	w.wmu.Lock()
	n, err := w.c.conn.Write(w.out)
	w.wmu.Unlock()
	now := w.t.r.now()
	w.t.mu.Lock()
	defer w.t.mu.Unlock()
	for i := range w.marks {
		if m := &w.marks[i]; m.end <= n {
			w.t.acc.account(w.d, m, now)
		} else {
			w.t.acc.dropQueued(w.d, w.marks[i:i+1], dropConnLost)
		}
	}
	return err
}

// read obeys commands until the connection ends.
func (w *tlsWriter) read(c *tlsConn) {
	var err error
	defer func() {
		c.readErr = err
		close(c.closed)
	}()
	var (
		buf   = make([]byte, 2*maxDownlinkFrame)
		k     int
		split = framing.NewSplitter(w.t.r.endByte, maxDownlinkFrame)
		b     codec.Batch
		ack   []byte
	)
	for {
		var n int
		n, err = c.conn.Read(buf[k:])
		data := buf[:k+n]
		off := 0
		for off < len(data) {
			adv, fr, serr := split.Split(data[off:], false)
			if serr != nil {
				w.t.count(func(tl *tally) { tl.downlinkErrors[codec.ReasonOf(serr).String()]++ })
				if adv == 0 {
					return
				}
			}
			if adv == 0 {
				break
			}
			off += adv
			if fr == nil {
				continue
			}
			cmd, why := decodeCommand(&b, fr)
			if why != "" {
				w.t.count(func(tl *tally) { tl.downlinkErrors[why]++ })
				continue
			}
			w.t.live.commands.Add(1)
			w.t.mu.Lock()
			w.d.commands++
			st := obey(&w.d.led, cmd.Payload)
			if st != codec.AckOK {
				w.t.tally.unknownCommands++
			}
			w.t.mu.Unlock()
			ack = w.enc.AppendControl(ack[:0], &codec.Control{Kind: codec.ControlAck, ID: cmd.ID, Status: st})
			w.wmu.Lock()
			_, werr := c.conn.Write(ack)
			w.wmu.Unlock()
			if werr == nil {
				w.t.mu.Lock()
				w.t.acc.account(w.d, &mark{end: len(ack), size: int32(len(ack)), kind: markAck}, 0)
				w.t.mu.Unlock()
			}
		}
		k = copy(buf, data[off:])
		if err != nil {
			return
		}
	}
}
