package natssink

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/fleetwire/fleetwire/codec/compress"
	"github.com/fleetwire/fleetwire/server/sink"
)

// Sink publishes readings to a JetStream stream through a local spool.
// It implements sink.Sink.
type Sink struct {
	cfg Config
	nc  *nats.Conn
	js  jetstream.JetStream

	mu     sync.RWMutex // Submit holds it shared; Close exclusively, to close queue
	closed bool
	queue  chan *sink.Chunk

	c           counters
	streamReady atomic.Bool
	stream      atomic.Pointer[jetstream.Stream] // for HeldSet, once looked up
	held        heldSets
	statsSrc    atomic.Pointer[func() any]
	wake        chan struct{}
	stop        chan struct{} // closed by Close: helpers end
	done        chan struct{} // closed when the writer has finished
	helpers     sync.WaitGroup
	closeOnce   sync.Once
	err         error // first spool error; written by the writer, read after done

	w writer // owned by the writer goroutine
}

// Open connects to NATS (or keeps trying in the background: the sink
// spools while NATS is away), recovers the spool an earlier run left
// under cfg.Dir, and starts the writer.
func Open(cfg Config) (*Sink, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	comp, err := compress.New(compress.Options{Level: zstd.SpeedFastest, Concurrency: 1})
	if err != nil {
		return nil, fmt.Errorf("natssink: %w", err)
	}
	sp, err := openSpool(filepath.Join(cfg.Dir, "nats-spool", cfg.Node), cfg.SpoolSegmentBytes, cfg.Logger)
	if err != nil {
		return nil, fmt.Errorf("natssink: %w", err)
	}
	s := &Sink{
		cfg:   cfg,
		queue: make(chan *sink.Chunk, cfg.QueueChunks),
		wake:  make(chan struct{}, 1),
		stop:  make(chan struct{}),
		done:  make(chan struct{}),
	}
	s.c.recovered.Store(sp.recRecords)
	s.c.recoveredReadings.Store(sp.recReadings)
	s.c.recoveredTrunc.Store(sp.tornBytes)
	s.c.corrupt.Store(sp.corrupt)
	s.c.segs.Store(uint64(len(sp.segs)))
	if s.nc, err = connect(&cfg, s.poke); err != nil {
		sp.close()
		return nil, err
	}
	s.js, err = jetstream.New(s.nc, jetstream.WithPublishAsyncMaxPending(cfg.MaxInflight),
		jetstream.WithPublishAsyncTimeout(cfg.AckTimeout))
	if err != nil {
		s.nc.Close()
		sp.close()
		return nil, fmt.Errorf("natssink: %w", err)
	}
	runID := strconv.FormatInt(time.Now().UnixNano(), 36)
	s.w = writer{
		s:         s,
		sp:        sp,
		inflightQ: make(chan pending, cfg.MaxInflight),
		results:   make(chan result, cfg.MaxInflight),
		hdrCodec:  []string{Codec},
		hdrNode:   []string{cfg.Node},
	}
	s.w.rq.settled = func(durable bool) {
		if durable {
			s.c.receiptsDurable.Add(1)
		} else {
			s.c.receiptsLost.Add(1)
		}
	}
	s.w.bt = newBatcher(cfg.Node, cfg.Subject, runID, comp, &s.w.rq, s.w.spoolRecord)
	s.w.noteSpool()
	s.helpers.Add(3)
	go s.ensureStream()
	go s.publishStats()
	go s.w.acker()
	go s.w.run()
	return s, nil
}

func connect(cfg *Config, poke func()) (*nats.Conn, error) {
	urls, _ := ServerURLs(cfg.URL)
	log := cfg.Logger
	nc, err := nats.Connect(strings.Join(urls, ","),
		nats.Name("fleetwire "+cfg.Node),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250*time.Millisecond),
		// Publishing while disconnected fails at once instead of filling
		// a buffer in memory: the batch is in the spool already.
		nats.ReconnectBufSize(-1),
		nats.RetryOnFailedConnect(true),
		// A server that vanished without closing the socket is noticed
		// in seconds, not after the default two minutes.
		nats.PingInterval(2*time.Second),
		nats.MaxPingsOutstanding(3),
		nats.ConnectHandler(func(c *nats.Conn) {
			log.Info("natssink: connected", "server", c.ConnectedUrlRedacted())
			poke()
		}),
		nats.ReconnectHandler(func(c *nats.Conn) {
			log.Info("natssink: reconnected", "server", c.ConnectedUrlRedacted())
			poke()
		}),
		nats.DisconnectErrHandler(func(c *nats.Conn, err error) {
			if err != nil {
				log.Warn("natssink: disconnected; spooling", "err", err)
			}
		}),
	)
	if err != nil {
		return nil, fmt.Errorf("natssink: connect %s: %w", cfg.URL, err)
	}
	return nc, nil
}

// poke wakes the writer (a connection came back, the stream is ready).
func (s *Sink) poke() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// ensureStream checks, once connected, that the stream exists, and
// creates it if allowed. Until then the writer only spools.
func (s *Sink) ensureStream() {
	defer s.helpers.Done()
	cfg := &s.cfg
	for attempt := 0; ; attempt++ {
		for s.nc.Status() != nats.CONNECTED {
			// The client is (re)connecting: asking now only fails.
			select {
			case <-s.stop:
				return
			case <-time.After(100 * time.Millisecond):
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		st, err := s.js.Stream(ctx, cfg.Stream)
		if errors.Is(err, jetstream.ErrStreamNotFound) && cfg.CreateStream {
			st, err = s.js.CreateStream(ctx, jetstream.StreamConfig{
				Name:       cfg.Stream,
				Subjects:   []string{cfg.Subject + ".>"},
				Replicas:   cfg.Replicas,
				Storage:    jetstream.FileStorage,
				Duplicates: cfg.DupWindow,
			})
			if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
				st, err = s.js.Stream(ctx, cfg.Stream) // another node made it first
			}
			if err == nil {
				cfg.Logger.Info("natssink: created stream", "stream", cfg.Stream, "subjects", cfg.Subject+".>", "replicas", cfg.Replicas)
			}
		}
		cancel()
		if err == nil {
			s.stream.Store(&st)
			dup := st.CachedInfo().Config.Duplicates
			s.c.dupWindow.Store(int64(dup))
			if dup != cfg.DupWindow {
				cfg.Logger.Info("natssink: the stream's duplicate window is not --nats-dup-window (which applies only to a stream the node creates)",
					"stream", cfg.Stream, "duplicate_window", dup, "nats_dup_window", cfg.DupWindow)
			}
			s.streamReady.Store(true)
			s.poke()
			return
		}
		if attempt%10 == 0 {
			hint := ""
			if errors.Is(err, jetstream.ErrStreamNotFound) {
				hint = "create it or pass --nats-create-stream"
			}
			cfg.Logger.Error("natssink: stream not usable yet; spooling", "stream", cfg.Stream, "err", err, "hint", hint)
		}
		select {
		case <-s.stop:
			return
		case <-time.After(time.Second):
		}
	}
}

// Submit implements sink.Sink: a shared lock, a non-blocking channel
// send and a few atomic adds per chunk. It refuses (queue_full) when the
// queue is at its bound or the spool at SpoolMaxBytes.
func (s *Sink) Submit(c *sink.Chunk) bool {
	n := c.Readings()
	size := approxBytes(c)
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		s.c.refuse(sink.DropClosed, n)
		return false
	}
	if s.c.spoolFull.Load() {
		s.c.refusedSpoolFull.Add(1)
		s.c.refuse(sink.DropQueueFull, n)
		return false
	}
	if s.c.queueBytes.Add(size) > s.cfg.QueueBytes {
		s.c.queueBytes.Add(-size)
		s.c.refuse(sink.DropQueueFull, n)
		return false
	}
	s.c.accepted.Add(uint64(n))
	select {
	case s.queue <- c:
	default:
		s.c.accepted.Add(-uint64(n))
		s.c.queueBytes.Add(-size)
		s.c.refuse(sink.DropQueueFull, n)
		return false
	}
	for d := int64(len(s.queue)); ; {
		hw := s.c.queueHighWater.Load()
		if d <= hw || s.c.queueHighWater.CompareAndSwap(hw, d) {
			break
		}
	}
	return true
}

// approxBytes is the memory a queued chunk holds, near enough for the
// queue bound (sink.Chunk keeps its exact size to itself).
func approxBytes(c *sink.Chunk) int64 {
	return int64(c.Readings())*24 + int64(len(c.Frames))*160
}

// Close implements sink.Sink: it stops accepting, batches and spools
// everything queued, publishes the spool for up to DrainTimeout, and
// leaves what JetStream has not acknowledged by then in the fsynced
// spool, to be published by the next Open on the same directory (Stats
// keep counting those readings as Pending).
func (s *Sink) Close() error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		close(s.queue)
		s.mu.Unlock()
		<-s.done
		close(s.stop)
		s.helpers.Wait()
		s.nc.Close()
	})
	return s.err
}

// SetStatsSource makes the sink publish src()'s JSON, with the sink's own
// NATSStats added as "nats_sink", to StatsSubject.<node> every
// StatsInterval (1 s).
// The server passes its Stats method.
func (s *Sink) SetStatsSource(src func() any) { s.statsSrc.Store(&src) }

// Conn returns the sink's NATS connection, for a ClusterView.
func (s *Sink) Conn() *nats.Conn { return s.nc }

// Node returns the node name in use (Config.Node or the host name).
func (s *Sink) Node() string { return s.cfg.Node }

// Config returns the configuration with defaults filled in.
func (s *Sink) Config() Config { return s.cfg }
