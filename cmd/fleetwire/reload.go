package main

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/fleetwire/fleetwire/server"
	"github.com/fleetwire/fleetwire/server/web"
)

// liveFlags are the flags of serve a reload puts in force without
// dropping a connection (server.Live); the HTTP token (http-token-file,
// $FLEETWIRE_TOKEN) and the TLS certificates are reloaded besides. A
// change to any other flag needs a restart.
var liveFlags = []string{"max-conns", "max-devices", "max-anonymous", "max-devices-per-source", "max-amplification",
	"idle-timeout", "frame-timeout", "anonymous-idle", "bind-ttl", "ack-interval"}

// tokenFlags change the HTTP token, which a reload rotates.
var tokenFlags = []string{"http-token-file", "http-token"}

// reloadOnHangup reloads serve's configuration on each SIGHUP until the
// returned function is called. Without --config, SIGHUP still reads the
// token file and the TLS certificates again.
func reloadOnHangup(cmd *cobra.Command, srv *server.Server, ws *web.Server) (stop func()) {
	r := &reloader{cmd: cmd, srv: srv, ws: ws}
	r.token, _ = httpToken(cmd) // serve read it a moment ago
	hup := make(chan os.Signal, 1)
	notifyHangup(hup)
	slog.Info("SIGHUP reloads limits, the HTTP token, TLS certificates and DTLS keys", "config", cmd.Flags().Lookup(configFlag).Value.String())
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-hup:
				r.reload()
			case <-done:
				return
			}
		}
	}()
	return func() {
		signal.Stop(hup)
		close(done)
	}
}

// notifyHangup relays SIGHUP to c; tests relay their own.
var notifyHangup = func(c chan<- os.Signal) { signal.Notify(c, syscall.SIGHUP) }

// afterReload is told how each reload ended; tests wait on it.
var afterReload = func(error) {}

// reloader holds what a reload compares with: the running command's
// flags (as last reloaded) and token.
type reloader struct {
	cmd   *cobra.Command
	srv   *server.Server
	ws    *web.Server
	token string
}

// reload reads the configuration again and puts in force what can change
// live, logging what it did; a file serve would refuse changes nothing.
func (r *reloader) reload() {
	path := r.cmd.Flags().Lookup(configFlag).Value.String()
	reloaded, restart, err := r.apply()
	defer afterReload(err)
	if err != nil {
		slog.Error("reload refused: everything stays as it was", "config", path, "err", err)
		return
	}
	if len(restart) > 0 {
		slog.Warn("reload: these keys changed but need a restart; their running values stay", "config", path, "keys", strings.Join(restart, ","))
	}
	if len(reloaded) == 0 {
		reloaded = []string{"nothing changed"}
	}
	slog.Info("reloaded", "config", path, "reloaded", strings.Join(reloaded, ", "))
}

// apply checks the configuration as serve checks it at start, then puts
// the live part in force. It returns what it changed and the keys that
// changed but need a restart.
func (r *reloader) apply() (reloaded, restart []string, err error) {
	next, err := r.nextCmd()
	if err != nil {
		return nil, nil, err
	}
	token, err := httpToken(next)
	if err != nil {
		return nil, nil, err
	}
	var live []string
	changed := map[string]bool{}
	next.Flags().VisitAll(func(f *pflag.Flag) {
		old := r.cmd.Flags().Lookup(f.Name)
		if old == nil || f.Name == configFlag || flagText(old) == flagText(f) {
			return
		}
		changed[f.Name] = true
		switch {
		case slices.Contains(liveFlags, f.Name):
			live = append(live, f.Name)
		case slices.Contains(tokenFlags, f.Name):
		default:
			restart = append(restart, f.Name)
		}
	})
	if token != r.token && (token == "") != (r.token == "") {
		return nil, nil, errors.New("turning the HTTP token on or off needs a restart")
	}
	// Certificates first: if one fails to load, nothing has changed yet.
	certs, err := r.srv.ReloadCertificates()
	if err != nil {
		return nil, nil, err
	}
	if err := r.srv.Reload(liveOf(next.Flags())); err != nil {
		return nil, nil, err
	}
	for _, name := range live {
		f := next.Flags().Lookup(name)
		reloaded = append(reloaded, fmt.Sprintf("%s %s -> %s", name, flagText(r.cmd.Flags().Lookup(name)), flagText(f)))
		_ = r.cmd.Flags().Set(name, f.Value.String()) // checked: the next reload compares with it
	}
	if token != r.token {
		if r.ws != nil {
			if err := r.ws.SetToken(token); err != nil {
				return nil, nil, err
			}
		}
		if t := pprofToken.Load(); t != nil {
			t.Set(token)
		}
		r.token = token
		reloaded = append(reloaded, "http token")
	}
	for _, name := range tokenFlags {
		if changed[name] {
			_ = r.cmd.Flags().Set(name, next.Flags().Lookup(name).Value.String())
		}
	}
	for _, name := range certs {
		reloaded = append(reloaded, "tls certificate of listener "+name)
	}
	for _, name := range r.srv.ReloadKeys() {
		reloaded = append(reloaded, "psk keys of listener "+name)
	}
	return reloaded, restart, nil
}

// nextCmd returns a fresh serve command with the running one's command
// line and its configuration file read again, checked as serve checks it
// before it opens anything.
func (r *reloader) nextCmd() (*cobra.Command, error) {
	next, err := freshServeCmd()
	if err != nil {
		return nil, err
	}
	fs := next.Flags()
	for _, name := range strings.Split(r.cmd.Annotations[cliFlagsKey], ",") {
		src := r.cmd.Flags().Lookup(name)
		if name == "" || src == nil {
			continue
		}
		dst := fs.Lookup(name)
		if sv, ok := src.Value.(pflag.SliceValue); ok {
			if err := dst.Value.(pflag.SliceValue).Replace(sv.GetSlice()); err != nil {
				return nil, fmt.Errorf("--%s: %w", name, err)
			}
			dst.Changed = true
			continue
		}
		if err := fs.Set(name, src.Value.String()); err != nil {
			return nil, fmt.Errorf("--%s: %w", name, err)
		}
	}
	if path := r.cmd.Flags().Lookup(configFlag).Value.String(); path != "" {
		if err := fs.Set(configFlag, path); err != nil {
			return nil, err
		}
	}
	if err := prepareFlags(next); err != nil {
		return nil, err
	}
	if err := checkRootFlags(fs); err != nil {
		return nil, err
	}
	if err := next.PreRunE(next, nil); err != nil {
		return nil, err
	}
	return next, nil
}

// liveOf reads server.Live from serve's flags, as serve's PreRunE reads
// them into its server.Config.
func liveOf(fs *pflag.FlagSet) server.Live {
	n := func(name string) int { v, _ := fs.GetInt(name); return v }
	d := func(name string, zeroIsNever bool) time.Duration {
		v, _ := fs.GetDuration(name)
		if v == 0 && zeroIsNever {
			return server.Never
		}
		return v
	}
	return server.Live{MaxConns: n("max-conns"), MaxDevices: n("max-devices"), MaxAnonymous: n("max-anonymous"),
		MaxDevicesPerSource: n("max-devices-per-source"), MaxAmplification: n("max-amplification"),
		IdleTimeout: d("idle-timeout", true), FrameTimeout: d("frame-timeout", true),
		AnonymousIdle: d("anonymous-idle", false), BindTTL: d("bind-ttl", false), AckInterval: d("ack-interval", false)}
}

// flagText is a flag's value as text, a list's items joined.
func flagText(f *pflag.Flag) string {
	if sv, ok := f.Value.(pflag.SliceValue); ok {
		return strings.Join(sv.GetSlice(), "\x00")
	}
	return f.Value.String()
}
