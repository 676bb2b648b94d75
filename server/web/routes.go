package web

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"time"
)

// routes wires every path. Go 1.22 patterns do the method and wildcard
// matching; the middlewares below apply to all of them.
func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	page := func(name string) http.Handler { return bounded(s.page(name)) }
	mux.Handle("GET /{$}", page("index.html"))
	mux.Handle("GET /devices", page("devices.html"))
	mux.Handle("GET /devices/{id}", page("device.html"))
	mux.Handle("GET /static/{file}", bounded(http.HandlerFunc(serveAsset)))
	mux.Handle("GET /healthz", bounded(http.HandlerFunc(s.healthz)))
	mux.Handle("GET /readyz", bounded(http.HandlerFunc(s.readyz)))

	api := func(pattern string, h http.HandlerFunc) { mux.Handle(pattern, s.auth(bounded(h))) }
	api("GET /api/stats", s.apiStats)
	api("GET /api/cluster", s.apiCluster)
	api("GET /api/history", s.apiHistory)
	api("GET /api/devices", s.apiDevices)
	api("GET /api/devices/{id}", s.apiDevice)
	api("POST /api/devices/{id}/commands", s.apiSubmit)
	api("GET /api/commands/{id}", s.apiCommand)
	api("/api/", func(w http.ResponseWriter, _ *http.Request) { jsonError(w, http.StatusNotFound, "no such API route") })
	mux.Handle("GET /api/events", s.auth(http.HandlerFunc(s.statsEvents)))
	mux.Handle("GET /api/devices/{id}/events", s.auth(http.HandlerFunc(s.deviceEvents)))
	mux.Handle("GET /metrics", s.auth(bounded(s.metricsHandler())))

	var h http.Handler = mux
	// POSTs from another site's page (CSRF: a text/plain POST needs no
	// preflight) are refused by Sec-Fetch-Site / Origin; curl and the CLI
	// send neither and pass.
	h = http.NewCrossOriginProtection().Handler(h)
	if s.cfg.Token == "" {
		h = HostCheck(h)
	}
	return securityHeaders(h)
}

// securityHeaders go on every response. The CSP allows only this
// origin's own files: no inline script or style, no eval, no framing.
func securityHeaders(next http.Handler) http.Handler {
	const csp = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
		"connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", csp)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		h.Set("Cross-Origin-Resource-Policy", "same-origin")
		next.ServeHTTP(w, r)
	})
}

// HostCheck refuses requests whose Host is a DNS name other than
// localhost, for a listener that no token protects: a page that rebinds
// its own name to 127.0.0.1 (DNS rebinding) would otherwise be
// same-origin with it, and could send commands. IP literals cannot be
// rebound.
func HostCheck(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !safeHost(r.Host) {
			http.Error(w, "host name not allowed without --http-token (DNS rebinding guard): use an IP address or localhost", http.StatusMisdirectedRequest)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func safeHost(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.ToLower(strings.Trim(host, "[]")), ".")
	return host == "" || host == "localhost" || strings.HasSuffix(host, ".localhost") || net.ParseIP(host) != nil
}

// auth requires the bearer token on API and metrics requests when one is
// configured.
func (s *Server) auth(next http.Handler) http.Handler {
	if s.cfg.Token == "" {
		return next
	}
	return s.token.Require(next)
}

// SetToken replaces the bearer token from the next request on (a token
// rotated on SIGHUP). Turning the token on or off is refused: whether one
// is set decides the routes' guards (HostCheck) and whether serve may
// listen beyond loopback, so that needs a restart.
func (s *Server) SetToken(token string) error {
	if (token == "") != (s.cfg.Token == "") {
		return errors.New("web: turning the HTTP token on or off needs a restart")
	}
	s.token.Set(token)
	return nil
}

// RequireToken serves next only to requests that carry "Authorization:
// Bearer token"; an empty token requires nothing.
func RequireToken(token string, next http.Handler) http.Handler {
	if token == "" {
		return next
	}
	return NewToken(token).Require(next)
}

// Token is a bearer token that can be replaced while requests are being
// served: each request reads it once, lock-free.
type Token struct {
	sum atomic.Pointer[[sha256.Size]byte] // nil: no token
}

// NewToken returns a Token holding token ("": none).
func NewToken(token string) *Token {
	t := &Token{}
	t.Set(token)
	return t
}

// Set replaces the token ("": none) from the next request on.
func (t *Token) Set(token string) {
	if token == "" {
		t.sum.Store(nil)
		return
	}
	sum := sha256.Sum256([]byte(token))
	t.sum.Store(&sum)
}

// Empty tells whether no token is set.
func (t *Token) Empty() bool { return t.sum.Load() == nil }

// Require serves next only to requests that carry "Authorization: Bearer
// <token>" while a token is set. Both sides are hashed first so the
// comparison takes the same time whatever the length or content of the
// guess.
func (t *Token) Require(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		want := t.sum.Load()
		if want == nil {
			next.ServeHTTP(w, r)
			return
		}
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		sum := sha256.Sum256([]byte(got))
		if !ok || subtle.ConstantTimeCompare(sum[:], want[:]) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="fleetwire"`)
			jsonError(w, http.StatusUnauthorized, "missing or wrong bearer token")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// bounded gives a request that is not a stream a write deadline, so a
// client that stops reading cannot hold a goroutine for ever (the
// http.Server has no WriteTimeout because of the SSE streams).
func bounded(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(30 * time.Second))
		next.ServeHTTP(w, r)
	})
}

func (s *Server) healthz(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = w.Write([]byte("ok\n"))
}

func (s *Server) readyz(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if !s.ready.Load() {
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte("not ready\n"))
		return
	}
	_, _ = w.Write([]byte("ready\n"))
}
