// Package netns builds emulated network links for benchmark runs: two
// network namespaces joined by a veth pair, with a tbf rate limit and a
// random-loss rule in each direction, so a fleetwire server and a load
// generator can run on either side of a lossy, narrow link like a cellular
// modem. Both impairments act where a direction arrives (see shapeIngress),
// so neither sending kernel ever sees its own packets dropped.
//
// Every Link creates and removes its own namespaces. The veth is created
// directly inside them (it never exists in the caller's namespace), the
// namespaces have no route but their /30, IPv6 is disabled and neighbours
// are static, so the only packets on the link are the ones the run sends.
//
// It needs root, ip and tc (iproute2), nft or iptables, and ethtool;
// Available says what is missing.
//
// Contracts: Setup may be called concurrently (each Link gets namespaces
// of unique names), a Link's methods are safe for concurrent use, and
// Close (idempotent) kills what still runs inside and deletes both
// namespaces. CleanupStale removes namespaces left by dead processes
// only; nothing outside the namespaces a Link created is changed.
package netns

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/procfs"
)

// Side picks one end of the link.
type Side int

const (
	// Server is where the server runs; what it sends is the downlink.
	Server Side = iota
	// Client is where the devices (load generator) run; what it sends is the uplink.
	Client
)

func (s Side) String() string {
	if s == Server {
		return "server"
	}
	return "client"
}

// Prefix starts the name of every namespace this package creates, so
// CleanupStale can find the ones a crashed run left behind.
const Prefix = "fwnet-"

// Interface names; each lives in its own namespace, so they need not be
// unique across links.
const (
	ServerIface = "veth-srv"
	ClientIface = "veth-cli"
)

// Link is one emulated link. Its methods are safe for concurrent use.
type Link struct {
	Profile            Profile
	ServerNS, ClientNS string
	ServerAddr         netip.Addr
	ClientAddr         netip.Addr
	ServerIface        string
	ClientIface        string
	Filter             Filter // the tool that installed the loss rules ("" if the profile has no loss)

	closeOnce sync.Once
	closeErr  error
}

// Option changes how Setup builds a link.
type Option func(*options)

type options struct{ filter Filter }

// WithFilter picks the loss rule's tool instead of preferring nft.
func WithFilter(f Filter) Option { return func(o *options) { o.filter = f } }

var seq atomic.Uint32

// Setup creates the namespaces, the veth pair, the rate limits and the loss
// rules of p. On error nothing is left behind. The caller must Close the
// link.
func Setup(ctx context.Context, p Profile, opts ...Option) (l *Link, err error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	n := seq.Add(1)
	// pid + counter: unique among the links of this process and of any
	// other process alive now; CleanupStale relies on the pid.
	base := fmt.Sprintf("%s%d-%d", Prefix, os.Getpid(), n)
	// A distinct /30 per link, although namespaces would allow reuse, so a
	// capture or a log line says which link it came from.
	k := (n - 1) % (1 << 14)
	net4 := [4]byte{10, 213, byte(k >> 6), byte(k&63) << 2}
	l = &Link{
		Profile:     p,
		ServerNS:    base + "-s",
		ClientNS:    base + "-c",
		ServerAddr:  netip.AddrFrom4([4]byte{net4[0], net4[1], net4[2], net4[3] + 1}),
		ClientAddr:  netip.AddrFrom4([4]byte{net4[0], net4[1], net4[2], net4[3] + 2}),
		ServerIface: ServerIface,
		ClientIface: ClientIface,
	}
	if p.LossPct > 0 {
		if l.Filter, err = resolveFilter(o.filter); err != nil {
			return nil, err
		}
	}
	defer func() {
		if err != nil {
			err = errors.Join(fmt.Errorf("netns: setup %s: %w", p.Name, err), l.Close())
			l = nil
		}
	}()
	return l, l.build(ctx, n)
}

func (l *Link) build(ctx context.Context, n uint32) error {
	p := l.Profile
	for _, ns := range []string{l.ServerNS, l.ClientNS} {
		if _, err := run(ctx, "", "ip", "netns", "add", ns); err != nil {
			return err
		}
		// Before the veth exists, so it is born without IPv6: no router
		// solicitations or MLD reports on a link whose counters we read.
		for _, k := range []string{"default", "all"} {
			if err := writeSysctlInNS(ns, "net/ipv6/conf/"+k+"/disable_ipv6", "1"); err != nil {
				return err
			}
		}
	}
	srvMAC, cliMAC := mac(n, 1), mac(n, 2)
	// Created directly in the two namespaces: the caller's namespace never
	// sees the veth, so nothing can route through it.
	if _, err := run(ctx, "", "ip", "link", "add", l.ServerIface, "address", srvMAC, "netns", l.ServerNS,
		"type", "veth", "peer", "name", l.ClientIface, "address", cliMAC, "netns", l.ClientNS); err != nil {
		return err
	}
	type end struct {
		ns, iface   string
		addr, peer  netip.Addr
		peerMAC     string
		ingressKbit float64 // rate of the direction arriving here
	}
	ends := []end{
		{l.ServerNS, l.ServerIface, l.ServerAddr, l.ClientAddr, cliMAC, p.UpKbit},
		{l.ClientNS, l.ClientIface, l.ClientAddr, l.ServerAddr, srvMAC, p.DownKbit},
	}
	for _, e := range ends {
		// Offloads off so TCP hands the device MSS-sized segments and
		// every wire packet meets the shaper and the loss rule on its own.
		if _, err := run(ctx, "", "ip", "netns", "exec", e.ns, "ethtool", "-K", e.iface,
			"tso", "off", "gso", "off", "gro", "off"); err != nil {
			return err
		}
		if e.ingressKbit > 0 {
			if err := shapeIngress(ctx, e.ns, e.iface, e.ingressKbit, p); err != nil {
				return err
			}
		}
		if p.LossPct > 0 {
			if err := installLoss(ctx, l.Filter, e.ns, e.iface, p.LossPct); err != nil {
				return err
			}
		}
		// A permanent neighbour entry: no ARP frames ever cross the link.
		batch := fmt.Sprintf("link set lo up\naddr add %s/30 dev %s\nneigh replace %s lladdr %s dev %s nud permanent\nlink set %s mtu %d up\n",
			e.addr, e.iface, e.peer, e.peerMAC, e.iface, e.iface, p.mtu())
		if _, err := run(ctx, batch, "ip", "-n", e.ns, "-batch", "-"); err != nil {
			return err
		}
	}
	for _, e := range ends {
		if err := waitUp(ctx, e.ns, e.iface); err != nil {
			return err
		}
	}
	return nil
}

// ShaperIface is the IFB device that holds a direction's tbf, in the
// namespace that direction arrives at.
const ShaperIface = "ifb0"

// shapeIngress rate-limits what arrives on iface: an ingress filter
// redirects every packet to an IFB device whose root qdisc is tbf, and IFB
// hands each packet back to the stack as if it had arrived on iface.
//
// The shaper sits at the receiving end, not on the sender's egress, like
// the bottleneck buffer of a router or a base station: had it been the
// sender's own qdisc, the sending kernel would see every overflow drop at
// once, and TCP counts a retransmission that its own qdisc refused in
// RetransSegs and TCP_INFO although it never reached the wire (measured on
// lossy-wifi, 0.8 MB echoed: 30-76 TCPRetransFail per run, and once 2569
// RetransSegs for 42 packets lost). Here the sender's
// qdisc is the veth's noqueue, which never drops, so the sender's TCP and
// UDP counters count exactly what went on the wire, but for one kernel
// habit: a SYN-ACK sent again is counted in OutSegs and in RetransSegs
// (TCPSynRetrans says how many times).
func shapeIngress(ctx context.Context, ns, iface string, kbit float64, p Profile) error {
	link := fmt.Sprintf("link add %[1]s type ifb\nlink set %[1]s mtu %[2]d up\n", ShaperIface, p.mtu())
	if _, err := run(ctx, link, "ip", "-n", ns, "-batch", "-"); err != nil {
		return err
	}
	// u32 with an empty match: this kernel has neither matchall nor basic.
	tc := fmt.Sprintf("qdisc replace dev %[1]s root tbf rate %[2]s burst %[3]d limit %[4]d\n"+
		"qdisc add dev %[5]s ingress\n"+
		"filter add dev %[5]s parent ffff: protocol all u32 match u32 0 0 action mirred egress redirect dev %[1]s\n",
		ShaperIface, tcRate(kbit), p.burst(), p.queue(), iface)
	_, err := run(ctx, tc, "tc", "-n", ns, "-batch", "-")
	return err
}

// waitUp waits until iface reports operstate UP: the kernel attaches the
// veth's qdisc only then, from a work queue, and until it has, packets are
// dropped by the placeholder qdisc.
func waitUp(ctx context.Context, ns, iface string) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	for {
		out, err := run(ctx, "", "ip", "-n", ns, "-j", "link", "show", "dev", iface)
		if err != nil {
			return err
		}
		if bytes.Contains(out, []byte(`"operstate":"UP"`)) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s in %s is not up: %s", iface, ns, out)
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// tcRate spells kbit/s for tc in whole bit/s: tc reads "kbit" as 1000
// bit/s, and 62.5kbit is clearer to it as 62500bit.
func tcRate(kbit float64) string { return strconv.FormatInt(int64(math.Round(kbit*1000)), 10) + "bit" }

// mac is a locally administered unicast address unique per link and end.
func mac(n uint32, end byte) string {
	return fmt.Sprintf("02:fe:%02x:%02x:%02x:%02x", byte(n>>16), byte(n>>8), byte(n), end)
}

func (l *Link) ns(side Side) (ns, iface string) {
	if side == Server {
		return l.ServerNS, l.ServerIface
	}
	return l.ClientNS, l.ClientIface
}

// Command returns a command that runs name inside side's namespace
// (`ip netns exec NS name args...`). The environment is passed through.
func (l *Link) Command(side Side, name string, args ...string) *exec.Cmd {
	ns, _ := l.ns(side)
	return exec.Command("ip", append([]string{"netns", "exec", ns, name}, args...)...)
}

// CommandContext is Command with a context that kills the process.
func (l *Link) CommandContext(ctx context.Context, side Side, name string, args ...string) *exec.Cmd {
	ns, _ := l.ns(side)
	return exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", ns, name}, args...)...)
}

// Counters reads side's interface, qdisc and loss-rule counters.
func (l *Link) Counters(side Side) (DevCounters, error) {
	ns, iface := l.ns(side)
	var c DevCounters
	err := readNetDev(ns, iface, &c)
	if err != nil {
		return c, fmt.Errorf("netns: counters %s: %w", side, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if c.Shaper, err = l.shaper(ctx, side); err != nil {
		return c, fmt.Errorf("netns: counters %s: %w", side, err)
	}
	if l.Filter != "" {
		if c.LossDropped, c.LossDroppedBytes, err = lossCounter(ctx, l.Filter, ns); err != nil {
			return c, fmt.Errorf("netns: counters %s: %w", side, err)
		}
	}
	return c, nil
}

// shaper reads the tbf of the direction arriving at side, if it has one.
func (l *Link) shaper(ctx context.Context, side Side) (QdiscStats, error) {
	if l.ingressKbit(side) == 0 {
		return QdiscStats{}, nil
	}
	ns, _ := l.ns(side)
	out, err := run(ctx, "", "tc", "-n", ns, "-s", "-j", "qdisc", "show", "dev", ShaperIface)
	if err != nil {
		return QdiscStats{}, err
	}
	return parseTcQdisc(out)
}

// shaperPassed reads how many bytes the shaper of the direction arriving
// at side has passed on, from the IFB device's /proc/net/dev line (IFB
// counts a packet as received when tbf hands it over). It starts no
// process, so it can be timed to the millisecond.
func (l *Link) shaperPassed(side Side) (uint64, error) {
	ns, _ := l.ns(side)
	var c DevCounters
	if err := readNetDev(ns, ShaperIface, &c); err != nil {
		return 0, err
	}
	return c.RxBytes, nil
}

// ingressKbit is the rate of the direction that arrives at side.
func (l *Link) ingressKbit(side Side) float64 {
	if side == Server {
		return l.Profile.UpKbit
	}
	return l.Profile.DownKbit
}

// SNMP reads /proc/net/snmp inside side's namespace.
func (l *Link) SNMP(side Side) (SNMP, error) {
	ns, _ := l.ns(side)
	s, err := SNMPIn(ns)
	if err != nil {
		return SNMP{}, fmt.Errorf("netns: snmp %s: %w", side, err)
	}
	return s, nil
}

// SNMPIn reads /proc/net/snmp inside the named namespace.
func SNMPIn(ns string) (SNMP, error) {
	var s SNMP
	err := ProcInNS(ns, func(p procfs.Proc) error {
		ps, err := p.Snmp()
		if err != nil {
			return err
		}
		s, err = snmpOf(&ps)
		return err
	})
	return s, err
}
