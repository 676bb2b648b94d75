package main

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pion/dtls/v4"
	"github.com/pion/dtls/v4/pkg/crypto/ciphersuite"
	"github.com/pion/dtls/v4/pkg/protocol"

	"github.com/fleetwire/fleetwire/loadgen"
	"github.com/fleetwire/fleetwire/server"
)

// writeFleetPSKs writes a key file with a random key for dev-000001..n.
func writeFleetPSKs(t *testing.T, n int) string {
	t.Helper()
	var b strings.Builder
	for i := 1; i <= n; i++ {
		k := make([]byte, 16)
		_, _ = rand.Read(k)
		fmt.Fprintf(&b, "dev-%06d %s\n", i, hex.EncodeToString(k))
	}
	f := filepath.Join(t.TempDir(), "fleet.psk")
	if err := os.WriteFile(f, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

// TestLoadDTLS: fleetwire load --dtls against a DTLS listener, with PSK
// (1.2 CCM_8 and 1.3) and certificates, one session per device and one
// per report (resumed or not): the server stores every reading sent, and
// the report counts the handshakes the mode implies and the wire bytes.
func TestLoadDTLS(t *testing.T) {
	const devices, samples, batch = 5, 20, 5
	keys := writeFleetPSKs(t, devices)
	pki := newCmdPKI(t)
	srv, err := server.New(server.Config{TCPAddr: "127.0.0.1:0", Listeners: []server.Listener{{
		Name: "dtls", Transport: server.DTLS, Addr: "127.0.0.1:0", PSKFile: keys,
		TLSCert: pki.serverCert, TLSKey: pki.serverKey,
	}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Shutdown(context.Background()) })
	addr := srv.ListenerAddr("dtls").String()
	stored := uint64(0)
	wire := map[string]float64{} // UDP payload bytes per reading, both ways
	var sent, recv uint64        // all runs' UDP payload bytes, as the devices counted them
	for _, m := range []struct {
		name      string
		mutate    func(*loadgen.Config)
		handshake uint64 // expected handshakes; per report: at most (frames a late device sends together go in one report)
	}{
		{"psk-1.2", func(c *loadgen.Config) {}, devices},
		{"psk-1.3", func(c *loadgen.Config) { c.DTLSVersion = "1.3" }, devices},
		{"cert-1.2", func(c *loadgen.Config) { c.DTLSPSKFile, c.TLSCA = "", pki.caFile }, devices},
		{"psk-per-report", func(c *loadgen.Config) { c.DTLSPerReport = true }, devices * (samples/batch + 1)},
		{"cert-per-report", func(c *loadgen.Config) {
			c.DTLSPSKFile, c.TLSCA, c.DTLSPerReport = "", pki.caFile, true
		}, devices * (samples/batch + 1)},
		{"cert-per-report-resumed", func(c *loadgen.Config) {
			c.DTLSPSKFile, c.TLSCA, c.DTLSPerReport, c.DTLSResume = "", pki.caFile, true, true
		}, devices * (samples/batch + 1)},
	} {
		t.Run(m.name, func(t *testing.T) {
			cfg := loadgen.DefaultConfig()
			cfg.Transport, cfg.Addr, cfg.DTLSPSKFile = loadgen.DTLS, addr, keys
			cfg.Devices, cfg.Samples, cfg.Batch, cfg.Rate, cfg.ProgressEvery = devices, samples, batch, 50, 0
			cfg.SourceBase = ""
			m.mutate(&cfg)
			rep, err := loadgen.Run(context.Background(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			d := rep.DTLS
			perReport := cfg.DTLSPerReport
			switch {
			case d == nil || d.HandshakeFailure != 0:
				t.Fatalf("dtls report %+v", d)
			case !perReport && d.Handshakes != m.handshake:
				t.Fatalf("dtls report %+v, want %d handshakes", d, m.handshake)
			case perReport && (d.Handshakes > m.handshake || d.Handshakes < 2*devices || d.Handshakes != d.RecordsSent):
				// A session per report: one record each, at least a data
				// report and an end-of-stream per device.
				t.Fatalf("dtls report %+v, want %d handshakes at most, one record each", d, m.handshake)
			}
			if rep.ReadingsSent != devices*samples*2 || d.BytesSent == 0 || d.BytesRecv == 0 {
				t.Fatalf("sent %d readings, %d/%d wire bytes", rep.ReadingsSent, d.BytesSent, d.BytesRecv)
			}
			stored += rep.ReadingsSent
			sent, recv = sent+d.BytesSent, recv+d.BytesRecv
			deadline := time.Now().Add(10 * time.Second)
			for srv.Stats().Transports["dtls"].Readings != stored {
				if time.Now().After(deadline) {
					t.Fatalf("server has %d readings, want %d (%v)", srv.Stats().Transports["dtls"].Readings, stored, srv.Stats().Errors)
				}
				time.Sleep(20 * time.Millisecond)
			}
			// Every session ended with the device's close_notify.
			for deadline := time.Now().Add(3 * time.Second); srv.Stats().Transports["dtls"].Connections != 0; time.Sleep(10 * time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatalf("%d sessions still open after the run", srv.Stats().Transports["dtls"].Connections)
				}
			}
			wire[m.name] = float64(d.BytesSent+d.BytesRecv) / float64(rep.ReadingsSent)
			t.Logf("%s: %d handshakes, %.1f wire bytes up and %.1f down per reading", m.name, d.Handshakes,
				float64(d.BytesSent+28*d.DatagramsSent)/float64(rep.ReadingsSent), float64(d.BytesRecv+28*d.DatagramsRecv)/float64(rep.ReadingsSent))
		})
	}
	// The server's socket counts what the devices' sockets sent, and sent
	// them at least what they received (some of it after a device closed
	// its socket: the end of a session crosses its close_notify).
	deadline := time.Now().Add(5 * time.Second)
	for {
		w := srv.Stats().Transports["dtls"].Wire
		if w != nil && w.RxBytes == sent && w.TxBytes >= recv {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("server wire counters %+v, devices sent %d bytes and received %d", w, sent, recv)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if wire["cert-per-report-resumed"] >= wire["cert-per-report"]*0.8 {
		t.Errorf("resumed sessions cost %.1f bytes per reading, full handshakes %.1f: no resumption?", wire["cert-per-report-resumed"], wire["cert-per-report"])
	}
	if n := srv.Stats().Lost; n != 0 {
		t.Fatalf("the server counted %d readings lost", n)
	}
}

// cmdPKI is a CA and a server certificate for 127.0.0.1, in PEM files.
type cmdPKI struct{ caFile, serverCert, serverKey string }

func newCmdPKI(t *testing.T) cmdPKI {
	t.Helper()
	dir := t.TempDir()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true,
		BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalECPrivateKey(key)
	p := cmdPKI{caFile: filepath.Join(dir, "ca.pem"), serverCert: filepath.Join(dir, "server.pem"), serverKey: filepath.Join(dir, "server.key")}
	for _, f := range []struct {
		path, typ string
		der       []byte
	}{{p.caFile, "CERTIFICATE", caDER}, {p.serverCert, "CERTIFICATE", der}, {p.serverKey, "EC PRIVATE KEY", kb}} {
		if err := os.WriteFile(f.path, pem.EncodeToMemory(&pem.Block{Type: f.typ, Bytes: f.der}), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return p
}

// TestServeSIGHUPReloadsPSKs: SIGHUP makes `fleetwire serve` reread its
// DTLS key file even when the file looks unchanged to the watcher (same
// size, same modification time): a replaced key works at once.
func TestServeSIGHUPReloadsPSKs(t *testing.T) {
	dir := t.TempDir()
	keys := filepath.Join(dir, "keys.psk")
	oldKey, newKey := strings.Repeat("11", 16), strings.Repeat("22", 16)
	if err := os.WriteFile(keys, []byte("dev-000001 "+oldKey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	fi, _ := os.Stat(keys)
	pc, _ := net.ListenPacket("udp", "127.0.0.1:0")
	addr := pc.LocalAddr().(*net.UDPAddr)
	pc.Close()
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	httpAddr := ln.Addr().String()
	ln.Close()
	startServe(t, "http://"+httpAddr+"/healthz", "--http", httpAddr,
		"--listen", fmt.Sprintf("dtls://%s?psk-file=%s", addr, keys))
	dial := func(key string) error {
		k, _ := hex.DecodeString(key)
		c, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		conn, err := dtls.Client(c, addr, dtls.WithPSK(func() ([]dtls.PSK, error) {
			return []dtls.PSK{{Identity: []byte("dev-000001"), Key: k, Hash: crypto.SHA256}}, nil
		}, nil), dtls.WithMinVersion(protocol.Version1_2), dtls.WithMaxVersion(protocol.Version1_2),
			dtls.WithCipherSuites(ciphersuite.TLS_PSK_WITH_AES_128_CCM_8))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		return conn.HandshakeContext(ctx)
	}
	if err := dial(oldKey); err != nil {
		t.Fatalf("the key in the file: %v", err)
	}
	// Same size, same modification time: the watcher sees no change.
	if err := os.WriteFile(keys, []byte("dev-000001 "+newKey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(keys, fi.ModTime(), fi.ModTime()); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1500 * time.Millisecond)
	if err := dial(newKey); err == nil {
		t.Fatal("the new key worked before SIGHUP: the test cannot tell SIGHUP from the watcher")
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for dial(newKey) != nil {
		if time.Now().After(deadline) {
			t.Fatal("the new key does not work after SIGHUP")
		}
	}
}
