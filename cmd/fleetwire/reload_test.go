package main

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fleetwire/fleetwire/server"
	"github.com/fleetwire/fleetwire/server/web"
)

// device connects to a TCP listener and sends one reading as id.
func device(t *testing.T, addr, id string, seq int) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	send(t, c, id, seq)
	return c
}

func send(t *testing.T, c net.Conn, id string, seq int) {
	t.Helper()
	if _, err := fmt.Fprintf(c, "%s;%d;1\n", id, seq); err != nil {
		t.Fatalf("%s: %v", id, err)
	}
}

// closedAtOnce tells whether the server closed c (a connection beyond
// --max-conns) instead of keeping it open.
func closedAtOnce(c net.Conn) bool {
	_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
	_, err := c.Read(make([]byte, 1))
	ne, timeout := err.(net.Error)
	return err != nil && !(timeout && ne.Timeout())
}

// waitStats polls the server's stats, with token, until cond holds.
func waitStats(t *testing.T, httpAddr, token, what string, cond func(server.Stats) bool) {
	t.Helper()
	cl, err := web.NewClient(httpAddr, web.WithToken(token))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		st, err := cl.Stats(context.Background())
		if err == nil && cond(st.Stats) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not after 10 s (%v)", what, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestServeReload: serve started from a file takes a raised --max-conns
// and a rotated token file on reload, keeps its open connections, keeps
// the running value of a key that needs a restart, and refuses a broken
// file without changing anything.
func TestServeReload(t *testing.T) {
	t.Setenv("FLEETWIRE_TOKEN", "")
	hups := make(chan chan<- os.Signal, 1)
	results := make(chan error, 1)
	notify, after := notifyHangup, afterReload
	notifyHangup, afterReload = func(c chan<- os.Signal) { hups <- c }, func(err error) { results <- err }
	t.Cleanup(func() { notifyHangup, afterReload = notify, after }) // after serve stopped: registered before it
	tokenFile := writeFile(t, "token", "one\n")
	config := writeFile(t, "fleetwire.yaml", "max-conns: 1\nhttp-token-file: "+tokenFile+"\n")
	tcpAddr, httpAddr := freeAddr(t), freeAddr(t)
	startServe(t, "http://"+httpAddr+"/healthz", "--config", config, "--tcp", tcpAddr, "--http", httpAddr, "--engine", "std")
	var hup chan<- os.Signal
	select {
	case hup = <-hups:
	case <-time.After(10 * time.Second):
		t.Fatal("serve does not listen for SIGHUP")
	}
	reload := func(content string) error {
		t.Helper()
		if err := os.WriteFile(config, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		hup <- syscall.SIGHUP
		select {
		case err := <-results:
			return err
		case <-time.After(10 * time.Second):
			t.Fatal("no reload")
		}
		return nil
	}

	a := device(t, tcpAddr, "dev-a", 0)
	waitStats(t, httpAddr, "one", "dev-a", func(s server.Stats) bool { return s.Devices == 1 })
	if !closedAtOnce(device(t, tcpAddr, "dev-b", 0)) {
		t.Fatal("a second connection was served under max-conns 1")
	}
	if err := os.WriteFile(tokenFile, []byte("two\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := reload("max-conns: 2\nhttp-token-file: " + tokenFile + "\nengine: gnet\n"); err != nil {
		t.Fatal(err)
	}
	if got := getStatus(t, "http://"+httpAddr+"/api/stats", "one"); got != http.StatusUnauthorized {
		t.Fatalf("the old token: status %d", got)
	}
	c := device(t, tcpAddr, "dev-c", 0)
	send(t, a, "dev-a", 1) // the connection made before the reload is served
	waitStats(t, httpAddr, "two", "dev-c and dev-a's second reading", func(s server.Stats) bool { return s.Devices == 2 && s.Readings == 3 })
	if st := mustStats(t, httpAddr, "two"); st.Engine != "std" {
		t.Fatalf("engine %s: a key that needs a restart changed", st.Engine)
	}

	for _, bad := range []string{"max-conns: -1\n", "max-conns: 3\nmaxdevices: 1\n", "max-conns: 3\nhttp-token-file: /nonexistent\n", "max-conns: [3\n"} {
		if err := reload(bad); err == nil {
			t.Fatalf("%q was taken", bad)
		}
	}
	if !closedAtOnce(device(t, tcpAddr, "dev-d", 0)) {
		t.Fatal("a refused file changed max-conns")
	}
	send(t, c, "dev-c", 1)
	waitStats(t, httpAddr, "two", "dev-c's second reading with the token of before", func(s server.Stats) bool { return s.Readings == 4 })
}

func mustStats(t *testing.T, httpAddr, token string) server.Stats {
	t.Helper()
	cl, err := web.NewClient(httpAddr, web.WithToken(token))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	st, err := cl.Stats(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return st.Stats
}

// TestServeReloadSignal: the binary reloads on a real SIGHUP, logs what
// it reloaded and what needs a restart, and logs a refused file.
func TestServeReloadSignal(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a process")
	}
	config := writeFile(t, "fleetwire.yaml", "max-conns: 1\nsink: none\n")
	tcpAddr, httpAddr := freeAddr(t), freeAddr(t)
	cmd := exec.Command(os.Args[0], "serve", "--config", config, "--tcp", tcpAddr, "--udp", "", "--http", httpAddr, "--data", t.TempDir())
	cmd.Env = append(os.Environ(), envAsMain+"=1", "FLEETWIRE_TOKEN=")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	waitLine := func(want ...string) string {
		t.Helper()
		timeout := time.After(10 * time.Second)
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					t.Fatalf("serve exited before logging %q", want)
				}
				if contains(l, want...) {
					return l
				}
			case <-timeout:
				t.Fatalf("no log line with %q", want)
			}
		}
	}
	waitLine("SIGHUP reloads")
	a := device(t, tcpAddr, "dev-a", 0)
	waitStats(t, httpAddr, "", "dev-a", func(s server.Stats) bool { return s.Devices == 1 })
	if !closedAtOnce(device(t, tcpAddr, "dev-b", 0)) {
		t.Fatal("a second connection was served under max-conns 1")
	}
	hangup := func(content string) {
		t.Helper()
		if err := os.WriteFile(config, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
	}
	hangup("max-conns: 2\nsink: files\n")
	waitLine("need a restart", "keys=sink")
	waitLine("msg=reloaded", "max-conns 1 -> 2")
	device(t, tcpAddr, "dev-c", 0)
	send(t, a, "dev-a", 1)
	if closedAtOnce(a) {
		t.Fatal("the reload closed a connection")
	}
	hangup("max-conns: 0\n")
	waitLine("reload refused", "invalid --max-conns 0")
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("serve after SIGTERM: %v", err)
	}
}

func contains(s string, subs ...string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}
