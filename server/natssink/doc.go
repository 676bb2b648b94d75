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
// had stored the first (within the stream's duplicate window,
// Config.DupWindow, 2 minutes by default).
//
// The frames of devices that acknowledge delivery (sink.Chunk.AddAcked)
// are batched apart, one contiguous run of sequence numbers per message
// (a frame that does not continue the run closes it), named by device
// and run only, with one more header:
//
//	Nats-Msg-Id       <device>/<lo>-<hi>
//	Fleetwire-Held    <next> [<lo>-<hi> ...]
//
// See "Acknowledging devices" below.
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
// # Receipts
//
// A chunk's receipt (sink.Receipt) settles true once JetStream has
// acknowledged every batch that took any of its readings (an
// acknowledgement marked duplicate counts: JetStream stored the same
// message id before), and false once one of them never will be: the spool
// could not take it (write_error), JetStream refused it for good (below),
// or it was still in the spool at Close (the next Open publishes it, but
// cannot tell anyone). Receipts settle on the writer goroutine, after the
// chunk was released, exactly once, in submission order (the order in
// which Submit accepted the chunks): a receipt whose batches are all
// acknowledged waits for those before it, which is short, since every
// batch is closed by the Linger tick after its chunk was taken and
// acknowledgements come back in spool order. A
// chunk Submit refused (queue or spool full, closed) is the caller's to
// settle. Memory: one entry per receipt waiting and one per (batch,
// receipt) pair in the spool, in reused arrays; nothing per reading.
//
// # Acknowledging devices
//
// A device that opted in to acknowledgements (PROTOCOL.md) keeps every
// sample until a #stored says it is durable, which with this sink means
// that JetStream acknowledged the message holding it, and resends the
// rest. When its node dies it reconnects to another, which has no state
// for it. Two things keep its resends out of the stream:
//
//   - Message ids. An acking device's run is named <device>/<lo>-<hi>
//     whichever node publishes it (a device never reuses a sequence
//     number), so the same run published again, by any node, within the
//     stream's duplicate window, is dropped by JetStream: a batch a
//     restarted node republishes from its spool, or a resend the new node
//     happens to pack into the same run.
//   - Fleetwire-Held. Each such message carries what this node knew
//     JetStream held of the device when it published it (acknowledged
//     runs, and what HeldSet told it), plus the message's own run. So the
//     device's last message in the stream, whichever node published it,
//     names only samples in the stream: those acknowledged before it went
//     out, and its own (stored with it, or earlier under the same id).
//     Sink.HeldSet reads that header (one JetStream request for the last
//     message on the device's subject, answered by the stream's leader,
//     or by any replica if the stream allows direct gets); the server
//     calls it the first time it sees an acking device it has no state
//     for, makes the answer what the device has received and what is
//     durable, and acknowledges it at once, so the device resends only
//     the rest and a resend of what is held is not stored again.
//
// HeldSet trusts that header and nothing else: it does not look at the
// payloads, it trusts every node to build the header as above, and it
// trusts the stream to keep what was stored in it (a retention limit
// that removed the device's older messages leaves them named). It may
// say less than the stream holds, never more: a header holds at most 64
// ranges above next (the lowest are forgotten first, they are the ones a
// device no longer resends); a lagging replica answers an older header;
// the last message on the subject may be another device's whose id
// differs only in '.' and '_', or one of the device's frames without a
// sequence number: HeldSet then answers nil. Whatever it does not name
// is stored again if the device resends it.
//
// So duplicates remain possible, each counted by Read (DuplicateRows):
//
//   - A run that reached the stream but is not in the header of the
//     device's last message when HeldSet reads it: it was still in flight
//     when its node published the device's later message (a backlog
//     after an outage; runs that follow faster than acknowledgements), or
//     the dead node's last bytes reached NATS after the device had already
//     reconnected elsewhere and HeldSet had answered. The device resends
//     it: stored twice, unless the resend is packed into the same run.
//   - A dead node restarted on its spool (or a node reopened after a
//     Close that left batches there) publishes runs that their devices
//     have meanwhile resent through another node. A resend packed into
//     the same run within the duplicate window is dropped; one packed
//     into different runs (the new node merged it with new samples, or
//     the device cut its resend differently) is stored twice.
//   - Anything published again past the duplicate window.
//   - A device that comes back to a node that still has state for it
//     (the node did not die): the node does not ask HeldSet, and what
//     another node stored meanwhile is stored again if resent.
//
// The duplicate window (Config.DupWindow, --nats-dup-window, of a stream
// the sink creates; an existing stream keeps its own, NATSStats shows
// it) bounds how long after a message is stored JetStream drops another
// with its id: how long an outage or a node's downtime may last before
// its spool's republished batches are stored again, and how far apart
// two nodes may publish the same run. JetStream keeps every id of the
// window in memory.
//
// # What counts
//
// A reading is stored (Stats.Stored, Synced) only when JetStream has
// acknowledged its batch. When the unacknowledged batches in the spool
// reach SpoolMaxBytes, Submit refuses chunks: the server counts their
// readings as dropped, sink_full, and NATSStats.RefusedSpoolFull says why.
// A spool write that fails (disk full) drops the batch's readings as
// Dropped[write_error]; so does a batch JetStream refuses for good
// (larger than the stream's max_msg_size: NATSStats.Rejected*), which is
// not retried. Nothing is lost silently.
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
// stream back as CSV (`fleetwire consume`), and counts the rows missing
// from each device's sequence numbers and those it has twice.
package natssink
