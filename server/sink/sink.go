// Package sink stores the readings an ingest server receives.
//
// The server's event loops must never block or touch the disk, so they copy
// decoded frames into a pooled Chunk and hand it to a Sink with Submit, which
// only enqueues. A FileSink's writer goroutine does the rest: CSV
// formatting, zstd compression, writes, rotation and fsync. A full queue is a
// counted refusal, never a wait: the caller decides whether that is a drop
// (UDP) or back-pressure (keep the chunk, stop reading the connection, and
// submit it again later).
//
// Segments are zstd-compressed CSV in the interchange schema, so standard
// tools read them (zstdcat seg-*.csv.zst); doc.go has the on-disk format and
// its durability guarantees, and Reader reads them back.
//
// Contracts:
//
//   - Buffers. Chunk.Add copies what it keeps (values, times, device id)
//     out of the codec.Batch, so a Chunk never aliases a network buffer and
//     the caller may reuse the Batch at once.
//   - Ownership. Submit returning true takes the Chunk: the caller must not
//     touch it again, and the sink releases it to the pool. Returning false
//     leaves it the caller's, to Release or to Submit again.
//   - Concurrency. Submit and Stats are safe for any number of goroutines
//     and never block on the disk; Close is called once, by one goroutine,
//     and returns when everything accepted is written and fsynced. One
//     writer goroutine per FileSink does all file I/O.
//   - Receipts. A Receipt's Settled is called exactly once per accepted
//     Chunk that carries one, on the writer goroutine, in submission order,
//     true only after the fsync that covers every row; it must not block.
//   - Readers. A Reader (export, verify, Recover) belongs to one goroutine;
//     the Row it returns is valid until the next call to Next.
package sink

import (
	"encoding/json"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
)

// Sink receives chunks of readings from event loops.
//
// Submit and Stats are safe for concurrent use by any number of goroutines.
// Close must be called once, after which Submit returns false.
type Sink interface {
	// Submit takes ownership of c and returns true, without blocking and
	// without disk I/O. It returns false, leaving c with the caller, when
	// the queue is at its bound or the sink is closed. The caller then
	// either counts c's readings as dropped (for queue_full or closed) and
	// releases c, or keeps c and submits it again later. Stats counts
	// refusals, not drops, because only the caller knows which it was.
	Submit(c *Chunk) bool
	// Close stops accepting, writes everything accepted before it,
	// flushes and fsyncs, and returns the first write error.
	Close() error
	// Stats returns the sink's counters.
	Stats() Stats
}

// DropReason says why readings were not stored. The names are metric label
// values and never change once released.
type DropReason uint8

// Drop reasons.
const (
	DropQueueFull         DropReason = iota // Submit found the queue at its bound
	DropClosed                              // Submit after Close
	DropWriteError                          // the segment write failed (disk full, I/O error)
	DropDiscardedByConfig                   // --sink none
	NumDropReasons
)

var dropNames = [NumDropReasons]string{"queue_full", "closed", "write_error", "discarded_by_config"}

func (r DropReason) String() string {
	if r < NumDropReasons {
		return dropNames[r]
	}
	return "drop(?)"
}

// Stats are a sink's counters since it was opened. Readings are values
// (a sample of 4 channels is 4 readings), as everywhere in fleetwire.
//
// Accounting is exact: every reading Submit accepted is in Stored, in
// Dropped[DropWriteError] (or Dropped[DropDiscardedByConfig] for None) or
// still Pending, and after Close Pending is 0. Submit calls that returned
// false are in Refused, and never in Accepted.
type Stats struct {
	Accepted uint64 `json:"accepted"` // readings Submit took
	Stored   uint64 `json:"stored"`   // readings written to a segment (write(2) returned)
	Synced   uint64 `json:"synced"`   // readings of Stored covered by a successful fsync
	Pending  uint64 `json:"pending"`  // accepted readings not yet written: queued or buffered

	Frames   uint64 `json:"frames"`    // frames stored
	RawBytes uint64 `json:"raw_bytes"` // CSV bytes stored, before compression
	Bytes    uint64 `json:"bytes"`     // bytes written to segments, compressed, headers included
	Segments uint64 `json:"segments"`  // segments created

	QueueChunks    int   `json:"queue_chunks"`     // chunks in the queue now
	QueueHighWater int   `json:"queue_high_water"` // most chunks ever in the queue
	QueueBytes     int64 `json:"queue_bytes"`      // memory held by queued chunks

	// Refused counts Submit calls that returned false (queue_full,
	// closed), RefusedReadings the readings in them: a chunk refused and
	// submitted again counts once per refusal.
	Refused         ByReason `json:"refused"`
	RefusedReadings ByReason `json:"refused_readings"`
	// Dropped counts readings the sink accepted and did not store
	// (write_error; discarded_by_config for None).
	Dropped     ByReason `json:"dropped"`
	WriteErrors uint64   `json:"write_errors"` // failed writes, fsyncs, renames and creates

	Recovered      uint64 `json:"recovered_segments"`   // .partial segments of an earlier run sealed at open
	RecoveredTrunc uint64 `json:"recovered_torn_bytes"` // bytes of torn frames cut from them

	Checkpoints      uint64 `json:"checkpoints"`       // checkpoints written (FileConfig.Checkpoint)
	CheckpointErrors uint64 `json:"checkpoint_errors"` // checkpoints that failed: the previous one stayed
	// ReplayDamaged counts what Recover skipped: a torn or corrupt
	// checkpoint, damaged frames and rows of the segments it replayed.
	ReplayDamaged uint64 `json:"replay_damaged"`
}

// ByReason holds a count per DropReason. It marshals to JSON as an object
// keyed by the reasons' names.
type ByReason [NumDropReasons]uint64

// MarshalJSON implements json.Marshaler.
func (b ByReason) MarshalJSON() ([]byte, error) {
	out := []byte{'{'}
	for r, n := range b {
		if r > 0 {
			out = append(out, ',')
		}
		out = append(out, '"')
		out = append(out, dropNames[r]...)
		out = append(out, '"', ':')
		out = strconv.AppendUint(out, n, 10)
	}
	return append(out, '}'), nil
}

// UnmarshalJSON implements json.Unmarshaler, so that a node's stats JSON
// (a cluster view reads other nodes' Stats) decodes back into Stats.
// Every count not in the object is zero; null leaves b as it is, as for
// other types. Names this version does not know are skipped rather than
// refused: a newer node may count a new reason.
func (b *ByReason) UnmarshalJSON(data []byte) error {
	if string(data) == "null" {
		return nil
	}
	var m map[string]uint64
	if err := json.Unmarshal(data, &m); err != nil {
		return fmt.Errorf("sink: counts by reason: %w", err)
	}
	*b = ByReason{}
	for r, name := range dropNames {
		b[r] = m[name]
	}
	return nil
}

// counters are the atomics behind Stats, shared by the sinks.
type counters struct {
	accepted, stored, synced          atomic.Uint64
	frames, rawBytes, bytes, segs     atomic.Uint64
	refused, refusedReadings, dropped [NumDropReasons]atomic.Uint64
	writeErrors                       atomic.Uint64
	recovered, recoveredTrunc         atomic.Uint64
	checkpoints, checkpointErrors     atomic.Uint64
	replayDamaged                     atomic.Uint64
	queueHighWater                    atomic.Int64
	queueBytes                        atomic.Int64
}

func (c *counters) refuse(r DropReason, readings int) {
	c.refused[r].Add(1)
	c.refusedReadings[r].Add(uint64(readings))
}

func (c *counters) stats() Stats {
	// Load what the writer advances before what Submit advances, so that
	// a snapshot taken mid-update never shows more done than accepted.
	var s Stats
	for i := range s.Refused {
		s.Refused[i] = c.refused[i].Load()
		s.RefusedReadings[i] = c.refusedReadings[i].Load()
		s.Dropped[i] = c.dropped[i].Load()
	}
	s.Synced = c.synced.Load()
	s.Stored = c.stored.Load()
	s.Accepted = c.accepted.Load()
	s.Frames = c.frames.Load()
	s.RawBytes = c.rawBytes.Load()
	s.Bytes = c.bytes.Load()
	s.Segments = c.segs.Load()
	s.QueueHighWater = int(c.queueHighWater.Load())
	s.QueueBytes = c.queueBytes.Load()
	s.WriteErrors = c.writeErrors.Load()
	s.Recovered = c.recovered.Load()
	s.RecoveredTrunc = c.recoveredTrunc.Load()
	s.Checkpoints = c.checkpoints.Load()
	s.CheckpointErrors = c.checkpointErrors.Load()
	s.ReplayDamaged = c.replayDamaged.Load()
	if done := s.Stored + s.Dropped[DropWriteError] + s.Dropped[DropDiscardedByConfig]; s.Accepted > done {
		s.Pending = s.Accepted - done
	}
	return s
}

// None returns the sink of --sink none: it accepts every chunk and discards
// it, counting its readings as Dropped[DropDiscardedByConfig], so a
// benchmark measures ingest without storage and still sees what it threw
// away.
//
// It settles a chunk's receipt true at once, inside Submit: for
// benchmarks, acknowledged delivery behaves as if the readings were
// stored (devices see their samples acknowledged and free them), though
// nothing is.
func None() Sink { return &noneSink{} }

type noneSink struct {
	mu     sync.RWMutex
	closed bool
	c      counters
}

func (s *noneSink) Submit(c *Chunk) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		s.c.refuse(DropClosed, c.Readings())
		return false
	}
	s.c.accepted.Add(uint64(c.Readings()))
	s.c.dropped[DropDiscardedByConfig].Add(uint64(c.Readings()))
	r := c.receipt
	c.Release()
	if r != nil {
		r.Settled(true)
	}
	return true
}

func (s *noneSink) Close() error {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	return nil
}

func (s *noneSink) Stats() Stats { return s.c.stats() }

// Discards reports whether s keeps nothing (None): a caller may then skip
// copying readings for it at all.
func Discards(s Sink) bool {
	_, none := s.(*noneSink)
	return none
}
