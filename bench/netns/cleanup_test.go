package netns

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestParallelSetup builds links concurrently and checks that each one
// carries only its own traffic.
func TestParallelSetup(t *testing.T) {
	needLinks(t)
	const n = 6
	links := make([]*Link, n)
	var wg sync.WaitGroup
	errs := make([]error, n)
	p := mustProfile(t, "loss-1")
	for i := range n {
		wg.Go(func() { links[i], errs[i] = Setup(context.Background(), p) })
	}
	wg.Wait()
	seen := map[string]bool{}
	for i, l := range links {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		t.Cleanup(func() { l.Close() })
		for _, name := range []string{l.ServerNS, l.ClientNS} {
			if seen[name] {
				t.Fatalf("namespace %s used twice", name)
			}
			seen[name] = true
		}
	}
	// Each link gets a different count, so traffic that crossed into
	// another link would break that link's accounting.
	t.Run("exchange", func(t *testing.T) {
		for i, l := range links {
			t.Run(strconv.Itoa(i), func(t *testing.T) {
				t.Parallel()
				r := udpExchange(t, l, Client, 500+100*i, 64, 10000)
				if r.send.Sent != uint64(500+100*i) || r.recv.Datagrams+r.rcv.LossDropped != r.send.Sent {
					t.Errorf("link %d: %+v %+v dropped %d", i, r.send, r.recv, r.rcv.LossDropped)
				}
			})
		}
	})
	for _, l := range links {
		wg.Go(func() {
			if err := l.Close(); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	left, err := Namespaces()
	if err != nil {
		t.Fatal(err)
	}
	for _, ns := range left {
		if seen[ns] {
			t.Errorf("namespace %s left behind", ns)
		}
	}
}

// TestClose checks that Close removes everything, kills what still runs
// inside, and can be called twice.
func TestClose(t *testing.T) {
	needLinks(t)
	l, err := Setup(context.Background(), mustProfile(t, "lte-m"))
	if err != nil {
		t.Fatal(err)
	}
	sleeper := l.Command(Server, "sleep", "60")
	if err := sleeper.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- sleeper.Wait() }()
	// `ip netns exec` joins the namespace after it starts: wait until it
	// has, or the sleeper could join after Close looked.
	for {
		pids, err := nsPids(context.Background(), l.ServerNS)
		if err != nil {
			t.Fatal(err)
		}
		if slices.Contains(pids, sleeper.Process.Pid) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatalf("second close: %v", err)
	}
	select {
	case <-exited:
	case <-time.After(5 * time.Second):
		t.Fatal("a process inside the namespace survived Close")
	}
	out, err := exec.Command("ip", "netns", "list").CombinedOutput()
	if err != nil {
		t.Fatal(err)
	}
	for _, ns := range []string{l.ServerNS, l.ClientNS} {
		if strings.Contains(string(out), ns) {
			t.Errorf("ip netns list still shows %s:\n%s", ns, out)
		}
	}
	// The veths and rules lived only in the namespaces; none may have
	// leaked into this one.
	out, err = exec.Command("ip", "-o", "link", "show").CombinedOutput()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(out), ServerIface) || strings.Contains(string(out), ClientIface) {
		t.Errorf("a veth of ours is in the root namespace:\n%s", out)
	}
	if _, err := l.Counters(Server); err == nil {
		t.Error("Counters works on a closed link")
	}
}

// TestCleanupStale leaves a namespace named after a dead process and
// checks that CleanupStale removes it and keeps a live link.
func TestCleanupStale(t *testing.T) {
	needLinks(t)
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	stale := fmt.Sprintf("%s%d-1-s", Prefix, dead.Process.Pid)
	if out, err := exec.Command("ip", "netns", "add", stale).CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	t.Cleanup(func() { removeNS(stale) })
	live := setup(t, mustProfile(t, "clean"))
	removed, err := CleanupStale()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(removed, stale) || slices.Contains(removed, live.ServerNS) || slices.Contains(removed, live.ClientNS) {
		t.Fatalf("removed %v; want %s and not %s", removed, stale, live.ServerNS)
	}
	left, _ := Namespaces()
	if slices.Contains(left, stale) || !slices.Contains(left, live.ServerNS) {
		t.Fatalf("left %v", left)
	}
	if _, err := live.Counters(Client); err != nil {
		t.Fatalf("live link broken by CleanupStale: %v", err)
	}
}

// TestIsolation checks that a link can reach nothing but its peer and
// sends nothing on its own: no route out of either namespace, IPv6 off,
// and no ARP, router solicitation or MLD frame on the wire.
func TestIsolation(t *testing.T) {
	needLinks(t)
	l := setup(t, mustProfile(t, "clean"))
	for _, s := range []Side{Server, Client} {
		ns, iface := l.ns(s)
		// A route lookup only: it sends nothing.
		out, err := exec.Command("ip", "-n", ns, "route", "get", "192.0.2.1").CombinedOutput()
		if err == nil || !strings.Contains(string(out), "unreachable") {
			t.Errorf("%s: route to 192.0.2.1 (TEST-NET-1): %v %s", s, err, out)
		}
		out, err = exec.Command("ip", "-n", ns, "route", "get", l.addr(other(s)).String()).CombinedOutput()
		if err != nil || !strings.Contains(string(out), iface) {
			t.Errorf("%s: route to the peer: %v %s", s, err, out)
		}
		var v6 []byte
		err = InNS(ns, func() (err error) {
			v6, err = os.ReadFile("/proc/sys/net/ipv6/conf/" + iface + "/disable_ipv6")
			return err
		})
		if err != nil || string(v6) != "1\n" {
			t.Errorf("%s: disable_ipv6 = %q, %v", s, v6, err)
		}
	}
	// Long enough for IPv6 DAD and router solicitations, had they been on.
	time.Sleep(1500 * time.Millisecond)
	for _, s := range []Side{Server, Client} {
		if c := counters(t, l, s); c.TxPackets != 0 || c.RxPackets != 0 {
			t.Errorf("%s: an idle link carried traffic: %+v", s, c)
		}
	}
}
