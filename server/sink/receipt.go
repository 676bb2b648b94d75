package sink

// Receipt learns the fate of a chunk's readings once the sink knows it.
//
// Settled is called exactly once for every chunk that carries a receipt
// (Chunk.SetReceipt) and that Submit accepted:
//
//   - Settled(true) once every reading of the chunk is durable. For a
//     FileSink: written to a segment, and that segment fsynced after the
//     write (by the periodic fsync every FsyncInterval, or when the
//     segment is sealed), its directory entry fsynced too. A chunk
//     without readings is durable once the chunks before it are.
//   - Settled(false) once some of them never will be: a write failed (a
//     full disk, an I/O error), or an fsync that had to cover them failed
//     (Linux may have dropped the pages: they count as lost even if a
//     later fsync succeeds), or the sink dropped the chunk at Close.
//
// A chunk that Submit refused is never settled by the sink: it is still
// the caller's, and the caller settles it (the server settles false).
//
// A FileSink calls Settled on its writer goroutine, in submission order
// (the order in which Submit accepted the chunks), after it released the
// chunk. None calls Settled(true) inside Submit, on the caller's
// goroutine. Settled must not block and must not call the sink: the
// writer stops while it runs, and with None the caller's event loop does.
type Receipt interface{ Settled(durable bool) }

// pendingReceipt is a receipt the writer holds until it knows its fate.
type pendingReceipt struct {
	r    Receipt
	lost bool // some of the chunk's rows failed to be written or fsynced
}

// receipts are the writer's receipts not yet settled, in submission order.
// Their chunks' rows are, in that order: written to the open segment and
// waiting for its fsync (q[:written]), then still in the writer's buffer,
// at least in part (q[written:]). The chunk being added (cur) joins q when
// its last row is buffered.
//
// The slice is reused: once grown to the most receipts ever waiting (at
// most FileConfig.QueueChunks, see writer.add) it allocates nothing.
type receipts struct {
	q       []pendingReceipt
	written int

	cur        Receipt // receipt of the chunk being added, nil if none
	curLost    bool
	curWritten bool // some of cur's rows are in the open segment
}

// begin starts adding a chunk with receipt r (nil: none).
func (rc *receipts) begin(r Receipt) {
	rc.cur, rc.curLost, rc.curWritten = r, false, false
}

// end ends adding the chunk. When its last rows are written already (the
// buffer is empty), it waits for the open segment's fsync; with no open
// segment, that segment was sealed since or the write failed, so
// whatever can be known is known.
func (rc *receipts) end(bufEmpty, segOpen bool) {
	if rc.cur != nil {
		rc.q = append(rc.q, pendingReceipt{r: rc.cur, lost: rc.curLost})
		rc.cur = nil
	}
	if bufEmpty {
		rc.written = len(rc.q)
		if !segOpen {
			rc.settle(rc.written, true)
		}
	}
}

// wrote records that the buffer was written to the open segment.
func (rc *receipts) wrote() {
	rc.written = len(rc.q)
	if rc.cur != nil {
		rc.curWritten = true
	}
}

// lostBuffer records that the buffer could not be written: its rows are
// dropped. With no open segment nothing is waiting for an fsync, so the
// lost receipts are settled at once; otherwise the seal that follows a
// failed write settles them, in order.
func (rc *receipts) lostBuffer(segOpen bool) {
	for i := rc.written; i < len(rc.q); i++ {
		rc.q[i].lost = true
	}
	rc.written = len(rc.q)
	if rc.cur != nil {
		rc.curLost = true
	}
	if !segOpen {
		rc.settle(rc.written, false)
	}
}

// synced records an fsync of the open segment (and of its directory
// entry) that succeeded (durable) or failed.
func (rc *receipts) synced(durable bool) { rc.settle(rc.written, durable) }

// sealed records that the open segment was sealed, durably or not. It
// reports whether every receipt of the rows in it is settled, which a
// checkpoint needs: false when the chunk being added has rows in it.
func (rc *receipts) sealed(durable bool) (whole bool) {
	rc.settle(rc.written, durable)
	if rc.cur == nil || !rc.curWritten {
		return true
	}
	rc.curLost = rc.curLost || !durable
	rc.curWritten = false
	return false
}

// settle settles the first n receipts: durable unless lost.
func (rc *receipts) settle(n int, durable bool) {
	if n == 0 {
		return
	}
	for _, p := range rc.q[:n] {
		p.r.Settled(durable && !p.lost)
	}
	old := len(rc.q)
	m := copy(rc.q, rc.q[n:])
	clear(rc.q[m:old]) // keep no settled receipt alive in the spare capacity
	rc.q = rc.q[:m]
	rc.written -= n
}

// waiting is how many receipts the writer holds.
func (rc *receipts) waiting() int { return len(rc.q) }
