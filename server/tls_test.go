package server

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestTLSSuites: TLS 1.2 clients get only ECDHE with an AEAD (Mozilla
// "intermediate"): one offering only CBC suites, RSA key exchange or
// P-521 fails the handshake, counted as tls_handshake. Each refused
// client first completes a handshake with a server that enables what it
// offers, so the refusal is our configuration's, not the client's.
func TestTLSSuites(t *testing.T) {
	certFile, keyFile, cert, roots := rsaCert(t)
	srv := startServer(t, func(c *Config) { c.TLSAddr, c.TLSCert, c.TLSKey = "127.0.0.1:0", certFile, keyFile })
	addr := srv.Addr(TLS).String()
	refused := 0
	f := func(cc *tls.Config, wantOK bool) {
		t.Helper()
		cc.RootCAs, cc.ServerName = roots, "127.0.0.1"
		if !wantOK {
			permissive := &tls.Config{Certificates: []tls.Certificate{cert}, CipherSuites: cc.CipherSuites}
			if err := handshakePipe(permissive, cc); err != nil {
				t.Fatalf("suites %v, curves %v: a permissive server refuses the client too: %v", cc.CipherSuites, cc.CurvePreferences, err)
			}
			refused++
		}
		c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, cc)
		if err == nil {
			_ = c.Close()
		}
		if (err == nil) != wantOK {
			t.Fatalf("suites %v, curves %v, max version %x: handshake error %v, want success=%v", cc.CipherSuites, cc.CurvePreferences, cc.MaxVersion, err, wantOK)
		}
		waitFor(t, 5*time.Second, "tls_handshake count", func() bool { return srv.Stats().Errors["tls_handshake"] == uint64(refused) })
	}
	f(&tls.Config{MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA}}, false)
	f(&tls.Config{MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256}}, false)
	f(&tls.Config{MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{tls.TLS_RSA_WITH_AES_128_GCM_SHA256}}, false)
	f(&tls.Config{MaxVersion: tls.VersionTLS12, CurvePreferences: []tls.CurveID{tls.CurveP521}}, false)
	f(&tls.Config{MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256}}, true)
	f(&tls.Config{MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256}}, true)
	f(&tls.Config{MaxVersion: tls.VersionTLS12, CurvePreferences: []tls.CurveID{tls.CurveP384}}, true)
	f(&tls.Config{MaxVersion: tls.VersionTLS12}, true)
	f(&tls.Config{}, true)
}

// handshakePipe runs a TLS handshake between server and client in memory.
func handshakePipe(server, client *tls.Config) error {
	a, b := net.Pipe()
	errc := make(chan error, 1)
	go func() {
		errc <- tls.Server(a, server).Handshake()
		_ = a.Close() // unblocks the client when the server gave up
	}()
	err := tls.Client(b, client).Handshake()
	_ = b.Close()
	if serr := <-errc; err == nil {
		err = serr
	}
	return err
}

// rsaCert writes a self-signed RSA certificate for 127.0.0.1 (RSA, so that
// the ECDHE_RSA and RSA key-exchange suites apply) and returns its files,
// the pair and a pool that trusts it.
func rsaCert(t *testing.T) (certFile, keyFile string, cert tls.Certificate, roots *x509.CertPool) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})
	if err := os.WriteFile(certFile, certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if cert, err = tls.X509KeyPair(certPEM, keyPEM); err != nil {
		t.Fatal(err)
	}
	roots = x509.NewCertPool()
	roots.AddCert(cert.Leaf)
	return certFile, keyFile, cert, roots
}
