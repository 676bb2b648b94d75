package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/fleetwire/fleetwire/codec"
)

// stdShards is how many statistics shards the goroutine-per-connection
// engine spreads its connections over (by accept order): enough that two
// cores rarely meet on one, few enough to cost nothing per connection.
const stdShards = 16

// stdEngine is the standard-library engine: a goroutine per TCP or TLS
// connection reading into its own buffer, and ReadFrom loops for UDP. It
// feeds the very same ingest path as the gnet engine, so a benchmark of
// one against the other isolates what the event loops buy. TLS always
// runs here: gnet has no TLS.
type stdEngine struct {
	srv       *Server
	transport Transport
	lis       *listener
	ln        net.Listener
	shards    [stdShards]*shard
	next      atomic.Uint32

	mu    sync.Mutex
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
}

// stdReadBuf is each connection's read buffer; it grows up to MaxFrame
// when a frame needs it.
const stdReadBuf = 16 << 10

// startStdTCP serves listener lis (TCP, or TLS with tlsCfg).
func startStdTCP(srv *Server, lis *listener, tlsCfg *tls.Config) (*stdEngine, error) {
	tr := lis.transport
	lc := net.ListenConfig{Control: reusePortControl(srv.cfg.ReusePort)}
	ln, err := lc.Listen(context.Background(), "tcp", lis.cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("listener %s: %s listen %s: %w", lis.cfg.Name, tr, lis.cfg.Addr, err)
	}
	if tlsCfg != nil {
		ln = tls.NewListener(ln, tlsCfg)
	}
	e := &stdEngine{srv: srv, transport: tr, lis: lis, ln: ln, conns: make(map[net.Conn]struct{})}
	for i := range e.shards {
		e.shards[i] = newShard()
		srv.hub.register(&e.shards[i].ctr)
		srv.addShard(e.shards[i])
	}
	e.wg.Add(1)
	go e.accept()
	return e, nil
}

func (e *stdEngine) accept() {
	defer e.wg.Done()
	backoff := 5 * time.Millisecond
	for {
		c, err := e.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// EMFILE and friends: wait and retry rather than spin.
			slog.Warn("accept failed", "transport", e.transport, "err", err)
			time.Sleep(backoff)
			backoff = min(backoff*2, time.Second)
			continue
		}
		backoff = 5 * time.Millisecond
		sh := e.shards[e.next.Add(1)%stdShards]
		if max := e.srv.live.maxConns.Load(); max > 0 && e.srv.totalConns() >= max {
			sh.ctr.errors[e.transport][ErrConnLimit].Add(1)
			_ = c.Close()
			continue
		}
		e.mu.Lock()
		e.conns[c] = struct{}{}
		e.mu.Unlock()
		e.srv.hub.conns[e.transport].Add(1)
		e.srv.hub.accepted[e.transport].Add(1)
		e.wg.Add(1)
		go e.serve(c, sh)
	}
}

// serve is one connection's goroutine: read, feed the whole frames, keep
// the partial one at the front of the buffer.
func (e *stdEngine) serve(c net.Conn, sh *shard) {
	defer e.wg.Done()
	tr := e.transport
	g := newIngester(e.srv, sh, nil)
	st := &stream{ln: e.lis, transport: tr, lastRx: time.Now().UnixNano(), credit: e.srv.burst}
	st.split.End, st.split.MaxFrame, st.split.TextOnly = e.lis.dec.End(), e.srv.limits.MaxFrame, e.lis.cfg.TextOnly
	if a, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		st.peer = a.AddrPort()
	}
	w := newConnWriter(c, &sh.ctr, tr)
	st.link = &downlink{ln: e.lis, transport: tr, addr: st.peer, strength: strengthStream, w: w}
	defer func() {
		close(w.done)
		e.srv.hub.tcp[tr].add(connFd(c))
		g.leaveOpened(st)
		unlinkStream(st)
		g.finish(tr, time.Now().UnixNano())
		g.flushChunk(tr)
		_ = c.Close()
		e.mu.Lock()
		delete(e.conns, c)
		e.mu.Unlock()
		e.srv.hub.conns[tr].Add(-1)
	}()
	if tc, ok := c.(*tls.Conn); ok {
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		if err := tc.Handshake(); err != nil {
			sh.ctr.errors[tr][ErrTLSHandshake].Add(1)
			slog.Debug("tls handshake failed", "peer", c.RemoteAddr(), "err", err)
			return
		}
		_ = c.SetDeadline(time.Time{})
		if certs := tc.ConnectionState().PeerCertificates; len(certs) > 0 {
			id, ok := CertDeviceID(certs[0])
			if !ok {
				sh.ctr.errors[tr][ErrTLSIdentity].Add(1)
				slog.Debug("tls client certificate names no device", "peer", c.RemoteAddr(), "subject", certs[0].Subject.String())
				return
			}
			st.cred = []byte(id)
			st.link.strength = strengthCredentials
		}
	}
	g.openStream(st, time.Now().UnixNano())

	buf := make([]byte, stdReadBuf)
	n := 0 // bytes of a partial frame at the front of buf
	maxFrame := e.srv.limits.MaxFrame
	for {
		_ = c.SetReadDeadline(e.readDeadline(st, g)) // zero: none
		if n == len(buf) {                           // a frame longer than the buffer: grow, up to the limit
			if len(buf) >= maxFrame+1 {
				n = 0 // the splitter has already counted it too long
			} else {
				buf = append(buf, make([]byte, min(len(buf), maxFrame+1-len(buf)))...)
			}
		}
		m, err := c.Read(buf[n:])
		now := time.Now().UnixNano()
		if m > 0 {
			sh.ctr.rxBytes[tr].Add(uint64(m))
			n += m
			consumed, _, why := g.feedStream(st, buf[:n], false, now, 0)
			n = copy(buf, buf[consumed:n])
			if len(buf) > stdReadBuf && n <= stdReadBuf/2 {
				// A long frame grew the buffer; it is consumed, so go
				// back to the normal size rather than keep its memory.
				buf = append(make([]byte, 0, stdReadBuf), buf[:n]...)[:stdReadBuf]
			}
			if why != 0 {
				sh.ctr.errors[tr][why].Add(1)
				return
			}
		}
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				idle, slow := e.srv.live.timeouts()
				switch {
				case slow > 0 && st.partial != 0 && now-st.partial >= int64(slow):
					sh.ctr.errors[tr][ErrFrameTimeout].Add(1)
				case idle > 0 && now-st.lastRx >= int64(idle):
					sh.ctr.errors[tr][ErrIdleTimeout].Add(1)
				case !e.srv.closing.Load():
					// Only the chunk's age: send it on, keep reading.
					g.flushChunk(tr)
					continue
				}
				if n > 0 {
					g.closeStream(st, buf[:n], false, now)
				}
				return
			}
			if n > 0 {
				g.closeStream(st, buf[:n], errors.Is(err, io.EOF), now)
			}
			return
		}
	}
}

// connFd returns the socket of a TCP or TLS connection, -1 if none.
func connFd(c net.Conn) int {
	if tc, ok := c.(*tls.Conn); ok {
		c = tc.NetConn()
	}
	sc, ok := c.(syscall.Conn)
	if !ok {
		return -1
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return -1
	}
	fd := -1
	_ = rc.Control(func(f uintptr) { fd = int(f) })
	return fd
}

// readDeadline is when the connection must next have sent something: the
// idle timeout, or sooner when a partial frame is waiting; and when decoded
// readings wait in the ingester's chunk, when they are due at the sink.
func (e *stdEngine) readDeadline(st *stream, g *ingester) time.Time {
	idle, slow := e.srv.live.timeouts()
	var dl int64
	if g.chunk != nil {
		dl = g.chunkBorn + int64(chunkAge)
	}
	if idle > 0 {
		if i := st.lastRx + int64(idle); dl == 0 || i < dl {
			dl = i
		}
	}
	if slow > 0 && st.partial != 0 {
		if p := st.partial + int64(slow); dl == 0 || p < dl {
			dl = p
		}
	}
	if dl == 0 {
		return time.Time{}
	}
	return time.Unix(0, dl)
}

// stop closes the listener and every connection, and waits for their
// goroutines, which flush what they decoded.
func (e *stdEngine) stop(context.Context) {
	_ = e.ln.Close()
	unblockReaders(&e.mu, e.conns, &e.wg)
}

// addr implements engine.
func (e *stdEngine) addr(ln *listener) net.Addr {
	if ln != e.lis {
		return nil
	}
	return e.ln.Addr()
}

// connWriter hands downlink frames to a goroutine of their own, started
// with the first frame, so that a client that does not read blocks nobody
// but itself: commands are flushed under the command lock, by gnet event
// loops among others, and must never wait on a socket. A client whose
// queue fills, or that takes longer than stdWriteTimeout over one frame,
// is closed and counted (write_blocked), as on the gnet engine.
type connWriter struct {
	c       net.Conn
	ctr     *counters
	tr      Transport
	done    chan struct{} // closed when the connection's goroutine ends
	start   sync.Once
	q       chan []byte
	blocked sync.Once
}

const (
	stdWriteQueue   = 64 // downlink frames waiting per connection
	stdWriteTimeout = 10 * time.Second
)

func newConnWriter(c net.Conn, ctr *counters, tr Transport) *connWriter {
	return &connWriter{c: c, ctr: ctr, tr: tr, done: make(chan struct{})}
}

// write queues p (which it keeps) without waiting.
func (w *connWriter) write(p []byte) error {
	w.start.Do(func() {
		w.q = make(chan []byte, stdWriteQueue)
		go w.run()
	})
	select {
	case <-w.done:
		return net.ErrClosed
	case w.q <- p:
		return nil
	default:
		w.block()
		return errors.New("server: downlink queue full: the client does not read")
	}
}

func (w *connWriter) run() {
	for {
		select {
		case <-w.done:
			return
		case p := <-w.q:
			_ = w.c.SetWriteDeadline(time.Now().Add(stdWriteTimeout))
			if _, err := w.c.Write(p); err != nil {
				if errors.Is(err, os.ErrDeadlineExceeded) {
					w.block()
				}
				_ = w.c.Close() // the reader sees it and ends the connection
				return
			}
		}
	}
}

// block closes a connection whose client does not read, once.
func (w *connWriter) block() {
	w.blocked.Do(func() {
		w.ctr.errors[w.tr][ErrWriteBlocked].Add(1)
		_ = w.c.Close()
	})
}

// stdUDP is the standard-library UDP baseline: a ReadFrom loop per socket.
type stdUDP struct {
	srv   *Server
	lis   *listener
	conns []*net.UDPConn
	wg    sync.WaitGroup
}

func startStdUDP(srv *Server, lis *listener, n int) (*stdUDP, error) {
	conns, err := bindUDP(lis.cfg.Addr, n, srv.cfg.ReusePort, srv.cfg.UDPRcvBuf)
	if err != nil {
		return nil, fmt.Errorf("listener %s: %w", lis.cfg.Name, err)
	}
	e := &stdUDP{srv: srv, lis: lis, conns: conns}
	for _, conn := range e.conns {
		sh := newShard()
		srv.hub.register(&sh.ctr)
		srv.addShard(sh)
		g := newIngester(srv, sh, lis)
		g.lazyShrink = true
		g.udpLink = func(src netip.AddrPort) *downlink {
			return &downlink{ln: lis, transport: UDP, addr: src, strength: strengthDatagram, udp: conn}
		}
		e.wg.Add(1)
		go e.read(conn, g)
	}
	return e, nil
}

func (e *stdUDP) read(conn *net.UDPConn, g *ingester) {
	defer e.wg.Done()
	buf := make([]byte, udpBufSize(e.srv)+1)
	for {
		if g.chunk != nil || g.unshrunk {
			_ = conn.SetReadDeadline(time.Now().Add(chunkAge))
		}
		n, src, err := conn.ReadFromUDPAddrPort(buf)
		now := time.Now().UnixNano()
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) && !e.srv.closing.Load() {
				g.finish(UDP, now) // shrinks a batch grown by a burst that is over
				g.flushChunk(UDP)
				_ = conn.SetReadDeadline(time.Time{})
				continue
			}
			e.drain(conn, g, buf)
			return
		}
		if n == len(buf) {
			g.sh.ctr.datagrams.Add(1)
			g.countError(UDP, nil, ErrReason(codec.ReasonTooLong), nil, now)
			continue
		}
		g.feedDatagram(buf[:n], src, now)
		g.finish(UDP, now)
	}
}

// drain reads, without waiting, what the kernel still holds for conn, so
// datagrams received before shutdown are counted and stored.
func (e *stdUDP) drain(conn *net.UDPConn, g *ingester, buf []byte) {
	if rc, err := conn.SyscallConn(); err == nil {
		for {
			var n int
			var from unix.Sockaddr
			var rerr error
			if err := rc.Control(func(fd uintptr) {
				n, from, rerr = unix.Recvfrom(int(fd), buf, unix.MSG_DONTWAIT)
			}); err != nil || rerr != nil {
				break
			}
			if n < len(buf) {
				g.feedDatagram(buf[:n], sockaddrAddrPort(from), time.Now().UnixNano())
			}
		}
	}
	now := time.Now().UnixNano()
	g.finish(UDP, now)
	g.flushChunk(UDP)
}

func sockaddrAddrPort(sa unix.Sockaddr) netip.AddrPort {
	switch a := sa.(type) {
	case *unix.SockaddrInet4:
		return netip.AddrPortFrom(netip.AddrFrom4(a.Addr), uint16(a.Port))
	case *unix.SockaddrInet6:
		return netip.AddrPortFrom(netip.AddrFrom16(a.Addr).Unmap(), uint16(a.Port))
	}
	return netip.AddrPort{}
}

// addr implements engine.
func (e *stdUDP) addr(ln *listener) net.Addr {
	if ln != e.lis {
		return nil
	}
	return e.conns[0].LocalAddr()
}

func (e *stdUDP) stop(context.Context) {
	for _, c := range e.conns {
		_ = c.SetReadDeadline(time.Now())
	}
	e.wg.Wait()
	for _, c := range e.conns {
		_ = c.Close()
	}
}

// unblockReaders sets a read deadline of now on every connection of
// conns (guarded by mu) until wg's goroutines are done: each reader
// returns after processing what is already buffered. It repeats every
// 50 ms, since a reader may set its own deadline just after one round.
func unblockReaders[C interface {
	comparable
	SetReadDeadline(time.Time) error
}, V any](mu *sync.Mutex, conns map[C]V, wg *sync.WaitGroup) {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	for {
		mu.Lock()
		for c := range conns {
			_ = c.SetReadDeadline(time.Now())
		}
		mu.Unlock()
		select {
		case <-done:
			return
		case <-time.After(50 * time.Millisecond):
		}
	}
}
