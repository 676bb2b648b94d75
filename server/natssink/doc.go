// Package natssink is the sink of `fleetwire serve --sink nats://...`: it
// publishes readings to a JetStream stream, so that many ingest nodes
// feed one replicated, durable stream, and it loses nothing when NATS is
// slow or away.
//
// # Messages
//
// A writer goroutine takes chunks from a bounded queue (Submit never
// blocks), groups each device's frames into a batch for up to
// Config.Linger, and codes the batch as compact frames (consecutive
// frames of a device merged into one run) wrapped in one zstd envelope:
// the bytes `fleetwire decode` and codec/wire read, within
// codec.DefaultLimits. Each batch is one message:
//
//	subject       fleetwire.readings.<device>   ('.' in the id as '_': one token per device)
//	Fleetwire-Codec   compact+zstd
//	Fleetwire-Node    <node>
//	Nats-Msg-Id       <node>/<device>/<first seq or ->/<run>.<batch>
//
// The message id names the batch by node, device and the seq of its
// first sample; <run> (the sink's start time, base 36) and the batch
// number make it unique even when a device restarts its count or sends no
// seq at all, so JetStream never drops a new batch as a duplicate of an
// old one. The id is stored with the batch, so a batch published again
// after a failure carries the same id, and JetStream drops the copy if it
// had stored the first (within the stream's duplicate window, 2 minutes
// by default).
//
// # The spool
//
// Every batch is appended to a spool before it is published, and
// published from there: the spool is the sink's write-ahead log and its
// outbox at once. Under <data>/nats-spool/<node>/:
//
//	.lock                 flock(2) of the running node
//	0000000000000001.spool   segment: "FWSPOOL1", then records
//	cursor                "v1 <segment> <offset>": everything before is acknowledged
//
// A record is a u32 length, a u32 CRC-32C of the body, and the body: the
// message id, the subject (each a uvarint length and bytes), the readings
// and frames (uvarints) and the payload. Records are written with one
// write(2) per writer turn; segments rotate at SpoolSegmentBytes (fsync),
// are fsynced every SyncInterval while they hold unacknowledged batches,
// and are deleted once wholly acknowledged. The cursor is saved every
// Linger (fsynced every SyncInterval).
//
// Publishing is asynchronous with at most MaxInflight batches in flight.
// Acknowledgements are handled in publish order, so the acknowledged
// position only moves forward. A failed publish or ack (disconnection,
// timeout, no stream leader) rewinds the read position to that batch and
// publishes everything from there again after a backoff (100 ms doubling
// to 2 s): batches of one device go out in spool order. A batch acked
// after one before it failed (possible only while a stream leader changes)
// is already stored, so its device's batches can appear out of order in
// the stream then; the seq column tells.
//
// # What counts
//
// A reading is stored (Stats.Stored, Synced) only when JetStream has
// acknowledged its batch. When the unacknowledged batches in the spool
// reach SpoolMaxBytes, Submit refuses chunks: the server counts their
// readings as dropped, sink_full, and NATSStats.RefusedSpoolFull says why.
// A spool write that fails (disk full) drops the batch's readings as
// Dropped[write_error]. Nothing is lost silently.
//
// What survives what:
//
//   - NATS slow or away: batches wait in the spool and go out when it is
//     back, each exactly once within the duplicate window.
//   - The process killed: what reached the spool (write(2) returned) is
//     published by the next Open on the same --data and --node. What was
//     only in memory is lost: chunks in the queue, batches still open
//     (at most Linger old), and the server's own chunks not yet submitted.
//     Batches acknowledged after the cursor was last saved are published
//     again and dropped by JetStream as duplicates (within the window).
//   - The host losing power: as a kill, less the spool writes of the last
//     SyncInterval.
//   - Close: publishes the spool for up to DrainTimeout, then leaves the
//     rest, fsynced, to the next Open (Stats.Pending counts it).
//
// Every StatsInterval the sink publishes the server's Stats JSON, with its
// NATSStats added as "nats_sink", to fleetwire.stats.<node>; a
// ClusterView follows those messages and adds them up. Read reads the
// stream back as CSV (`fleetwire consume`).
package natssink
