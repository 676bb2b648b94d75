package netns

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
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

// parseProcNetDev fills the Rx/Tx fields of c for iface from /proc/net/dev.
func parseProcNetDev(b []byte, iface string, c *DevCounters) error {
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		name, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok || strings.TrimSpace(name) != iface {
			continue
		}
		f := strings.Fields(rest)
		if len(f) < 16 {
			return fmt.Errorf("/proc/net/dev: %s has %d fields, want 16", iface, len(f))
		}
		// Receive: bytes packets errs drop fifo frame compressed multicast;
		// transmit: bytes packets errs drop fifo colls carrier compressed.
		dst := []*uint64{&c.RxBytes, &c.RxPackets, &c.RxErrors, &c.RxDropped,
			nil, nil, nil, nil, &c.TxBytes, &c.TxPackets, &c.TxErrors, &c.TxDropped}
		for i, p := range dst {
			if p == nil {
				continue
			}
			v, err := strconv.ParseUint(f[i], 10, 64)
			if err != nil {
				return fmt.Errorf("/proc/net/dev: %s field %d %q: %w", iface, i, f[i], err)
			}
			*p = v
		}
		c.Iface = iface
		return nil
	}
	return fmt.Errorf("/proc/net/dev: no interface %q", iface)
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

// parseSNMP reads /proc/net/snmp: each protocol is a header line of names
// followed by a line of values, both prefixed "Proto:".
func parseSNMP(b []byte) (SNMP, error) {
	var s SNMP
	want := map[string]map[string]*uint64{
		"Udp": {
			"InDatagrams": &s.Udp.InDatagrams, "NoPorts": &s.Udp.NoPorts, "InErrors": &s.Udp.InErrors,
			"OutDatagrams": &s.Udp.OutDatagrams, "RcvbufErrors": &s.Udp.RcvbufErrors, "SndbufErrors": &s.Udp.SndbufErrors,
		},
		"Tcp": {
			"ActiveOpens": &s.Tcp.ActiveOpens, "PassiveOpens": &s.Tcp.PassiveOpens, "InSegs": &s.Tcp.InSegs,
			"OutSegs": &s.Tcp.OutSegs, "RetransSegs": &s.Tcp.RetransSegs, "InErrs": &s.Tcp.InErrs, "OutRsts": &s.Tcp.OutRsts,
		},
	}
	header := map[string][]string{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		proto, rest, ok := strings.Cut(sc.Text(), ":")
		fields, known := want[proto]
		if !ok || !known {
			continue
		}
		f := strings.Fields(rest)
		names, seen := header[proto]
		if !seen {
			header[proto] = f
			continue
		}
		if len(names) != len(f) {
			return SNMP{}, fmt.Errorf("/proc/net/snmp: %s has %d names and %d values", proto, len(names), len(f))
		}
		for i, n := range names {
			p := fields[n]
			if p == nil {
				continue
			}
			// Tcp MaxConn is -1; none of the fields we keep can be negative.
			v, err := strconv.ParseUint(f[i], 10, 64)
			if err != nil {
				return SNMP{}, fmt.Errorf("/proc/net/snmp: %s %s %q: %w", proto, n, f[i], err)
			}
			*p = v
			delete(fields, n)
		}
		if len(fields) > 0 {
			return SNMP{}, fmt.Errorf("/proc/net/snmp: %s lacks %d of the counters we read", proto, len(fields))
		}
		delete(want, proto)
	}
	if len(want) > 0 {
		return SNMP{}, fmt.Errorf("/proc/net/snmp: no %d of the Udp and Tcp sections", len(want))
	}
	return s, nil
}
