package natssink

import "github.com/fleetwire/fleetwire/server/sink"

// Receipts (sink.Receipt). A chunk's readings go into one batch per
// device they belong to, and a batch takes readings of many chunks, so
// a receipt is reference-counted: every batch that took any of its
// chunk's readings holds one reference, from the moment the batch takes
// them until JetStream acknowledges the batch (or it is lost). The
// receipt settles once its chunk has been taken whole and no batch holds
// it: true unless one of those batches was lost (the spool could not
// take it, JetStream refused it for good, or it was still in the spool
// at Close).
//
// Receipts settle in submission order (the order in which the writer
// takes chunks from the queue, which is the order in which Submit
// accepted them), as a FileSink's do: a receipt whose batches are all
// acknowledged waits for the receipts before it. That costs little, since
// every batch is closed within a Linger and acknowledgements come back
// in spool order, and it spares the server's acker the out-of-order
// ranges it would otherwise have to hold back.
//
// Everything here belongs to the writer goroutine. Memory is bounded by
// what is unacknowledged: one entry per receipt waiting, and one id per
// (spooled batch, receipt) pair; both are slices reused in place, so
// nothing is allocated per reading or, once warm, per batch.

// waitingReceipt is a receipt the writer holds.
type waitingReceipt struct {
	r    sink.Receipt
	refs int32 // batches, open or spooled, holding readings of its chunk
	open bool  // its chunk is still being taken
	lost bool
}

// spooledRefs are the receipts held by one spooled batch, ids[from:to].
type spooledRefs struct {
	end      pos // end of the batch's spool record
	from, to int
}

type receiptQ struct {
	q    []waitingReceipt // q[head:] wait; q[i] has id base+i
	head int
	base uint64

	recs      []spooledRefs // spool order; recs[rhead:] unacknowledged
	rhead     int
	committed int // recs[:committed] are written to the spool file; the rest only buffered
	ids       []uint64

	settled func(durable bool) // counts, for Stats
}

// open starts taking a chunk with receipt r and returns the receipt's id.
func (rq *receiptQ) open(r sink.Receipt) uint64 {
	rq.q = append(rq.q, waitingReceipt{r: r, open: true})
	return rq.base + uint64(len(rq.q)-1)
}

// ref adds a batch's reference to receipt id.
func (rq *receiptQ) ref(id uint64) { rq.q[id-rq.base].refs++ }

// taken records that the chunk of receipt id has been taken whole.
func (rq *receiptQ) taken(id uint64) {
	rq.q[id-rq.base].open = false
	rq.settle()
}

// spooled records that the batch holding references ids was appended to
// the spool buffer as the record that ends at end.
func (rq *receiptQ) spooled(end pos, ids []uint64) {
	if len(ids) == 0 {
		return
	}
	from := len(rq.ids)
	rq.ids = append(rq.ids, ids...)
	rq.recs = append(rq.recs, spooledRefs{end: end, from: from, to: len(rq.ids)})
}

// lost drops the references ids of a batch that will never be
// acknowledged.
func (rq *receiptQ) lost(ids []uint64) {
	for _, id := range ids {
		w := &rq.q[id-rq.base]
		w.refs--
		w.lost = true
	}
	rq.settle()
}

// commit records that the spool buffer was written (ok) or lost with
// every batch in it.
func (rq *receiptQ) commit(ok bool) {
	if ok {
		rq.committed = len(rq.recs)
		return
	}
	if rq.committed == len(rq.recs) {
		return
	}
	for _, r := range rq.recs[rq.committed:] {
		rq.lost(rq.ids[r.from:r.to])
	}
	rq.ids = rq.ids[:rq.recs[rq.committed].from]
	rq.recs = rq.recs[:rq.committed]
}

// acked releases the references of every batch that ends at or before
// upTo: JetStream acknowledged them, or refused them for good (lost).
func (rq *receiptQ) acked(upTo pos, lost bool) {
	for rq.rhead < rq.committed && !upTo.less(rq.recs[rq.rhead].end) {
		r := rq.recs[rq.rhead]
		for _, id := range rq.ids[r.from:r.to] {
			w := &rq.q[id-rq.base]
			w.refs--
			w.lost = w.lost || lost
		}
		rq.rhead++
	}
	rq.compactRecs()
	rq.settle()
}

// closeAll settles every receipt still waiting, false: at Close, their
// batches stay in the spool for the next Open, which will publish them
// but cannot tell anyone.
func (rq *receiptQ) closeAll() {
	for i := rq.head; i < len(rq.q); i++ {
		rq.q[i].open, rq.q[i].refs, rq.q[i].lost = false, 0, true
	}
	rq.recs, rq.rhead, rq.committed, rq.ids = rq.recs[:0], 0, 0, rq.ids[:0]
	rq.settle()
}

// waiting is the number of receipts not settled yet.
func (rq *receiptQ) waiting() int { return len(rq.q) - rq.head }

// settle settles, in order, the receipts at the head whose chunk is
// taken and whose batches are all settled.
func (rq *receiptQ) settle() {
	for rq.head < len(rq.q) {
		w := &rq.q[rq.head]
		if w.open || w.refs > 0 {
			break
		}
		r, durable := w.r, !w.lost
		*w = waitingReceipt{} // keep no settled receipt alive
		rq.head++
		if rq.settled != nil {
			rq.settled(durable)
		}
		r.Settled(durable)
	}
	// Reuse the array once most of it is settled: ids stay base+index.
	if rq.head == len(rq.q) {
		rq.base += uint64(rq.head)
		rq.q, rq.head = rq.q[:0], 0
	} else if rq.head >= 1024 && 2*rq.head >= len(rq.q) {
		n := copy(rq.q, rq.q[rq.head:])
		clear(rq.q[n:])
		rq.q = rq.q[:n]
		rq.base += uint64(rq.head)
		rq.head = 0
	}
}

// compactRecs reuses the arrays of spooled references once the
// acknowledged ones are most of them.
func (rq *receiptQ) compactRecs() {
	if rq.rhead == 0 {
		return
	}
	if rq.rhead == len(rq.recs) {
		rq.recs, rq.rhead, rq.committed, rq.ids = rq.recs[:0], 0, 0, rq.ids[:0]
		return
	}
	if rq.rhead < 1024 || 2*rq.rhead < len(rq.recs) {
		return
	}
	shift := rq.recs[rq.rhead].from
	n := copy(rq.recs, rq.recs[rq.rhead:])
	rq.recs = rq.recs[:n]
	for i := range rq.recs {
		rq.recs[i].from -= shift
		rq.recs[i].to -= shift
	}
	rq.ids = rq.ids[:copy(rq.ids, rq.ids[shift:])]
	rq.committed -= rq.rhead
	rq.rhead = 0
}
