package natssink

import (
	"bytes"
	"errors"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/fleetwire/fleetwire/codec/ack"
	"github.com/fleetwire/fleetwire/server/sink"
)

// writer is the state of the writer goroutine; nothing else touches it.
//
// Every batch goes through the spool: it is appended (one write(2) per
// loop turn), then read back from the oldest unacknowledged record and
// published, MaxInflight at a time. Acknowledgements come back in publish
// order (the acker waits on the futures in that order), so the
// acknowledged position only moves forward. A failed publish rewinds the
// read position to that batch and publishes everything from there again,
// after a backoff: batches JetStream had stored already carry the same
// Nats-Msg-Id and are dropped as duplicates.
type writer struct {
	s  *Sink
	sp *spool
	bt *batcher
	rq receiptQ

	inflightQ chan pending // to the acker, in publish order
	results   chan result  // from the acker, in publish order
	inflight  int          // published, result not handled yet
	gen       uint64       // bumped by each rewind; older results are stale

	backoff time.Duration
	retryAt time.Time

	wbufReadings uint64 // readings appended and not committed yet
	rd           record
	hdrCodec     []string
	hdrNode      []string
	scratch      ack.Set // the Fleetwire-Held header being built
	hbuf         []byte
	lastErrLog   time.Time
	suppressed   int
	lastSync     time.Time
}

type pending struct {
	fut        jetstream.PubAckFuture
	start, end pos
	readings   uint64
	frames     uint64
	bytes      uint64
	gen        uint64
	recovered  bool
	held       *ack.Set // an acking device's run [lo, hi]: what its ack adds to
	lo, hi     uint64
}

type result struct {
	pending
	dup bool
	err error
}

const (
	minBackoff = 100 * time.Millisecond
	maxBackoff = 2 * time.Second
)

// acker turns futures into results, in publish order.
func (w *writer) acker() {
	defer w.s.helpers.Done()
	for p := range w.inflightQ {
		r := result{pending: p}
		select {
		case ack := <-p.fut.Ok():
			r.dup = ack.Duplicate
		case r.err = <-p.fut.Err():
		}
		w.results <- r
	}
}

func (w *writer) run() {
	defer close(w.s.done)
	t := time.NewTicker(w.s.cfg.Linger)
	defer t.Stop()
	w.lastSync = time.Now()
	for {
		select {
		case c, ok := <-w.s.queue:
			if !ok {
				w.drain()
				return
			}
			w.take(c)
		case now := <-t.C:
			w.bt.flush()
			w.tick(now)
		case r := <-w.results:
			w.handle(r)
		case <-w.s.wake:
		}
		w.commit()
		w.pump(time.Now())
	}
}

func (w *writer) take(c *sink.Chunk) {
	w.s.c.queueBytes.Add(-approxBytes(c))
	r := c.Receipt()
	var rid uint64
	if r != nil {
		rid = w.rq.open(r)
	}
	w.bt.add(c, rid, r != nil)
	c.Release()
	if r != nil {
		w.rq.taken(rid) // settles now if the chunk held no readings
	}
}

// spoolRecord is the batcher's emit: it appends a closed batch to the
// spool. A batch the spool cannot take is a counted drop (write_error).
func (w *writer) spoolRecord(r *record) {
	if w.sp.rotateDue() {
		// Rotating writes the buffer first: write it here, where a
		// failure is accounted for batch by batch.
		w.commit()
	}
	end, err := w.sp.append(r)
	if err != nil {
		w.fail("spool append", err)
		w.s.c.dropped[sink.DropWriteError].Add(r.readings)
		w.rq.lost(r.rids)
		return
	}
	w.wbufReadings += r.readings
	w.rq.spooled(end, r.rids)
}

func (w *writer) commit() {
	n := w.wbufReadings
	w.wbufReadings = 0
	if err := w.sp.commit(); err != nil {
		w.fail("spool write", err)
		w.s.c.dropped[sink.DropWriteError].Add(n)
		w.rq.commit(false)
	} else {
		w.s.c.spooled.Add(n)
		w.rq.commit(true)
	}
	w.noteSpool()
}

// noteSpool publishes the spool's size to Stats and to Submit.
func (w *writer) noteSpool() {
	b := w.sp.unacked()
	w.s.c.spoolBytes.Store(b)
	if b > w.s.c.spoolHighWater.Load() {
		w.s.c.spoolHighWater.Store(b)
	}
	w.s.c.spoolFull.Store(b >= w.s.cfg.SpoolMaxBytes)
	w.s.c.inflight.Store(int64(w.inflight))
	w.s.c.receiptsWaiting.Store(int64(w.rq.waiting()))
}

// tick saves the acknowledged position every Linger, so that a restart
// republishes little that JetStream has (it drops those as duplicates
// within its duplicate window), and fsyncs every SyncInterval.
func (w *writer) tick(now time.Time) {
	sync := now.Sub(w.lastSync) >= w.s.cfg.SyncInterval
	if sync {
		w.lastSync = now
		w.commit()
		if w.sp.unacked() > 0 {
			// Only unacknowledged batches need to survive a power loss.
			if err := w.sp.sync(); err != nil {
				w.fail("spool fsync", err)
			}
		}
	}
	if err := w.sp.saveCursor(sync); err != nil {
		w.fail("spool cursor", err)
	}
}

// pump publishes from the spool's read position while there is room in
// flight, NATS is connected and the stream is there.
func (w *writer) pump(now time.Time) {
	s := w.s
	if !s.streamReady.Load() || now.Before(w.retryAt) || s.nc.Status() != nats.CONNECTED {
		return
	}
	for w.inflight < s.cfg.MaxInflight {
		start, end, ok, err := w.sp.next(&w.rd)
		if err != nil {
			w.fail("spool read", err)
			w.retryAt = now.Add(maxBackoff)
			return
		}
		if !ok {
			return
		}
		r := &w.rd
		// The payload is copied: the read buffer is reused, and the
		// client keeps the message to retry it when no stream answered.
		msg := &nats.Msg{
			Subject: string(r.subject),
			Data:    bytes.Clone(r.payload),
			Header: nats.Header{
				HeaderCodec:           w.hdrCodec,
				HeaderNode:            w.hdrNode,
				jetstream.MsgIDHeader: {string(r.id)},
			},
		}
		var held *ack.Set
		dev, lo, hi, acking := parseRunID(r.id)
		if acking {
			held = s.held.get(dev)
			msg.Header[HeaderHeld] = []string{w.heldHeader(held, lo, hi)}
		}
		fut, err := s.js.PublishMsgAsync(msg)
		s.c.published.Add(1)
		if err != nil {
			// Not sent: try it again later. The batches in flight before
			// it keep their generation, so a failure among them still
			// rewinds to the oldest.
			w.sp.seek(start)
			w.backOff(err)
			return
		}
		w.inflight++
		w.inflightQ <- pending{fut: fut, start: start, end: end, readings: r.readings, frames: r.frames,
			bytes: uint64(len(r.payload)), gen: w.gen, recovered: start.less(w.sp.recovered),
			held: held, lo: lo, hi: hi}
	}
}

// heldHeader is the Fleetwire-Held header of an acking device's run [lo,
// hi]: what JetStream has acknowledged of the device so far (held), plus
// the run. Whichever of the device's messages is last in the stream, its
// header names only samples in the stream: those acknowledged before it
// was published, and its own (stored with it, or before it under the
// same message id).
func (w *writer) heldHeader(held *ack.Set, lo, hi uint64) string {
	w.s.held.copyTo(&w.scratch, held)
	holdRun(&w.scratch, lo, hi)
	w.hbuf = appendHeld(w.hbuf[:0], &w.scratch)
	return string(w.hbuf)
}

func (w *writer) handle(r result) {
	w.inflight--
	c := &w.s.c
	if r.err == nil {
		c.ackedMsgs.Add(1)
		if r.dup {
			c.dupAcks.Add(1)
			c.dupReadings.Add(r.readings)
		}
	}
	if r.gen != w.gen {
		return // published again after a rewind
	}
	if r.err != nil && rejectedForGood(r.err) {
		w.reject(r)
		return
	}
	if r.err != nil {
		w.rewind(r.start, r.err)
		return
	}
	w.backoff = 0
	if err := w.sp.acked(r.end); err != nil {
		w.fail("spool remove", err)
	}
	if r.recovered {
		c.recoveredAcked.Add(r.readings)
	} else {
		c.frames.Add(r.frames)
		c.bytes.Add(r.bytes)
		c.stored.Add(r.readings)
	}
	// A duplicate counts as acknowledged: JetStream stored the same run
	// under the same message id before. The held set learns the run
	// before its receipts settle, so that every message of the device
	// published after the server acknowledged the run names it.
	if r.held != nil {
		w.s.held.add(r.held, r.lo, r.hi)
	}
	w.rq.acked(r.end, false)
}

// rejectedForGood reports whether JetStream refused a batch in a way
// publishing it again cannot change: larger than the stream's
// max_msg_size, or headers over 64 KiB.
func rejectedForGood(err error) bool {
	var api *jetstream.APIError
	return errors.As(err, &api) &&
		(api.ErrorCode == jetstream.JSErrCodeStreamMessageExceedsMaximum || api.ErrorCode == jsErrCodeHeaderExceedsMaximum)
}

// jsErrCodeHeaderExceedsMaximum is nats-server's
// JSStreamHeaderExceedsMaximumErr, which the client does not name.
const jsErrCodeHeaderExceedsMaximum jetstream.ErrorCode = 10097

// reject drops a batch JetStream refused for good, so that it does not
// stop the node's publishing: its readings are counted
// (Dropped[write_error], NATSStats.Rejected*) and its receipts settle
// false.
func (w *writer) reject(r result) {
	c := &w.s.c
	c.rejectedBatches.Add(1)
	c.rejectedReadings.Add(r.readings)
	if !r.recovered {
		c.dropped[sink.DropWriteError].Add(r.readings)
	}
	w.logErr("natssink: JetStream refused a batch for good; its readings are dropped", r.err, "readings", r.readings)
	w.backoff = 0
	if err := w.sp.acked(r.end); err != nil {
		w.fail("spool remove", err)
	}
	w.rq.acked(r.end, true)
}

// rewind makes the batch at start, whose publish failed, and everything
// published after it go out again after a backoff. The results still to
// come for those are stale: a batch among them that JetStream stored is
// dropped as a duplicate when it goes out again.
func (w *writer) rewind(start pos, err error) {
	w.gen++
	w.sp.seek(start)
	w.backOff(err)
}

func (w *writer) backOff(err error) {
	w.backoff = min(max(2*w.backoff, minBackoff), maxBackoff)
	w.retryAt = time.Now().Add(w.backoff)
	w.s.c.pubErrors.Add(1)
	w.logErr("natssink: publish failed; republishing from the spool", err, "retry_in", w.backoff)
}

// drain runs at Close: batch and spool what is queued, then publish the
// spool until it is empty or DrainTimeout has passed, and wait for what
// is in flight.
func (w *writer) drain() {
	s := w.s
	w.bt.flush()
	w.commit()
	deadline := time.Now().Add(s.cfg.DrainTimeout)
	for w.sp.unacked() > 0 && time.Now().Before(deadline) {
		w.pump(time.Now())
		select {
		case r := <-w.results:
			w.handle(r)
		case <-w.s.wake:
		case <-time.After(20 * time.Millisecond):
		}
	}
	// Results of what is still in flight arrive within AckTimeout.
	for w.inflight > 0 {
		w.handle(<-w.results)
	}
	close(w.inflightQ)
	// What is left in the spool goes out with the next Open, which cannot
	// tell the receipts' owners: for them, it is not stored.
	w.rq.closeAll()
	w.noteSpool()
	if left := w.sp.unacked(); left > 0 {
		st := s.Stats()
		s.cfg.Logger.Warn("natssink: closing with batches JetStream has not acknowledged; they stay in the spool for the next start",
			"spool_bytes", left, "readings", st.Pending, "dir", w.sp.dir)
	}
	if err := w.sp.close(); err != nil {
		w.fail("spool close", err)
	}
}

// fail records a spool error: the first is what Close returns.
func (w *writer) fail(op string, err error) {
	w.s.c.writeErrors.Add(1)
	if w.s.err == nil {
		w.s.err = &spoolError{op: op, err: err}
	}
	w.logErr("natssink: "+op+" failed", err)
}

// logErr logs at most one line a second, so that an outage does not
// flood the log.
func (w *writer) logErr(msg string, err error, args ...any) {
	if now := time.Now(); now.Sub(w.lastErrLog) >= time.Second {
		w.s.cfg.Logger.Warn(msg, append([]any{"err", err, "suppressed", w.suppressed}, args...)...)
		w.lastErrLog, w.suppressed = now, 0
	} else {
		w.suppressed++
	}
}

type spoolError struct {
	op  string
	err error
}

func (e *spoolError) Error() string { return "natssink: " + e.op + ": " + e.err.Error() }
func (e *spoolError) Unwrap() error { return e.err }
