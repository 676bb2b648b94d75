package bench

import (
	"context"
	"fmt"
	"net"
	"os/exec"

	"github.com/fleetwire/fleetwire/bench/netns"
)

// vethLink is a bench/netns link: server and generator in two namespaces
// joined by a veth pair with the profile's rate limits and loss.
type vethLink struct{ l *netns.Link }

// openNetns sets up the named bench/netns profile, or says why it cannot.
func openNetns(ctx context.Context, profile string) (link, error) {
	p, err := netns.ProfileByName(profile)
	if err != nil {
		return nil, err
	}
	if err := netns.Available(); err != nil {
		return nil, fmt.Errorf("network namespaces unavailable, profile %s skipped: %w", profile, err)
	}
	l, err := netns.Setup(ctx, p)
	if err != nil {
		return nil, err
	}
	return &vethLink{l: l}, nil
}

func side(s string) netns.Side {
	if s == "server" {
		return netns.Server
	}
	return netns.Client
}

func (v *vethLink) command(s, name string, args ...string) *exec.Cmd {
	return v.l.Command(side(s), name, args...)
}
func (v *vethLink) serverHost() string { return v.l.ServerAddr.String() }
func (v *vethLink) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	return netns.DialInNS(ctx, v.l.ServerNS, network, addr)
}

// snmp merges both namespaces: the server's as Udp.* / Tcp.*, the
// client's as client.Udp.* / client.Tcp.* (the uplink's TCP
// retransmissions are the client's).
func (v *vethLink) snmp() (SNMP, bool, error) {
	return nsSNMP(v.l.ServerNS, v.l.ClientNS)
}

// nsSNMP merges the counters of two namespaces' /proc/net/snmp: the
// server's as Udp.* / Tcp.*, the client's as client.Udp.* /
// client.Tcp.*.
func nsSNMP(serverNS, clientNS string) (SNMP, bool, error) {
	m := SNMP{}
	for _, n := range []struct{ ns, prefix string }{{serverNS, ""}, {clientNS, "client."}} {
		s, err := netns.SNMPIn(n.ns)
		if err != nil {
			return nil, false, fmt.Errorf("netns: snmp %s: %w", n.ns, err)
		}
		for k, val := range map[string]uint64{
			"Udp.InDatagrams": s.Udp.InDatagrams, "Udp.NoPorts": s.Udp.NoPorts, "Udp.InErrors": s.Udp.InErrors,
			"Udp.OutDatagrams": s.Udp.OutDatagrams, "Udp.RcvbufErrors": s.Udp.RcvbufErrors, "Udp.SndbufErrors": s.Udp.SndbufErrors,
			"Tcp.InSegs": s.Tcp.InSegs, "Tcp.OutSegs": s.Tcp.OutSegs, "Tcp.RetransSegs": s.Tcp.RetransSegs,
			"Tcp.InErrs": s.Tcp.InErrs, "Tcp.OutRsts": s.Tcp.OutRsts,
		} {
			m[n.prefix+k] = int64(val)
		}
	}
	return m, false, nil
}

func (v *vethLink) ifs() (*IfCounters, *IfCounters, error) {
	var out [2]*IfCounters
	for i, sd := range []netns.Side{netns.Client, netns.Server} {
		c, err := v.l.Counters(sd)
		if err != nil {
			return nil, nil, err
		}
		out[i] = &IfCounters{
			RxBytes: int64(c.RxBytes), RxPackets: int64(c.RxPackets), RxDropped: int64(c.RxDropped),
			TxBytes: int64(c.TxBytes), TxPackets: int64(c.TxPackets), TxDropped: int64(c.TxDropped),
			LossDropped: int64(c.LossDropped), QdiscDrops: int64(c.Shaper.Drops),
		}
	}
	return out[0], out[1], nil
}

// ports: the server namespace is ours alone, so the defaults are free.
func (v *vethLink) ports() ([4]int, error) { return [4]int{7070, 7071, 7443, 7080}, nil }
func (v *vethLink) describe() string       { return "veth between two namespaces: " + v.l.Profile.String() }
func (v *vethLink) close() error           { return v.l.Close() }
