package loadgen

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// testPKI is a throw-away CA with a server certificate for 127.0.0.1 and
// a client certificate, written to PEM files.
type testPKI struct {
	dir                  string
	caFile               string
	serverCert           tls.Certificate
	clientCert, clientKy string
	pool                 *x509.CertPool
}

func newTestPKI(t *testing.T) *testPKI {
	t.Helper()
	dir := t.TempDir()
	p := &testPKI{dir: dir, pool: x509.NewCertPool()}
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "fleetwire test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	p.pool.AddCert(ca)
	p.caFile = writePEM(t, dir, "ca.pem", "CERTIFICATE", caDER)
	issue := func(serial int64, cn string, usage x509.ExtKeyUsage, ips []net.IP) ([]byte, *ecdsa.PrivateKey) {
		key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: cn},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
			ExtKeyUsage: []x509.ExtKeyUsage{usage}, IPAddresses: ips,
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		return der, key
	}
	der, key := issue(2, "127.0.0.1", x509.ExtKeyUsageServerAuth, []net.IP{net.IPv4(127, 0, 0, 1)})
	p.serverCert = tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
	der, key = issue(3, "fleet", x509.ExtKeyUsageClientAuth, nil)
	p.clientCert = writePEM(t, dir, "client.pem", "CERTIFICATE", der)
	kb, _ := x509.MarshalECPrivateKey(key)
	p.clientKy = writePEM(t, dir, "client.key", "EC PRIVATE KEY", kb)
	return p
}

func writePEM(t *testing.T, dir, name, typ string, der []byte) string {
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestTLSCountsMatchSink(t *testing.T) {
	pki := newTestPKI(t)
	f := func(mutual bool) {
		t.Helper()
		conf := &tls.Config{Certificates: []tls.Certificate{pki.serverCert}}
		if mutual {
			conf.ClientAuth, conf.ClientCAs = tls.RequireAndVerifyClientCert, pki.pool
		}
		s := newSink(t)
		c := testConfig(TLS, s.listenTCP(conf))
		c.TLSCA = pki.caFile
		if mutual {
			c.TLSCert, c.TLSKey = pki.clientCert, pki.clientKy
		}
		done := make(chan *Report, 1)
		go func() { done <- runOK(t, c) }()
		s.waitFor(10*time.Second, "every hello", func() bool { return len(s.devs) == c.Devices })
		for i := range 10 {
			if err := s.command(c.deviceID(i), uint64(i), "LED ON"); err != nil {
				t.Fatal(err)
			}
		}
		rep := <-done
		s.waitClosed()
		s.check(rep)
		if rep.ConnectFailuresTotal != 0 || rep.FramesSent != uint64(c.Devices*c.Samples/c.Batch) {
			t.Fatalf("mutual %v: connect failures %v, frames %d", mutual, rep.ConnectFailures, rep.FramesSent)
		}
		if rep.LEDsOn != 10 || rep.AcksSent != 10 {
			t.Fatalf("mutual %v: %d LEDs on, %d acks", mutual, rep.LEDsOn, rep.AcksSent)
		}
	}
	f(false)
	f(true)
}

// TestTLSWithoutClientCertFails: a server that requires a client
// certificate refuses the fleet, and the failures are counted by reason.
// With TLS 1.3 the client learns it only after the handshake (the server's
// alert follows the client's Finished), so the refusal shows as a
// disconnect, and what write() accepted before it counts as sent.
func TestTLSWithoutClientCertFails(t *testing.T) {
	pki := newTestPKI(t)
	conf := &tls.Config{Certificates: []tls.Certificate{pki.serverCert}, ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pki.pool}
	s := newSink(t)
	c := testConfig(TLS, s.listenTCP(conf))
	c.TLSCA = pki.caFile
	c.Devices, c.ConnectRetries = 5, 0
	c.Reconnect = false
	rep := runOK(t, c)
	s.mu.Lock()
	defer s.mu.Unlock()
	var got uint64
	for _, d := range s.devs {
		got += d.frames
	}
	if got != 0 || rep.Disconnects["tls_alert"]+rep.ConnectFailures["tls_alert"] != uint64(c.Devices) {
		t.Fatalf("sink got %d frames; disconnects %v connect failures %v", got, rep.Disconnects, rep.ConnectFailures)
	}
}

// TestTLSBulkDuration: as fast as possible over TLS, bounded by --duration.
func TestTLSBulkDuration(t *testing.T) {
	pki := newTestPKI(t)
	s := newSink(t)
	c := testConfig(TLS, s.listenTCP(&tls.Config{Certificates: []tls.Certificate{pki.serverCert}}))
	c.TLSCA = pki.caFile
	c.Devices, c.Rate, c.Samples, c.Duration = 4, 0, 0, 300*time.Millisecond
	start := time.Now()
	rep := runOK(t, c)
	s.waitClosed()
	s.check(rep)
	if el := time.Since(start); rep.FramesSent == 0 || el > 5*time.Second {
		t.Fatalf("%d frames in %v", rep.FramesSent, el)
	}
}
