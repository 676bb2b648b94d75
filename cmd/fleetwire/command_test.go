package main

import (
	"bufio"
	"bytes"
	"context"
	"net"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/fleetwire/fleetwire/server"
	"github.com/fleetwire/fleetwire/server/web"
)

// runCommand runs "fleetwire command args..." in process.
func runCommand(t *testing.T, args ...string) (string, error) {
	t.Helper()
	root := newRootCmd()
	var out, errOut bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errOut)
	root.SetArgs(append([]string{"command", "--log-level", "error", "--timeout", "10s"}, args...))
	err := root.Execute()
	return out.String(), err
}

// commandEnv is a real server with its HTTP API and a TCP device that
// acknowledges commands with ack (or never, when ack is "").
func commandEnv(t *testing.T, token, ack string) string {
	t.Helper()
	// A device that never acks is given up on quickly; one that acks gets
	// a deadline a slow, shared -race machine cannot miss.
	ackTimeout := 10 * time.Second
	if ack == "" {
		ackTimeout = 300 * time.Millisecond
	}
	srv, err := server.New(server.Config{TCPAddr: "127.0.0.1:0", AckTimeout: ackTimeout})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	ws := web.New(srv, web.Config{Token: token})
	ts := httptest.NewServer(ws.Handler())
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = ws.Shutdown(ctx)
		ts.Close()
		_ = srv.Shutdown(ctx)
	})
	c, err := net.Dial("tcp", srv.Addr(server.TCP).String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if _, err := c.Write([]byte("#hello dev-1\ndev-1;0;21.5\n")); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(c)
		for sc.Scan() {
			if rest, ok := strings.CutPrefix(sc.Text(), "#cmd "); ok && ack != "" {
				id, _, _ := strings.Cut(rest, " ")
				_, _ = c.Write([]byte("#ack " + id + " " + ack + "\n"))
			}
		}
	}()
	deadline := time.Now().Add(5 * time.Second)
	for d, ok := srv.Device("dev-1"); !ok || !d.Online; d, ok = srv.Device("dev-1") {
		if time.Now().After(deadline) {
			t.Fatal("dev-1 never came online")
		}
		time.Sleep(10 * time.Millisecond)
	}
	return ts.URL
}

func TestCommand(t *testing.T) {
	url := commandEnv(t, "", "ok")
	out, err := runCommand(t, "--http", url, "--device", "dev-1", "--wait", "LED ON")
	sent, acked := regexp.MustCompile(`command \d+ for dev-1: sent via tcp`), regexp.MustCompile(`command \d+ for dev-1: acked \(ok\) via tcp`)
	if err != nil || !sent.MatchString(out) || !acked.MatchString(out) {
		t.Errorf("--wait: %v\n%s", err, out)
	}
	out, err = runCommand(t, "--http", strings.TrimPrefix(url, "http://"), "--device", "dev-1", "--hex", "4c4544")
	if err != nil || !regexp.MustCompile(`^command \d+ for dev-1: sent`).MatchString(out) {
		t.Errorf("--hex without --wait: %v\n%s", err, out)
	}

	f := func(wantErr string, args ...string) {
		t.Helper()
		_, err := runCommand(t, args...)
		if err == nil || !strings.Contains(err.Error(), wantErr) {
			t.Errorf("%v: error %v, want one with %q", args, err, wantErr)
		}
	}
	f("404 Not Found: unknown device", "--http", url, "--device", "dev-2", "LED ON")
	f("--device", "--http", url, "--device", "<b>", "LED ON")
	f("required flag", "--http", url, "LED ON")
	f("--hex payload", "--http", url, "--device", "dev-1", "--hex", "xyz")
	f("400 Bad Request: command payload must be 1-512 bytes", "--http", url, "--device", "dev-1", strings.Repeat("x", 600))
	f("400 Bad Request: the device speaks text", "--http", url, "--device", "dev-1", "--hex", "00ff")
	f("--http", "--http", "ftp://x", "--device", "dev-1", "LED ON")
}

func TestCommandNotAcked(t *testing.T) {
	url := commandEnv(t, "", "")
	out, err := runCommand(t, "--http", url, "--device", "dev-1", "--wait", "LED ON")
	if err == nil || !strings.Contains(err.Error(), "failed") || !strings.Contains(out, "no ack within") {
		t.Errorf("unacked command: %v\n%s", err, out)
	}
	url = commandEnv(t, "", "unknown")
	if _, err := runCommand(t, "--http", url, "--device", "dev-1", "--wait", "DANCE"); err == nil || !strings.Contains(err.Error(), "acked (unknown)") {
		t.Errorf("command acked unknown: %v, want an error", err)
	}
}

func TestCommandToken(t *testing.T) {
	url := commandEnv(t, "tok", "ok")
	if _, err := runCommand(t, "--http", url, "--device", "dev-1", "LED ON"); err == nil || !strings.Contains(err.Error(), "401") {
		t.Errorf("without token: %v, want 401", err)
	}
	if out, err := runCommand(t, "--http", url, "--token", "tok", "--device", "dev-1", "--wait", "LED ON"); err != nil {
		t.Errorf("with token: %v\n%s", err, out)
	}
}
