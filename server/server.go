package server

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fleetwire/fleetwire/codec/wire"
	"github.com/fleetwire/fleetwire/server/natssink"
	"github.com/fleetwire/fleetwire/server/sink"
)

// Server is a running ingest server.
type Server struct {
	cfg     Config
	dec     *wire.Decoder
	reg     *registry
	hub     *statsHub
	sink    sink.Sink
	storing bool // false with the none sink: skip copying readings at all
	cmds    *commands
	started time.Time
	closing atomic.Bool

	shardMu sync.Mutex
	shards  []*shard

	gnetTCP *gnetEngine
	stdTCP  *stdEngine
	tlsEng  *stdEngine
	udp     *udpEngine
	stdUDP  *stdUDP

	stopSweep chan struct{}
	sweepDone chan struct{}
}

// New checks cfg and opens the sink; Start opens the sockets.
func New(cfg Config) (*Server, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	s := &Server{
		cfg:       cfg,
		dec:       wire.NewDecoder(cfg.Limits, cfg.End, nil),
		reg:       newRegistry(cfg.MaxDevices),
		hub:       newStatsHub(),
		stopSweep: make(chan struct{}),
		sweepDone: make(chan struct{}),
	}
	s.cmds = newCommands(s)
	switch cfg.Sink {
	case "none":
		s.sink = sink.None()
	case "files":
		fs, err := sink.OpenFiles(sink.FileConfig{Dir: cfg.DataDir, Node: cfg.Node, FsyncInterval: cfg.FsyncInterval})
		if err != nil {
			return nil, fmt.Errorf("open file sink in %s: %w", cfg.DataDir, err)
		}
		s.sink, s.storing = fs, true
	default:
		if !natssink.IsURL(cfg.Sink) {
			return nil, fmt.Errorf("sink %q: want files, none or nats://host:port[,host:port...]", cfg.Sink)
		}
		nc := cfg.NATS
		nc.URL, nc.Dir, nc.Node = cfg.Sink, cfg.DataDir, cfg.Node
		ns, err := natssink.Open(nc)
		if err != nil {
			return nil, fmt.Errorf("open NATS sink: %w", err)
		}
		s.cfg.Node = ns.Node() // the sink defaults it to the host name: one name everywhere
		ns.SetStatsSource(func() any { return s.Stats() })
		s.sink, s.storing = ns, true
	}
	return s, nil
}

// Config returns the server's configuration with defaults filled in.
func (s *Server) Config() Config { return s.cfg }

func (s *Server) addShard(sh *shard) {
	s.shardMu.Lock()
	s.shards = append(s.shards, sh)
	s.shardMu.Unlock()
}

func (s *Server) totalConns() int64 {
	return s.hub.conns[TCP].Load() + s.hub.conns[TLS].Load()
}

// Start opens every configured transport. On error, what was opened is
// closed again.
func (s *Server) Start() (err error) {
	s.started = time.Now()
	defer func() {
		if err != nil {
			s.stopEngines(context.Background())
			_ = s.sink.Close()
		}
	}()
	cfg := &s.cfg
	if cfg.TCPAddr != "" {
		if cfg.Engine == "gnet" {
			s.gnetTCP = newGnetEngine(s, cfg.TCPAddr)
			if err := s.gnetTCP.start(); err != nil {
				s.gnetTCP = nil
				return err
			}
		} else if s.stdTCP, err = startStdTCP(s, cfg.TCPAddr, TCP, nil); err != nil {
			return err
		}
	}
	if cfg.UDPAddr != "" {
		if cfg.Engine == "gnet" {
			s.udp, err = startUDP(s, cfg.UDPAddr, cfg.UDPReaders)
		} else {
			s.stdUDP, err = startStdUDP(s, cfg.UDPAddr, cfg.UDPReaders)
		}
		if err != nil {
			return err
		}
	}
	if cfg.TLSAddr != "" {
		tc, err := s.tlsConfig()
		if err != nil {
			return err
		}
		if s.tlsEng, err = startStdTCP(s, cfg.TLSAddr, TLS, tc); err != nil {
			return err
		}
	}
	go s.sweep()
	slog.Info("fleetwire serving", "node", cfg.Node, "engine", cfg.Engine, "tcp", s.addrString(TCP),
		"udp", s.addrString(UDP), "tls", s.addrString(TLS), "sink", redactURL(cfg.Sink), "data", cfg.DataDir)
	return nil
}

func (s *Server) tlsConfig() (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(s.cfg.TLSCert, s.cfg.TLSKey)
	if err != nil {
		return nil, fmt.Errorf("load TLS certificate: %w", err)
	}
	tc := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if s.cfg.TLSClientCA != "" {
		pem, err := os.ReadFile(s.cfg.TLSClientCA)
		if err != nil {
			return nil, fmt.Errorf("read TLS client CA: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("no certificate in TLS client CA %s", s.cfg.TLSClientCA)
		}
		tc.ClientCAs, tc.ClientAuth = pool, tls.RequireAndVerifyClientCert
	}
	return tc, nil
}

// Addr returns the bound address of a transport (useful with port 0), or
// nil when it is off.
func (s *Server) Addr(t Transport) net.Addr {
	switch {
	case t == TCP && s.gnetTCP != nil:
		return s.gnetTCP.bound
	case t == TCP && s.stdTCP != nil:
		return s.stdTCP.addr()
	case t == UDP && s.udp != nil:
		return s.udp.addr()
	case t == UDP && s.stdUDP != nil:
		return s.stdUDP.addr()
	case t == TLS && s.tlsEng != nil:
		return s.tlsEng.addr()
	}
	return nil
}

func (s *Server) addrString(t Transport) string {
	if a := s.Addr(t); a != nil {
		return a.String()
	}
	return "off"
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
			}
			if s.gnetTCP != nil {
				s.gnetTCP.sweep(full)
			}
		}
	}
}

func (s *Server) stopEngines(ctx context.Context) {
	var wg sync.WaitGroup
	run := func(f func()) {
		wg.Add(1)
		go func() { defer wg.Done(); f() }()
	}
	if s.gnetTCP != nil {
		run(func() {
			if err := s.gnetTCP.stop(ctx); err != nil {
				slog.Warn("gnet engine stop", "err", err)
			}
		})
	}
	for _, e := range []*stdEngine{s.stdTCP, s.tlsEng} {
		if e != nil {
			run(e.stop)
		}
	}
	if s.udp != nil {
		run(s.udp.stop)
	}
	if s.stdUDP != nil {
		run(s.stdUDP.stop)
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
	st := s.Stats()
	slog.Info("fleetwire stopped", "node", s.cfg.Node, "devices", st.Devices, "frames", st.Frames,
		"readings", st.Readings, "stored", st.Stored, "lost", st.Lost, "duplicates", st.Duplicates,
		"dropped", st.Dropped, "errors", st.Errors)
	if err != nil {
		return fmt.Errorf("close sink: %w", err)
	}
	return nil
}

// redactURL hides passwords and tokens in a (comma-separated) sink URL
// before it is logged: nats://user:secret@host becomes nats://user:xxxxx@host.
func redactURL(s string) string {
	parts := strings.Split(s, ",")
	for i, p := range parts {
		if u, err := url.Parse(p); err == nil && u.User != nil {
			parts[i] = u.Redacted()
			if _, has := u.User.Password(); !has { // a token alone is the secret
				u.User = url.User("xxxxx")
				parts[i] = u.String()
			}
		}
	}
	return strings.Join(parts, ",")
}
