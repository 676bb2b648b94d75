package netns

import (
	"strings"
	"testing"

	"github.com/prometheus/procfs"

	"github.com/fleetwire/fleetwire/internal/procfixture"
)

// The inputs below are verbatim outputs of the tools on Debian 12
// (iproute2 6.1, nftables 1.0.6, iptables 1.8.9) and kernel 6.18.

const procNetDev = `Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo:       0       0    0    0    0     0          0         0        0       0    0    0    0     0       0          0
veth-srv: 1234567     890    1    2    0     0          0         0   98765     432    3    4    0     0       0          0
`

func TestNetDevOf(t *testing.T) {
	f := func(in string) (procfs.NetDev, error) {
		t.Helper()
		return procfixture.FS(t, map[string]string{"net/dev": in}).NetDev()
	}
	nd, err := f(procNetDev)
	if err != nil {
		t.Fatal(err)
	}
	var c DevCounters
	if err := netDevOf(nd, "veth-srv", &c); err != nil {
		t.Fatal(err)
	}
	want := DevCounters{Iface: "veth-srv", RxBytes: 1234567, RxPackets: 890, RxErrors: 1, RxDropped: 2,
		TxBytes: 98765, TxPackets: 432, TxErrors: 3, TxDropped: 4}
	if c != want {
		t.Fatalf("got %+v\nwant %+v", c, want)
	}
	if err := netDevOf(nd, "veth-cli", &c); err == nil {
		t.Fatal("no error for a missing interface")
	}
	head := procNetDev[:strings.Index(procNetDev, "    lo:")]
	// (A line of fewer than 16 fields, which the kernel never writes,
	// makes procfs v0.22 index out of range: not tested.)
	for _, bad := range []string{"veth-srv: 1 2 3 4 5 6 7 8 x 10 11 12 13 14 15 16\n"} {
		if _, err := f(head + bad); err == nil {
			t.Fatalf("no error for %q", bad)
		}
	}
}

const procNetSNMP = `Ip: Forwarding DefaultTTL InReceives
Ip: 1 64 5
Tcp: RtoAlgorithm RtoMin RtoMax MaxConn ActiveOpens PassiveOpens AttemptFails EstabResets CurrEstab InSegs OutSegs RetransSegs InErrs OutRsts InCsumErrors
Tcp: 1 200 120000 -1 380955 380414 424 3165 676 13988751 13980542 5857 0 2260 0
Udp: InDatagrams NoPorts InErrors OutDatagrams RcvbufErrors SndbufErrors InCsumErrors IgnoredMulti MemErrors
Udp: 17366564 3349 864278 18245541 864278 0 0 0 0
UdpLite: InDatagrams NoPorts InErrors OutDatagrams RcvbufErrors SndbufErrors InCsumErrors IgnoredMulti MemErrors
UdpLite: 0 0 0 0 0 0 0 0 0
`

func TestSNMPOf(t *testing.T) {
	f := func(in string) (SNMP, error) {
		t.Helper()
		p, err := procfixture.FS(t, map[string]string{"1/net/snmp": in}).Proc(1)
		if err != nil {
			t.Fatal(err)
		}
		ps, err := p.Snmp()
		if err != nil {
			return SNMP{}, err
		}
		return snmpOf(&ps)
	}
	s, err := f(procNetSNMP)
	if err != nil {
		t.Fatal(err)
	}
	var want SNMP
	want.Udp.InDatagrams, want.Udp.NoPorts, want.Udp.InErrors = 17366564, 3349, 864278
	want.Udp.OutDatagrams, want.Udp.RcvbufErrors = 18245541, 864278
	want.Tcp.ActiveOpens, want.Tcp.PassiveOpens, want.Tcp.InSegs, want.Tcp.OutSegs = 380955, 380414, 13988751, 13980542
	want.Tcp.RetransSegs, want.Tcp.OutRsts = 5857, 2260
	if s != want {
		t.Fatalf("got %+v\nwant %+v", s, want)
	}
	if d := s.Sub(s); d != (SNMP{}) {
		t.Fatalf("s - s = %+v", d)
	}
	bad := func(in string) {
		t.Helper()
		if _, err := f(in); err == nil {
			t.Fatalf("no error for %q", in)
		}
	}
	bad("")
	bad(strings.Replace(procNetSNMP, "RetransSegs", "Retrans", 1))
	bad(strings.Replace(procNetSNMP, "Udp: 17366564 3349", "Udp: 17366564", 1))
	bad(strings.Replace(procNetSNMP, "Udp: 17366564", "Udp: -1", 1))
}

func TestParseTcQdisc(t *testing.T) {
	f := func(in string, want QdiscStats) {
		t.Helper()
		q, err := parseTcQdisc([]byte(in))
		if err != nil {
			t.Fatal(err)
		}
		if q != want {
			t.Fatalf("got %+v\nwant %+v", q, want)
		}
	}
	f(`[{"kind":"tbf","handle":"8001:","root":true,"refcnt":3,"options":{"rate":12500,"burst":4000,"lat":320000},"bytes":776,"packets":10,"drops":2,"overlimits":7,"requeues":0,"backlog":1514,"qlen":1}]`,
		QdiscStats{Kind: "tbf", Bytes: 776, Packets: 10, Drops: 2, Overlimits: 7, BacklogBytes: 1514, BacklogPackets: 1})
	f(`[{"kind":"noqueue","handle":"0:","root":true,"refcnt":2,"options":{},"bytes":0,"packets":0,"drops":0,"overlimits":0,"requeues":0,"backlog":0,"qlen":0}]`,
		QdiscStats{Kind: "noqueue"})
	for _, bad := range []string{"", "[]", `[{"kind":"tbf","root":false}]`, "qdisc tbf 8001: root"} {
		if _, err := parseTcQdisc([]byte(bad)); err == nil {
			t.Fatalf("no error for %q", bad)
		}
	}
}

const nftJSON = `{"nftables": [{"metainfo": {"version": "1.0.6", "release_name": "Lester Gooch #5", "json_schema_version": 1}}, {"table": {"family": "ip", "name": "fwnetns", "handle": 1}}, {"chain": {"family": "ip", "table": "fwnetns", "name": "loss", "handle": 1, "type": "filter", "hook": "prerouting", "prio": -300, "policy": "accept"}}, {"rule": {"family": "ip", "table": "fwnetns", "chain": "loss", "handle": 2, "comment": "fwnetns-loss", "expr": [{"match": {"op": "==", "left": {"meta": {"key": "iifname"}}, "right": "veth-srv"}}, {"match": {"op": "<", "left": {"numgen": {"mode": "random", "mod": 1000000, "offset": 0}}, "right": 50000}}, {"counter": {"packets": 982, "bytes": 90344}}, {"drop": null}]}}]}`

const iptablesL = `Chain PREROUTING (policy ACCEPT 0 packets, 0 bytes)
    pkts      bytes target     prot opt in     out     source               destination         
    1027    94484 DROP       0    --  veth-srv *       0.0.0.0/0            0.0.0.0/0            statistic mode random probability 0.05000000005 /* fwnetns-loss */
`

func TestParseLossCounters(t *testing.T) {
	f := func(got func() (uint64, uint64, error), pkts, bytes uint64) {
		t.Helper()
		p, b, err := got()
		if err != nil {
			t.Fatal(err)
		}
		if p != pkts || b != bytes {
			t.Fatalf("got %d packets %d bytes, want %d %d", p, b, pkts, bytes)
		}
	}
	f(func() (uint64, uint64, error) { return parseNftCounter([]byte(nftJSON), "fwnetns-loss") }, 982, 90344)
	f(func() (uint64, uint64, error) { return parseIptablesCounter([]byte(iptablesL), "fwnetns-loss") }, 1027, 94484)

	fail := func(err error) {
		t.Helper()
		if err == nil {
			t.Fatal("no error")
		}
	}
	_, _, err := parseNftCounter([]byte(nftJSON), "other")
	fail(err)
	_, _, err = parseNftCounter([]byte(strings.Replace(nftJSON, `{"counter": {"packets": 982, "bytes": 90344}}, `, "", 1)), "fwnetns-loss")
	fail(err)
	_, _, err = parseNftCounter([]byte("table ip fwnetns {"), "fwnetns-loss")
	fail(err)
	_, _, err = parseIptablesCounter([]byte(iptablesL), "other")
	fail(err)
	_, _, err = parseIptablesCounter([]byte(strings.Replace(iptablesL, "1027", "1k", 1)), "fwnetns-loss")
	fail(err)
}

func TestDevCountersSub(t *testing.T) {
	a := DevCounters{Iface: "x", RxBytes: 10, TxPackets: 5, LossDropped: 3,
		Shaper: QdiscStats{Kind: "tbf", Drops: 4, BacklogBytes: 100, BacklogPackets: 2}}
	b := DevCounters{Iface: "x", RxBytes: 4, TxPackets: 1, LossDropped: 1,
		Shaper: QdiscStats{Kind: "tbf", Drops: 1, BacklogBytes: 999, BacklogPackets: 9}}
	want := DevCounters{Iface: "x", RxBytes: 6, TxPackets: 4, LossDropped: 2,
		Shaper: QdiscStats{Kind: "tbf", Drops: 3, BacklogBytes: 100, BacklogPackets: 2}}
	if got := a.Sub(b); got != want {
		t.Fatalf("got %+v\nwant %+v", got, want)
	}
}

func TestCreatorPid(t *testing.T) {
	f := func(ns string, pid int, ok bool) {
		t.Helper()
		p, o := creatorPid(ns)
		if p != pid || o != ok {
			t.Fatalf("creatorPid(%q) = %d, %v; want %d, %v", ns, p, o, pid, ok)
		}
	}
	f("fwnet-1234-7-s", 1234, true)
	f("fwnet-1234-7-c", 1234, true)
	f("fwnet-x-7-s", 0, false)
	f("fwnet-0-7-s", 0, false)
	f("fwnet-1234", 0, false)
	f("other-1234-7-s", 0, false)
}
