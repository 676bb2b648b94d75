package server

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fleetwire/fleetwire/codec"
	"github.com/fleetwire/fleetwire/codec/ack"
	"github.com/fleetwire/fleetwire/codec/wire"
	"github.com/fleetwire/fleetwire/server/sink"
)

// Server is a running ingest server.
type Server struct {
	cfg       Config
	limits    codec.Limits
	listeners []*listener
	reg       *registry
	hub       *statsHub
	sink      sink.Sink
	storing   bool // false with the none sink: skip copying readings at all
	cmds      *commands
	acker     *acker
	// recovered holds, per device, the samples stored before the server
	// started, until the device opts in to acks again (ackstate.go).
	recovered map[string]*ack.Set
	live      liveLimits   // the limits Reload changes, read from there
	burst     int64        // a stream's amplification bucket: Limits.MaxDecoded
	started   atomic.Int64 // unix ns of Start: a sink's stats source may call Stats before Start
	closing   atomic.Bool

	shardMu sync.Mutex
	shards  []*shard

	// engines run the listeners: the gnet event loops serve every TCP
	// listener (engine gnet), the others one listener each.
	engines []engine
	gnet    *gnetEngine // also in engines: the sweeper drives its loops

	stopSweep chan struct{}
	sweepDone chan struct{}
	mem       memReleaser
}

// New checks cfg and takes over its sink; Start opens the sockets. On
// error the sink is the caller's to close.
func New(cfg Config) (*Server, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	s := &Server{
		cfg:       cfg,
		limits:    cfg.Limits,
		reg:       newRegistry(cfg.MaxDevices, cfg.MaxAnonymous, cfg.MaxDevicesPerSource),
		hub:       newStatsHub(),
		stopSweep: make(chan struct{}),
		sweepDone: make(chan struct{}),
		burst:     int64(cfg.Limits.MaxDecoded),
	}
	s.live.set(cfg.live())
	s.cmds = newCommands(s)
	s.acker = newAcker(s)
	for i, l := range cfg.listeners() {
		ln := &listener{cfg: l, transport: l.Transport, policy: *l.Policy, naming: l.Naming,
			fixedID: []byte(l.FixedID), raw: l.RawDownlink, index: i,
			dec: wire.NewDecoder(cfg.Limits, l.End, nil, wire.WithRadix(l.Radix))}
		if l.Transport == UDP {
			// As many addresses as there may be devices without an id.
			ln.hellos = newHelloMap(cfg.MaxAnonymous + cfg.MaxDevicesPerSource)
		}
		s.listeners = append(s.listeners, ln)
	}
	s.sink = cfg.Sink
	if s.sink == nil {
		s.sink = sink.None()
	}
	s.storing = !sink.Discards(s.sink)
	if st, ok := s.sink.(ackStore); ok {
		st.SetCheckpoint(s.writeAckCheckpoint)
		if err := s.recoverAcks(st); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// ackStore is a sink that keeps acknowledged-delivery state with its data
// (the file sink): a checkpoint written with its segments, and a replay of
// what it stored after it.
type ackStore interface {
	SetCheckpoint(fn func(w io.Writer) error)
	Recover(fn func(device []byte, seq uint64, n int)) (checkpoint []byte, err error)
}

// Config returns the server's configuration with defaults filled in, and
// the limits as Reload last set them.
func (s *Server) Config() Config {
	c := s.cfg
	s.Live().into(&c)
	return c
}

func (s *Server) addShard(sh *shard) {
	s.shardMu.Lock()
	s.shards = append(s.shards, sh)
	s.shardMu.Unlock()
}

func (s *Server) totalConns() int64 {
	return s.hub.conns[TCP].Load() + s.hub.conns[TLS].Load() + s.hub.conns[DTLS].Load()
}

// ReloadKeys rereads the DTLS listeners' PSK key files (each is also
// reread within a second of changing) and returns the names of the
// listeners it reread. Sessions whose key was removed are closed. A file
// with an error is logged and leaves the keys in force.
func (s *Server) ReloadKeys() []string {
	var names []string
	for _, e := range s.engines {
		if d, ok := e.(*dtlsEngine); ok {
			d.reloadKeys(true)
			names = append(names, d.lis.cfg.Name)
		}
	}
	return names
}

// engine runs listeners. stop closes their sockets and connections and
// returns once no ingester of theirs runs, having flushed what they hold.
type engine interface {
	stop(ctx context.Context)
	// addr returns the bound address of one of its listeners, nil if not
	// its own.
	addr(ln *listener) net.Addr
}

// Start opens every listener. On error, what was opened is closed again.
func (s *Server) Start() (err error) {
	s.started.Store(time.Now().UnixNano())
	defer func() {
		if err != nil {
			s.stopEngines(context.Background())
			_ = s.sink.Close()
		}
	}()
	var gnetTCP []*listener
	for _, ln := range s.listeners {
		var e engine
		switch {
		case ln.transport == TCP && s.cfg.Engine == "gnet":
			gnetTCP = append(gnetTCP, ln)
			continue
		case ln.transport == TCP:
			e, err = startStdTCP(s, ln, nil)
		case ln.transport == TLS:
			var tc *tls.Config
			if tc, err = tlsConfig(ln); err == nil {
				e, err = startStdTCP(s, ln, tc)
			}
		case ln.transport == DTLS:
			e, err = startDTLS(s, ln)
		case s.cfg.Engine == "gnet":
			e, err = startUDP(s, ln, s.cfg.UDPReaders)
		default:
			e, err = startStdUDP(s, ln, s.cfg.UDPReaders)
		}
		if err != nil {
			return err
		}
		s.engines = append(s.engines, e)
	}
	if len(gnetTCP) > 0 {
		s.gnet = newGnetEngine(s, gnetTCP)
		if err := s.gnet.start(); err != nil {
			s.gnet = nil
			return err
		}
		s.engines = append(s.engines, s.gnet)
	}
	go s.sweep()
	go s.acker.run()
	attrs := []any{"node", s.cfg.Node, "engine", s.cfg.Engine}
	for _, ln := range s.listeners {
		attrs = append(attrs, ln.cfg.Name, ln.transport.String()+"://"+s.listenerAddr(ln).String())
	}
	slog.Info("fleetwire serving", attrs...)
	return nil
}

// tlsConfig is the server side of a TLS listener.
// The certificate is taken from ln.cert at each handshake, so that
// ReloadCertificates replaces it without closing a connection.
func tlsConfig(ln *listener) (*tls.Config, error) {
	l := &ln.cfg
	cert, err := loadCertificate(l)
	if err != nil {
		return nil, err
	}
	ln.cert.Store(cert)
	tc := &tls.Config{GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return ln.cert.Load(), nil },
		MinVersion: tls.VersionTLS12,
		// Mozilla's "intermediate": TLS 1.2 only with ECDHE (forward
		// secrecy) and AEAD suites; Go's defaults still take CBC with
		// SHA-1 MACs. TLS 1.3 suites are not configurable (all AEAD).
		CipherSuites: []uint16{
			tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
			tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
			tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
		},
		// X25519, P-256 and P-384, and the hybrid post-quantum exchanges
		// Go's TLS 1.3 uses by default: listing curves replaces the
		// default, which would drop them.
		CurvePreferences: []tls.CurveID{tls.X25519MLKEM768, tls.SecP256r1MLKEM768, tls.SecP384r1MLKEM1024,
			tls.X25519, tls.CurveP256, tls.CurveP384},
	}
	if l.TLSClientCA != "" {
		pem, err := os.ReadFile(l.TLSClientCA)
		if err != nil {
			return nil, fmt.Errorf("listener %s: read TLS client CA: %w", l.Name, err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("listener %s: no certificate in TLS client CA %s", l.Name, l.TLSClientCA)
		}
		tc.ClientCAs, tc.ClientAuth = pool, tls.RequireAndVerifyClientCert
	}
	return tc, nil
}

// Addr returns the bound address of the first listener of a transport
// (useful with port 0), or nil when there is none.
func (s *Server) Addr(t Transport) net.Addr {
	for _, ln := range s.listeners {
		if ln.transport == t {
			return s.listenerAddr(ln)
		}
	}
	return nil
}

// ListenerAddr returns the bound address of the listener named name, or
// nil when there is none.
func (s *Server) ListenerAddr(name string) net.Addr {
	for _, ln := range s.listeners {
		if ln.cfg.Name == name {
			return s.listenerAddr(ln)
		}
	}
	return nil
}

func (s *Server) listenerAddr(ln *listener) net.Addr {
	for _, e := range s.engines {
		if a := e.addr(ln); a != nil {
			return a
		}
	}
	return nil
}

// Listeners returns the listeners' configurations, defaults filled in.
func (s *Server) Listeners() []Listener {
	out := make([]Listener, len(s.listeners))
	for i, ln := range s.listeners {
		out[i] = ln.cfg
	}
	return out
}

// sweep sends aged chunks on to the sink every chunkAge (so a reading
// waits at most about twice that in an ingester of a quiet loop), and once
// a second closes idle and slow connections and expires commands.
func (s *Server) sweep() {
	defer close(s.sweepDone)
	t := time.NewTicker(chunkAge)
	defer t.Stop()
	last := time.Now()
	for {
		select {
		case <-s.stopSweep:
			return
		case now := <-t.C:
			full := now.Sub(last) >= time.Second
			if full {
				last = now
				s.cmds.expire(now)
				// 4 of the registry's 64 shards a second: every
				// anonymous session is looked at every 16 s.
				anonIdle := time.Duration(s.live.anonIdle.Load())
				s.reg.evictIdle(4, anonIdle, now.UnixNano())
				for _, ln := range s.listeners {
					if ln.hellos != nil {
						ln.hellos.expire(now.UnixNano(), anonIdle)
					}
				}
				s.mem.release(now)
			}
			if s.gnet != nil {
				s.gnet.sweep(full)
			}
		}
	}
}

func (s *Server) stopEngines(ctx context.Context) {
	var wg sync.WaitGroup
	for _, e := range s.engines {
		wg.Add(1)
		go func() { defer wg.Done(); e.stop(ctx) }()
	}
	wg.Wait()
}

// Shutdown stops accepting, finishes the frames already received, closes
// every connection, then drains, flushes and fsyncs the sink and logs a
// summary. Nothing counted as received is missing from the sink
// afterwards: it is stored or counted as dropped with a reason.
func (s *Server) Shutdown(ctx context.Context) error {
	if !s.closing.CompareAndSwap(false, true) {
		return errors.New("server: already shut down")
	}
	close(s.stopSweep)
	<-s.sweepDone
	s.stopEngines(ctx)
	err := s.sink.Close()
	s.acker.close() // after the sink settled every receipt
	st := s.Stats()
	slog.Info("fleetwire stopped", "node", s.cfg.Node, "devices", st.Devices, "frames", st.Frames,
		"readings", st.Readings, "stored", st.Stored, "lost", st.Lost, "duplicates", st.Duplicates,
		"dropped", st.Dropped, "errors", st.Errors)
	if err != nil {
		return fmt.Errorf("close sink: %w", err)
	}
	return nil
}
