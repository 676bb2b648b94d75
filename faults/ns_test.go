package faults

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/fleetwire/fleetwire/bench/netns"
)

// Fixed ports do on a link: its namespaces are the test's own.
const nsTCP, nsUDP, nsHTTP = 7070, 7071, 7080

// linkSite sets up a bench/netns link with profile p, the server on one
// side and the generators on the other, or skips the test with the
// reason when links cannot be built here (not root, a tool missing).
func linkSite(t *testing.T, p netns.Profile) (*site, *netns.Link) {
	t.Helper()
	if err := netns.Available(); err != nil {
		t.Skip(err)
	}
	netns.CleanupStale()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	l, err := netns.Setup(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	// Registered before any process starts, so it runs after their
	// cleanups (LIFO): Close also kills what would still run inside.
	t.Cleanup(func() {
		if err := l.Close(); err != nil {
			t.Error(err)
		}
	})
	st := &site{
		host:      l.ServerAddr.String(),
		serverCmd: func(args ...string) *exec.Cmd { return l.Command(netns.Server, fleetwireBin, args...) },
		clientCmd: func(args ...string) *exec.Cmd { return l.Command(netns.Client, fleetwireBin, args...) },
		dial:      dialIn(l.ServerNS),
		// The target is no loopback address, and the generator's default
		// source spread (127.0.0.2...) does not route across the link.
		genFlags: []string{"--allow-remote", "--source-base", ""},
		ports:    func(*testing.T, int) (int, int, int) { return nsTCP, nsUDP, nsHTTP },
	}
	return st, l
}

// dialIn returns a dialer whose sockets live in network namespace ns:
// the test process reaches the server's HTTP API that way. A socket
// keeps the namespace it was created in, so only the dial runs there, on
// an OS thread that joins ns and is then thrown away (the goroutine ends
// locked), never handed back to other goroutines.
func dialIn(ns string) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		type result struct {
			c   net.Conn
			err error
		}
		ch := make(chan result, 1)
		go func() {
			runtime.LockOSThread()
			if unix.Gettid() == unix.Getpid() {
				// The main thread cannot be thrown away: dial from another.
				defer runtime.UnlockOSThread()
				c, err := dialIn(ns)(ctx, network, addr)
				ch <- result{c, err}
				return
			}
			f, err := os.Open("/run/netns/" + ns)
			if err != nil {
				ch <- result{nil, err}
				return
			}
			err = unix.Setns(int(f.Fd()), unix.CLONE_NEWNET)
			f.Close()
			if err != nil {
				ch <- result{nil, fmt.Errorf("setns %s: %w", ns, err)}
				return
			}
			var d net.Dialer
			c, err := d.DialContext(ctx, network, addr)
			ch <- result{c, err}
		}()
		r := <-ch
		return r.c, r.err
	}
}

// plainTCPHeaders turns TCP timestamps and SACK off for connections the
// generators open on l, so that every segment a device sends after its
// SYN has a bare 20-byte header: a pure acknowledgement is then exactly
// 40 bytes of IP and anything longer carries data (see blackhole). Call
// before the generators start: both options are agreed at connect.
func plainTCPHeaders(t *testing.T, l *netns.Link) {
	t.Helper()
	for _, k := range []string{"tcp_timestamps", "tcp_sack"} {
		cmd := l.Command(netns.Client, "sh", "-c", "echo 0 > /proc/sys/net/ipv4/"+k)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s off in %s: %v: %s", k, l.ClientNS, err, out)
		}
	}
}

// blackhole drops everything the devices send to the server's side of l
// (readings, hellos, #gaveup, new connections) until the returned
// function lifts it, except their bare TCP acknowledgements, and leaves
// the downlink open, so the server's #stored still reach the devices.
// Dropping the acknowledgements too would stall each connection's
// downlink as soon as one #stored went unacknowledged: the server's TCP
// then holds new data back (cwnd 1) while it retransmits, so a device
// would never hear the #stored that followed (seen: Send-Q 39 bytes, the
// last 20 of them a #stored that never left). A pure acknowledgement is
// told from data by its length: 40 bytes of IP once plainTCPHeaders
// took the options away. Like the link's loss rule the drop sits in the
// receiving namespace's prerouting hook, so no sender is told.
func blackhole(t *testing.T, l *netns.Link) (lift func()) {
	t.Helper()
	run := func(stdin string, name string, args ...string) {
		t.Helper()
		cmd := l.Command(netns.Server, name, args...)
		if stdin != "" {
			cmd.Stdin = strings.NewReader(stdin)
		}
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s %s: %v: %s", name, strings.Join(args, " "), err, out)
		}
	}
	if _, err := exec.LookPath("nft"); err == nil {
		run(fmt.Sprintf(`table ip fwfaults {
	chain uplink {
		type filter hook prerouting priority raw; policy accept;
		iifname %[1]q meta l4proto udp drop
		iifname %[1]q meta l4proto tcp ip length > 40 drop
	}
}
`, l.ServerIface), "nft", "-f", "-")
		return func() { run("", "nft", "delete", "table", "ip", "fwfaults") }
	}
	rules := [][]string{
		{"-i", l.ServerIface, "-p", "udp", "-m", "comment", "--comment", "fwfaults", "-j", "DROP"},
		{"-i", l.ServerIface, "-p", "tcp", "-m", "length", "--length", "41:65535", "-m", "comment", "--comment", "fwfaults", "-j", "DROP"},
	}
	for _, r := range rules {
		run("", "iptables", append([]string{"-w", "-t", "raw", "-I", "PREROUTING"}, r...)...)
	}
	return func() {
		for _, r := range rules {
			run("", "iptables", append([]string{"-w", "-t", "raw", "-D", "PREROUTING"}, r...)...)
		}
	}
}
