package natssink

import (
	"bytes"
	"encoding/json"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/fleetwire/fleetwire/server/sink"
)

// counters are the atomics behind Stats and NATSStats.
type counters struct {
	accepted, stored, frames, bytes   atomic.Uint64
	refused, refusedReadings, dropped [sink.NumDropReasons]atomic.Uint64
	writeErrors, segs                 atomic.Uint64
	queueHighWater, queueBytes        atomic.Int64

	spoolFull                         atomic.Bool
	spoolBytes, spoolHighWater        atomic.Int64
	inflight                          atomic.Int64
	spooled, refusedSpoolFull         atomic.Uint64
	published, ackedMsgs, dupAcks     atomic.Uint64
	dupReadings                       atomic.Uint64
	pubErrors, corrupt                atomic.Uint64
	recovered, recoveredReadings      atomic.Uint64
	recoveredAcked, recoveredTrunc    atomic.Uint64
	statsPublished, statsPublishErrs  atomic.Uint64
	rejectedBatches, rejectedReadings atomic.Uint64
	receiptsDurable, receiptsLost     atomic.Uint64
	receiptsWaiting, dupWindow        atomic.Int64
}

func (c *counters) refuse(r sink.DropReason, readings int) {
	c.refused[r].Add(1)
	c.refusedReadings[r].Add(uint64(readings))
}

// Stats implements sink.Sink. A reading is Stored (and Synced) only when
// JetStream has acknowledged its batch: stored on the stream's replicas.
// Pending holds the rest of what Submit accepted: queued, in a batch
// being built, in the spool or in flight; after Close, the readings left
// in the spool for the next start. Frames and Bytes count the
// acknowledged frames and compressed payload bytes; Segments the spool
// files created; Recovered the batches an earlier run left in the spool
// (RecoveredTrunc its torn bytes), whose readings are not in Accepted but
// in NATSStats.Recovered*. Dropped[write_error] counts readings the spool
// could not take (disk full), Refused[queue_full] includes the chunks
// refused because the spool was full.
func (s *Sink) Stats() sink.Stats {
	c := &s.c
	var st sink.Stats
	for i := range st.Refused {
		st.Refused[i] = c.refused[i].Load()
		st.RefusedReadings[i] = c.refusedReadings[i].Load()
		st.Dropped[i] = c.dropped[i].Load()
	}
	st.Stored = c.stored.Load()
	st.Synced = st.Stored
	st.Accepted = c.accepted.Load()
	st.Frames = c.frames.Load()
	st.Bytes = c.bytes.Load()
	st.Segments = c.segs.Load()
	st.QueueChunks = len(s.queue)
	st.QueueHighWater = int(c.queueHighWater.Load())
	st.QueueBytes = c.queueBytes.Load()
	st.WriteErrors = c.writeErrors.Load()
	st.Recovered = c.recovered.Load()
	st.RecoveredTrunc = c.recoveredTrunc.Load()
	if done := st.Stored + st.Dropped[sink.DropWriteError]; st.Accepted > done {
		st.Pending = st.Accepted - done
	}
	return st
}

// NATSStats are the counters particular to the NATS sink.
type NATSStats struct {
	Node      string `json:"node"`
	Stream    string `json:"stream"`
	Connected bool   `json:"connected"`
	Server    string `json:"server,omitempty"` // the NATS server connected to
	Reconnect uint64 `json:"reconnects"`

	Published     uint64 `json:"published"`          // publish calls, republishing included
	Acked         uint64 `json:"acked"`              // acknowledgements received
	DuplicateAcks uint64 `json:"duplicate_acks"`     // of batches JetStream had already: republished after a lost ack
	DuplicateRead uint64 `json:"duplicate_readings"` // in those batches (stored once, by the first publish)
	PublishErrors uint64 `json:"publish_errors"`     // failed publishes and acks (each rewinds the spool)
	InFlight      int64  `json:"in_flight"`

	SpoolBytes       int64  `json:"spool_bytes"`            // unacknowledged batches on disk
	SpoolHighWater   int64  `json:"spool_high_water_bytes"` // most ever
	SpoolMaxBytes    int64  `json:"spool_max_bytes"`
	SpoolFull        bool   `json:"spool_full"`
	Spooled          uint64 `json:"spooled_readings"`   // readings written to the spool (this run)
	RefusedSpoolFull uint64 `json:"refused_spool_full"` // chunks Submit refused because the spool was full
	CorruptRecords   uint64 `json:"corrupt_records"`    // spool records that failed their checksum: skipped

	RecoveredBatches  uint64 `json:"recovered_batches"`  // found in the spool at open
	RecoveredReadings uint64 `json:"recovered_readings"` // in them
	RecoveredAcked    uint64 `json:"recovered_acked"`    // of those, acknowledged since

	// Batches JetStream refused for good (larger than the stream's
	// max_msg_size): dropped, their readings in Dropped[write_error].
	RejectedBatches  uint64 `json:"rejected_batches"`
	RejectedReadings uint64 `json:"rejected_readings"`

	// Receipts (sink.Receipt) settled durable and not, and waiting.
	ReceiptsDurable uint64 `json:"receipts_durable"`
	ReceiptsLost    uint64 `json:"receipts_lost"`
	ReceiptsWaiting int64  `json:"receipts_waiting"`

	// DupWindowMs is the stream's duplicate window, once the stream was
	// found: how long JetStream drops a message id it has seen.
	DupWindowMs int64 `json:"dup_window_ms"`

	StatsPublished uint64 `json:"stats_published"`
}

// NATSStats returns the NATS sink's own counters.
func (s *Sink) NATSStats() NATSStats {
	c := &s.c
	st := NATSStats{
		Node: s.cfg.Node, Stream: s.cfg.Stream,
		Connected:     s.nc.Status() == nats.CONNECTED,
		Reconnect:     s.nc.Stats().Reconnects,
		Published:     c.published.Load(),
		Acked:         c.ackedMsgs.Load(),
		DuplicateAcks: c.dupAcks.Load(),
		DuplicateRead: c.dupReadings.Load(),
		PublishErrors: c.pubErrors.Load(),
		InFlight:      c.inflight.Load(),

		SpoolBytes: c.spoolBytes.Load(), SpoolHighWater: c.spoolHighWater.Load(),
		SpoolMaxBytes: s.cfg.SpoolMaxBytes, SpoolFull: c.spoolFull.Load(),
		Spooled: c.spooled.Load(), RefusedSpoolFull: c.refusedSpoolFull.Load(),
		CorruptRecords: c.corrupt.Load(),

		RecoveredBatches: c.recovered.Load(), RecoveredReadings: c.recoveredReadings.Load(),
		RecoveredAcked:  c.recoveredAcked.Load(),
		RejectedBatches: c.rejectedBatches.Load(), RejectedReadings: c.rejectedReadings.Load(),
		ReceiptsDurable: c.receiptsDurable.Load(), ReceiptsLost: c.receiptsLost.Load(),
		ReceiptsWaiting: c.receiptsWaiting.Load(),
		DupWindowMs:     c.dupWindow.Load() / int64(time.Millisecond),
		StatsPublished:  c.statsPublished.Load(),
	}
	if st.Connected {
		st.Server = s.nc.ConnectedUrlRedacted()
	}
	return st
}

// StatsSubject returns the subject node's stats are published to.
func (s *Sink) StatsSubject() string { return s.cfg.StatsSubject + "." + s.cfg.Node }

// publishStats publishes the stats source's JSON every StatsInterval (core
// NATS, not JetStream: a lost stats message is replaced a second later).
func (s *Sink) publishStats() {
	defer s.helpers.Done()
	t := time.NewTicker(s.cfg.StatsInterval)
	defer t.Stop()
	subj := s.StatsSubject()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
		}
		src := s.statsSrc.Load()
		if src == nil || s.nc.Status() != nats.CONNECTED {
			continue
		}
		b, err := statsMessage((*src)(), s.NATSStats())
		if err == nil {
			err = s.nc.Publish(subj, b)
		}
		if err != nil {
			s.c.statsPublishErrs.Add(1)
			continue
		}
		s.c.statsPublished.Add(1)
	}
}

// statsMessage is v's JSON object with "nats_sink": ns added (unless v
// carries it already, as the server's Stats does), so that a reader can
// decode the message straight into the server's Stats type.
func statsMessage(v any, ns NATSStats) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	if bytes.Contains(b, []byte(`"nats_sink":`)) {
		return b, nil
	}
	n, err := json.Marshal(ns)
	if err != nil {
		return nil, err
	}
	if len(b) < 2 || b[0] != '{' || b[len(b)-1] != '}' {
		// Not an object: wrap it.
		return json.Marshal(map[string]any{"stats": json.RawMessage(b), "nats_sink": json.RawMessage(n)})
	}
	out := make([]byte, 0, len(b)+len(n)+16)
	out = append(out, b[:len(b)-1]...)
	if len(b) > 2 {
		out = append(out, ',')
	}
	out = append(out, `"nats_sink":`...)
	out = append(out, n...)
	return append(out, '}'), nil
}
