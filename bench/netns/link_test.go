package netns

import (
	"context"
	"math"
	"net/netip"
	"os/exec"
	"strconv"
	"testing"
	"time"
)

func needLinks(t *testing.T) {
	t.Helper()
	if err := Available(); err != nil {
		t.Skip(err)
	}
}

func setup(t *testing.T, p Profile, opts ...Option) *Link {
	t.Helper()
	l, err := Setup(context.Background(), p, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := l.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return l
}

func mustProfile(t *testing.T, name string) Profile {
	t.Helper()
	p, err := ProfileByName(name)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func other(s Side) Side { return 1 - s }

func (l *Link) addr(s Side) netip.Addr {
	if s == Server {
		return l.ServerAddr
	}
	return l.ClientAddr
}

// egressKbit is the rate of the direction whose sender is s.
func egressKbit(p Profile, s Side) float64 {
	if s == Client {
		return p.UpKbit
	}
	return p.DownKbit
}

// udpRun is one UDP exchange with the counters of both ends around it.
type udpRun struct {
	send      udpSendResult
	recv      udpRecvResult
	snd, rcv  DevCounters // deltas over the run
	rcvSNMP   SNMP        // delta over the run
	frameSize uint64      // bytes per datagram on the wire, Ethernet header included
}

// udpExchange sends count datagrams of size bytes from `from` to the
// other side at pps, waits for the sender's queue to drain, and accounts
// for every datagram.
func udpExchange(t *testing.T, l *Link, from Side, count, size, pps int) udpRun {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	to := other(from)
	snd0, rcv0 := counters(t, l, from), counters(t, l, to)
	rcvSNMP0 := snmp(t, l, to)
	dst := netip.AddrPortFrom(l.addr(to), 9000).String()
	recv := startHelper(t, ctx, l, to, "udp-recv", dst)
	send := startHelper(t, ctx, l, from, "udp-send", dst,
		strconv.Itoa(count), strconv.Itoa(size), strconv.Itoa(pps), "0s")
	var r udpRun
	send.result(t, &r.send)
	// Datagrams still in the shaper are neither delivered nor lost yet.
	for {
		c := counters(t, l, to)
		if c.Shaper.BacklogPackets == 0 {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("%s shaper never drained: %+v", to, c.Shaper)
		}
		time.Sleep(20 * time.Millisecond)
	}
	recv.result(t, &r.recv)
	r.snd = counters(t, l, from).Sub(snd0)
	r.rcv = counters(t, l, to).Sub(rcv0)
	r.rcvSNMP = snmp(t, l, to).Sub(rcvSNMP0)
	r.frameSize = uint64(size + 28 + ethHeader)
	r.check(t)
	return r
}

// check accounts for every datagram: each one sent crossed the wire and
// was then dropped by the shaper, dropped by the loss rule, refused by the
// receiving stack, or delivered. Nothing else is on the link, so the
// identities are exact.
func (r udpRun) check(t *testing.T) {
	t.Helper()
	s, d := r.snd, r.rcv
	if r.send.Errors != 0 {
		t.Errorf("sender saw %d write errors", r.send.Errors)
	}
	if s.TxPackets != r.send.Sent || s.TxDropped != 0 {
		t.Errorf("sent %d datagrams, the veth sent %d and dropped %d", r.send.Sent, s.TxPackets, s.TxDropped)
	}
	if s.TxBytes != s.TxPackets*r.frameSize {
		t.Errorf("tx bytes %d != %d packets x %d B", s.TxBytes, s.TxPackets, r.frameSize)
	}
	if d.RxPackets != s.TxPackets || d.RxBytes != s.TxBytes {
		t.Errorf("the veth lost packets: tx %d pkts %d B, rx %d pkts %d B", s.TxPackets, s.TxBytes, d.RxPackets, d.RxBytes)
	}
	passed := d.RxPackets
	if d.Shaper.Kind != "" {
		if got := d.Shaper.Drops + d.Shaper.Packets + d.Shaper.BacklogPackets; got != d.RxPackets {
			t.Errorf("received %d packets, but shaper drops %d + passed %d + queued %d = %d",
				d.RxPackets, d.Shaper.Drops, d.Shaper.Packets, d.Shaper.BacklogPackets, got)
		}
		if d.Shaper.Bytes != d.Shaper.Packets*r.frameSize {
			t.Errorf("shaper passed %d B for %d packets of %d B", d.Shaper.Bytes, d.Shaper.Packets, r.frameSize)
		}
		passed = d.Shaper.Packets
	}
	u := r.rcvSNMP.Udp
	if got := d.LossDropped + u.InDatagrams + u.InErrors + u.NoPorts; got != passed {
		t.Errorf("%d packets reached the loss rule, but rule %d + InDatagrams %d + InErrors %d + NoPorts %d = %d",
			passed, d.LossDropped, u.InDatagrams, u.InErrors, u.NoPorts, got)
	}
	if r.recv.Datagrams != u.InDatagrams || r.recv.Dups != 0 || r.recv.Unique != r.recv.Datagrams {
		t.Errorf("receiver read %+v, kernel delivered %d", r.recv, u.InDatagrams)
	}
	// The loss rule counts IP packets (no Ethernet header).
	if d.LossDroppedBytes != d.LossDropped*(r.frameSize-ethHeader) {
		t.Errorf("loss rule: %d B for %d packets of %d B", d.LossDroppedBytes, d.LossDropped, r.frameSize-ethHeader)
	}
}

func counters(t *testing.T, l *Link, s Side) DevCounters {
	t.Helper()
	c, err := l.Counters(s)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func snmp(t *testing.T, l *Link, s Side) SNMP {
	t.Helper()
	c, err := l.SNMP(s)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// tcpEchoRun sends n bytes from the client and reads them back.
func tcpEchoRun(t *testing.T, l *Link, n int) (tcpResult, SNMP, SNMP) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	s0, c0 := snmp(t, l, Server), snmp(t, l, Client)
	srv := startHelper(t, ctx, l, Server, "tcp-echo", netip.AddrPortFrom(l.ServerAddr, 9001).String())
	cli := startHelper(t, ctx, l, Client, "tcp-client", netip.AddrPortFrom(l.ServerAddr, 9001).String(), strconv.Itoa(n))
	var cr, sr tcpResult
	cli.result(t, &cr)
	srv.result(t, &sr)
	if !cr.Match || cr.Received != uint64(n) || sr.Received != uint64(n) {
		t.Errorf("tcp echo of %d B: client %+v, server %+v", n, cr, sr)
	}
	return cr, snmp(t, l, Server).Sub(s0), snmp(t, l, Client).Sub(c0)
}

// TestProfiles builds every named profile and runs a UDP exchange in each
// direction and a TCP echo across it.
func TestProfiles(t *testing.T) {
	needLinks(t)
	for _, p := range Profiles() {
		t.Run(p.Name, func(t *testing.T) {
			t.Parallel()
			l := setup(t, p)
			for _, from := range []Side{Client, Server} {
				count, size, pps := 2000, 64, 20000
				if k := egressKbit(p, from); k > 0 {
					// Half the rate for 1 s: the queue never overflows.
					frame := float64(size + 28 + ethHeader)
					pps = int(k * 1000 / 2 / (frame * 8))
					count = min(2000, pps)
				}
				r := udpExchange(t, l, from, count, size, pps)
				t.Logf("%s udp %s->%s: sent %d, delivered %d, loss rule %d, shaper drops %d",
					p.Name, from, other(from), r.send.Sent, r.recv.Datagrams, r.rcv.LossDropped, r.rcv.Shaper.Drops)
				if r.rcv.Shaper.Drops != 0 {
					t.Errorf("paced at half the rate, the shaper still dropped %d", r.rcv.Shaper.Drops)
				}
				if p.LossPct == 0 && r.recv.Datagrams != r.send.Sent {
					t.Errorf("lossless link delivered %d of %d", r.recv.Datagrams, r.send.Sent)
				}
			}
			n := 1 << 20
			if p.Limited() {
				// 1 s of the slower direction.
				n = int(min(p.UpKbit, p.DownKbit) * 1000 / 8)
			}
			srvDev0, cliDev0 := counters(t, l, Server), counters(t, l, Client)
			cr, ss, cs := tcpEchoRun(t, l, n)
			srvDev, cliDev := counters(t, l, Server).Sub(srvDev0), counters(t, l, Client).Sub(cliDev0)
			lost := srvDev.LossDropped + cliDev.LossDropped
			retrans := ss.Tcp.RetransSegs + cs.Tcp.RetransSegs
			// With the shaper at the receiving end, no segment TCP counts
			// is refused by the sender's own qdisc: each side's TCP
			// counters are its wire packets, exactly.
			for _, w := range []struct {
				side Side
				dev  DevCounters
				s    SNMP
			}{{Server, srvDev, ss}, {Client, cliDev, cs}} {
				if got := w.s.Tcp.OutSegs + w.s.Tcp.RetransSegs; got != w.dev.TxPackets+w.dev.TxDropped {
					t.Errorf("%s: OutSegs %d + RetransSegs %d = %d, but the veth sent %d and dropped %d",
						w.side, w.s.Tcp.OutSegs, w.s.Tcp.RetransSegs, got, w.dev.TxPackets, w.dev.TxDropped)
				}
			}
			t.Logf("%s tcp echo %d B in %.2fs: segments out %d+%d, retransmitted %d, loss rule dropped %d, shaper dropped %d",
				p.Name, n, cr.Seconds, cs.Tcp.OutSegs, ss.Tcp.OutSegs, retrans, lost, srvDev.Shaper.Drops+cliDev.Shaper.Drops)
			// Retransmissions are not checked on lossless links: a tail
			// loss probe fires when a slow (e.g. -race) reader delays the
			// ACKs, and counts in RetransSegs although nothing was lost.
			if p.LossPct == 0 && lost != 0 {
				t.Errorf("lossless link: %d dropped", lost)
			}
			// 1 MiB each way is ~1450 segments: at 1% the chance of no
			// drop is below 1e-6.
			if p.LossPct >= 1 && !p.Limited() && (lost == 0 || retrans == 0) {
				t.Errorf("%g%% loss: %d dropped, %d retransmitted", p.LossPct, lost, retrans)
			}
		})
	}
}

// TestLoss5 sends 20k datagrams across loss-5 with each filter tool and
// checks that the loss is binomial around 5% and that the rule's own
// counter is exactly what went missing.
func TestLoss5(t *testing.T) {
	needLinks(t)
	for _, f := range []Filter{FilterNft, FilterIptables} {
		t.Run(string(f), func(t *testing.T) {
			if _, err := exec.LookPath(string(f)); err != nil {
				t.Skip(err)
			}
			l := setup(t, mustProfile(t, "loss-5"), WithFilter(f))
			if l.Filter != f {
				t.Fatalf("filter %q, want %q", l.Filter, f)
			}
			const n, p = 20000, 0.05
			r := udpExchange(t, l, Client, n, 64, 40000)
			missing := r.send.Sent - r.recv.Datagrams
			drops := r.rcv.LossDropped
			if r.send.Sent != n || missing != drops {
				t.Fatalf("sent %d, delivered %d: %d missing, the %s rule dropped %d", r.send.Sent, r.recv.Datagrams, missing, f, drops)
			}
			mean, sd := n*p, math.Sqrt(n*p*(1-p))
			if z := (float64(drops) - mean) / sd; math.Abs(z) > 5 {
				t.Errorf("%d of %d dropped (%.2f%%): %.1f standard deviations from %g", drops, n, 100*float64(drops)/n, z, mean)
			}
			t.Logf("%s: %d of %d dropped (%.3f%%), all accounted by the rule", f, drops, n, 100*float64(drops)/n)
		})
	}
}
