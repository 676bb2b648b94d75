package main

import (
	"context"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// runServe runs "fleetwire serve args..." in process, with UDP on
// loopback as its only transport, until ctx ends: a context already done
// makes it start and stop at once, so nil means it started.
func runServe(ctx context.Context, t *testing.T, args ...string) error {
	t.Helper()
	root := newRootCmd()
	root.SetArgs(append([]string{"serve", "--log-level", "error", "--tcp", "", "--udp", "127.0.0.1:0", "--udp-readers", "1",
		"--sink", "none", "--data", t.TempDir()}, args...))
	return root.ExecuteContext(ctx)
}

// startServe runs serve in the background until the test ends and returns
// once probe (a URL) answers.
func startServe(t *testing.T, probe string, args ...string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- runServe(ctx, t, args...) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for getStatus(t, probe, "") == 0 {
		select {
		case err := <-done:
			t.Fatalf("serve %v: %v", args, err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve %v: %s does not answer", args, probe)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// getStatus GETs url with the bearer token (none when ""): the status, 0
// when the connection failed.
func getStatus(t *testing.T, url, token string) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Do(req)
	if err != nil {
		return 0
	}
	_ = resp.Body.Close()
	return resp.StatusCode
}

// freeAddr returns a loopback TCP address that was free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestServeHTTPExposure: serve refuses an HTTP side beyond loopback (an
// unspecified host included) without a token, unless --http-insecure; the
// token comes from a file, a flag or the environment, never a file and a
// flag at once, and an empty file is no token.
func TestServeHTTPExposure(t *testing.T) {
	tokenFile, emptyFile := writeFile(t, "token", " s3cret\n"), writeFile(t, "empty", " \n")
	stopped, cancel := context.WithCancel(context.Background())
	cancel()
	f := func(env, wantErr string, args ...string) {
		t.Helper()
		t.Setenv("FLEETWIRE_TOKEN", env)
		err := runServe(stopped, t, args...)
		if (err == nil) != (wantErr == "") || err != nil && !strings.Contains(err.Error(), wantErr) {
			t.Fatalf("FLEETWIRE_TOKEN=%q serve %v: error %v, want %q", env, args, err, wantErr)
		}
	}
	const open = "--http-insecure to serve it open"
	f("", open, "--http", "0.0.0.0:0")
	f("", open, "--http", ":0")
	f("", open, "--http", "[::]:0")
	f("", open, "--http", "192.0.2.1:0")
	f("tok", open, "--http", "0.0.0.0:0", "--http-token", "")
	f("", "", "--http", "127.0.0.1:0")
	f("", "", "--http", "0.0.0.0:0", "--http-insecure")
	f("tok", "", "--http", "0.0.0.0:0")
	f("", "", "--http", "0.0.0.0:0", "--http-token", "tok")
	f("", "", "--http", "0.0.0.0:0", "--http-token-file", tokenFile)
	f("", "give one of them", "--http-token-file", tokenFile, "--http-token", "tok")
	f("", "no token in it", "--http-token-file", emptyFile)
	f("", "no such file", "--http-token-file", tokenFile+".missing")
}

// TestServeHTTPTokenFile: the file's token, trimmed, is what the API
// requires; it wins over $FLEETWIRE_TOKEN.
func TestServeHTTPTokenFile(t *testing.T) {
	t.Setenv("FLEETWIRE_TOKEN", "from-env")
	addr := freeAddr(t)
	startServe(t, "http://"+addr+"/healthz", "--http", addr, "--http-token-file", writeFile(t, "token", " s3cret\n"))
	f := func(token string, want int) {
		t.Helper()
		if got := getStatus(t, "http://"+addr+"/api/stats", token); got != want {
			t.Fatalf("token %q: status %d, want %d", token, got, want)
		}
	}
	f("", http.StatusUnauthorized)
	f("from-env", http.StatusUnauthorized)
	f("s3cre", http.StatusUnauthorized)
	f("s3cret", http.StatusOK)
}

func TestIsLoopback(t *testing.T) {
	f := func(addr string, want bool) {
		t.Helper()
		if got := isLoopback(addr); got != want {
			t.Fatalf("isLoopback(%q) = %v, want %v", addr, got, want)
		}
	}
	f("127.0.0.1:7080", true)
	f("127.3.2.1:7080", true)
	f("[::1]:7080", true)
	f("[::ffff:127.0.0.1]:7080", true)
	f("localhost:7080", true)
	f("LocalHost:7080", true)
	f(":7080", false)
	f("0.0.0.0:7080", false)
	f("[::]:7080", false)
	f("10.0.0.5:7080", false)
	f("[fe80::1%eth0]:7080", false)
	f("fleet.example.com:7080", false)
	f("localhost.example.com:7080", false)
	f("127.0.0.1", false)
}
