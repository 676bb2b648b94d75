// Package web is fleetwire's control plane over HTTP: the live dashboard,
// the JSON API, downlink commands and Prometheus metrics. It runs on
// net/http goroutines, never on the ingest event loops, and reads the
// server only through its snapshot methods: Stats is sampled once a second
// by one goroutine (it walks every session), whatever the number of
// clients; pages and SSE streams are served from that cached sample.
//
// Contracts: every handler is safe for concurrent requests (net/http calls
// them from many goroutines); answers are built from copies, never from the
// server's live sessions, so nothing a handler holds aliases ingest
// buffers. /api/* and /metrics need the bearer token when one is set, and
// the HTTP side refuses a non-loopback address without one unless told it
// may (the CLI's --http-insecure). Page and stream counts are bounded
// (event streams at most 256), and each response has deadlines, so a slow
// client costs a goroutine and a buffer, not the ingest path.
package web

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fleetwire/fleetwire/server"
)

// Config tunes the HTTP side. The zero value is usable.
type Config struct {
	// Token, when set, is required as "Authorization: Bearer <token>" on
	// every /api/* and /metrics request. Pages and static assets carry no
	// data and are served without it.
	Token string
	// MetricsPerDevice adds per-device series to /metrics (one label
	// value per device: mind the cardinality of a large fleet).
	MetricsPerDevice bool
	// Interval is how often Stats is sampled (default 1 s); History is how
	// long the charts look back (default 10 min).
	Interval time.Duration
	History  time.Duration
	// MaxStreams bounds concurrent SSE streams (default 256).
	MaxStreams int
	// Cluster, when set, is the view of every node's published stats:
	// it serves /api/cluster and /api/stats?scope=cluster and fills the
	// dashboard's Cluster panel. `fleetwire serve` sets it from its NATS
	// sink's servers (or --cluster-nats) with DialCluster.
	Cluster ClusterSource
}

func (c Config) withDefaults() Config {
	if c.Interval <= 0 {
		c.Interval = time.Second
	}
	if c.History <= 0 {
		c.History = 10 * time.Minute
	}
	if c.MaxStreams <= 0 {
		c.MaxStreams = 256
	}
	return c
}

// Server serves the control plane of one ingest server.
type Server struct {
	srv     *server.Server
	cfg     Config
	token   *Token // cfg.Token, until SetToken replaces it
	rec     *recorder
	cluster *clusterSampler // nil without Config.Cluster
	devs    *deviceCache
	handler http.Handler
	ready   atomic.Bool
	streams atomic.Int64
	quit    chan struct{} // closed by Shutdown: ends SSE streams

	mu     sync.Mutex
	hs     *http.Server
	closed bool
}

// New starts sampling srv (call it after srv.Start) and builds the routes.
// Shutdown stops the sampling.
func New(srv *server.Server, cfg Config) *Server {
	cfg = cfg.withDefaults()
	s := &Server{srv: srv, cfg: cfg, token: NewToken(cfg.Token), quit: make(chan struct{})}
	s.devs = newDeviceCache(cfg.Interval)
	s.rec = newRecorder(srv.Stats, cfg.Interval, int(cfg.History/cfg.Interval))
	go s.rec.run()
	if cfg.Cluster != nil {
		s.cluster = newClusterSampler(cfg.Cluster, s.nodeName, cfg.Interval)
		go s.cluster.run()
	}
	s.handler = s.routes()
	return s
}

// nodeName is this server's name as the cluster knows it: the NATS
// sink's (which defaults to the host name) or --node.
func (s *Server) nodeName() string {
	smp, _ := s.rec.current()
	if ns := smp.Stats.NATSSink; ns != nil && ns.Node != "" {
		return ns.Node
	}
	return smp.Stats.Node
}

// Handler returns the control plane's routes.
func (s *Server) Handler() http.Handler { return s.handler }

// SetReady sets what /readyz answers: `fleetwire serve` sets it once the
// ingest server is started and clears it before shutting the server down,
// so a load balancer stops sending while the ingest side drains.
func (s *Server) SetReady(ok bool) { s.ready.Store(ok) }

// ListenAndServe serves on addr until Shutdown; it returns nil after
// Shutdown.
func (s *Server) ListenAndServe(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("web: listen on %s: %w", addr, err)
	}
	return s.Serve(ln)
}

// Serve serves on ln until Shutdown; it returns nil after Shutdown.
func (s *Server) Serve(ln net.Listener) error {
	hs := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		IdleTimeout:       90 * time.Second,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(slog.Default().Handler(), slog.LevelWarn),
		// No WriteTimeout: SSE streams live long. Each handler sets its own
		// write deadline instead (see writeDeadline).
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		_ = ln.Close()
		return http.ErrServerClosed
	}
	s.hs = hs
	s.mu.Unlock()
	slog.Info("fleetwire http serving", "addr", ln.Addr().String(), "token", s.cfg.Token != "")
	if err := hs.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("web: serve: %w", err)
	}
	return nil
}

// Shutdown marks the server not ready, ends the SSE streams, stops the
// sampler and waits for requests in flight, at most until ctx is done.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	hs := s.hs
	s.mu.Unlock()
	s.ready.Store(false)
	close(s.quit)
	s.rec.stop()
	if s.cluster != nil {
		s.cluster.stop()
	}
	if hs == nil {
		return nil
	}
	if err := hs.Shutdown(ctx); err != nil {
		return fmt.Errorf("web: shutdown: %w", err)
	}
	return nil
}
