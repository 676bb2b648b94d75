package server

import (
	"crypto/tls"
	"errors"
	"fmt"
	"sync/atomic"
	"time"
)

// Live is the part of a Config a running server changes without
// dropping a connection (Reload): limits and timeouts, which the event
// loops and ingesters read from atomics at each use. The fields mean what
// the Config fields of the same names mean; 0 means the default.
//
// A lowered limit refuses what would go beyond it from now on and keeps
// what is already held: connections beyond a new MaxConns stay open,
// sessions beyond a new MaxDevices stay. A changed timeout applies at a
// connection's next check: the next sweep of the gnet loops, the next read
// deadline of the std engine (a connection of the std engine that had no
// timeout takes the new one after it next receives something).
type Live struct {
	MaxConns            int
	MaxDevices          int
	MaxAnonymous        int
	MaxDevicesPerSource int
	MaxAmplification    int
	IdleTimeout         time.Duration // Never: no idle timeout
	FrameTimeout        time.Duration // Never: no frame timeout
	AnonymousIdle       time.Duration
	BindTTL             time.Duration
	AckInterval         time.Duration // applies from the acker's next look, within 100 ms
}

// live returns the Live part of c.
func (c *Config) live() Live {
	return Live{MaxConns: c.MaxConns, MaxDevices: c.MaxDevices, MaxAnonymous: c.MaxAnonymous,
		MaxDevicesPerSource: c.MaxDevicesPerSource, MaxAmplification: c.MaxAmplification,
		IdleTimeout: c.IdleTimeout, FrameTimeout: c.FrameTimeout, AnonymousIdle: c.AnonymousIdle, BindTTL: c.BindTTL,
		AckInterval: c.AckInterval}
}

// into writes l over the Live part of c.
func (l Live) into(c *Config) {
	c.MaxConns, c.MaxDevices, c.MaxAnonymous = l.MaxConns, l.MaxDevices, l.MaxAnonymous
	c.MaxDevicesPerSource, c.MaxAmplification = l.MaxDevicesPerSource, l.MaxAmplification
	c.IdleTimeout, c.FrameTimeout, c.AnonymousIdle, c.BindTTL = l.IdleTimeout, l.FrameTimeout, l.AnonymousIdle, l.BindTTL
	c.AckInterval = l.AckInterval
}

// liveLimits hold what Reload changes, as atomics: the hot paths read
// them lock-free, on every event loop at once. The registry holds its own
// (setLimits).
type liveLimits struct {
	maxConns, amp               atomic.Int64
	idle, frame                 atomic.Int64 // nanoseconds; <= 0: none
	anonIdle, bindTTL           atomic.Int64 // nanoseconds
	ackInterval                 atomic.Int64 // nanoseconds
	maxDevices, maxAnon, perSrc atomic.Int64 // as the registry has them, for Live
}

func (l *liveLimits) set(v Live) {
	l.maxConns.Store(int64(v.MaxConns))
	l.amp.Store(int64(v.MaxAmplification))
	l.idle.Store(int64(v.IdleTimeout))
	l.frame.Store(int64(v.FrameTimeout))
	l.anonIdle.Store(int64(v.AnonymousIdle))
	l.bindTTL.Store(int64(v.BindTTL))
	l.ackInterval.Store(int64(v.AckInterval))
	l.maxDevices.Store(int64(v.MaxDevices))
	l.maxAnon.Store(int64(v.MaxAnonymous))
	l.perSrc.Store(int64(v.MaxDevicesPerSource))
}

// timeouts returns the idle and frame timeouts; <= 0: none.
func (l *liveLimits) timeouts() (idle, frame time.Duration) {
	return time.Duration(l.idle.Load()), time.Duration(l.frame.Load())
}

// Live returns the limits in force.
func (s *Server) Live() Live {
	l := &s.live
	return Live{MaxConns: int(l.maxConns.Load()), MaxDevices: int(l.maxDevices.Load()), MaxAnonymous: int(l.maxAnon.Load()),
		MaxDevicesPerSource: int(l.perSrc.Load()), MaxAmplification: int(l.amp.Load()),
		IdleTimeout: time.Duration(l.idle.Load()), FrameTimeout: time.Duration(l.frame.Load()),
		AnonymousIdle: time.Duration(l.anonIdle.Load()), BindTTL: time.Duration(l.bindTTL.Load()),
		AckInterval: time.Duration(l.ackInterval.Load())}
}

// Reload puts v in force, checked as New checks a Config; on error
// nothing changes. Safe while the server runs.
func (s *Server) Reload(v Live) error {
	c := s.cfg
	v.into(&c)
	c = c.withDefaults()
	if err := c.validate(); err != nil {
		return fmt.Errorf("reload: %w", err)
	}
	v = c.live()
	s.reg.setLimits(v.MaxDevices, v.MaxAnonymous, v.MaxDevicesPerSource)
	s.live.set(v)
	return nil
}

// ReloadCertificates reads the certificate and key files of every TLS
// listener again and serves the new certificates from the next handshake
// on; open connections keep theirs. If one fails, none changes. It
// returns the names of the listeners reloaded.
func (s *Server) ReloadCertificates() ([]string, error) {
	type pending struct {
		ln   *listener
		cert *tls.Certificate
	}
	var next []pending
	var errs []error
	for _, ln := range s.listeners {
		if ln.transport != TLS || ln.cert.Load() == nil {
			continue
		}
		cert, err := loadCertificate(&ln.cfg)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		next = append(next, pending{ln, cert})
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	names := make([]string, 0, len(next))
	for _, p := range next {
		p.ln.cert.Store(p.cert)
		names = append(names, p.ln.cfg.Name)
	}
	return names, nil
}

// loadCertificate reads the certificate and key of a TLS listener.
func loadCertificate(l *Listener) (*tls.Certificate, error) {
	cert, err := tls.LoadX509KeyPair(l.TLSCert, l.TLSKey)
	if err != nil {
		return nil, fmt.Errorf("listener %s: load TLS certificate: %w", l.Name, err)
	}
	return &cert, nil
}
