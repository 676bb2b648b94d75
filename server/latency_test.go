package server

import (
	"fmt"
	"testing"
)

// TestLatencyRuns: latencies are run-length coded per feed; the histogram
// must still hold every frame's value, including past 64 runs in one feed
// and frames stamped in the future (counted as 0 ms).
func TestLatencyRuns(t *testing.T) {
	f := func(lats []int64, want map[int64]int64) {
		t.Helper()
		srv, err := New(Config{TCPAddr: "127.0.0.1:0"})
		if err != nil {
			t.Fatal(err)
		}
		g := newIngester(srv, newShard(), srv.listeners[0])
		srv.hub.register(&g.sh.ctr)
		srv.addShard(g.sh)
		st := &stream{ln: srv.listeners[0], transport: TCP}
		st.split.End, st.split.MaxFrame = '\n', 1<<16
		const nowMs = 1_764_000_000_000
		var data []byte
		for i, l := range lats {
			data = fmt.Appendf(data, "d1;%d;%d;1.5\n", i, nowMs-l)
		}
		if n, _, _ := g.feedStream(st, data, false, nowMs*1e6, 0); n != len(data) {
			t.Fatalf("consumed %d of %d bytes", n, len(data))
		}
		g.finish(TCP, nowMs*1e6)
		h := srv.LatencyHistogram()
		if h.TotalCount() != int64(len(lats)) {
			t.Fatalf("%v: histogram holds %d values, want %d", lats, h.TotalCount(), len(lats))
		}
		got := map[int64]int64{}
		for _, bar := range h.Distribution() {
			if bar.Count > 0 {
				got[bar.From] = bar.Count // values this small have buckets of one
			}
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("%v: histogram %v, want %v", lats, got, want)
		}
	}
	f([]int64{5, 5, 5, 7, 7, 0, -3, 5}, map[int64]int64{5: 4, 7: 2, 0: 2})
	alternating := make([]int64, 200) // 200 runs of one: three flushes
	for i := range alternating {
		alternating[i] = int64(i % 2 * 9)
	}
	f(alternating, map[int64]int64{0: 100, 9: 100})
}
