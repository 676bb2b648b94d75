package ack

import (
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/fleetwire/fleetwire/codec"
)

func ms(v int) int64 { return int64(v) * int64(time.Millisecond) }

// testConfig: a window of 8, resent frames of at most 4, RTO 1 s until
// measured, between 100 ms and 10 s.
func testConfig() *Config {
	return &Config{Window: 8, MaxBatch: 4, InitialRTO: time.Second, MinRTO: 100 * time.Millisecond, MaxRTO: 10 * time.Second}
}

func newSender(t testing.TB, cfg *Config, next uint64) *Sender {
	t.Helper()
	s, err := NewSender(cfg, next)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// flights returns s's flights as "seq+n@last_ms*tries", with "!" when due.
func flights(s *Sender) string {
	var b strings.Builder
	for i, f := range s.flights {
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%d+%d@%d*%d", f.seq, f.n, f.last/int64(time.Millisecond), f.tries)
		if f.due {
			b.WriteByte('!')
		}
	}
	return b.String()
}

func runs(r []codec.SeqRange) string {
	var s []string
	for _, x := range r {
		s = append(s, fmt.Sprintf("%d-%d", x.Lo, x.Hi))
	}
	return strings.Join(s, " ")
}

func TestConfigCheck(t *testing.T) {
	f := func(c Config, ok bool) {
		t.Helper()
		if err := c.Check(); (err == nil) != ok {
			t.Fatalf("%+v: %v", c, err)
		}
		if _, err := NewSender(&c, 0); (err == nil) != ok {
			t.Fatalf("NewSender(%+v): %v", c, err)
		}
	}
	f(Config{}, true)
	f(Config{Window: codec.MaxAckWindow}, true)
	f(Config{Window: codec.MaxAckWindow + 1}, false)
	f(Config{Window: -1}, false)
	f(Config{MaxBatch: -1}, false)
	f(Config{MinRTO: 2 * time.Second}, false) // above the default initial 1 s
	f(Config{MaxRTO: 500 * time.Millisecond}, false)
	f(Config{MinRTO: time.Millisecond, InitialRTO: 10 * time.Millisecond, MaxRTO: 20 * time.Millisecond}, true)
}

func TestSenderSent(t *testing.T) {
	cfg := testConfig()
	cfg.Window = 16 // no window pressure here (TestSenderWindowPressure)
	s := newSender(t, cfg, 100)
	if s.Low() != 100 || s.Next() != 100 {
		t.Fatalf("Low %d Next %d", s.Low(), s.Next())
	}
	s.Sent(100, 2, ms(0))
	s.Sent(102, 1, ms(0)) // same time, contiguous: one flight
	s.Sent(103, 2, ms(5))
	s.Sent(110, 1, ms(5)) // 105-109 skipped
	if got := flights(s); got != "100+3@0*1 103+2@5*1 110+1@5*1" {
		t.Fatalf("flights %s", got)
	}
	if st := s.Stats(); st.Sent != 6 || st.Held != 6 || st.Flights != 3 || s.Next() != 111 || s.Low() != 100 {
		t.Fatalf("stats %+v, next %d", st, s.Next())
	}
	s.Sent(111, 0, ms(6))
	if s.Next() != 111 {
		t.Fatal("Sent of 0 samples moved Next")
	}
	// Past the largest flight: several flights.
	big := newSender(t, &Config{Window: codec.MaxAckWindow}, 0)
	big.Sent(0, 70000, 0)
	if got := flights(big); got != "0+65535@0*1 65535+4465@0*1" {
		t.Fatalf("70000 samples: %s", got)
	}
	// The highest sample there can be, and its ack.
	top := newSender(t, testConfig(), math.MaxUint64-3)
	top.Sent(math.MaxUint64-3, 3, 0)
	top.OnStored(nil, math.MaxUint64-1, []codec.SeqRange{{Lo: math.MaxUint64 - 1, Hi: math.MaxUint64}}, 1)
	if got := flights(top); got != "18446744073709551614+1@0*1" {
		t.Fatalf("top: %s", got)
	}
	top.OnStored(nil, math.MaxUint64, nil, 2)
	if st := top.Stats(); st.Held != 0 || st.Acked != 3 || top.Next() != math.MaxUint64 {
		t.Fatalf("top: %+v", st)
	}
}

func TestSenderSent_Failure(t *testing.T) {
	f := func(seq uint64, n int) {
		t.Helper()
		s := newSender(t, testConfig(), 10)
		s.Sent(10, 2, 0)
		for range 2 {
			func() {
				defer func() {
					if recover() == nil {
						t.Fatalf("Sent(%d, %d) did not panic", seq, n)
					}
				}()
				s.Sent(seq, n, 0)
			}()
		}
		if got := flights(s); got != "10+2@0*1" {
			t.Fatalf("Sent(%d, %d) changed the flights: %s", seq, n, got)
		}
	}
	f(11, 1)                // reused
	f(0, 1)                 //
	f(math.MaxUint64, 1)    // sample 2^64-1
	f(math.MaxUint64-5, 6)  // reaches it
	f(math.MaxUint64-5, 10) // past 2^64
}

func TestSenderGiveUp(t *testing.T) {
	s := newSender(t, testConfig(), 0)
	s.Sent(0, 5, ms(0))
	if span, n := s.Sent(5, 5, ms(1)); span != (codec.SeqRange{Lo: 0, Hi: 1}) || n != 2 {
		t.Fatalf("gave up %v %d, want 0-1 2", span, n)
	}
	if got := flights(s); got != "2+3@0*1 5+5@1*1" || s.Low() != 2 || s.Stats().GaveUp != 2 || s.Stats().Held != 8 {
		t.Fatalf("flights %s low %d stats %+v", got, s.Low(), s.Stats())
	}
	// The receiver waits at 0: a #gaveup 2 is due, once, then again
	// after an RTO, until an ack shows it arrived.
	if next, due := s.GaveUpBelow(ms(1)); next != 2 || !due {
		t.Fatalf("GaveUpBelow = %d %v", next, due)
	}
	s.SentGaveUp(2, ms(1))
	if _, due := s.GaveUpBelow(ms(500)); due {
		t.Fatal("#gaveup due again within the RTO")
	}
	if at, _ := s.NextDeadline(); at != ms(1000) {
		t.Fatalf("NextDeadline %d, want the flights' timer, before the #gaveup's (1001 ms)", at)
	}
	if _, due := s.GaveUpBelow(ms(1001)); !due {
		t.Fatal("#gaveup not due after an RTO")
	}
	s.OnStored(nil, 2, nil, ms(1002))
	if _, due := s.GaveUpBelow(ms(5000)); due {
		t.Fatal("#gaveup due although the receiver's next reached Low")
	}
	// With samples acknowledged in the middle, only the others count.
	s = newSender(t, testConfig(), 0)
	s.Sent(0, 4, ms(0))
	s.OnStored(nil, 0, []codec.SeqRange{{Lo: 1, Hi: 2}}, ms(1))
	if span, n := s.Sent(4, 8, ms(2)); span != (codec.SeqRange{Lo: 0, Hi: 3}) || n != 2 || s.Low() != 4 {
		t.Fatalf("gave up %v %d, low %d; want 0-3 2, low 4", span, n, s.Low())
	}
	// More than the window at once: the newest Window stay.
	s = newSender(t, testConfig(), 0)
	if span, n := s.Sent(0, 20, ms(0)); span != (codec.SeqRange{Lo: 0, Hi: 11}) || n != 12 || flights(s) != "12+8@0*1" {
		t.Fatalf("gave up %v %d: %s", span, n, flights(s))
	}
	// A new point is due at once, even within an RTO of the last #gaveup.
	s.SentGaveUp(12, ms(0))
	s.Sent(20, 1, ms(1))
	if next, due := s.GaveUpBelow(ms(1)); next != 13 || !due {
		t.Fatalf("GaveUpBelow = %d %v, want 13 true", next, due)
	}
}

func TestSenderGaveUpBelow_Start(t *testing.T) {
	// A device whose numbers start above 0 says so first.
	s := newSender(t, testConfig(), 5000)
	if next, due := s.GaveUpBelow(0); next != 5000 || !due {
		t.Fatalf("GaveUpBelow = %d %v, want 5000 true", next, due)
	}
	if at, ok := s.NextDeadline(); !ok || at != math.MinInt64 {
		t.Fatalf("NextDeadline = %d %v, want now", at, ok)
	}
	// One starting at 0 has nothing to say.
	s = newSender(t, testConfig(), 0)
	if _, due := s.GaveUpBelow(0); due {
		t.Fatal("#gaveup due at 0")
	}
	if _, ok := s.NextDeadline(); ok {
		t.Fatal("a deadline with nothing sent")
	}
}

func TestSenderOnStored(t *testing.T) {
	var acks []string
	cfg := testConfig()
	cfg.Window = 100
	cfg.OnAck = func(r codec.SeqRange, lat time.Duration) {
		acks = append(acks, fmt.Sprintf("%d-%d:%v", r.Lo, r.Hi, lat))
	}
	s := newSender(t, cfg, 0)
	s.Sent(0, 4, ms(0))
	s.Sent(4, 4, ms(10))
	s.Sent(8, 4, ms(100))
	s.Sent(12, 4, ms(110))
	// Cumulative to 6, and 9-10: flight 4+4 keeps 6-7, 8+4 splits.
	fast := s.OnStored(nil, 6, []codec.SeqRange{{Lo: 9, Hi: 10}}, ms(120))
	if got := flights(s); got != "6+2@10*1 8+1@100*1 11+1@100*1 12+4@110*1" {
		t.Fatalf("flights %s", got)
	}
	if got := strings.Join(acks, " "); got != "0-3:120ms 4-5:110ms 9-10:20ms" {
		t.Fatalf("OnAck %s", got)
	}
	st := s.Stats()
	if st.Acked != 8 || st.Held != 8 || st.SRTT != 120*time.Millisecond || st.RTTVar != 60*time.Millisecond || st.RTO != 360*time.Millisecond {
		t.Fatalf("stats %+v: want one RTT sample of 120 ms (the earliest flight)", st)
	}
	// 6-7 (sent at 10) and 8 (sent at 100) are below 10, the highest
	// acknowledged. The flight that carried 10 was sent at 100: 6-7 more
	// than SRTT/4 (30 ms) before it, lost; 8 with it, not yet.
	if runs(fast) != "6-7" {
		t.Fatalf("fast resend %q, want 6-7", runs(fast))
	}
	// The same ack again acknowledges nothing new; 6-7 were not recorded
	// as resent, so they are still lost.
	if fast := s.OnStored(nil, 6, []codec.SeqRange{{Lo: 9, Hi: 10}}, ms(125)); runs(fast) != "6-7" || s.Stats().Acked != 8 {
		t.Fatalf("repeated ack: fast %q, acked %d", runs(fast), s.Stats().Acked)
	}
	s.Resent(6, 7, ms(130))
	if fast := s.OnStored(nil, 6, []codec.SeqRange{{Lo: 9, Hi: 10}}, ms(140)); len(fast) != 0 {
		t.Fatalf("resent flight fast-resent again: %q", runs(fast))
	}
	// The second RTT sample: 12-15 sent at 110, acked at 150.
	s.OnStored(nil, 6, []codec.SeqRange{{Lo: 9, Hi: 10}, {Lo: 12, Hi: 15}}, ms(150))
	st = s.Stats()
	if st.SRTT != 110*time.Millisecond || st.RTTVar != 65*time.Millisecond || st.RTO != 370*time.Millisecond {
		t.Fatalf("second sample: %+v", st)
	}
	// Within the reordering window: 8 (sent at 100) is not lost when 11
	// (sent with it) is acknowledged, nor when 12-15 (10 ms later) are.
	if fast := s.OnStored(nil, 6, []codec.SeqRange{{Lo: 9, Hi: 15}}, ms(160)); len(fast) != 0 {
		t.Fatalf("fast resend inside the reordering window: %q", runs(fast))
	}
	st = s.Stats()
	// Karn: the ack of the resent 6-7 takes no sample.
	s.OnStored(nil, 8, nil, ms(2000))
	if st2 := s.Stats(); st2.SRTT != st.SRTT || st2.RTTVar != st.RTTVar {
		t.Fatalf("a resent flight's ack changed the estimate: %+v", st2)
	}
	// Acks of what is not held are ignored.
	before := s.Stats()
	s.OnStored(nil, 9, []codec.SeqRange{{Lo: 100, Hi: 200}, {Lo: 5, Hi: 1}}, ms(2001))
	if after := s.Stats(); after.Acked != before.Acked+1 {
		t.Fatalf("acked %d -> %d, want one more (8)", before.Acked, after.Acked)
	}
	if !s.Heard() {
		t.Fatal("Heard false after acks")
	}
}

func TestSenderRTO(t *testing.T) {
	f := func(rtts []int, wantSRTT, wantVar, wantRTO time.Duration) {
		t.Helper()
		s := newSender(t, &Config{MinRTO: time.Millisecond, MaxRTO: time.Second}, 0)
		for i, r := range rtts {
			s.Sent(uint64(i), 1, ms(1000*i))
			s.OnStored(nil, uint64(i+1), nil, ms(1000*i+r))
		}
		if st := s.Stats(); st.SRTT != wantSRTT || st.RTTVar != wantVar || st.RTO != wantRTO {
			t.Fatalf("RTTs %v: SRTT %v RTTVAR %v RTO %v, want %v %v %v", rtts, st.SRTT, st.RTTVar, st.RTO, wantSRTT, wantVar, wantRTO)
		}
	}
	ms := time.Millisecond
	f(nil, 0, 0, time.Second)                  // initial
	f([]int{40}, 40*ms, 20*ms, 120*ms)         // first: R, R/2, R+4R/2
	f([]int{40, 40}, 40*ms, 15*ms, 100*ms)     // 3/4 of 20 + 0
	f([]int{40, 80}, 45*ms, 25*ms, 145*ms)     // (60+40)/4, (280+80)/8
	f([]int{0}, 0, 0, 1*ms)                    // at least G
	f([]int{900}, 900*ms, 450*ms, time.Second) // at most MaxRTO
}

func TestSenderDue(t *testing.T) {
	cfg := testConfig()
	cfg.Window = 16 // timers only: no window pressure
	s := newSender(t, cfg, 0)
	s.Sent(0, 3, ms(0))
	s.Sent(3, 3, ms(500))
	s.Sent(7, 2, ms(500))
	if due := s.Due(nil, ms(999)); len(due) != 0 {
		t.Fatalf("due before the RTO: %s", runs(due))
	}
	if at, _ := s.NextDeadline(); at != ms(1000) {
		t.Fatalf("NextDeadline %d", at)
	}
	if due := s.Due(nil, ms(1000)); runs(due) != "0-2" {
		t.Fatalf("due at 1 s: %s", runs(due))
	}
	// Adjacent flights due together are one run, cut at MaxBatch (4);
	// 6 was never sent.
	if due := s.Due(nil, ms(1500)); runs(due) != "0-3 4-5 7-8" {
		t.Fatalf("due at 1.5 s: %s", runs(due))
	}
	// Due changes nothing: until Resent, the same again.
	if due := s.Due(nil, ms(1500)); runs(due) != "0-3 4-5 7-8" {
		t.Fatalf("Due twice: %s", runs(due))
	}
	// Back-off: resent at 1.5 s, due 2 s later, then 4 s, up to 10 s.
	s.Resent(0, 8, ms(1500))
	for _, c := range []struct{ before, at int }{{3499, 3500}, {7499, 7500}, {15499, 15500}, {25499, 25500}} {
		if due := s.Due(nil, ms(c.before)); len(due) != 0 {
			t.Fatalf("due at %d ms: %s", c.before, runs(due))
		}
		if due := s.Due(nil, ms(c.at)); runs(due) != "0-3 4-5 7-8" {
			t.Fatalf("not due at %d ms: %s", c.at, runs(due))
		}
		s.Resent(0, 8, ms(c.at))
	}
	if got := flights(s); got != "0+6@25500*6 7+2@25500*6" {
		t.Fatalf("flights %s", got)
	}
	// Due appends after what dst holds, without joining it.
	dst := []codec.SeqRange{{Lo: 100, Hi: 100}}
	if due := s.Due(dst[:1], ms(40000)); runs(due) != "100-100 0-3 4-5 7-8" {
		t.Fatalf("Due on a non-empty dst: %s", runs(due))
	}
}

func TestSenderResent(t *testing.T) {
	cfg := testConfig()
	cfg.Window = 16 // no window pressure
	s := newSender(t, cfg, 0)
	s.Sent(0, 8, ms(0))
	s.Resent(2, 3, ms(100)) // splits in three
	if got := flights(s); got != "0+2@0*1 2+2@100*2 4+4@0*1" {
		t.Fatalf("flights %s", got)
	}
	s.Resent(4, 5, ms(100)) // joins its neighbour resent at the same time
	if got := flights(s); got != "0+2@0*1 2+4@100*2 6+2@0*1" {
		t.Fatalf("flights %s", got)
	}
	s.Resent(0, 100, ms(200)) // all; what was never sent is ignored
	if got := flights(s); got != "0+8@200*3" {
		t.Fatalf("flights %s", got)
	}
	s.Resent(50, 60, ms(300)) // nothing held there
	if st := s.Stats(); st.Resent != 2+2+8 || st.Resends != 3 {
		t.Fatalf("stats %+v", st)
	}
	// The ack latency counts from the first transmission.
	var lat time.Duration
	s.cfg.OnAck = func(_ codec.SeqRange, l time.Duration) { lat = l }
	s.OnStored(nil, 8, nil, ms(1000))
	if lat != time.Second {
		t.Fatalf("latency %v, want 1s from the first send", lat)
	}
}

func TestSenderReconnected(t *testing.T) {
	s := newSender(t, testConfig(), 0)
	s.Sent(0, 4, ms(0))
	s.Sent(4, 4, ms(10))
	s.OnStored(nil, 2, nil, ms(50))
	s.Reconnected()
	if s.Heard() {
		t.Fatal("Heard after Reconnected")
	}
	if at, ok := s.NextDeadline(); !ok || at != math.MinInt64 {
		t.Fatalf("NextDeadline %d %v, want now", at, ok)
	}
	if due := s.Due(nil, ms(60)); runs(due) != "2-5 6-7" {
		t.Fatalf("due after reconnect: %s", runs(due))
	}
	if next, due := s.GaveUpBelow(ms(60)); next != 2 || !due {
		t.Fatalf("GaveUpBelow %d %v, want 2 true", next, due)
	}
	s.Resent(2, 5, ms(60))
	s.Resent(6, 7, ms(60))
	if got := flights(s); got != "2+6@60*2" {
		t.Fatalf("flights %s", got)
	}
}

// TestSenderMemory reports what a device costs at a window of 256.
func TestSenderMemory(t *testing.T) {
	f := func(perFrame int, wantMax int) {
		t.Helper()
		s := newSender(t, &Config{Window: 256}, 0)
		for q := 0; q < 256; q += perFrame {
			s.Sent(uint64(q), perFrame, ms(q)) // never acknowledged: the window fills
		}
		n := senderBytes(s)
		t.Logf("window 256, %d samples per frame: %d bytes (%d flights)", perFrame, n, len(s.flights))
		if n > wantMax {
			t.Fatalf("%d bytes, want at most %d", n, wantMax)
		}
	}
	f(1, 6304)
	f(10, 928)
	f(64, 256)
}

// TestSenderEnded: after the end-of-stream a flight is resent after
// EndRTO, doubled per resend up to 4 x EndRTO, however long the RTO a
// receiver's ack interval made.
func TestSenderEnded(t *testing.T) {
	cfg := &Config{Window: 8, InitialRTO: 15 * time.Second, MinRTO: 15 * time.Second, MaxRTO: time.Minute, EndRTO: 500 * time.Millisecond}
	s := newSender(t, cfg, 0)
	s.Sent(0, 2, ms(0))
	if at, ok := s.NextDeadline(); !ok || at != ms(15000) {
		t.Fatalf("before the end: deadline %v, want 15 s", time.Duration(at))
	}
	// Ended 10 s after the flight went out: it is not due at once, but
	// EndRTO after the end-of-stream, which the receiver answers at once.
	s.Ended(ms(10000))
	if at, _ := s.NextDeadline(); at != ms(10500) {
		t.Fatalf("just after the end: due at %v, want 10.5 s", time.Duration(at))
	}
	if due := s.Due(nil, ms(10400)); len(due) != 0 {
		t.Fatalf("due %v before EndRTO after the end", due)
	}
	for i, want := range []int{500, 1000, 2000, 2000} {
		at, ok := s.NextDeadline()
		last := max(s.flights[0].last, ms(10000))
		if !ok || at-last != ms(want) {
			t.Fatalf("resend %d: due %v after the last send, want %d ms", i, time.Duration(at-last), want)
		}
		s.Resent(0, 1, at)
	}
}

// TestSenderWindowPressure: when three quarters of the window, and again
// seven eighths, wait for an acknowledgement, the oldest flight is due at
// once, whatever its timer; an ack that brings the window below half
// arms both again.
func TestSenderWindowPressure(t *testing.T) {
	s := newSender(t, testConfig(), 0) // window 8, RTO 1 s
	s.Sent(0, 2, ms(0))
	s.Sent(2, 3, ms(10))
	if due := s.Due(nil, ms(20)); len(due) != 0 {
		t.Fatalf("5 of 8 held: due %s", runs(due))
	}
	s.Sent(5, 1, ms(30)) // 6 of 8: three quarters
	if due := s.Due(nil, ms(30)); runs(due) != "0-1" {
		t.Fatalf("6 of 8 held: due %s, want the oldest flight", runs(due))
	}
	s.Resent(0, 1, ms(30))
	s.Sent(6, 1, ms(40)) // 7 of 8: seven eighths
	if due := s.Due(nil, ms(40)); runs(due) != "0-1" {
		t.Fatalf("7 of 8 held: due %s, want the oldest flight again", runs(due))
	}
	s.Resent(0, 1, ms(40))
	s.OnStored(nil, 5, nil, ms(50)) // 2 held: below half
	s.Sent(7, 4, ms(60))            // 6 held again
	if due := s.Due(nil, ms(60)); runs(due) != "5-5" {
		t.Fatalf("after the ack, 6 of 8 held: due %s, want the oldest flight", runs(due))
	}
}
