package main

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/fleetwire/fleetwire/server/web"
)

// TestPprofAddr: --pprof beyond loopback (an unspecified host included)
// is refused unless --pprof-insecure.
func TestPprofAddr(t *testing.T) {
	t.Setenv("FLEETWIRE_TOKEN", "")
	stopped, cancel := context.WithCancel(context.Background())
	cancel()
	f := func(wantErr string, args ...string) {
		t.Helper()
		err := runServe(stopped, t, append([]string{"--http", ""}, args...)...)
		if (err == nil) != (wantErr == "") || err != nil && !strings.Contains(err.Error(), wantErr) {
			t.Fatalf("serve %v: error %v, want %q", args, err, wantErr)
		}
	}
	f("or pass --pprof-insecure", "--pprof", "0.0.0.0:0")
	f("or pass --pprof-insecure", "--pprof", ":0")
	f("or pass --pprof-insecure", "--pprof", "[::]:0")
	f("", "--pprof", "127.0.0.1:0")
	f("", "--pprof", "0.0.0.0:0", "--pprof-insecure")
}

// TestPprofHandler: with a token every profile needs it; without, a Host
// that is a DNS name is refused (rebinding); the command line, which may
// hold the token, is never served.
func TestPprofHandler(t *testing.T) {
	withToken, without := httptest.NewServer(pprofHandler(web.NewToken("s3cret"))), httptest.NewServer(pprofHandler(web.NewToken("")))
	defer withToken.Close()
	defer without.Close()
	f := func(srv *httptest.Server, host, path, token string, want int) {
		t.Helper()
		req, err := http.NewRequest(http.MethodGet, srv.URL+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		if host != "" {
			req.Host = host
		}
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		if resp.StatusCode != want || strings.Contains(string(body), "s3cret") {
			t.Fatalf("GET %s (host %q, token %q): %d, want %d; body %.200q", path, host, token, resp.StatusCode, want, body)
		}
	}
	f(withToken, "", "/debug/pprof/", "", http.StatusUnauthorized)
	f(withToken, "", "/debug/pprof/heap", "wrong", http.StatusUnauthorized)
	f(withToken, "", "/debug/pprof/symbol", "", http.StatusUnauthorized)
	f(withToken, "", "/debug/pprof/", "s3cret", http.StatusOK)
	f(withToken, "", "/debug/pprof/heap?debug=1", "s3cret", http.StatusOK)
	f(withToken, "", "/debug/pprof/cmdline", "s3cret", http.StatusNotFound)
	f(without, "", "/debug/pprof/goroutine?debug=1", "", http.StatusOK)
	f(without, "localhost:6060", "/debug/pprof/", "", http.StatusOK)
	f(without, "rebound.example:6060", "/debug/pprof/heap", "", http.StatusMisdirectedRequest)
	f(without, "", "/debug/pprof/cmdline", "", http.StatusNotFound)
}

// TestPprofServeToken: serve's HTTP token, here from its file, guards its
// profiles.
func TestPprofServeToken(t *testing.T) {
	t.Setenv("FLEETWIRE_TOKEN", "from-env")
	addr := freeAddr(t)
	startServe(t, "http://"+addr+"/debug/pprof/", "--http", "", "--pprof", addr, "--http-token-file", writeFile(t, "token", "from-file\n"))
	f := func(token string, want int) {
		t.Helper()
		if got := getStatus(t, "http://"+addr+"/debug/pprof/heap", token); got != want {
			t.Fatalf("token %q: status %d, want %d", token, got, want)
		}
	}
	f("", http.StatusUnauthorized)
	f("from-env", http.StatusUnauthorized)
	f("from-file", http.StatusOK)
}
