package netns

import (
	"encoding/json"
	"fmt"

	"github.com/prometheus/procfs"
)

// DevCounters is what one side of the link counted, all cumulative since
// Setup. Use Sub for the figures of one run. Everything about a direction
// is counted at the side it arrives at, in this order:
//
//	RxPackets (the wire) = Shaper.Drops + Shaper.Packets + Shaper.BacklogPackets   (rate-limited direction)
//	Shaper.Packets, or RxPackets when unlimited = LossDropped + what the IP stack received
//
// Rx and Tx come from /proc/net/dev inside the side's namespace and count
// whole frames including the 14-byte Ethernet header; this side's Tx is
// the other side's Rx. Packets the shaper or the loss rule drop have
// already crossed the wire and are counted in Rx, as a lost radio frame
// still cost the device its airtime.
type DevCounters struct {
	Iface string

	RxBytes, RxPackets, RxErrors, RxDropped uint64
	TxBytes, TxPackets, TxErrors, TxDropped uint64

	// Shaper is the tbf that limits the direction arriving at this side
	// (on ShaperIface); zero, with Kind "", when that direction is not
	// rate limited.
	Shaper QdiscStats

	// LossDropped and LossDroppedBytes are the loss rule's own counter for
	// packets arriving at this side, in IP bytes (no Ethernet header); 0
	// when the profile has no loss.
	LossDropped, LossDroppedBytes uint64
}

// QdiscStats is `tc -s qdisc show` for the root qdisc.
type QdiscStats struct {
	Kind                         string
	Bytes, Packets               uint64 // dequeued to the device
	Drops, Overlimits, Requeues  uint64
	BacklogBytes, BacklogPackets uint64 // gauges, not counters: Sub keeps the later value
}

// Sub returns c minus prev, counter by counter; gauges keep c's value.
func (c DevCounters) Sub(prev DevCounters) DevCounters {
	d := c
	d.RxBytes -= prev.RxBytes
	d.RxPackets -= prev.RxPackets
	d.RxErrors -= prev.RxErrors
	d.RxDropped -= prev.RxDropped
	d.TxBytes -= prev.TxBytes
	d.TxPackets -= prev.TxPackets
	d.TxErrors -= prev.TxErrors
	d.TxDropped -= prev.TxDropped
	d.Shaper.Bytes -= prev.Shaper.Bytes
	d.Shaper.Packets -= prev.Shaper.Packets
	d.Shaper.Drops -= prev.Shaper.Drops
	d.Shaper.Overlimits -= prev.Shaper.Overlimits
	d.Shaper.Requeues -= prev.Shaper.Requeues
	d.LossDropped -= prev.LossDropped
	d.LossDroppedBytes -= prev.LossDroppedBytes
	return d
}

// readNetDev fills the Rx/Tx fields of c for iface from /proc/net/dev
// inside ns.
func readNetDev(ns, iface string, c *DevCounters) error {
	return ProcInNS(ns, func(p procfs.Proc) error {
		nd, err := p.NetDev()
		if err != nil {
			return err
		}
		return netDevOf(nd, iface, c)
	})
}

// netDevOf fills the Rx/Tx fields of c from iface's line of nd.
func netDevOf(nd procfs.NetDev, iface string, c *DevCounters) error {
	l, ok := nd[iface]
	if !ok {
		return fmt.Errorf("/proc/net/dev: no interface %q", iface)
	}
	c.Iface = iface
	c.RxBytes, c.RxPackets, c.RxErrors, c.RxDropped = l.RxBytes, l.RxPackets, l.RxErrors, l.RxDropped
	c.TxBytes, c.TxPackets, c.TxErrors, c.TxDropped = l.TxBytes, l.TxPackets, l.TxErrors, l.TxDropped
	return nil
}

// parseTcQdisc reads the root qdisc from `tc -s -j qdisc show dev X`.
func parseTcQdisc(b []byte) (QdiscStats, error) {
	var qs []struct {
		Kind       string `json:"kind"`
		Root       bool   `json:"root"`
		Bytes      uint64 `json:"bytes"`
		Packets    uint64 `json:"packets"`
		Drops      uint64 `json:"drops"`
		Overlimits uint64 `json:"overlimits"`
		Requeues   uint64 `json:"requeues"`
		Backlog    uint64 `json:"backlog"`
		Qlen       uint64 `json:"qlen"`
	}
	if err := json.Unmarshal(b, &qs); err != nil {
		return QdiscStats{}, fmt.Errorf("parse tc -j output %q: %w", b, err)
	}
	for _, q := range qs {
		if q.Root {
			return QdiscStats{Kind: q.Kind, Bytes: q.Bytes, Packets: q.Packets, Drops: q.Drops,
				Overlimits: q.Overlimits, Requeues: q.Requeues, BacklogBytes: q.Backlog, BacklogPackets: q.Qlen}, nil
		}
	}
	return QdiscStats{}, fmt.Errorf("tc: no root qdisc in %q", b)
}

// SNMP holds the /proc/net/snmp counters of one namespace that tell where
// datagrams and segments went. Each namespace has its own, so these count
// only the traffic of that side of the link (and its loopback).
type SNMP struct {
	Udp struct {
		InDatagrams, NoPorts, InErrors, OutDatagrams, RcvbufErrors, SndbufErrors uint64
	}
	Tcp struct {
		ActiveOpens, PassiveOpens, InSegs, OutSegs, RetransSegs, InErrs, OutRsts uint64
	}
}

// Sub returns s minus prev.
func (s SNMP) Sub(prev SNMP) SNMP {
	d := s
	d.Udp.InDatagrams -= prev.Udp.InDatagrams
	d.Udp.NoPorts -= prev.Udp.NoPorts
	d.Udp.InErrors -= prev.Udp.InErrors
	d.Udp.OutDatagrams -= prev.Udp.OutDatagrams
	d.Udp.RcvbufErrors -= prev.Udp.RcvbufErrors
	d.Udp.SndbufErrors -= prev.Udp.SndbufErrors
	d.Tcp.ActiveOpens -= prev.Tcp.ActiveOpens
	d.Tcp.PassiveOpens -= prev.Tcp.PassiveOpens
	d.Tcp.InSegs -= prev.Tcp.InSegs
	d.Tcp.OutSegs -= prev.Tcp.OutSegs
	d.Tcp.RetransSegs -= prev.Tcp.RetransSegs
	d.Tcp.InErrs -= prev.Tcp.InErrs
	d.Tcp.OutRsts -= prev.Tcp.OutRsts
	return d
}

// snmpOf picks the counters of SNMP from procfs's reading of
// /proc/net/snmp; every one must be there, and none is negative.
func snmpOf(ps *procfs.ProcSnmp) (SNMP, error) {
	var s SNMP
	fields := []struct {
		name string
		src  *float64
		dst  *uint64
	}{
		{"Udp.InDatagrams", ps.Udp.InDatagrams, &s.Udp.InDatagrams}, {"Udp.NoPorts", ps.Udp.NoPorts, &s.Udp.NoPorts},
		{"Udp.InErrors", ps.Udp.InErrors, &s.Udp.InErrors}, {"Udp.OutDatagrams", ps.Udp.OutDatagrams, &s.Udp.OutDatagrams},
		{"Udp.RcvbufErrors", ps.Udp.RcvbufErrors, &s.Udp.RcvbufErrors}, {"Udp.SndbufErrors", ps.Udp.SndbufErrors, &s.Udp.SndbufErrors},
		{"Tcp.ActiveOpens", ps.Tcp.ActiveOpens, &s.Tcp.ActiveOpens}, {"Tcp.PassiveOpens", ps.Tcp.PassiveOpens, &s.Tcp.PassiveOpens},
		{"Tcp.InSegs", ps.Tcp.InSegs, &s.Tcp.InSegs}, {"Tcp.OutSegs", ps.Tcp.OutSegs, &s.Tcp.OutSegs},
		{"Tcp.RetransSegs", ps.Tcp.RetransSegs, &s.Tcp.RetransSegs}, {"Tcp.InErrs", ps.Tcp.InErrs, &s.Tcp.InErrs},
		{"Tcp.OutRsts", ps.Tcp.OutRsts, &s.Tcp.OutRsts},
	}
	for _, f := range fields {
		if f.src == nil {
			return SNMP{}, fmt.Errorf("/proc/net/snmp: no %s", f.name)
		}
		if *f.src < 0 {
			return SNMP{}, fmt.Errorf("/proc/net/snmp: %s is %v", f.name, *f.src)
		}
		*f.dst = uint64(*f.src)
	}
	return s, nil
}
