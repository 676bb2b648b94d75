package server

import (
	"context"
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/dtls/v4"
	"github.com/pion/dtls/v4/pkg/crypto/ciphersuite"
	"github.com/pion/dtls/v4/pkg/crypto/elliptic"
	"github.com/pion/dtls/v4/pkg/protocol"
	"github.com/pion/logging"

	"github.com/fleetwire/fleetwire/codec"
)

// DTLS: pion/dtls v4 over one UDP socket, a goroutine per session, as the
// standard-library engine serves TLS. Each Read of a session returns one
// record's plaintext, which the device wrote as one datagram of whole
// frames: it is fed as a UDP datagram is (feedRecord), never joined to the
// next record, so a lost record costs its own frames and no more; but
// with the session's credential, as a TLS connection's bytes are.
//
// What a handshake flood can take is bounded before pion keeps any state
// for it and while it does:
//
//   - a source (an IPv4 address, an IPv6 /64) may start HandshakeRate
//     handshakes a second (dtls_rate);
//   - at most MaxHandshakes are in progress on the listener
//     (dtls_handshake_limit), each with a few kB of state;
//   - the server answers a ClientHello with a cookie (HelloVerifyRequest
//     in 1.2, HelloRetryRequest in 1.3) and drops the handshake of a
//     source that has not sent it back within dtlsCookieTimeout
//     (dtls_cookie): spoofed sources hold a slot that long at most;
//   - a handshake past its cookie has dtlsHandshakeTimeout to finish
//     (dtls_handshake).
//
// Established sessions are untouched by all of this: a flood of new
// handshakes delays no reading of a device that has its session.
// A DTLS peer answers nothing to a record it cannot decrypt, so a
// handshake with a wrong key or an unknown identity ends only here. Tests
// shorten them.
var (
	dtlsCookieTimeout    = 3 * time.Second
	dtlsHandshakeTimeout = 30 * time.Second
)

const (
	// dtlsReadBuf is a session's read buffer: one record's plaintext. pion
	// reads datagrams of at most this size (WithReceiveBufferSize).
	dtlsReadBuf = 8 << 10
	// DefaultDTLSHandshakes and DefaultDTLSHandshakeRate are the
	// listener's bounds when it sets none.
	DefaultDTLSHandshakes    = 1024
	DefaultDTLSHandshakeRate = 100
	// dtlsRateSources bounds the sources the rate limiter tracks; beyond,
	// new sources go unlimited (MaxHandshakes still bounds them).
	dtlsRateSources = 1 << 16
	dtlsCIDLen      = 8
	// dtlsSessionCache bounds the sessions kept for resumption (a few
	// hundred bytes each: secrets, ids, a client certificate's DER),
	// dtlsSessionTTL how long one is.
	dtlsSessionCache = 1 << 16
	dtlsSessionTTL   = time.Hour
	dtlsMTU          = 1200
	// dtlsMaxWrite is what the server puts in one record at most when it
	// groups #stored frames: a record must fit the MTU whole.
	dtlsMaxWrite = 900
)

// dtlsEngine serves one DTLS listener.
type dtlsEngine struct {
	srv   *Server
	lis   *listener
	pc    *dtlsSocket
	ln    net.Listener
	keys  *pskStore // nil: no PSK
	acpt  *shard    // counts what the accept loop refuses
	ctx   context.Context
	stopC context.CancelFunc

	shards [stdShards]*shard
	next   atomic.Uint32

	tot *dtlsTotals // the server's: what the sockets carried, handshakes

	maxHS   int
	hsRate  int
	rate    *sourceRate
	pending atomic.Int64 // handshakes in progress

	mu    sync.Mutex
	conns map[*dtls.Conn]*dtlsSession
	hs    map[string]*dtlsHandshake // in progress, by remote address
	wg    sync.WaitGroup
}

// dtlsHandshake is a handshake in progress.
type dtlsHandshake struct {
	cookie atomic.Bool // the client sent its ClientHello again, with the cookie
}

// dtlsSession is an established session, for revocation on reload.
type dtlsSession struct {
	psk []byte // the PSK identity it authenticated with, nil if none
}

func startDTLS(srv *Server, lis *listener) (*dtlsEngine, error) {
	l := &lis.cfg
	e := &dtlsEngine{srv: srv, lis: lis, conns: map[*dtls.Conn]*dtlsSession{}, hs: map[string]*dtlsHandshake{},
		maxHS: l.MaxHandshakes, hsRate: l.HandshakeRate, tot: &srv.hub.dtls}
	if e.maxHS == 0 {
		e.maxHS = DefaultDTLSHandshakes
	}
	if e.hsRate == 0 {
		e.hsRate = DefaultDTLSHandshakeRate
	}
	e.rate = newSourceRate(e.hsRate, dtlsRateSources)
	opts, err := e.options()
	if err != nil {
		return nil, err
	}
	uc, err := listenUDP(l.Addr, srv.cfg.ReusePort, srv.cfg.UDPRcvBuf)
	if err != nil {
		return nil, fmt.Errorf("listener %s: dtls listen %s: %w", l.Name, l.Addr, err)
	}
	e.pc = &dtlsSocket{UDPConn: uc, e: e}
	e.ln, err = dtls.Listen(e.pc, opts...)
	if err != nil {
		_ = uc.Close()
		return nil, fmt.Errorf("listener %s: dtls: %w", l.Name, err)
	}
	e.tot.listeners.Add(1)
	e.acpt = newShard()
	srv.hub.register(&e.acpt.ctr)
	srv.addShard(e.acpt)
	for i := range e.shards {
		e.shards[i] = newShard()
		srv.hub.register(&e.shards[i].ctr)
		srv.addShard(e.shards[i])
	}
	e.ctx, e.stopC = context.WithCancel(context.Background())
	e.wg.Add(1)
	go e.accept()
	if e.keys != nil {
		e.wg.Add(1)
		go e.watchKeys()
	}
	return e, nil
}

// options are pion's server options for the listener: AEAD suites only,
// PSK and/or certificates, connection IDs, extended master secret.
func (e *dtlsEngine) options() ([]dtls.ServerOption, error) {
	l := &e.lis.cfg
	maxVer := protocol.Version1_3
	if l.DTLSMaxVersion12 {
		maxVer = protocol.Version1_2
	}
	migration := dtls.CIDPathMigrationRRC
	if l.CIDMigrationAny {
		migration = dtls.CIDPathMigrationUnsafe
	}
	opts := []dtls.ServerOption{
		dtls.WithMinVersion(protocol.Version1_2),
		dtls.WithMaxVersion(maxVer),
		dtls.WithExtendedMasterSecret(dtls.RequireExtendedMasterSecret),
		dtls.WithConnectionID(dtls.RandomCIDGenerator(dtlsCIDLen), migration),
		dtls.WithMTU(dtlsMTU),
		dtls.WithReceiveBufferSize(dtlsReadBuf),
		dtls.WithLoggerFactory(slogFactory{}),
		dtls.WithOnConnectionAttempt(e.attempt),
		// Resumption (1.2 session ids, 1.3 tickets): a device that opens
		// a session per report skips the key exchange.
		dtls.WithSessionStore(newSessionCache(dtlsSessionCache, dtlsSessionTTL)),
		// X25519 first: what a device's first key share usually is, so
		// that no HelloRetryRequest asks it for another (pion prefers the
		// post-quantum hybrid, 1,216 bytes a share); a device that offers
		// the hybrid gets it.
		dtls.WithEllipticCurves(elliptic.X25519, elliptic.X25519MLKEM768, elliptic.P256, elliptic.P384),
	}
	// DTLS 1.3: every suite is AEAD.
	suites := []ciphersuite.ID{ciphersuite.TLS_AES_128_GCM_SHA256, ciphersuite.TLS_AES_256_GCM_SHA384, ciphersuite.TLS_CHACHA20_POLY1305_SHA256}
	if l.PSKFile != "" {
		keys, err := newPSKStore(l.PSKFile)
		if err != nil {
			return nil, fmt.Errorf("listener %s: %w", l.Name, err)
		}
		e.keys = keys
		opts = append(opts, dtls.WithPSK(nil, e.psk, dtls.WithPSKIdentityLimit(4)))
		// CCM_8 first: what constrained devices (CoAP, LwM2M) speak.
		suites = append(suites, ciphersuite.TLS_PSK_WITH_AES_128_CCM_8, ciphersuite.TLS_PSK_WITH_AES_128_CCM,
			ciphersuite.TLS_PSK_WITH_AES_256_CCM_8, ciphersuite.TLS_PSK_WITH_AES_128_GCM_SHA256)
	}
	if l.TLSCert != "" {
		cert, err := tls.LoadX509KeyPair(l.TLSCert, l.TLSKey)
		if err != nil {
			return nil, fmt.Errorf("listener %s: load DTLS certificate: %w", l.Name, err)
		}
		opts = append(opts, dtls.WithCertificates(cert))
		suites = append(suites,
			ciphersuite.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, ciphersuite.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
			ciphersuite.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, ciphersuite.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
			ciphersuite.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, ciphersuite.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
			ciphersuite.TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8, ciphersuite.TLS_ECDHE_ECDSA_WITH_AES_128_CCM)
		if l.TLSClientCA != "" {
			pem, err := os.ReadFile(l.TLSClientCA)
			if err != nil {
				return nil, fmt.Errorf("listener %s: read DTLS client CA: %w", l.Name, err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("listener %s: no certificate in DTLS client CA %s", l.Name, l.TLSClientCA)
			}
			opts = append(opts, dtls.WithClientCAs(pool), dtls.WithClientAuth(dtls.RequireAndVerifyClientCert))
		}
	}
	return append(opts, dtls.WithCipherSuites(suites...)), nil
}

// psk is pion's server callback: the key of the first identity offered
// that the key file knows. An unknown identity fails the handshake.
func (e *dtlsEngine) psk(identities [][]byte) (*dtls.PSK, error) {
	for _, id := range identities {
		if k := e.keys.lookup(id); k != nil {
			return &dtls.PSK{Identity: id, Key: k, Hash: crypto.SHA256}, nil
		}
	}
	return nil, nil
}

// attempt is called for each new source before pion keeps state for it:
// the per-source rate and the bound on handshakes in progress. The accept
// loop runs it, one at a time.
func (e *dtlsEngine) attempt(a net.Addr) error {
	ctr := &e.acpt.ctr
	ua, _ := a.(*net.UDPAddr)
	if ua == nil {
		return errors.New("not udp")
	}
	ap := ua.AddrPort()
	if !e.rate.allow(ap.Addr(), time.Now().UnixNano()) {
		ctr.errors[DTLS][ErrDTLSRate].Add(1)
		return errDTLSRefused
	}
	if e.pending.Load() >= int64(e.maxHS) {
		ctr.errors[DTLS][ErrDTLSHandshakeLimit].Add(1)
		return errDTLSRefused
	}
	if max := e.srv.cfg.MaxConns; max > 0 && e.srv.totalConns() >= int64(max) {
		ctr.errors[DTLS][ErrConnLimit].Add(1)
		return errDTLSRefused
	}
	return nil
}

var errDTLSRefused = errors.New("dtls: handshake refused")

func (e *dtlsEngine) accept() {
	defer e.wg.Done()
	for {
		c, err := e.ln.Accept()
		if err != nil {
			if e.ctx.Err() != nil {
				return
			}
			slog.Warn("dtls accept failed", "listener", e.lis.cfg.Name, "err", err)
			time.Sleep(10 * time.Millisecond)
			continue
		}
		dc := c.(*dtls.Conn)
		h := &dtlsHandshake{}
		e.pending.Add(1)
		e.tot.pending.Add(1)
		e.mu.Lock()
		e.hs[dc.RemoteAddr().String()] = h
		e.mu.Unlock()
		e.srv.hub.accepted[DTLS].Add(1)
		e.wg.Add(1)
		go e.serve(dc, h, e.shards[e.next.Add(1)%stdShards])
	}
}

// handshake runs dc's handshake within its timeouts and returns the device
// id its credential names (nil: none, an anonymous client certificate
// listener), or the reason it failed.
func (e *dtlsEngine) handshake(dc *dtls.Conn, h *dtlsHandshake) (cred, psk []byte, why ErrReason) {
	ctx, cancel := context.WithTimeout(e.ctx, dtlsHandshakeTimeout)
	defer cancel()
	var noCookie atomic.Bool
	t := time.AfterFunc(dtlsCookieTimeout, func() {
		if !h.cookie.Load() {
			noCookie.Store(true)
			cancel()
		}
	})
	err := dc.HandshakeContext(ctx)
	t.Stop()
	e.mu.Lock()
	if k := dc.RemoteAddr().String(); e.hs[k] == h {
		delete(e.hs, k)
	}
	e.mu.Unlock()
	e.pending.Add(-1)
	e.tot.pending.Add(-1)
	if err != nil {
		if noCookie.Load() {
			return nil, nil, ErrDTLSCookie
		}
		slog.Debug("dtls handshake failed", "peer", dc.RemoteAddr(), "err", err)
		return nil, nil, ErrDTLSHandshake
	}
	state, ok := dc.ConnectionState()
	if !ok {
		return nil, nil, ErrDTLSHandshake
	}
	e.tot.handshakes.Add(1)
	switch {
	case len(state.IdentityHint) > 0:
		// The key file holds valid device ids only; checked again, as
		// the id goes into every reading.
		if !codec.ValidID(state.IdentityHint) {
			return nil, nil, ErrDTLSIdentity
		}
		return state.IdentityHint, state.IdentityHint, 0
	case len(state.PeerCertificates) > 0:
		c, err := x509.ParseCertificate(state.PeerCertificates[0])
		if err != nil {
			return nil, nil, ErrDTLSIdentity
		}
		id, ok := CertDeviceID(c)
		if !ok {
			slog.Debug("dtls client certificate names no device", "peer", dc.RemoteAddr(), "subject", c.Subject.String())
			return nil, nil, ErrDTLSIdentity
		}
		return []byte(id), nil, 0
	}
	return nil, nil, 0
}

// serve is one session's goroutine: the handshake, then one record per
// Read, each fed whole.
func (e *dtlsEngine) serve(dc *dtls.Conn, h *dtlsHandshake, sh *shard) {
	defer e.wg.Done()
	cred, psk, why := e.handshake(dc, h)
	if why != 0 {
		sh.ctr.errors[DTLS][why].Add(1)
		_ = dc.Close()
		return
	}
	tr := DTLS
	g := newIngester(e.srv, sh, nil)
	st := &stream{ln: e.lis, transport: tr, lastRx: time.Now().UnixNano(), credit: e.srv.burst, cred: cred}
	if a, ok := dc.RemoteAddr().(*net.UDPAddr); ok {
		st.peer = a.AddrPort()
	}
	w := newConnWriter(dc, &sh.ctr, tr)
	st.link = &downlink{ln: e.lis, transport: tr, addr: st.peer, strength: strengthStream, w: w}
	if cred != nil {
		st.link.strength = strengthCredentials
	}
	e.mu.Lock()
	e.conns[dc] = &dtlsSession{psk: psk}
	e.mu.Unlock()
	e.srv.hub.conns[tr].Add(1)
	defer func() {
		close(w.done)
		g.leaveOpened(st)
		unlinkStream(st)
		g.finish(tr, time.Now().UnixNano())
		g.flushChunk(tr)
		_ = dc.Close()
		e.mu.Lock()
		delete(e.conns, dc)
		e.mu.Unlock()
		e.srv.hub.conns[tr].Add(-1)
	}()
	g.openStream(st, time.Now().UnixNano())

	buf := make([]byte, dtlsReadBuf)
	for {
		_ = dc.SetReadDeadline(e.readDeadline(st, g))
		n, err := dc.Read(buf)
		now := time.Now().UnixNano()
		if n > 0 {
			sh.ctr.rxBytes[tr].Add(uint64(n))
			g.feedRecord(st, buf[:n], now)
		}
		if err == nil {
			continue
		}
		if isDTLSTimeout(err) {
			cfg := &e.srv.cfg
			switch {
			case cfg.IdleTimeout > 0 && now-st.lastRx >= int64(cfg.IdleTimeout):
				sh.ctr.errors[tr][ErrIdleTimeout].Add(1)
				return
			case e.ctx.Err() == nil:
				g.flushChunk(tr) // only the chunk's age
				continue
			}
			return
		}
		if isShortBuffer(err) {
			// A record longer than any datagram pion reads: dropped by
			// pion, counted here; the session goes on.
			g.countError(tr, st.session, ErrReason(codec.ReasonTooLong), nil, now)
			g.finish(tr, now)
			continue
		}
		if !errors.Is(err, io.EOF) && !errors.Is(err, dtls.ErrConnClosed) {
			slog.Debug("dtls session ends", "peer", dc.RemoteAddr(), "err", err)
		}
		return
	}
}

// readDeadline: the idle timeout, or the ingester's chunk age when
// decoded readings wait in it.
func (e *dtlsEngine) readDeadline(st *stream, g *ingester) time.Time {
	cfg := &e.srv.cfg
	var dl int64
	if g.chunk != nil {
		dl = g.chunkBorn + int64(chunkAge)
	}
	if cfg.IdleTimeout > 0 {
		if i := st.lastRx + int64(cfg.IdleTimeout); dl == 0 || i < dl {
			dl = i
		}
	}
	if dl == 0 {
		return time.Time{}
	}
	return time.Unix(0, dl)
}

func isDTLSTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
}

// isShortBuffer recognises pion's "buffer is too small" (not exported):
// the record was dropped, the session is fine.
func isShortBuffer(err error) bool {
	return err != nil && err.Error() == "buffer is too small"
}

// watchKeys rereads the key file when it changes (mtime or size), and
// closes sessions whose key was removed or replaced.
func (e *dtlsEngine) watchKeys() {
	defer e.wg.Done()
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-e.ctx.Done():
			return
		case <-t.C:
			e.reloadKeys(false)
		}
	}
}

// reloadKeys rereads the key file (force: even if it looks unchanged).
func (e *dtlsEngine) reloadKeys(force bool) {
	if e.keys == nil {
		return
	}
	changed, err := e.keys.reload(force)
	if err != nil {
		slog.Error("dtls: psk file not reloaded, the keys loaded before stay in force", "listener", e.lis.cfg.Name, "err", err)
		return
	}
	if !changed {
		return
	}
	keys := *e.keys.keys.Load()
	var revoked []*dtls.Conn
	e.mu.Lock()
	for c, s := range e.conns {
		if s.psk != nil && keys[string(s.psk)] == nil {
			revoked = append(revoked, c)
		}
	}
	e.mu.Unlock()
	for _, c := range revoked {
		_ = c.Close()
	}
	slog.Info("dtls: psk file reloaded", "listener", e.lis.cfg.Name, "identities", len(keys), "sessions_closed", len(revoked))
}

// addr implements engine.
func (e *dtlsEngine) addr(ln *listener) net.Addr {
	if ln != e.lis {
		return nil
	}
	return e.pc.LocalAddr()
}

// stop closes the listener, then every session; each flushes what it
// decoded.
func (e *dtlsEngine) stop(context.Context) {
	e.stopC()
	_ = e.ln.Close()
	unblockReaders(&e.mu, e.conns, &e.wg)
	_ = e.pc.Close()
}

// dtlsSocket is the listener's UDP socket as pion reads it. It notes which
// handshakes in progress have sent their cookie back: a ClientHello with a
// message_seq above 0 is the one that follows a HelloVerifyRequest (1.2) or
// HelloRetryRequest (1.3). Only handshake records are looked at; data
// records cost one byte compare.
type dtlsSocket struct {
	*net.UDPConn
	e *dtlsEngine
}

func (s *dtlsSocket) WriteTo(b []byte, a net.Addr) (int, error) {
	n, err := s.UDPConn.WriteTo(b, a)
	if err == nil {
		s.e.tot.txDgrams.Add(1)
		s.e.tot.txBytes.Add(uint64(n))
	}
	return n, err
}

func (s *dtlsSocket) ReadFrom(b []byte) (int, net.Addr, error) {
	n, a, err := s.UDPConn.ReadFrom(b)
	if err == nil {
		s.e.tot.rxDgrams.Add(1)
		s.e.tot.rxBytes.Add(uint64(n))
	}
	// record: type(1)=22 version(2) epoch(2)=0 seq(6) length(2);
	// handshake: type(1)=1 length(3) message_seq(2) ...
	if n >= 25 && b[0] == 22 && b[3] == 0 && b[4] == 0 && b[13] == 1 && (b[17] != 0 || b[18] != 0) {
		s.e.mu.Lock()
		h := s.e.hs[a.String()]
		s.e.mu.Unlock()
		if h != nil {
			h.cookie.Store(true)
		}
	}
	return n, a, err
}

// sourceRate allows each source a rate of events a second: a sliding
// window over two one-second counts. It tracks at most max sources a
// window; beyond, new ones are let through.
type sourceRate struct {
	rate, max int
	mu        sync.Mutex
	start     int64 // unix ns of the current window
	cur, prev map[netip.Prefix]int
}

func newSourceRate(rate, max int) *sourceRate {
	return &sourceRate{rate: rate, max: max, cur: map[netip.Prefix]int{}, prev: map[netip.Prefix]int{}}
}

func (r *sourceRate) allow(addr netip.Addr, now int64) bool {
	a := sourcePrefix(addr)
	r.mu.Lock()
	defer r.mu.Unlock()
	switch el := now - r.start; {
	case el >= 2e9:
		clear(r.prev)
		clear(r.cur)
		r.start = now
	case el >= 1e9:
		r.prev, r.cur = r.cur, r.prev
		clear(r.cur)
		r.start += 1e9
	}
	c, ok := r.cur[a]
	if !ok && len(r.cur) >= r.max {
		return true
	}
	// The previous window's count weighs what is left of it.
	left := 1 - float64(now-r.start)/1e9
	if float64(c)+float64(r.prev[a])*left >= float64(r.rate) {
		return false
	}
	r.cur[a] = c + 1
	return true
}

// slogFactory sends pion's logs to slog at debug level: what a peer does
// wrong is its own business, and a flood of it must not flood the log.
type slogFactory struct{}

func (slogFactory) NewLogger(scope string) logging.LeveledLogger { return slogLogger{scope} }

type slogLogger struct{ scope string }

func (l slogLogger) log(msg string) { slog.Debug("pion/dtls: "+msg, "scope", l.scope) }

func (l slogLogger) logf(f string, a []any) {
	if slog.Default().Enabled(context.Background(), slog.LevelDebug) {
		l.log(fmt.Sprintf(f, a...))
	}
}

func (l slogLogger) Trace(string)              {}
func (l slogLogger) Tracef(string, ...any)     {}
func (l slogLogger) Debug(m string)            { l.log(m) }
func (l slogLogger) Debugf(f string, a ...any) { l.logf(f, a) }
func (l slogLogger) Info(m string)             { l.log(m) }
func (l slogLogger) Infof(f string, a ...any)  { l.logf(f, a) }
func (l slogLogger) Warn(m string)             { l.log(m) }
func (l slogLogger) Warnf(f string, a ...any)  { l.logf(f, a) }
func (l slogLogger) Error(m string)            { l.log(m) }
func (l slogLogger) Errorf(f string, a ...any) { l.logf(f, a) }

// sessionCache is the listener's resumption store: at most max sessions,
// the oldest dropped first, none older than ttl.
type sessionCache struct {
	mu    sync.Mutex
	max   int
	ttl   time.Duration
	m     map[string]sessionEntry
	order []sessionRef // oldest first; a key set again has a newer ref, the old one is stale
}

type sessionEntry struct {
	s  dtls.Session
	at time.Time
}

type sessionRef struct {
	key string
	at  time.Time
}

func newSessionCache(max int, ttl time.Duration) *sessionCache {
	return &sessionCache{max: max, ttl: ttl, m: map[string]sessionEntry{}}
}

func (c *sessionCache) Set(key []byte, s dtls.Session) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := time.Now()
	k := string(key)
	c.m[k] = sessionEntry{s: s, at: now}
	c.order = append(c.order, sessionRef{k, now})
	for len(c.order) > 0 {
		r := c.order[0]
		e, live := c.m[r.key]
		live = live && e.at.Equal(r.at)
		if live && len(c.m) <= c.max && now.Sub(r.at) <= c.ttl && len(c.order) <= 2*c.max {
			break
		}
		if live {
			delete(c.m, r.key)
		}
		c.order[0] = sessionRef{}
		c.order = c.order[1:]
	}
	return nil
}
func (c *sessionCache) Get(key []byte) (dtls.Session, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[string(key)]
	if !ok || time.Since(e.at) > c.ttl {
		return dtls.Session{}, nil
	}
	return e.s, nil
}

func (c *sessionCache) Del(key []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.m, string(key))
	return nil
}

// dtlsWire is what the DTLS listeners' sockets carried; nil without one.
func (s *Server) dtlsWire() *WireStats {
	t := &s.hub.dtls
	if t.listeners.Load() == 0 {
		return nil
	}
	return &WireStats{RxDatagrams: t.rxDgrams.Load(), RxBytes: t.rxBytes.Load(), TxDatagrams: t.txDgrams.Load(),
		TxBytes: t.txBytes.Load(), Handshakes: t.handshakes.Load(), HandshakesInProgress: t.pending.Load()}
}
