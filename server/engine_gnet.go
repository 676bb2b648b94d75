package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/panjf2000/gnet/v2"
	"github.com/panjf2000/gnet/v2/pkg/logging"
	"golang.org/x/sys/unix"
)

// gnetEngine serves every TCP listener on one set of gnet event loops:
// one ingester per loop, so decoding, sessions and counters of a loop
// never meet another loop's.
type gnetEngine struct {
	gnet.BuiltinEventEngine
	srv       *Server
	listeners []*listener
	addrs     []string   // per listener, as gnet binds it (resolvePorts)
	bound     []net.Addr // per listener, as bound

	eng     gnet.Engine
	started chan error
	done    chan error

	mu    sync.Mutex // guards loops: written in OnOpen, read by the sweeper
	loops map[gnet.EventLoop]*loopState

	conns atomic.Int64
}

// loopState is what one event loop owns.
type loopState struct {
	loop  gnet.EventLoop
	g     *ingester
	conns *gnetConn // its connections, a list for the idle and slow-client sweep
}

func (ls *loopState) add(gc *gnetConn) {
	gc.next = ls.conns
	if ls.conns != nil {
		ls.conns.prev = gc
	}
	ls.conns = gc
}

func (ls *loopState) remove(gc *gnetConn) {
	if gc.prev != nil {
		gc.prev.next = gc.next
	} else if ls.conns == gc {
		ls.conns = gc.next
	}
	if gc.next != nil {
		gc.next.prev = gc.prev
	}
	gc.prev, gc.next = nil, nil
}

// maxOutbound is how many bytes of downlink may wait for a client that
// does not read before the connection is closed.
const maxOutbound = 64 << 10

// maxFeed caps the bytes one connection may have processed per wake-up,
// so one flooding client cannot starve the loop's other connections.
const maxFeed = 256 << 10

// maxBacklog bounds the bytes a connection may have waiting in gnet's
// inbound buffer after a wake-up. gnet keeps reading a socket whatever we
// consume; only a connection whose frames decode to more than a wake-up
// may (feedDecoded) falls behind, and one that keeps sending faster than
// that is closed rather than buffered.
const maxBacklog = 1 << 20

func newGnetEngine(srv *Server, listeners []*listener) *gnetEngine {
	return &gnetEngine{srv: srv, listeners: listeners, bound: make([]net.Addr, len(listeners)),
		loops: make(map[gnet.EventLoop]*loopState), started: make(chan error, 1), done: make(chan error, 1)}
}

func (e *gnetEngine) protoAddrs() []string {
	addrs := make([]string, len(e.listeners))
	for i, a := range e.addrs {
		addrs[i] = "tcp://" + a
	}
	return addrs
}

// resolvePorts gives each listener an address of its own before gnet
// binds them: gnet names listeners by the address they were given, so two
// listeners on port 0 of one host could not be told apart. A port 0 is
// replaced by a free port the kernel picks now (what binding port 0 would
// do, one step earlier).
func (e *gnetEngine) resolvePorts() error {
	e.addrs = make([]string, len(e.listeners))
	for i, ln := range e.listeners {
		host, port, err := net.SplitHostPort(ln.cfg.Addr)
		if err != nil {
			return fmt.Errorf("listener %s: %w", ln.cfg.Name, err)
		}
		if port != "0" {
			e.addrs[i] = ln.cfg.Addr
			continue
		}
		l, err := net.Listen("tcp", ln.cfg.Addr)
		if err != nil {
			return fmt.Errorf("listener %s: %w", ln.cfg.Name, err)
		}
		e.addrs[i] = net.JoinHostPort(host, strconv.Itoa(l.Addr().(*net.TCPAddr).Port))
		_ = l.Close()
	}
	return nil
}

// addr implements engine.
func (e *gnetEngine) addr(ln *listener) net.Addr {
	for i, l := range e.listeners {
		if l == ln {
			return e.bound[i]
		}
	}
	return nil
}

// listenerOf finds the listener a connection came in on from its local
// address: the listener bound to that address and port, else the one
// bound to the port on every address.
func (e *gnetEngine) listenerOf(c gnet.Conn) *listener {
	a, _ := c.LocalAddr().(*net.TCPAddr)
	if a == nil {
		return e.listeners[0]
	}
	var wildcard *listener
	for i, b := range e.bound {
		ba, _ := b.(*net.TCPAddr)
		if ba == nil || ba.Port != a.Port {
			continue
		}
		if ba.IP.Equal(a.IP) {
			return e.listeners[i]
		}
		if ba.IP.IsUnspecified() {
			wildcard = e.listeners[i]
		}
	}
	if wildcard != nil {
		return wildcard
	}
	return e.listeners[0]
}

func (e *gnetEngine) start() error {
	cfg := &e.srv.cfg
	opts := []gnet.Option{
		gnet.WithMulticore(true),
		gnet.WithNumEventLoop(cfg.Loops),
		gnet.WithReusePort(cfg.ReusePort),
		gnet.WithReuseAddr(true),
		gnet.WithTCPNoDelay(gnet.TCPNoDelay),
		gnet.WithReadBufferCap(64 << 10),
		gnet.WithWriteBufferCap(16 << 10),
		gnet.WithLogger(gnetLogger{}),
		gnet.WithLogLevel(logging.ErrorLevel),
	}
	if cfg.TCPKeepAlive > 0 {
		opts = append(opts, gnet.WithTCPKeepAlive(cfg.TCPKeepAlive))
	}
	if err := e.resolvePorts(); err != nil {
		return err
	}
	go func() {
		err := gnet.Rotate(e, e.protoAddrs(), opts...)
		select {
		case e.started <- err: // failed before OnBoot
		default:
		}
		e.done <- err
	}()
	select {
	case err := <-e.started:
		if err != nil {
			return fmt.Errorf("gnet engine on %s: %w", strings.Join(e.protoAddrs(), ","), err)
		}
		return nil
	case <-time.After(10 * time.Second):
		return fmt.Errorf("gnet engine on %s: not started after 10s", strings.Join(e.protoAddrs(), ","))
	}
}

func (e *gnetEngine) OnBoot(eng gnet.Engine) gnet.Action {
	e.eng = eng
	// The configured addresses may say port 0: learn the bound ones.
	for i := range e.listeners {
		fd, err := eng.DupListener("tcp", e.addrs[i])
		if err != nil {
			continue
		}
		if sa, err := unix.Getsockname(fd); err == nil {
			switch a := sa.(type) {
			case *unix.SockaddrInet4:
				e.bound[i] = &net.TCPAddr{IP: net.IP(a.Addr[:]), Port: a.Port}
			case *unix.SockaddrInet6:
				e.bound[i] = &net.TCPAddr{IP: net.IP(a.Addr[:]), Port: a.Port}
			}
		}
		_ = unix.Close(fd)
	}
	e.started <- nil
	return gnet.None
}

func (e *gnetEngine) loopOf(c gnet.Conn) *loopState {
	l := c.EventLoop()
	e.mu.Lock()
	defer e.mu.Unlock()
	ls := e.loops[l]
	if ls == nil {
		sh := newShard()
		e.srv.hub.register(&sh.ctr)
		e.srv.addShard(sh)
		ls = &loopState{loop: l, g: newIngester(e.srv, sh, nil)}
		ls.g.lazyShrink = true // the sweep calls finish every chunkAge
		e.loops[l] = ls
	}
	return ls
}

// gnetConn is a connection's context: its stream, its loop (so the hot
// path never looks the loop up under a lock), its downlink, and its place
// in the loop's list of connections for the idle sweep. One allocation
// per connection.
type gnetConn struct {
	stream
	ls         *loopState
	c          gnet.Conn
	link       downlink
	prev, next *gnetConn
}

// write queues a downlink frame on the connection's loop, where it may
// look at the outbound buffer: a client that does not read gets closed,
// not an ever-growing buffer.
func (gc *gnetConn) write(frame []byte) error {
	ls, c := gc.ls, gc.c
	return ls.loop.Execute(context.Background(), gnet.RunnableFunc(func(context.Context) error {
		if c.Context() != gc {
			return nil // closed meanwhile; the command stays "sent" and will time out
		}
		if c.OutboundBuffered() > maxOutbound {
			ls.g.sh.ctr.errors[TCP][ErrWriteBlocked].Add(1)
			return ls.loop.Close(c)
		}
		_, err := c.Write(frame)
		return err
	}))
}

func (e *gnetEngine) OnOpen(c gnet.Conn) ([]byte, gnet.Action) {
	ls := e.loopOf(c)
	if max := e.srv.live.maxConns.Load(); max > 0 && e.srv.totalConns() >= max {
		ls.g.sh.ctr.errors[TCP][ErrConnLimit].Add(1)
		return nil, gnet.Close
	}
	e.conns.Add(1)
	e.srv.hub.conns[TCP].Add(1)
	e.srv.hub.accepted[TCP].Add(1)
	ln := e.listenerOf(c)
	gc := &gnetConn{stream: stream{ln: ln, transport: TCP, lastRx: time.Now().UnixNano(), credit: e.srv.burst}, ls: ls, c: c}
	st := &gc.stream
	st.split.End, st.split.MaxFrame, st.split.TextOnly = ln.dec.End(), e.srv.limits.MaxFrame, ln.cfg.TextOnly
	if a, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		st.peer = a.AddrPort()
	}
	gc.link.ln, gc.link.transport, gc.link.addr, gc.link.strength, gc.link.gc = ln, TCP, st.peer, strengthStream, gc
	st.link = &gc.link
	c.SetContext(gc)
	ls.add(gc)
	ls.g.openStream(st, st.lastRx)
	return nil, gnet.None
}

func (e *gnetEngine) OnClose(c gnet.Conn, err error) gnet.Action {
	gc, _ := c.Context().(*gnetConn)
	if gc == nil {
		return gnet.None
	}
	st, ls := &gc.stream, gc.ls
	ls.remove(gc)
	e.srv.hub.tcp[TCP].add(c.Fd())
	e.conns.Add(-1)
	e.srv.hub.conns[TCP].Add(-1)
	if buf, _ := c.Peek(-1); len(buf) > 0 {
		ls.g.closeStream(st, buf, errors.Is(err, io.EOF), time.Now().UnixNano())
	}
	ls.g.leaveOpened(st)
	unlinkStream(st)
	c.SetContext(nil)
	return gnet.None
}

func (e *gnetEngine) OnTraffic(c gnet.Conn) gnet.Action {
	gc := c.Context().(*gnetConn)
	st, ls := &gc.stream, gc.ls
	n := c.InboundBuffered()
	if n == 0 {
		return gnet.None
	}
	buf, err := c.Peek(min(n, maxFeed))
	if err != nil {
		return gnet.Close
	}
	ls.g.sh.ctr.rxBytes[TCP].Add(uint64(len(buf)))
	now := time.Now().UnixNano()
	consumed, more, why := ls.g.feedStream(st, buf, false, now, feedDecoded)
	if consumed > 0 {
		_, _ = c.Discard(consumed) // never Discard(0): gnet reads it as "all"
	}
	if why == 0 && n-consumed > maxBacklog {
		why = ErrBacklog
	}
	if why != 0 {
		ls.g.sh.ctr.errors[TCP][why].Add(1)
		return gnet.Close
	}
	if more || n > maxFeed {
		_ = c.Wake(nil) // more is buffered: come back after the others
	}
	return gnet.None
}

// sweep runs on each loop (through Execute, so it touches loop state on
// the loop's own goroutine): it sends an aged chunk on to the sink and,
// when timeouts is set, closes idle connections and slow clients.
func (e *gnetEngine) sweep(timeouts bool) {
	e.mu.Lock()
	loops := make([]*loopState, 0, len(e.loops))
	for _, ls := range e.loops {
		loops = append(loops, ls)
	}
	e.mu.Unlock()
	for _, ls := range loops {
		_ = ls.loop.Execute(context.Background(), gnet.RunnableFunc(func(context.Context) error {
			if timeouts {
				e.closeStale(ls)
			}
			ls.g.finish(TCP, time.Now().UnixNano())
			return nil
		}))
	}
}

func (e *gnetEngine) closeStale(ls *loopState) {
	now := time.Now().UnixNano()
	idle, slow := e.srv.live.timeouts()
	for gc := ls.conns; gc != nil; {
		next := gc.next // Close unlinks gc
		switch st := &gc.stream; {
		case idle > 0 && now-st.lastRx > int64(idle):
			ls.g.sh.ctr.errors[TCP][ErrIdleTimeout].Add(1)
			_ = ls.loop.Close(gc.c)
		case slow > 0 && st.partial != 0 && now-st.partial > int64(slow):
			ls.g.sh.ctr.errors[TCP][ErrFrameTimeout].Add(1)
			_ = ls.loop.Close(gc.c)
		}
		gc = next
	}
}

// stop closes every connection, waits for the loops to end and flushes
// what their ingesters hold.
func (e *gnetEngine) stop(ctx context.Context) {
	if err := e.eng.Stop(ctx); err != nil {
		slog.Warn("gnet engine stop", "err", err)
	}
	<-e.done
	e.mu.Lock()
	defer e.mu.Unlock()
	now := time.Now().UnixNano()
	for _, ls := range e.loops {
		ls.g.finish(TCP, now)
		ls.g.flushChunk(TCP)
	}
}

// gnetLogger routes gnet's own logs into slog.
type gnetLogger struct{}

func (gnetLogger) Debugf(format string, args ...any) {
	slog.Debug(fmt.Sprintf(format, args...), "component", "gnet")
}
func (gnetLogger) Infof(format string, args ...any) {
	slog.Info(fmt.Sprintf(format, args...), "component", "gnet")
}
func (gnetLogger) Warnf(format string, args ...any) {
	slog.Warn(fmt.Sprintf(format, args...), "component", "gnet")
}
func (gnetLogger) Errorf(format string, args ...any) {
	slog.Error(fmt.Sprintf(format, args...), "component", "gnet")
}
func (gnetLogger) Fatalf(format string, args ...any) {
	slog.Error(fmt.Sprintf(format, args...), "component", "gnet")
}
