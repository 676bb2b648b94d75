package loadgen

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strconv"
)

// target is the resolved receiver address and the source addresses
// devices bind to.
type target struct {
	addr      netip.AddrPort
	host      string // as given, for TLS server names
	sources   netip.Addr
	perSource int
}

// resolveTarget parses and resolves c.Addr and refuses a target outside
// loopback unless c.AllowRemote: a load generator pointed at the wrong
// host is a denial-of-service tool.
func resolveTarget(ctx context.Context, c *Config) (*target, error) {
	host, portStr, err := net.SplitHostPort(c.Addr)
	if err != nil {
		return nil, fmt.Errorf("target %q: %w", c.Addr, err)
	}
	port, err := strconv.ParseUint(portStr, 10, 16)
	if err != nil || port == 0 {
		return nil, fmt.Errorf("target %q: bad port", c.Addr)
	}
	var addrs []netip.Addr
	if a, err := netip.ParseAddr(host); err == nil {
		addrs = []netip.Addr{a.Unmap()}
	} else {
		ips, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
		if err != nil {
			return nil, fmt.Errorf("target %q: resolve %s: %w", c.Addr, host, err)
		}
		for _, a := range ips {
			addrs = append(addrs, a.Unmap())
		}
	}
	if len(addrs) == 0 {
		return nil, fmt.Errorf("target %q: %s resolves to no address", c.Addr, host)
	}
	if !c.AllowRemote {
		for _, a := range addrs {
			if !a.IsLoopback() {
				return nil, fmt.Errorf("target %q (%v) is not a loopback address: refusing to load a remote host without --allow-remote", c.Addr, a)
			}
		}
	}
	// Prefer IPv4: the source-address spread only exists there.
	pick := addrs[0]
	for _, a := range addrs {
		if a.Is4() {
			pick = a
			break
		}
	}
	t := &target{addr: netip.AddrPortFrom(pick, uint16(port)), host: host, perSource: c.PerSource}
	if c.SourceBase != "" && pick.Is4() && pick.IsLoopback() {
		src, err := netip.ParseAddr(c.SourceBase)
		if err != nil || !src.Is4() || !src.IsLoopback() {
			return nil, fmt.Errorf("--source-base %q: want an IPv4 loopback address such as 127.0.0.2", c.SourceBase)
		}
		t.sources = src
		last, ok := t.source(c.IDOffset + c.Devices - 1)
		if !ok || !last.IsLoopback() {
			return nil, fmt.Errorf("%d devices at %d per source address run past 127.255.255.255 from %v", c.IDOffset+c.Devices, c.PerSource, src)
		}
	}
	return t, nil
}

// source returns the address device number n binds to, false when devices
// do not bind.
func (t *target) source(n int) (netip.Addr, bool) {
	if !t.sources.IsValid() {
		return netip.Addr{}, false
	}
	b := t.sources.As4()
	v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	v += uint32(n / t.perSource)
	a := netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
	return a, a.IsLoopback()
}
