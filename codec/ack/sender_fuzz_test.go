package ack

import (
	"testing"
	"time"

	"github.com/fleetwire/fleetwire/codec"
)

// FuzzSender (seed corpus in testdata/fuzz/FuzzSender) drives a Sender with fuzzed operations (3 bytes each) and
// checks what must hold whatever the receiver says: every sample given to
// Sent is acknowledged once, given up once, or still held; flights stay
// ascending and within the window; nothing is due that is not held.
func FuzzSender(f *testing.F) {
	f.Add([]byte{0, 4, 0, 0, 4, 1, 1, 3, 0, 2, 0, 0, 3, 0, 0, 1, 8, 0})
	f.Add([]byte{0, 20, 0, 1, 2, 7, 4, 0, 0, 2, 0, 0, 0, 9, 5, 1, 30, 3})
	f.Fuzz(func(t *testing.T, ops []byte) {
		acked := map[uint64]bool{} // the model: what OnAck reported
		cfg := &Config{Window: 16, MaxBatch: 3, MinRTO: time.Millisecond, InitialRTO: 5 * time.Millisecond, MaxRTO: 40 * time.Millisecond}
		cfg.OnAck = func(r codec.SeqRange, lat time.Duration) {
			for q := r.Lo; q <= r.Hi; q++ {
				if acked[q] {
					t.Fatalf("%d acknowledged twice", q)
				}
				acked[q] = true
			}
			if lat < 0 {
				t.Fatalf("latency %v", lat)
			}
		}
		s := newSender(t, cfg, 0)
		now := int64(0)
		var runs []codec.SeqRange
		for ; len(ops) >= 3; ops = ops[3:] {
			a, b := uint64(ops[1]), uint64(ops[2])
			now += int64(b%8) * int64(time.Millisecond)
			switch ops[0] % 6 {
			case 0, 1: // new samples, sometimes after a skip
				s.Sent(s.Next()+b%3, int(a%10), now)
			case 2: // an ack: next and one range, from anywhere near
				base := s.Low() - min(s.Low(), 4)
				runs = s.OnStored(runs[:0], base+a%24, []codec.SeqRange{{Lo: base + b%24, Hi: base + b%24 + a%5}}, now)
				resendAll(t, s, runs, now)
			case 3:
				runs = s.Due(runs[:0], now)
				resendAll(t, s, runs, now)
			case 4:
				s.Reconnected()
			case 5:
				if low, due := s.GaveUpBelow(now); due {
					s.SentGaveUp(low, now)
				}
			}
			checkSender(t, s, acked)
		}
	})
}

// resendAll checks that runs are held and at most MaxBatch, and records
// them resent.
func resendAll(t *testing.T, s *Sender, runs []codec.SeqRange, now int64) {
	t.Helper()
	for _, r := range runs {
		if r.Len() > s.cfg.maxBatch() {
			t.Fatalf("run %v longer than MaxBatch", r)
		}
		for q := r.Lo; q <= r.Hi; q++ {
			if i := s.search(q); i == len(s.flights) || s.flights[i].seq > q {
				t.Fatalf("run %v holds %d, which is not held", r, q)
			}
		}
		s.Resent(r.Lo, r.Hi, now)
	}
}

func checkSender(t *testing.T, s *Sender, acked map[uint64]bool) {
	t.Helper()
	st := s.Stats()
	if st.Sent != st.Acked+st.GaveUp+st.Held {
		t.Fatalf("sent %d != acked %d + given up %d + held %d", st.Sent, st.Acked, st.GaveUp, st.Held)
	}
	if st.Held > s.cfg.window() {
		t.Fatalf("held %d above the window", st.Held)
	}
	var sum, end uint64
	for i, f := range s.flights {
		if f.n == 0 || (i > 0 && f.seq < end) || f.end() > s.next || f.tries == 0 {
			t.Fatalf("flights out of order: %s", flights(s))
		}
		for q := f.seq; q < f.end(); q++ {
			if acked[q] {
				t.Fatalf("acknowledged %d still held: %s", q, flights(s))
			}
		}
		sum += uint64(f.n)
		end = f.end()
	}
	if sum != st.Held {
		t.Fatalf("flights hold %d, Held %d", sum, st.Held)
	}
	if st.RTO < s.cfg.minRTO() || st.RTO > s.cfg.maxRTO() {
		t.Fatalf("RTO %v out of bounds", st.RTO)
	}
}
