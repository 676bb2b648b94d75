package netns

import (
	"context"
	"math"
	"net/netip"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/procfs"
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
	// A veth drops only when the receiving CPU's backlog is full
	// (netdev_max_backlog), counted as the sender's TxDropped or the
	// receiver's RxDropped; it happens when softirqs starve.
	if got := s.TxPackets + s.TxDropped + d.RxDropped; got != r.send.Sent {
		t.Errorf("sent %d datagrams, the veth sent %d and dropped %d+%d", r.send.Sent, s.TxPackets, s.TxDropped, d.RxDropped)
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

// tcpEchoRun sends n bytes from the client and reads them back. It
// returns the counters of both sides over the run, read once the link has
// gone quiet: a FIN retransmitted after both programs exited is still
// answered from TIME_WAIT, and must land on the same side of both
// snapshots.
func tcpEchoRun(t *testing.T, l *Link, n int) (cr tcpResult, srv, cli sideRun) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	srv0, cli0 := snapshot(t, l, Server), snapshot(t, l, Client)
	sp := startHelper(t, ctx, l, Server, "tcp-echo", netip.AddrPortFrom(l.ServerAddr, 9001).String())
	cp := startHelper(t, ctx, l, Client, "tcp-client", netip.AddrPortFrom(l.ServerAddr, 9001).String(), strconv.Itoa(n))
	var sr tcpResult
	cp.result(t, &cr)
	sp.result(t, &sr)
	if !cr.Match || cr.Received != uint64(n) || sr.Received != uint64(n) {
		t.Errorf("tcp echo of %d B: client %+v, server %+v", n, cr, sr)
	}
	quiesce(t, l)
	return cr, snapshot(t, l, Server).sub(srv0), snapshot(t, l, Client).sub(cli0)
}

// sideRun is one side's counters.
type sideRun struct {
	dev  DevCounters
	snmp SNMP
	// synRetrans is TcpExt TCPSynRetrans: SYNs and SYN-ACKs sent again.
	synRetrans uint64
}

// snapshot reads side's counters at one point of its packet stream.
// Counters starts tc and nft between its net/dev read and the SNMP read,
// which on a loaded machine takes long enough for a segment to go out in
// between (a FIN retransmitted after an exponential backoff longer than
// quiesce's quiet spell, or its answer from TIME_WAIT): TCP would count
// it and the veth not. So the veth's sent count is read around the whole
// snapshot, which is retried until it did not move.
func snapshot(t *testing.T, l *Link, s Side) sideRun {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		before := txPackets(t, l, s)
		r := sideRun{counters(t, l, s), snmp(t, l, s), synRetrans(t, l, s)}
		if txPackets(t, l, s) == before {
			return r
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s kept sending: no quiet moment to read its counters in 20 s", s)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// txPackets reads how many packets side's veth has sent, from net/dev
// alone (no process started).
func txPackets(t *testing.T, l *Link, s Side) uint64 {
	t.Helper()
	ns, iface := l.ns(s)
	var c DevCounters
	if err := readNetDev(ns, iface, &c); err != nil {
		t.Fatal(err)
	}
	return c.TxPackets
}

func (r sideRun) sub(prev sideRun) sideRun {
	return sideRun{r.dev.Sub(prev.dev), r.snmp.Sub(prev.snmp), r.synRetrans - prev.synRetrans}
}

// synRetrans reads TcpExt TCPSynRetrans from side's /proc/net/netstat.
func synRetrans(t *testing.T, l *Link, s Side) uint64 {
	t.Helper()
	ns, _ := l.ns(s)
	var v *float64
	err := ProcInNS(ns, func(p procfs.Proc) error {
		n, err := p.Netstat()
		v = n.TCPSynRetrans
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if v == nil {
		t.Fatalf("no TcpExt TCPSynRetrans in %s's /proc/net/netstat", s)
	}
	return uint64(*v)
}

// quiesce waits until neither veth has sent a packet for 500 ms.
func quiesce(t *testing.T, l *Link) {
	t.Helper()
	sent := func() uint64 { return txPackets(t, l, Server) + txPackets(t, l, Client) }
	deadline := time.Now().Add(20 * time.Second)
	last, since := sent(), time.Now()
	for time.Since(since) < 500*time.Millisecond {
		if time.Now().After(deadline) {
			t.Fatal("the link never went quiet")
		}
		time.Sleep(50 * time.Millisecond)
		if n := sent(); n != last {
			last, since = n, time.Now()
		}
	}
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
			cr, srv, cli := tcpEchoRun(t, l, n)
			srvDev, cliDev, ss, cs := srv.dev, cli.dev, srv.snmp, cli.snmp
			lost := srvDev.LossDropped + cliDev.LossDropped
			retrans := ss.Tcp.RetransSegs + cs.Tcp.RetransSegs
			// With the shaper at the receiving end, no segment TCP counts
			// is refused by the sender's own qdisc: each side's TCP
			// counters are its wire packets, exactly. One exception: the
			// kernel counts every SYN-ACK it builds in OutSegs
			// (tcp_make_synack), so a SYN-ACK sent again after a loss
			// is in both OutSegs and RetransSegs. Only the server, the
			// passive side, sends SYN-ACKs, and it sends no SYN, so its
			// TCPSynRetrans counts exactly those; a client's are SYNs,
			// which OutSegs does not count again.
			for _, w := range []struct {
				side      Side
				dev, peer DevCounters
				s         SNMP
				synAcks   uint64 // SYN-ACKs sent again
			}{{Server, srvDev, cliDev, ss, srv.synRetrans}, {Client, cliDev, srvDev, cs, 0}} {
				wire := w.dev.TxPackets + w.dev.TxDropped + w.peer.RxDropped
				if got := w.s.Tcp.OutSegs + w.s.Tcp.RetransSegs - w.synAcks; got != wire {
					t.Errorf("%s: OutSegs %d + RetransSegs %d - SYN-ACKs sent again %d = %d, but the veth sent %d and dropped %d+%d",
						w.side, w.s.Tcp.OutSegs, w.s.Tcp.RetransSegs, w.synAcks, got, w.dev.TxPackets, w.dev.TxDropped, w.peer.RxDropped)
				}
			}
			t.Logf("%s tcp echo %d B in %.2fs: segments out %d+%d, retransmitted %d (SYN %d, SYN-ACK %d), loss rule dropped %d, shaper dropped %d, veth dropped %d",
				p.Name, n, cr.Seconds, cs.Tcp.OutSegs, ss.Tcp.OutSegs, retrans, cli.synRetrans, srv.synRetrans, lost, srvDev.Shaper.Drops+cliDev.Shaper.Drops,
				srvDev.TxDropped+srvDev.RxDropped+cliDev.TxDropped+cliDev.RxDropped)
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
			r := udpExchange(t, l, Client, n, 64, 20000)
			missing := r.send.Sent - r.recv.Datagrams
			drops := r.rcv.LossDropped
			// Datagrams the veth dropped (a starved softirq backlog) never
			// met the rule; udpExchange has already accounted for them.
			vethDrops := r.snd.TxDropped + r.rcv.RxDropped
			if r.send.Sent != n || missing != drops+vethDrops {
				t.Fatalf("sent %d, delivered %d: %d missing, the %s rule dropped %d, the veth %d",
					r.send.Sent, r.recv.Datagrams, missing, f, drops, vethDrops)
			}
			trials := float64(r.rcv.RxPackets)
			mean, sd := trials*p, math.Sqrt(trials*p*(1-p))
			if z := (float64(drops) - mean) / sd; math.Abs(z) > 5 {
				t.Errorf("%d of %.0f dropped (%.2f%%): %.1f standard deviations from %g", drops, trials, 100*float64(drops)/trials, z, mean)
			}
			t.Logf("%s: %d of %.0f dropped (%.3f%%, z=%.2f); missing %d = rule %d + veth %d",
				f, drops, trials, 100*float64(drops)/trials, (float64(drops)-mean)/sd, missing, drops, vethDrops)
		})
	}
}
