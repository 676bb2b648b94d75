package natssink

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/fleetwire/fleetwire/codec"
	"github.com/fleetwire/fleetwire/codec/compress"
	"github.com/fleetwire/fleetwire/server/sink"
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

// TestBatcherRuns: an acking device's frames are published one
// contiguous run per message, named device/lo-hi; its other frames and
// other devices' are batched as before; each batch references the
// receipts of the chunks it took readings from.
func TestBatcherRuns(t *testing.T) {
	comp, err := compress.New(compress.Options{})
	if err != nil {
		t.Fatal(err)
	}
	type frame struct {
		dev     string
		seq     uint64
		samples int
		acked   bool
	}
	// chunks: each chunk is a list of frames; a chunk has receipt r<i>.
	f := func(chunks [][]frame, want ...string) {
		t.Helper()
		var rq receiptQ
		var got []string
		bt := newBatcher("node-a", "fleetwire.readings", "run", comp, &rq, func(r *record) {
			id, _, _ := strings.Cut(string(r.id), "/run.") // batch numbers follow map order
			got = append(got, fmt.Sprintf("%s %d%v", id, r.readings, r.rids))
		})
		for _, frames := range chunks {
			c := sink.GetChunk()
			for _, x := range frames {
				fr := codec.Frame{Device: []byte(x.dev), Seq: x.seq, Flags: codec.HasSeq, Channels: 1,
					Times: make([]int64, x.samples), Values: make([]codec.Value, x.samples)}
				if x.acked {
					c.AddAcked(&fr, nil)
				} else {
					c.Add(&fr, nil)
				}
			}
			id := rq.open(&settledLog{log: new([]string)})
			bt.add(c, id, true)
			rq.taken(id)
			c.Release()
		}
		bt.flush()
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Fatalf("records\n%v\nwant\n%v", got, want)
		}
	}
	a := func(dev string, seq uint64, n int) frame { return frame{dev, seq, n, true} }
	p := func(dev string, seq uint64, n int) frame { return frame{dev, seq, n, false} }
	// Contiguous frames of one chunk or of several: one run.
	f([][]frame{{a("m", 0, 2), a("m", 2, 3)}}, "m/0-4 5[0]")
	f([][]frame{{a("m", 0, 2)}, {a("m", 2, 3)}}, "m/0-4 5[0 1]")
	// A gap, or a frame going back, ends the run.
	f([][]frame{{a("m", 0, 2), a("m", 5, 1), a("m", 3, 1)}}, "m/0-1 2[0]", "m/3-3 1[0]", "m/5-5 1[0]")
	// The same device's frames not marked acked go in a batch of their own.
	f([][]frame{{a("m", 0, 2), p("m", 2, 1)}}, "m/0-1 2[0]", "node-a/m/2 1[0]")
	// Other devices as before; a chunk's receipt is in each of its batches.
	f([][]frame{{p("x", 7, 1), a("m", 10, 1)}, {p("x", 9, 2)}}, "m/10-10 1[0]", "node-a/x/7 3[0 1]")
}

func TestParseRunID(t *testing.T) {
	f := func(id string, dev string, lo, hi uint64, ok bool) {
		t.Helper()
		d, l, h, k := parseRunID([]byte(id))
		if string(d) != dev || l != lo || h != hi || k != ok {
			t.Fatalf("%q: %q %d %d %v, want %q %d %d %v", id, d, l, h, k, dev, lo, hi, ok)
		}
	}
	f("mote-1/0-9", "mote-1", 0, 9, true)
	f("a.b/18446744073709551614-18446744073709551614", "a.b", 1<<64-2, 1<<64-2, true)
	f(string(appendRunID(nil, []byte("m"), 5, 6)), "m", 5, 6, true)
	f("node-a/mote-1/0/run.1", "", 0, 0, false) // a batch id
	f("node-a/mote-1/-/run.1", "", 0, 0, false)
	f("/0-9", "", 0, 0, false)
	f("m/9-0", "", 0, 0, false)
	f("m/0-", "", 0, 0, false)
	f("m/-1", "", 0, 0, false)
	f("m/0-1x", "", 0, 0, false)
	f("m/18446744073709551616-18446744073709551616", "", 0, 0, false)
	f("m", "", 0, 0, false)
}

func TestHeldHeader(t *testing.T) {
	f := func(in string, want string) {
		t.Helper()
		set, err := parseHeld(in)
		if want == "" {
			if err == nil {
				t.Fatalf("%q: no error, got %v", in, set)
			}
			return
		}
		if err != nil {
			t.Fatalf("%q: %v", in, err)
		}
		if got := string(appendHeld(nil, set)); got != want || set.String() != want {
			t.Fatalf("%q: %q, want %q", in, got, want)
		}
	}
	f("0", "0")
	f("100", "100")
	f("0 5-9", "0 5-9")
	f("10 12-13 20-29", "10 12-13 20-29")
	f("10  12-13 ", "10 12-13")
	f("", "")
	f("x", "")
	f("10 10-12", "")       // touches next: a set never says so
	f("10 12-13 14-15", "") // adjacent
	f("10 20-29 12-13", "") // not ascending
	f("10 13-12", "")
	f("10 12-", "")
	f("0 "+strings.Repeat("1-1 ", 65), "")
	var b strings.Builder
	b.WriteString("0")
	for i := range 65 {
		fmt.Fprintf(&b, " %d-%d", 2*i+1, 2*i+1)
	}
	f(b.String(), "")

	// holdRun forgets the lowest range rather than refuse a new run.
	set, _ := parseHeld("0")
	for i := range 70 {
		holdRun(set, uint64(2*i+1), uint64(2*i+1))
	}
	if set.Len() != 64 || set.Ranges(1)[0].Lo != 13 || !set.Contains(139) {
		t.Fatalf("after 70 isolated runs: %v", set)
	}
}
