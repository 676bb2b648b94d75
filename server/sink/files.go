package sink

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fleetwire/fleetwire/codec"
	"github.com/klauspost/compress/zstd"
)

// FileConfig configures a FileSink. Zero fields take the defaults below.
type FileConfig struct {
	// Dir is the data directory (--data); segments go to Dir/readings.
	Dir string
	// Node names this server in its segments' names, so that several
	// server processes (sharing ports with --reuseport) can share one
	// Dir. Empty for a lone server. It must be a valid device id
	// (1-64 bytes of [A-Za-z0-9._-]).
	Node string
	// Channels is the number of value columns of a segment (ch1..chK).
	// A frame with more channels starts a new segment that wide, and the
	// width stays for the rest of the run. Default 8.
	Channels int
	// SegmentBytes rotates a segment once this much CSV (uncompressed)
	// is in it, at the end of the chunk that reached it, so that a chunk
	// stays in one segment. Default 64 MiB.
	SegmentBytes int64
	// SegmentAge rotates a segment this long after its first write.
	// Default 1 minute.
	SegmentAge time.Duration
	// FlushBytes ends a zstd frame and writes it once this much CSV is
	// buffered. Default 1 MiB.
	FlushBytes int
	// FlushInterval writes buffered rows at least this often. It bounds
	// what a process crash can cost. Default 100 ms.
	FlushInterval time.Duration
	// FsyncInterval fsyncs the open segment this often, so that a power
	// cut costs at most about FlushInterval + FsyncInterval of rows.
	// Default 200 ms. FsyncOnSeal (any negative value) fsyncs only when a
	// segment is sealed (rotation, Close): a power cut may then cost up
	// to a whole segment (SegmentAge, SegmentBytes).
	FsyncInterval time.Duration
	// QueueChunks bounds the chunks waiting for the writer. Default 4096.
	QueueChunks int
	// QueueBytes bounds the memory of the chunks waiting for the writer.
	// Default 256 MiB.
	QueueBytes int64
	// Level is the zstd encoder level. Default zstd.SpeedFastest: the
	// writer's CPU per reading matters more than the last 10 % of disk.
	Level zstd.EncoderLevel
	// Logger receives recovery notices and write errors. Default
	// slog.Default().
	Logger *slog.Logger
	// Checkpoint, when set, is called on the writer goroutine right
	// after each segment is sealed (fsynced, renamed, the directory
	// fsynced), once the receipts of all its rows are settled; what it
	// writes to w becomes, atomically, the node's checkpoint, which
	// covers that segment and every earlier one of the node (Recover
	// returns it, and replays only the segments after it).
	//
	// It should write the state those settlements built (the
	// acknowledging devices' ack.Sets): everything settled true before
	// the call. What it leaves out of that costs duplicates after a
	// restart (the devices send those samples again and they are stored
	// twice); what it holds beyond that (readings not settled true) a
	// power cut can lose while the checkpoint says they are stored.
	//
	// It must return promptly: the writer waits for it while the queue
	// fills. An error, its own or the disk's, keeps the previous
	// checkpoint, is logged and counted (Stats.CheckpointErrors), and the
	// sink goes on. No checkpoint follows a seal that failed, nor one
	// that cut a chunk in two (a wider device in its middle): the next
	// seal writes it.
	Checkpoint func(w io.Writer) error
}

// Defaults of FileConfig.
const (
	DefaultChannels      = 8
	DefaultSegmentBytes  = 64 << 20
	DefaultSegmentAge    = time.Minute
	DefaultFlushBytes    = 1 << 20
	DefaultFlushInterval = 100 * time.Millisecond
	// DefaultFsyncInterval: an fsync of the open segment took 0.2-0.5 ms
	// here with 3-50 KiB written since the last one and 1.4 ms with
	// 500 KiB (BenchmarkFsync, ext4 on a virtio disk), under 1 % of the
	// writer's time even at 1M readings/s; 200 ms keeps a power cut's
	// cost near 300 ms with FlushInterval, at 5 journal commits a second.
	DefaultFsyncInterval = 200 * time.Millisecond
	// FsyncOnSeal as FsyncInterval fsyncs segments only when sealed.
	FsyncOnSeal        time.Duration = -1
	DefaultQueueChunks               = 4096
	DefaultQueueBytes                = 256 << 20
	// MaxFrameBytes bounds one zstd frame of a segment, compressed or
	// not, for readers. The writer stays far below it: a frame holds
	// FlushBytes of CSV plus at most one codec frame's rows.
	MaxFrameBytes = 64 << 20
)

func (c FileConfig) orDefault() FileConfig {
	if c.Channels <= 0 {
		c.Channels = DefaultChannels
	}
	if c.SegmentBytes <= 0 {
		c.SegmentBytes = DefaultSegmentBytes
	}
	if c.SegmentAge <= 0 {
		c.SegmentAge = DefaultSegmentAge
	}
	if c.FlushBytes <= 0 {
		c.FlushBytes = DefaultFlushBytes
	}
	c.FlushBytes = min(c.FlushBytes, MaxFrameBytes/4)
	if c.FlushInterval <= 0 {
		c.FlushInterval = DefaultFlushInterval
	}
	if c.FsyncInterval == 0 {
		c.FsyncInterval = DefaultFsyncInterval
	}
	if c.QueueChunks <= 0 {
		c.QueueChunks = DefaultQueueChunks
	}
	if c.QueueBytes <= 0 {
		c.QueueBytes = DefaultQueueBytes
	}
	if c.Level == 0 {
		c.Level = zstd.SpeedFastest
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// FileSink writes readings to zstd-compressed CSV segments (doc.go).
type FileSink struct {
	cfg  FileConfig
	dir  string // Dir/readings
	lock *os.File

	mu     sync.RWMutex // Submit holds it shared; Close exclusively, to close queue
	closed bool
	queue  chan *Chunk

	c         counters
	done      chan struct{}
	closeOnce sync.Once
	err       error // first write error; written by the writer, read after done

	startCounter uint64 // of the node's last segment at open: Recover reads none after it

	checkpoint atomic.Pointer[func(io.Writer) error] // SetCheckpoint's, else cfg.Checkpoint

	w writer // owned by the writer goroutine
}

// SetCheckpoint sets the function that writes the checkpoint (see
// FileConfig.Checkpoint), for a caller that gets the sink already open:
// the server attaches its acknowledged-delivery state to the sink it is
// given. Safe at any time; it takes effect at the next seal.
func (s *FileSink) SetCheckpoint(fn func(w io.Writer) error) { s.checkpoint.Store(&fn) }

// checkpointFn returns the checkpoint function in effect, nil if none.
func (s *FileSink) checkpointFn() func(io.Writer) error {
	if fn := s.checkpoint.Load(); fn != nil {
		return *fn
	}
	return s.cfg.Checkpoint
}

// OpenFiles opens (creating it if needed) the segment directory under
// cfg.Dir, locks it against other processes, seals the .partial segments
// an earlier run left behind, and starts the writer goroutine.
func OpenFiles(cfg FileConfig) (*FileSink, error) {
	s, err := openFiles(cfg)
	if err != nil {
		return nil, err
	}
	go s.run()
	return s, nil
}

// openFiles is OpenFiles without the writer goroutine, so tests can drive
// the writer step by step.
func openFiles(cfg FileConfig) (*FileSink, error) {
	cfg = cfg.orDefault()
	if cfg.Dir == "" {
		return nil, errors.New("sink: no data directory")
	}
	if cfg.Node != "" && !codec.ValidID([]byte(cfg.Node)) {
		return nil, fmt.Errorf("sink: node name %q: want 1-64 bytes of [A-Za-z0-9._-]", cfg.Node)
	}
	dir := filepath.Join(cfg.Dir, ReadingsDir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("sink: %w", err)
	}
	if cfg.FsyncInterval < 0 {
		cfg.Logger.Warn("sink: segments are fsynced only when sealed: a power cut may lose up to a rotation period",
			"segment_age", cfg.SegmentAge, "segment_bytes", cfg.SegmentBytes)
	}
	lock, err := lockDir(dir, cfg.Node)
	if err != nil {
		return nil, fmt.Errorf("sink: %w", err)
	}
	s := &FileSink{
		cfg:   cfg,
		dir:   dir,
		lock:  lock,
		queue: make(chan *Chunk, cfg.QueueChunks),
		done:  make(chan struct{}),
	}
	counter, err := s.recover()
	if err != nil {
		lock.Close()
		return nil, fmt.Errorf("sink: recover %s: %w", dir, err)
	}
	// Number segments after the checkpoint's even if the segments it
	// covers are gone: Recover replays only those numbered after it.
	if _, seg, ok, err := readCheckpoint(dir, cfg.Node); err == nil && ok {
		counter = max(counter, seg.counter)
	}
	s.startCounter = counter
	_, tmp := checkpointFile(cfg.Node)
	os.Remove(filepath.Join(dir, tmp)) // a checkpoint a crash interrupted
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(cfg.Level),
		zstd.WithEncoderConcurrency(1), zstd.WithEncoderCRC(true))
	if err != nil {
		lock.Close()
		return nil, fmt.Errorf("sink: zstd: %w", err)
	}
	s.w = writer{s: s, enc: enc, counter: counter, k: cfg.Channels}
	return s, nil
}

// recover seals the .partial segments this node left behind and returns
// its highest segment counter. Other nodes' segments are theirs.
func (s *FileSink) recover() (uint64, error) {
	segs, err := listSegments(s.dir)
	if err != nil {
		return 0, err
	}
	var counter uint64
	for _, seg := range segs {
		if seg.node != s.cfg.Node {
			continue
		}
		counter = max(counter, seg.counter)
		if !seg.partial {
			continue
		}
		cut, err := recoverPartial(s.dir, seg, MaxFrameBytes, s.cfg.Logger)
		if err != nil {
			return 0, fmt.Errorf("%s: %w", seg.name, err)
		}
		s.c.recovered.Add(1)
		s.c.recoveredTrunc.Add(uint64(cut))
	}
	if len(segs) > 0 {
		if err := syncDir(s.dir); err != nil {
			return 0, err
		}
	}
	return counter, nil
}

// Dir returns the directory that holds the segments.
func (s *FileSink) Dir() string { return s.dir }

// Submit implements Sink. It costs a shared lock, a non-blocking channel
// send and a few atomic adds per chunk, whatever the chunk's size.
func (s *FileSink) Submit(c *Chunk) bool {
	n := c.Readings()
	size := c.memBytes()
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		s.c.refuse(DropClosed, n)
		return false
	}
	if s.c.queueBytes.Add(size) > s.cfg.QueueBytes {
		s.c.queueBytes.Add(-size)
		s.c.refuse(DropQueueFull, n)
		return false
	}
	// Count before the send: once sent, the writer owns c and may count
	// it stored at once.
	s.c.accepted.Add(uint64(n))
	select {
	case s.queue <- c:
	default:
		s.c.accepted.Add(-uint64(n))
		s.c.queueBytes.Add(-size)
		s.c.refuse(DropQueueFull, n)
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

// Close implements Sink: it stops accepting, waits for the writer to write
// everything queued, seals the open segment (fsync, rename, fsync of the
// directory) and returns the first error the writer met. Later calls
// return the same error.
func (s *FileSink) Close() error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		close(s.queue)
		s.mu.Unlock()
		<-s.done
		if err := s.lock.Close(); err != nil && s.err == nil {
			s.err = fmt.Errorf("sink: unlock: %w", err)
		}
	})
	return s.err
}

// Stats implements Sink.
func (s *FileSink) Stats() Stats {
	st := s.c.stats()
	st.QueueChunks = len(s.queue)
	return st
}
