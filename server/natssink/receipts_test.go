package natssink

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

// settledLog is a receipt that writes "name:true" or "name:false" to a
// shared log when it settles.
type settledLog struct {
	name string
	log  *[]string
}

func (r *settledLog) Settled(durable bool) {
	*r.log = append(*r.log, fmt.Sprintf("%s:%v", r.name, durable))
}

// TestReceiptQ drives the receipt queue through scripts: "o NAME" opens a
// receipt, "r NAME" adds a batch's reference, "t NAME" ends its chunk,
// "s END NAME..." spools a batch ending at END holding NAMEs' references,
// "l NAME..." loses an unspooled batch's, "c ok|fail" commits, "a END"
// acknowledges up to END, "x END" rejects up to END, "z" closes. want is
// the settle log.
func TestReceiptQ(t *testing.T) {
	f := func(script string, want ...string) {
		t.Helper()
		var log []string
		var rq receiptQ
		ids := map[string]uint64{}
		refs := func(names []string) []uint64 {
			var out []uint64
			for _, n := range names {
				out = append(out, ids[n])
			}
			return out
		}
		for _, step := range strings.Split(script, ";") {
			w := strings.Fields(step)
			var end int64
			if len(w) > 1 {
				fmt.Sscan(w[1], &end)
			}
			switch w[0] {
			case "o":
				ids[w[1]] = rq.open(&settledLog{name: w[1], log: &log})
			case "r":
				rq.ref(ids[w[1]])
			case "t":
				rq.taken(ids[w[1]])
			case "s":
				rq.spooled(pos{1, end}, refs(w[2:]))
			case "l":
				rq.lost(refs(w[1:]))
			case "c":
				rq.commit(w[1] == "ok")
			case "a":
				rq.acked(pos{1, end}, false)
			case "x":
				rq.acked(pos{1, end}, true)
			case "z":
				rq.closeAll()
			default:
				t.Fatalf("bad step %q", step)
			}
		}
		if !slices.Equal(log, want) {
			t.Fatalf("%s: settled %v, want %v", script, log, want)
		}
		if rq.waiting() != 0 && len(want) > 0 && strings.HasSuffix(script, "z") {
			t.Fatalf("%s: %d receipts still waiting after close", script, rq.waiting())
		}
	}
	// A chunk without readings settles when taken.
	f("o a;t a", "a:true")
	// Not before its batch is acknowledged; not before its chunk is taken.
	f("o a;r a;s 10 a;c ok", nil...)
	f("o a;r a;s 10 a;c ok;a 10", nil...)
	f("o a;r a;s 10 a;c ok;a 9;t a")
	f("o a;r a;s 10 a;c ok;t a;a 10", "a:true")
	// Two batches: both must be acknowledged.
	f("o a;r a;r a;s 10 a;s 20 a;c ok;t a;a 10", nil...)
	f("o a;r a;r a;s 10 a;s 20 a;c ok;t a;a 10;a 20", "a:true")
	f("o a;r a;r a;s 10 a;s 20 a;c ok;t a;a 20", "a:true")
	// In submission order: b's batch is acknowledged first, b waits for a.
	f("o a;r a;t a;o b;r b;t b;s 10 b;c ok;a 10", nil...)
	f("o a;r a;t a;o b;r b;t b;s 10 b;s 20 a;c ok;a 10;a 20", "a:true", "b:true")
	// A batch lost: false, still in order.
	f("o a;r a;t a;o b;r b;t b;l b", nil...)
	f("o a;r a;t a;o b;r b;t b;l b;s 10 a;c ok;a 10", "a:true", "b:false")
	// A failed commit loses every batch buffered since the last one.
	f("o a;r a;r a;s 10 a;c ok;o b;r b;s 20 a b;c fail;t a;t b;a 10", "a:false", "b:false")
	f("o a;r a;s 10 a;c ok;o b;r b;s 20 b;c fail;t a;t b;a 10", "a:true", "b:false")
	// A batch of a chunk lost and another acknowledged: false.
	f("o a;r a;r a;s 10 a;s 20 a;c ok;t a;x 10;a 20", "a:false")
	// Close settles what waits, false, in order; what settled stays.
	f("o a;t a;o b;r b;s 10 b;c ok;o c;r c;t b;z", "a:true", "b:false", "c:false")
}

// TestReceiptQReuse: thousands of receipts through the queue, most
// waiting long enough for its arrays to be compacted under them, each
// settled once, in order, and nothing kept once all are.
func TestReceiptQReuse(t *testing.T) {
	var log []string
	var rq receiptQ
	var open []uint64
	n := 0
	end := int64(0)
	for round := range 50 {
		for range 100 {
			id := rq.open(&settledLog{name: fmt.Sprint(n), log: &log})
			n++
			rq.ref(id)
			end += 10
			rq.spooled(pos{1, end}, []uint64{id})
			rq.taken(id)
			open = append(open, id)
		}
		rq.commit(true)
		// Acknowledge all but the last 30 batches: the queue keeps a tail.
		rq.acked(pos{1, end - 300}, round%7 == 3)
	}
	rq.acked(pos{1, end}, false)
	if len(log) != n || rq.waiting() != 0 || len(rq.q) != 0 || len(rq.recs) != 0 || len(rq.ids) != 0 {
		t.Fatalf("%d of %d settled; left: %d waiting, %d recs, %d ids", len(log), n, rq.waiting(), len(rq.recs), len(rq.ids))
	}
	for i, l := range log {
		if !strings.HasPrefix(l, fmt.Sprint(i)+":") {
			t.Fatalf("settle %d is %s: out of order", i, l)
		}
	}
}
