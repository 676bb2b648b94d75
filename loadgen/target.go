package loadgen

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// target is one resolved receiver.
type target struct {
	spec string // as given in Config.Addr: the report's name for it
	addr netip.AddrPort
	host string // as given, for TLS server names
	bind bool   // devices bind to source addresses (an IPv4 loopback target)
}

func (t *target) family() int {
	if t.addr.Addr().Is4() {
		return unix.AF_INET
	}
	return unix.AF_INET6
}

// targets are the receivers of a run and the source addresses devices
// bind to. Device number n sends to list[n mod len(list)]: the spread is
// a function of the device alone, so the same fleet meets the same node
// whatever --procs and --loops split it into, and a node's share of the
// ground truth can be read off the device ids.
type targets struct {
	list      []target
	sources   netip.Addr
	perSource int
}

// of returns the index of device number n's target.
func (ts *targets) of(n int) int { return n % len(ts.list) }

// addrList splits Config.Addr: "host:port[,host:port...]".
func addrList(s string) []string {
	var out []string
	for a := range strings.SplitSeq(s, ",") {
		out = append(out, strings.TrimSpace(a))
	}
	return out
}

// resolveTargets parses and resolves every address of c.Addr and refuses
// a target outside loopback unless c.AllowRemote: a load generator
// pointed at the wrong host is a denial-of-service tool.
func resolveTargets(ctx context.Context, c *Config) (*targets, error) {
	ts := &targets{perSource: c.PerSource}
	if c.SourceBase != "" {
		src, err := netip.ParseAddr(c.SourceBase)
		if err != nil || !src.Is4() || !src.IsLoopback() {
			return nil, fmt.Errorf("--source-base %q: want an IPv4 loopback address such as 127.0.0.2", c.SourceBase)
		}
		ts.sources = src
	}
	bind := false
	for _, spec := range addrList(c.Addr) {
		t, err := resolveTarget(ctx, c, spec)
		if err != nil {
			return nil, err
		}
		t.bind = ts.sources.IsValid() && t.addr.Addr().Is4() && t.addr.Addr().IsLoopback()
		bind = bind || t.bind
		ts.list = append(ts.list, t)
	}
	if bind {
		last := c.IDOffset + c.Devices - 1
		if a := ts.sourceAddr(last); !a.IsLoopback() {
			return nil, fmt.Errorf("%d devices at %d per source address run past 127.255.255.255 from %v", last+1, c.PerSource, ts.sources)
		}
	}
	return ts, nil
}

func resolveTarget(ctx context.Context, c *Config, spec string) (target, error) {
	host, portStr, err := net.SplitHostPort(spec)
	if err != nil {
		return target{}, fmt.Errorf("target %q: %w", spec, err)
	}
	port, err := strconv.ParseUint(portStr, 10, 16)
	if err != nil || port == 0 {
		return target{}, fmt.Errorf("target %q: bad port", spec)
	}
	var addrs []netip.Addr
	if a, err := netip.ParseAddr(host); err == nil {
		addrs = []netip.Addr{a.Unmap()}
	} else {
		ips, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
		if err != nil {
			return target{}, fmt.Errorf("target %q: resolve %s: %w", spec, host, err)
		}
		for _, a := range ips {
			addrs = append(addrs, a.Unmap())
		}
	}
	if len(addrs) == 0 {
		return target{}, fmt.Errorf("target %q: %s resolves to no address", spec, host)
	}
	if !c.AllowRemote {
		for _, a := range addrs {
			if !a.IsLoopback() {
				return target{}, fmt.Errorf("target %q (%v) is not a loopback address: refusing to load a remote host without --allow-remote", spec, a)
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
	return target{spec: spec, addr: netip.AddrPortFrom(pick, uint16(port)), host: host}, nil
}

// source returns the address device number n binds to to reach target
// ti, false when it does not bind.
func (ts *targets) source(n, ti int) (netip.Addr, bool) {
	if !ts.list[ti].bind {
		return netip.Addr{}, false
	}
	a := ts.sourceAddr(n)
	return a, a.IsLoopback()
}

// sourceAddr is SourceBase + n/PerSource. Every target shares the
// spread: the kernel's limit is per (source, destination) pair.
func (ts *targets) sourceAddr(n int) netip.Addr {
	b := ts.sources.As4()
	v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	v += uint32(n / ts.perSource)
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}
