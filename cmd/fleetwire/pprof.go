package main

import (
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"sync/atomic"
	"time"

	"github.com/fleetwire/fleetwire/server/web"
)

// startPprof serves Go's profiles on their own listener, apart from the
// product's HTTP side, so that profiling adds nothing to the dashboard's
// routes. Profiles show the program's code paths, goroutine stacks and
// allocations, and taking one costs CPU: addr must be loopback unless
// insecure, and when the command has an HTTP token (serve), every request
// must carry it.
func startPprof(addr string, insecure bool, token string) error {
	if err := checkPprofAddr(addr, insecure); err != nil {
		return err
	}
	if !isLoopback(addr) {
		slog.Warn("INSECURE: --pprof-insecure: Go's profiles are served beyond loopback", "addr", addr, "token", token != "")
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("--pprof: %w", err)
	}
	slog.Info("pprof serving", "addr", ln.Addr().String(), "token", token != "")
	tok := web.NewToken(token)
	pprofToken.Store(tok)
	hs := &http.Server{Handler: pprofHandler(tok), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = hs.Serve(ln) }()
	return nil
}

// pprofHandler serves the profiles behind the token, or, without one,
// only to requests addressed to an IP or localhost (DNS rebinding: a web
// page must not read the profiles of a listener on loopback).
func pprofHandler(token *web.Token) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	// Not pprof.Cmdline: the command line may hold --http-token.
	mux.HandleFunc("/debug/pprof/cmdline", http.NotFound)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	if token.Empty() {
		return web.HostCheck(mux)
	}
	return token.Require(mux)
}

// pprofToken is the token of the --pprof listener, which serve's reload
// rotates with the HTTP side's.
var pprofToken atomic.Pointer[web.Token]

// checkPprofAddr refuses --pprof beyond loopback unless insecure ("": no
// profiles, nothing to check).
func checkPprofAddr(addr string, insecure bool) error {
	if addr == "" || isLoopback(addr) || insecure {
		return nil
	}
	return fmt.Errorf("--pprof %s is not a loopback address: whoever reaches it could read the process's profiles; "+
		"listen on 127.0.0.1 (and tunnel to it), or pass --pprof-insecure", addr)
}
