package server

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"testing"
	"time"
)

// dialed opens a TCP connection to srv and names a device on it, so that
// the server has seen it before the test goes on.
func dialed(t *testing.T, srv *Server, id string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", srv.Addr(TCP).String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	if _, err := fmt.Fprintf(c, "%s;0;1\n", id); err != nil {
		t.Fatal(err)
	}
	return c
}

// refused tells whether the server closed c at once.
func refused(c net.Conn) bool {
	_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
	_, err := c.Read(make([]byte, 1))
	return err != nil && !isTimeout(err)
}

// TestReloadMaxConns: a raised --max-conns admits more connections at
// once; a lowered one refuses new connections and keeps those open; a bad
// value changes nothing.
func TestReloadMaxConns(t *testing.T) {
	for _, engine := range []string{"gnet", "std"} {
		t.Run(engine, func(t *testing.T) {
			srv := startServer(t, func(c *Config) { c.Engine, c.MaxConns = engine, 2 })
			a, b := dialed(t, srv, "dev-a"), dialed(t, srv, "dev-b")
			waitFor(t, 5*time.Second, "2 devices", func() bool { return srv.Stats().Devices == 2 })
			if !refused(dialed(t, srv, "dev-c")) {
				t.Fatal("a third connection was served under --max-conns 2")
			}
			live := srv.Live()
			live.MaxConns = 3
			if err := srv.Reload(live); err != nil {
				t.Fatal(err)
			}
			c := dialed(t, srv, "dev-c")
			waitFor(t, 5*time.Second, "3 devices", func() bool { return srv.Stats().Devices == 3 })
			live.MaxConns = 1
			if err := srv.Reload(live); err != nil {
				t.Fatal(err)
			}
			if !refused(dialed(t, srv, "dev-d")) {
				t.Fatal("a fourth connection was served under --max-conns 1")
			}
			bad := live
			bad.MaxConns = -5
			if err := srv.Reload(bad); err == nil {
				t.Fatal("Reload took max conns -5")
			}
			if got := srv.Config().MaxConns; got != 1 {
				t.Fatalf("after a refused reload: max conns %d, want 1", got)
			}
			for i, conn := range []net.Conn{a, b, c} { // open connections stay
				if _, err := fmt.Fprintf(conn, "dev-%c;1;2\n", 'a'+i); err != nil {
					t.Fatal(err)
				}
			}
			waitFor(t, 5*time.Second, "a second reading from each", func() bool { return srv.Stats().Readings == 6 })
		})
	}
}

// TestReloadMaxDevices: a lowered --max-devices refuses new devices and
// keeps the sessions already held.
func TestReloadMaxDevices(t *testing.T) {
	srv := startServer(t, nil)
	conn := dialed(t, srv, "dev-a")
	waitFor(t, 5*time.Second, "1 device", func() bool { return srv.Stats().Devices == 1 })
	live := srv.Live()
	live.MaxDevices, live.AckInterval = 1, time.Second
	if err := srv.Reload(live); err != nil {
		t.Fatal(err)
	}
	if got := srv.Config(); got.MaxDevices != 1 || got.AckInterval != time.Second || got.MaxConns != Defaults.MaxConns {
		t.Fatalf("after Reload: max devices %d, ack interval %v, max conns %d", got.MaxDevices, got.AckInterval, got.MaxConns)
	}
	if _, err := fmt.Fprintf(conn, "dev-b;0;1\ndev-a;1;1\n"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "device_limit", func() bool { return srv.Stats().Dropped["device_limit"] == 1 })
	waitFor(t, 5*time.Second, "dev-a's second reading", func() bool { return srv.Stats().Readings == 2 })
}

// TestReloadCertificates: a new certificate is served from the next
// handshake on, a connection made before keeps working, and a broken pair
// of files changes nothing.
func TestReloadCertificates(t *testing.T) {
	certFile, keyFile, _, roots := rsaCert(t)
	srv := startServer(t, func(c *Config) { c.TLSAddr, c.TLSCert, c.TLSKey = "127.0.0.1:0", certFile, keyFile })
	addr := srv.Addr(TLS).String()
	dial := func(roots *x509.CertPool) (*tls.Conn, error) {
		cc := &tls.Config{ServerName: "127.0.0.1", RootCAs: roots}
		return tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, cc)
	}
	old := roots
	before, err := dial(old)
	if err != nil {
		t.Fatal(err)
	}
	defer before.Close()
	newCert, newKey, _, newRoots := rsaCert(t)
	for _, p := range [][2]string{{newCert, certFile}, {newKey, keyFile}} {
		b, err := os.ReadFile(p[0])
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p[1], b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	names, err := srv.ReloadCertificates()
	if err != nil || len(names) != 1 || names[0] != "tls" {
		t.Fatalf("ReloadCertificates: %v, %v", names, err)
	}
	if c, err := dial(newRoots); err != nil {
		t.Fatalf("the new certificate: %v", err)
	} else {
		_ = c.Close()
	}
	if c, err := dial(old); err == nil {
		_ = c.Close()
		t.Fatal("the old certificate is still served")
	}
	if _, err := fmt.Fprintf(before, "dev-t;0;1\n"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "a reading on the connection made before", func() bool { return srv.Stats().Readings == 1 })
	if err := os.WriteFile(keyFile, []byte("not a key"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := srv.ReloadCertificates(); err == nil {
		t.Fatal("a broken key file was taken")
	}
	if c, err := dial(newRoots); err != nil {
		t.Fatalf("after a refused reload: %v", err)
	} else {
		_ = c.Close()
	}
}
