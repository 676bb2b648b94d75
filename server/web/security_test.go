package web

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/fleetwire/fleetwire/server"
)

func TestAuth(t *testing.T) {
	const token = "s3cret-token"
	e := newEnv(t, Config{Token: token}, server.Config{})
	dev := dialDevice(t, "tcp", e.addr(server.TCP), "dev-a", true)
	dev.send(1)
	waitFor(t, 5*time.Second, "dev-a online", func() bool { d, ok := e.srv.Device("dev-a"); return ok && d.Online })

	f := func(method, path, tok string, wantCode int) {
		t.Helper()
		body := ""
		if method == "POST" {
			body = "LED ON"
		}
		code, hdr, resp := e.do(t, method, path, tok, "text/plain", body)
		if code != wantCode {
			t.Errorf("%s %s with token %q: %d %s, want %d", method, path, tok, code, resp, wantCode)
		}
		if code == http.StatusUnauthorized && hdr.Get("WWW-Authenticate") == "" {
			t.Errorf("%s %s: 401 without WWW-Authenticate", method, path)
		}
	}
	for _, p := range []string{"/api/stats", "/api/history", "/api/devices", "/api/devices/dev-a", "/api/commands/1", "/metrics", "/api/events", "/api/devices/dev-a/events", "/api/devices/dev-a/history"} {
		f("GET", p, "", http.StatusUnauthorized)
		f("GET", p, "wrong", http.StatusUnauthorized)
		f("GET", p, token+"x", http.StatusUnauthorized)
	}
	f("POST", "/api/devices/dev-a/commands", "", http.StatusUnauthorized)
	f("POST", "/api/devices/dev-a/commands", strings.ToUpper(token), http.StatusUnauthorized)
	if n := len(dev.commands()); n != 0 {
		t.Fatalf("an unauthorised command reached the device: %v", dev.commands())
	}
	f("POST", "/api/devices/dev-a/commands", token, http.StatusAccepted)
	f("GET", "/api/stats", token, http.StatusOK)
	f("GET", "/api/devices/dev-a", token, http.StatusOK)
	f("GET", "/api/devices/dev-a/history", token, http.StatusOK)
	f("GET", "/metrics", token, http.StatusOK)
	d, _ := e.srv.Device("dev-a")
	f("GET", fmt.Sprintf("/api/commands/%d", d.Commands[0].ID), token, http.StatusOK)
	// Pages and probes carry no data: no token needed.
	for _, p := range []string{"/", "/devices", "/devices/dev-a", "/static/app.css", "/healthz", "/readyz"} {
		f("GET", p, "", http.StatusOK)
	}
	// A token-protected server may be reached by host name.
	req, _ := http.NewRequest("GET", e.ts.URL+"/healthz", nil)
	req.Host = "fleet.example.com"
	if res, err := e.ts.Client().Do(req); err != nil || res.StatusCode != http.StatusOK {
		t.Errorf("host name with a token: %v %v, want 200", res, err)
	}
}

func TestSecurityHeaders(t *testing.T) {
	e := newEnv(t, Config{}, server.Config{})
	for _, p := range []string{"/", "/devices", "/api/stats", "/api/devices/nope", "/healthz"} {
		_, hdr, _ := e.do(t, "GET", p, "", "", "")
		csp := hdr.Get("Content-Security-Policy")
		if !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe-") || !strings.Contains(csp, "frame-ancestors 'none'") {
			t.Errorf("GET %s: CSP %q", p, csp)
		}
		if hdr.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("GET %s: X-Content-Type-Options %q", p, hdr.Get("X-Content-Type-Options"))
		}
	}

	f := func(host, fetchSite, origin string, wantCode int) {
		t.Helper()
		req, _ := http.NewRequest("POST", e.ts.URL+"/api/devices/dev-x/commands", strings.NewReader("LED ON"))
		req.Header.Set("Content-Type", "text/plain")
		if host != "" {
			req.Host = host
		}
		if fetchSite != "" {
			req.Header.Set("Sec-Fetch-Site", fetchSite)
		}
		if origin != "" {
			req.Header.Set("Origin", origin)
		}
		res, err := e.ts.Client().Do(req)
		if err != nil {
			t.Fatalf("POST: %s", err)
		}
		res.Body.Close()
		if res.StatusCode != wantCode {
			t.Errorf("POST host %q site %q origin %q: %d, want %d", host, fetchSite, origin, res.StatusCode, wantCode)
		}
	}
	// CSRF: another site's page cannot post a command (text/plain needs no preflight).
	f("", "cross-site", "https://evil.example", http.StatusForbidden)
	f("", "", "https://evil.example", http.StatusForbidden)
	// Same origin, or no browser at all, reaches the handler (404: dev-x is unknown).
	f("", "same-origin", "", http.StatusNotFound)
	f("", "", "", http.StatusNotFound)
	// DNS rebinding: without a token only IP literals and localhost are served.
	f("rebind.evil.example", "", "", http.StatusMisdirectedRequest)
	f("localhost", "", "", http.StatusNotFound)
	f("[::1]:7080", "", "", http.StatusNotFound)
}

func TestPages(t *testing.T) {
	e := newEnv(t, Config{}, server.Config{})
	f := func(path string, wantCode int, wantType, wantBody string) {
		t.Helper()
		code, hdr, body := e.do(t, "GET", path, "", "", "")
		if code != wantCode || !strings.HasPrefix(hdr.Get("Content-Type"), wantType) || !strings.Contains(body, wantBody) {
			t.Errorf("GET %s: %d %q, want %d %q containing %q", path, code, hdr.Get("Content-Type"), wantCode, wantType, wantBody)
		}
		if strings.Contains(body, "<script>") || strings.Contains(body, "alert(") {
			t.Errorf("GET %s: hostile id reflected: %s", path, body)
		}
	}
	f("/", 200, "text/html", `<script type="module" src="/static/dashboard.js">`)
	f("/devices", 200, "text/html", `src="/static/devices.js"`)
	f("/devices/dev-1", 200, "text/html", `src="/static/device.js"`)
	f("/devices/"+url.PathEscape("<script>alert(1)</script>"), 404, "text/plain", "invalid device id")
	f("/devices/"+url.PathEscape(`"><img src=x onerror=alert(1)>`), 404, "text/plain", "invalid device id")
	for _, a := range []string{"app.css", "common.js", "chart.js", "dashboard.js", "devices.js", "device.js"} {
		want := "text/javascript"
		if strings.HasSuffix(a, ".css") {
			want = "text/css"
		}
		f("/static/"+a, 200, want, "")
	}
	f("/static/nope.js", 404, "text/plain", "")
	f("/static/index.html", 404, "text/plain", "")
	f("/nope", 404, "text/plain", "")

	// No script or page builds HTML from strings.
	for name, a := range assets {
		if strings.Contains(string(a.body), "innerHTML") || strings.Contains(string(a.body), "insertAdjacentHTML") || strings.Contains(string(a.body), "document.write") {
			t.Errorf("%s builds HTML from strings", name)
		}
		if strings.HasSuffix(name, ".html") && (strings.Contains(string(a.body), "<script>") || strings.Contains(string(a.body), " style=")) {
			t.Errorf("%s has inline script or style, which the CSP blocks", name)
		}
	}

	// ETags make revalidation cheap.
	_, hdr, _ := e.do(t, "GET", "/static/app.css", "", "", "")
	req, _ := http.NewRequest("GET", e.ts.URL+"/static/app.css", nil)
	req.Header.Set("If-None-Match", hdr.Get("ETag"))
	res, err := e.ts.Client().Do(req)
	if err != nil || res.StatusCode != http.StatusNotModified {
		t.Errorf("revalidation with ETag %q: %v %v, want 304", hdr.Get("ETag"), res, err)
	}
}

func TestHealthReady(t *testing.T) {
	e := newEnv(t, Config{}, server.Config{})
	f := func(path string, wantCode int) {
		t.Helper()
		if code, _, body := e.do(t, "GET", path, "", "", ""); code != wantCode {
			t.Errorf("GET %s: %d %s, want %d", path, code, body, wantCode)
		}
	}
	f("/healthz", 200)
	f("/readyz", 200)
	e.web.SetReady(false)
	f("/readyz", 503)
	f("/healthz", 200)
	e.web.SetReady(true)
	f("/readyz", 200)
	if err := e.web.Shutdown(t.Context()); err != nil {
		t.Fatalf("Shutdown: %s", err)
	}
	f("/readyz", 503)
}
