package linkemu

import (
	"testing"
	"time"

	"github.com/fleetwire/fleetwire/bench/netns"
	"golang.org/x/sys/unix"
)

func TestRadioBursts(t *testing.T) {
	ms := func(n int) time.Duration { return time.Duration(n) * time.Millisecond }
	a, b := flowKey{17, 1000}, flowKey{6, 2000}
	type pkt struct {
		k  flowKey
		at int // ms
	}
	for _, tc := range []struct {
		name                string
		pkts                []pkt
		flows, bursts       int
		total, p50, maxTime time.Duration
	}{
		{"one packet is a burst of zero time", []pkt{{a, 0}}, 1, 1, 0, 0, 0},
		{"a request and its reply", []pkt{{a, 0}, {a, 40}}, 1, 1, ms(40), ms(40), ms(40)},
		{"silence longer than the gap starts a wake",
			[]pkt{{a, 0}, {a, 40}, {a, 141}, {a, 150}}, 1, 2, ms(49), ms(40), ms(40)},
		{"silence of exactly the gap does not",
			[]pkt{{a, 0}, {a, 100}, {a, 200}}, 1, 1, ms(200), ms(200), ms(200)},
		{"flows are apart",
			[]pkt{{a, 0}, {b, 10}, {a, 30}, {b, 90}}, 2, 2, ms(110), ms(80), ms(80)},
		{"a late reply out of order does not shorten the burst",
			[]pkt{{a, 0}, {a, 50}, {a, 20}}, 1, 1, ms(50), ms(50), ms(50)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRadio(ms(100), time.Time{})
			for _, p := range tc.pkts {
				r.packet(p.k, ms(p.at), 100)
			}
			s := r.stats()
			if s.Flows != tc.flows || s.Bursts != tc.bursts || s.Total != tc.total || s.P50 != tc.p50 || s.Max != tc.maxTime || s.Bytes != int64(100*len(tc.pkts)) {
				t.Fatalf("got flows %d bursts %d total %v p50 %v max %v; want %d %d %v %v %v",
					s.Flows, s.Bursts, s.Total, s.P50, s.Max, tc.flows, tc.bursts, tc.total, tc.p50, tc.maxTime)
			}
		})
	}
}

// TestRadioBetween: a window keeps the bursts that started in it.
func TestRadioBetween(t *testing.T) {
	t0 := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	r := newRadio(time.Second, t0)
	k := flowKey{6, 1}
	for _, at := range []time.Duration{0, 10, 20, 30} { // seconds: four bursts of 100 ms
		r.packet(k, at*time.Second, 60)
		r.packet(k, at*time.Second+100*time.Millisecond, 40)
	}
	all := r.stats()
	w := all.Between(t0.Add(10*time.Second), t0.Add(30*time.Second))
	if all.Bursts != 4 || all.Bytes != 400 || w.Bursts != 2 || w.Total != 200*time.Millisecond || w.P50 != 100*time.Millisecond || w.Bytes != 200 {
		t.Fatalf("all %d bursts, %d B; window [10 s, 30 s): %d bursts, %v in all, p50 %v, %d B; want 2, 200ms, 100ms, 200 B",
			all.Bursts, all.Bytes, w.Bursts, w.Total, w.P50, w.Bytes)
	}
}

func TestClientFlow(t *testing.T) {
	ip := func(proto byte, frag uint16, ports ...byte) []byte {
		b := make([]byte, 20, 28)
		b[0], b[9] = 0x45, proto
		b[6], b[7] = byte(frag>>8), byte(frag)
		return append(b, ports...)
	}
	ports := []byte{0x1f, 0x90, 0x1b, 0x9e} // 8080 -> 7070
	for _, tc := range []struct {
		name string
		b    []byte
		up   bool
		want flowKey
		ok   bool
	}{
		{"udp uplink: the source port", ip(17, 0, ports...), true, flowKey{17, 8080}, true},
		{"tcp downlink: the destination port", ip(6, 0, ports...), false, flowKey{6, 7070}, true},
		{"icmp has no port", ip(1, 0, ports...), true, flowKey{1, 0}, true},
		{"a later fragment has no header", ip(17, 0x0010, ports...), true, flowKey{17, 0}, true},
		{"more-fragments on the first one keeps its ports", ip(17, 0x2000, ports...), true, flowKey{17, 8080}, true},
		{"truncated transport header", ip(17, 0, 0x1f), true, flowKey{17, 0}, true},
		{"ipv6 is not counted", append([]byte{0x60}, make([]byte, 39)...), true, flowKey{}, false},
		{"runt", []byte{0x45, 0}, true, flowKey{}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k, ok := clientFlow(tc.b, tc.up)
			if k != tc.want || ok != tc.ok {
				t.Fatalf("clientFlow = %+v, %v; want %+v, %v", k, ok, tc.want, tc.ok)
			}
		})
	}
}

// TestRadioLink measures bursts through a real link: a request and its
// echo across 20 ms each way is one wake of about 40 ms; a second one
// after more than the gap is a second wake; the watch's bursts are the
// client's alone.
func TestRadioLink(t *testing.T) {
	const delay, gap = 20 * time.Millisecond, 150 * time.Millisecond
	l := setup(t, Config{Name: "radio", Up: Dir{Delay: delay}, Down: Dir{Delay: delay}})
	srv := udpSocket(t, l, netns.Server, l.ServerAddr, 9000)
	defer echo(srv)()
	cli := udpSocket(t, l, netns.Client, l.ClientAddr, 9001)
	dst := &unix.SockaddrInet4{Addr: l.ServerAddr.As4(), Port: 9000}
	buf := make([]byte, 64)
	ask := func() {
		t.Helper()
		if err := unix.Sendto(cli, []byte("ping"), 0, dst); err != nil {
			t.Fatal(err)
		}
		if _, _, err := unix.Recvfrom(cli, buf, 0); err != nil {
			t.Fatalf("no echo: %v", err)
		}
	}
	l.WatchRadio(gap)
	ask()
	time.Sleep(2 * gap)
	ask()
	s := l.Radio()
	t.Logf("radio: %+v", s)
	// Two asks, each a request and its echo of 20 + 8 + 4 IP bytes.
	if s.Flows != 1 || s.Bursts != 2 || s.Bytes != 4*32 {
		t.Fatalf("flows %d bursts %d bytes %d, want 1, 2 and 128", s.Flows, s.Bursts, s.Bytes)
	}
	if lo, hi := 2*delay, 2*delay+30*time.Millisecond; s.P50 < lo || s.Max > hi {
		t.Fatalf("bursts %v (p50) to %v (max), want within [%v, %v]", s.P50, s.Max, lo, hi)
	}
	if s2 := l.Radio(); s2.Bursts != 0 {
		t.Fatalf("a second Radio without a watch: %+v", s2)
	}
}
