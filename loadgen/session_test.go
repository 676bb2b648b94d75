package loadgen

import (
	"crypto/tls"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// sessionConfig is a few devices reporting every 200 ms: a frame of 4
// samples per report, 5 reports each.
func sessionConfig(tr Transport, addr string) Config {
	c := testConfig(tr, addr)
	c.Devices, c.Rate, c.Batch, c.Samples = 5, 20, 4, 20
	return c
}

// TestPerReportTCP: a per-report TCP device connects once per report and
// once for its end-of-stream, and every reading arrives.
func TestPerReportTCP(t *testing.T) {
	s := newSink(t)
	c := sessionConfig(TCP, s.listenTCP(nil))
	c.Session = SessionPerReport
	rep := runOK(t, c)
	s.waitClosed()
	s.check(rep)
	want := c.Devices * (c.Samples/c.Batch + 1)
	s.mu.Lock()
	accepts := s.accepts
	s.mu.Unlock()
	if accepts != want || rep.Session.Connects != uint64(want) {
		t.Fatalf("%d connections accepted, %d reported, want %d", accepts, rep.Session.Connects, want)
	}
	if rep.ReadingsSent != uint64(c.Devices*c.Samples*c.Channels) {
		t.Fatalf("readings %d", rep.ReadingsSent)
	}
	checkRadioOn(t, rep, want)
}

// TestPerReportTLSResume: with --tls-resume every connection but a
// device's first resumes its session.
func TestPerReportTLSResume(t *testing.T) {
	pki := newTestPKI(t)
	s := newSink(t)
	c := sessionConfig(TLS, s.listenTCP(&tls.Config{Certificates: []tls.Certificate{pki.serverCert}}))
	c.TLSCA = pki.caFile
	c.Session, c.TLSResume = SessionPerReport, true
	rep := runOK(t, c)
	s.waitClosed()
	s.check(rep)
	want := c.Devices * (c.Samples/c.Batch + 1)
	if rep.Session.Connects != uint64(want) || rep.Session.Resumed != uint64(want-c.Devices) {
		t.Fatalf("%d connects, %d resumed; want %d, %d", rep.Session.Connects, rep.Session.Resumed, want, want-c.Devices)
	}
	checkRadioOn(t, rep, want)
}

// TestUDPLoseBinding: a UDP device that loses its NAT binding sends each
// report from a new source port.
func TestUDPLoseBinding(t *testing.T) {
	s := newSink(t)
	c := sessionConfig(UDP, s.listenUDP())
	c.NATBinding = NATLose
	rep := runOK(t, c)
	s.waitEOS(c.Devices)
	s.check(rep)
	reports := c.Samples / c.Batch
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, ports := range s.ports {
		if len(ports) != reports {
			t.Errorf("%s: %d source ports, want %d (one per report)", id, len(ports), reports)
		}
	}
	if rep.Session.Connects != uint64(c.Devices*(reports-1)) {
		t.Fatalf("%d sockets opened, want %d", rep.Session.Connects, c.Devices*(reports-1))
	}
	checkRadioOn(t, rep, c.Devices*reports)
}

func checkRadioOn(t *testing.T, rep *Report, reports int) {
	t.Helper()
	r := rep.Session.RadioOn
	if r.Count != int64(reports) || r.P50Us <= 0 && rep.Transport != string(UDP) || r.P99Us > int64(10*time.Second/time.Microsecond) {
		t.Fatalf("radio on: %d reports (want %d), p50 %d µs, p99 %d µs", r.Count, reports, r.P50Us, r.P99Us)
	}
}

func TestSessionConfig_Failure(t *testing.T) {
	f := func(edit func(*Config)) {
		t.Helper()
		c := testConfig(TCP, "127.0.0.1:1")
		edit(&c)
		if c.validate() == nil {
			t.Fatalf("accepted %+v", c)
		}
	}
	f(func(c *Config) { c.Session = "sometimes" })
	f(func(c *Config) { c.Transport, c.Session = UDP, SessionPerReport })
	f(func(c *Config) { c.Session, c.Ack = SessionPerReport, true })
	f(func(c *Config) { c.TLSResume = true })
	f(func(c *Config) { c.NATBinding = NATLose })
	f(func(c *Config) { c.Transport, c.NATBinding = UDP, "maybe" })
	f(func(c *Config) { c.KeepAlive = time.Millisecond })
	f(func(c *Config) { c.Session, c.KeepAlive = SessionPerReport, time.Second })
}

// TestKeepAliveOptions: --keepalive turns SO_KEEPALIVE on with the
// interval as idle time and probe interval.
func TestKeepAliveOptions(t *testing.T) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	c := DefaultConfig()
	c.KeepAlive = 7 * time.Second
	r := &runner{cfg: &c}
	if err := r.setKeepAlive(fd); err != nil {
		t.Fatal(err)
	}
	for _, o := range [][3]int{{unix.SOL_SOCKET, unix.SO_KEEPALIVE, 1}, {unix.IPPROTO_TCP, unix.TCP_KEEPIDLE, 7}, {unix.IPPROTO_TCP, unix.TCP_KEEPINTVL, 7}} {
		if v, err := unix.GetsockoptInt(fd, o[0], o[1]); err != nil || v != o[2] {
			t.Fatalf("option %d/%d = %d (%v), want %d", o[0], o[1], v, err, o[2])
		}
	}
	if k := c.keepAliveConfig(); !k.Enable || k.Idle != 7*time.Second {
		t.Fatalf("dialer keep-alive %+v", k)
	}
	c.KeepAlive = 0
	if k := c.keepAliveConfig(); k.Enable {
		t.Fatal("keep-alive on without --keepalive")
	}
}
