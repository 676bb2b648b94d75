package server

import (
	"context"
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/dtls/v4"
	"github.com/pion/dtls/v4/pkg/crypto/ciphersuite"
	"github.com/pion/dtls/v4/pkg/protocol"

	"github.com/fleetwire/fleetwire/internal/pskfile"
	"github.com/fleetwire/fleetwire/server/sink"
)

// testPSKs are the keys of the DTLS tests' key file.
var testPSKs = map[string]string{
	"psk-dev-1": "000102030405060708090a0b0c0d0e0f",
	"psk-dev-2": "101112131415161718191a1b1c1d1e1f",
	"psk-gw":    "202122232425262728292a2b2c2d2e2f",
}

func writePSKFile(t testing.TB, keys map[string]string) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("# fleetwire DTLS test keys\n\n")
	for id, k := range keys {
		fmt.Fprintf(&b, "%s %s  # a device\n", id, k)
	}
	f := filepath.Join(t.TempDir(), "keys.psk")
	if err := os.WriteFile(f, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

// startDTLSServer starts a server with one DTLS listener named dtls.
func startDTLSServer(t testing.TB, l Listener, mutate func(*Config)) *Server {
	t.Helper()
	l.Name, l.Transport = "dtls", DTLS
	if l.Addr == "" {
		l.Addr = "127.0.0.1:0"
	}
	return startServer(t, func(c *Config) {
		c.Listeners = append(c.Listeners, l)
		if mutate != nil {
			mutate(c)
		}
	})
}

type dtlsClient struct {
	version protocol.Version
	suite   ciphersuite.ID
	psk     string // identity; key from testPSKs unless key is set
	key     string
	cert    *tls.Certificate
	roots   *x509.CertPool
	cid     bool
}

func (c dtlsClient) options() []dtls.ClientOption {
	opts := []dtls.ClientOption{dtls.WithExtendedMasterSecret(dtls.RequireExtendedMasterSecret)}
	if c.version != 0 {
		opts = append(opts, dtls.WithMinVersion(c.version), dtls.WithMaxVersion(c.version))
	}
	if c.suite != 0 {
		opts = append(opts, dtls.WithCipherSuites(c.suite))
	}
	if c.psk != "" {
		key := c.key
		if key == "" {
			key = testPSKs[c.psk]
		}
		k, _ := hex.DecodeString(key)
		opts = append(opts, dtls.WithPSK(func() ([]dtls.PSK, error) {
			return []dtls.PSK{{Identity: []byte(c.psk), Key: k, Hash: crypto.SHA256}}, nil
		}, nil))
	}
	if c.cert != nil {
		opts = append(opts, dtls.WithCertificates(*c.cert), dtls.WithServerName("127.0.0.1"))
	}
	if c.roots != nil {
		opts = append(opts, dtls.WithRootCAs(c.roots))
	}
	if c.cid {
		opts = append(opts, dtls.WithConnectionID(dtls.OnlySendCIDGenerator(), dtls.CIDPathMigrationRRC))
	}
	return opts
}

// dialDTLS connects a client through pc (nil: a new socket) and completes
// the handshake.
func dialDTLS(t testing.TB, addr net.Addr, c dtlsClient, extra ...dtls.ClientOption) (*dtls.Conn, error) {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	conn, err := dtls.Client(pc, addr, append(c.options(), extra...)...)
	if err != nil {
		pc.Close()
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := conn.HandshakeContext(ctx); err != nil {
		conn.Close()
		pc.Close()
		return nil, err
	}
	t.Cleanup(func() { conn.Close(); pc.Close() })
	return conn, nil
}

// TestDTLSPSK: PSK devices send over DTLS 1.2 (CCM_8, GCM) and 1.3; their
// readings are stored under their PSK identity. A frame naming another
// device is refused and counted; a gateway's identity covers the ids
// below it; an unknown identity and a wrong key fail the handshake.
func TestDTLSPSK(t *testing.T) {
	shortDTLSTimeouts(t)
	dir := t.TempDir()
	srv := startDTLSServer(t, Listener{PSKFile: writePSKFile(t, testPSKs), Policy: policyPtr(PolicyAuthenticated)},
		func(c *Config) { c.Sink = files(t, dir) })
	addr := srv.ListenerAddr("dtls")
	for i, c := range []dtlsClient{
		{version: protocol.Version1_2, suite: ciphersuite.TLS_PSK_WITH_AES_128_CCM_8},
		{version: protocol.Version1_2, suite: ciphersuite.TLS_PSK_WITH_AES_128_GCM_SHA256},
		{version: protocol.Version1_3},
	} {
		c.psk = "psk-dev-1"
		conn, err := dialDTLS(t, addr, c)
		if err != nil {
			t.Fatalf("client %d (%v %v): %v", i, c.version, c.suite, err)
		}
		// One record: two frames without an id, one with the device's
		// own, one naming another device (refused).
		if _, err := fmt.Fprintf(conn, "%d.5\n%d.6\npsk-dev-1;%d;7\npsk-dev-2;1;66\n", i, i, 100+i); err != nil {
			t.Fatal(err)
		}
		want := uint64(3 * (i + 1))
		waitFor(t, 5*time.Second, "psk-dev-1's readings", func() bool { d, _ := srv.Device("psk-dev-1"); return d.Readings == want })
		waitFor(t, 5*time.Second, "credential_mismatch", func() bool { return srv.Stats().Errors["credential_mismatch"] == uint64(i+1) })
	}
	if _, ok := srv.Device("psk-dev-2"); ok {
		t.Fatal("psk-dev-1's key spoke for psk-dev-2")
	}
	gw, err := dialDTLS(t, addr, dtlsClient{psk: "psk-gw"})
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(gw, "psk-gw.s1;0;1\npsk-gw.s2;0;2\n")
	waitFor(t, 5*time.Second, "the gateway's devices", func() bool {
		_, ok1 := srv.Device("psk-gw.s1")
		_, ok2 := srv.Device("psk-gw.s2")
		return ok1 && ok2
	})
	if _, err := dialDTLS(t, addr, dtlsClient{psk: "nobody", key: testPSKs["psk-dev-1"], version: protocol.Version1_2, suite: ciphersuite.TLS_PSK_WITH_AES_128_CCM_8}); err == nil {
		t.Fatal("an unknown PSK identity was served")
	}
	if _, err := dialDTLS(t, addr, dtlsClient{psk: "psk-dev-2", key: testPSKs["psk-dev-1"]}); err == nil {
		t.Fatal("a wrong key was served")
	}
	waitFor(t, 15*time.Second, "dtls_handshake", func() bool { return srv.Stats().Errors["dtls_handshake"] >= 2 })
	st := srv.Stats()
	if st.Transports["dtls"].Readings != 11 || st.Transports["dtls"].Connections != 4 {
		t.Fatalf("dtls stats: %+v", st.Transports["dtls"])
	}
	if err := srv.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	rows := sinkRows(t, dir)
	if got := strings.Join(rows["psk-dev-1"], " "); !strings.Contains(got, "0.5") || !strings.Contains(got, "2.6") || len(rows["psk-dev-1"]) != 9 {
		t.Fatalf("psk-dev-1's rows in the sink: %v", rows["psk-dev-1"])
	}
	if len(rows["psk-dev-2"]) != 0 {
		t.Fatal("the sink holds rows for psk-dev-2")
	}
}

// shortDTLSTimeouts makes failed handshakes end (and be counted) sooner.
func shortDTLSTimeouts(t *testing.T) {
	hs := dtlsHandshakeTimeout
	dtlsHandshakeTimeout = 3 * time.Second
	t.Cleanup(func() { dtlsHandshakeTimeout = hs })
}

func policyPtr(p Policy) *Policy { return &p }

// TestOpenSSLDTLSClient: a client nobody here wrote, Debian's openssl
// s_client over DTLS 1.2 with a PSK and CCM_8, sends a text frame that
// lands in the sink under its identity.
func TestOpenSSLDTLSClient(t *testing.T) {
	bin, err := exec.LookPath("openssl")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("openssl is not installed (.ci/run installs it)")
		}
		t.Skip("no openssl")
	}
	dir := t.TempDir()
	srv := startDTLSServer(t, Listener{PSKFile: writePSKFile(t, testPSKs)}, func(c *Config) { c.Sink = files(t, dir) })
	for _, cipher := range []string{"PSK-AES128-CCM8", "PSK-AES128-GCM-SHA256"} {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		cmd := exec.CommandContext(ctx, bin, "s_client", "-dtls1_2", "-connect", srv.ListenerAddr("dtls").String(),
			"-psk_identity", "psk-dev-2", "-psk", testPSKs["psk-dev-2"], "-cipher", cipher, "-quiet")
		// -quiet implies -ign_eof: keep the session open until the line
		// is stored, then kill the client.
		stdin, _ := cmd.StdinPipe()
		var out strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		want := map[string]uint64{"PSK-AES128-CCM8": 1, "PSK-AES128-GCM-SHA256": 2}[cipher]
		fmt.Fprintf(stdin, "psk-dev-2;%d;42.5\n", want)
		ok := false
		for end := time.Now().Add(15 * time.Second); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
			if d, _ := srv.Device("psk-dev-2"); d.Readings == want {
				ok = true
				break
			}
		}
		_ = stdin.Close()
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		cancel()
		if !ok {
			t.Fatalf("%s: openssl's reading was not stored; openssl said:\n%s\nstats: %+v", cipher, out.String(), srv.Stats().Errors)
		}
	}
	if err := srv.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if rows := sinkRows(t, dir)["psk-dev-2"]; len(rows) != 2 || !strings.Contains(rows[0], "42.5") {
		t.Fatalf("sink rows of psk-dev-2: %v", rows)
	}
}

// sinkRows reads a file sink: each device's rows as "seq;time;values".
func sinkRows(t *testing.T, dir string) map[string][]string {
	t.Helper()
	r, err := sink.OpenReader(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	got := map[string][]string{}
	for r.Next() {
		row := r.Row()
		var sb strings.Builder
		fmt.Fprintf(&sb, "%d;%d;", row.Seq, row.Time)
		for i, v := range row.Values {
			if i > 0 {
				sb.WriteByte(':')
			}
			sb.WriteString(v.String())
		}
		got[string(row.Device)] = append(got[string(row.Device)], sb.String())
	}
	if err := r.Err(); err != nil {
		t.Fatal(err)
	}
	return got
}

// TestPSKFile: the key file's format, and its reload: a key added is
// served within seconds without a restart, a key removed closes the
// sessions that used it; a broken file leaves the keys in force.
func TestPSKFile(t *testing.T) {
	for _, bad := range []string{"dev-1\n", "dev-1 00 extra\n", "not an id! 00\n", "dev-1 0g\n", "dev-1 00\ndev-1 01\n",
		"dev-1 " + strings.Repeat("00", 65) + "\n"} {
		if _, _, err := pskfile.Parse([]byte(bad)); err == nil {
			t.Errorf("%q: no error", bad)
		} else if strings.Contains(err.Error(), "0g") || strings.Contains(err.Error(), "00") {
			t.Errorf("%q: the error shows the key: %v", bad, err)
		}
	}
	keys, short, err := pskfile.Parse([]byte("# keys\n\n  dev-1\t0001  # short\ndev-2 " + strings.Repeat("ab", 16) + "\n"))
	if err != nil || len(keys) != 2 || short != 1 || keys["dev-1"][1] != 1 {
		t.Fatalf("parse: %v %d %v", keys, short, err)
	}

	file := writePSKFile(t, map[string]string{"psk-dev-1": testPSKs["psk-dev-1"]})
	srv := startDTLSServer(t, Listener{PSKFile: file}, nil)
	addr := srv.ListenerAddr("dtls")
	c2 := dtlsClient{psk: "psk-dev-2", version: protocol.Version1_2, suite: ciphersuite.TLS_PSK_WITH_AES_128_CCM_8}
	if _, err := dialDTLS(t, addr, c2); err == nil {
		t.Fatal("psk-dev-2 served before its key was added")
	}
	one, err := dialDTLS(t, addr, dtlsClient{psk: "psk-dev-1"})
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(one, "1\n")
	waitFor(t, 5*time.Second, "psk-dev-1", func() bool { d, _ := srv.Device("psk-dev-1"); return d.Readings == 1 })

	// Rewrite the file: psk-dev-1 goes, psk-dev-2 comes.
	time.Sleep(10 * time.Millisecond) // a new mtime
	if err := os.WriteFile(file, []byte("psk-dev-2 "+testPSKs["psk-dev-2"]+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "psk-dev-1's session closed", func() bool { return srv.Stats().Transports["dtls"].Connections == 0 })
	two, err := dialDTLS(t, addr, c2)
	if err != nil {
		t.Fatalf("psk-dev-2 after the reload: %v", err)
	}
	fmt.Fprintf(two, "2\n")
	waitFor(t, 5*time.Second, "psk-dev-2", func() bool { d, _ := srv.Device("psk-dev-2"); return d.Readings == 1 })

	// A broken file: the keys in force stay (Reload is what SIGHUP does).
	if err := os.WriteFile(file, []byte("psk-dev-2\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	srv.ReloadKeys()
	if _, err := dialDTLS(t, addr, c2); err != nil {
		t.Fatalf("psk-dev-2 after a broken file: %v", err)
	}
}

// TestDTLSCertificates: a device with a client certificate (ECDHE, DTLS
// 1.2 and 1.3) sends over DTLS; its readings are stored under the id its
// certificate names; a frame naming another device is refused and
// counted; a certificate naming no valid id, or signed by another CA, is
// refused at the handshake. PSK devices share the listener.
func TestDTLSCertificates(t *testing.T) {
	shortDTLSTimeouts(t)
	pki := newTestPKI(t)
	srv := startDTLSServer(t, Listener{PSKFile: writePSKFile(t, testPSKs), TLSCert: pki.serverCert, TLSKey: pki.serverKey,
		TLSClientCA: pki.caFile, Policy: policyPtr(PolicyAuthenticated)}, nil)
	addr := srv.ListenerAddr("dtls")
	cert := func(cn string) *tls.Certificate { c := pki.client(t, cn).Certificates[0]; return &c }
	for i, v := range []protocol.Version{protocol.Version1_2, protocol.Version1_3} {
		conn, err := dialDTLS(t, addr, dtlsClient{version: v, cert: cert("cert-dev-1"), roots: pki.roots})
		if err != nil {
			t.Fatalf("%v: %v", v, err)
		}
		fmt.Fprintf(conn, "21.5\ncert-dev-1;%d;21.6\ncert-dev-2;1;66.6\n", 10+i)
		waitFor(t, 5*time.Second, "cert-dev-1", func() bool { d, _ := srv.Device("cert-dev-1"); return d.Readings == uint64(2*(i+1)) })
		waitFor(t, 5*time.Second, "credential_mismatch", func() bool { return srv.Stats().Errors["credential_mismatch"] == uint64(i+1) })
	}
	if _, ok := srv.Device("cert-dev-2"); ok {
		t.Fatal("cert-dev-1's certificate spoke for cert-dev-2")
	}
	psk, err := dialDTLS(t, addr, dtlsClient{psk: "psk-dev-1"})
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(psk, "1\n")
	waitFor(t, 5*time.Second, "psk-dev-1", func() bool { d, _ := srv.Device("psk-dev-1"); return d.Readings == 1 })

	if c, err := dialDTLS(t, addr, dtlsClient{version: protocol.Version1_2, cert: cert("not an id!"), roots: pki.roots}); err == nil {
		// The server's verdict may come after the client's handshake.
		fmt.Fprintf(c, "1\n")
	}
	waitFor(t, 10*time.Second, "dtls_identity", func() bool { return srv.Stats().Errors["dtls_identity"] == 1 })
	other := newTestPKI(t)
	if c, err := dialDTLS(t, addr, dtlsClient{version: protocol.Version1_2, cert: func() *tls.Certificate { c := other.client(t, "cert-dev-3").Certificates[0]; return &c }(), roots: pki.roots}); err == nil {
		fmt.Fprintf(c, "1\n")
	}
	waitFor(t, 10*time.Second, "dtls_handshake", func() bool { return srv.Stats().Errors["dtls_handshake"] == 1 })
	if _, ok := srv.Device("cert-dev-3"); ok {
		t.Fatal("a certificate of another CA was served")
	}
}

// natProxy is a NAT between a client and the server: it forwards the
// client's datagrams from a socket of its own, the mapping, and the
// server's answers back to the client. rebind replaces the mapping with a
// new one (a new source port), as a NAT does when a mapping times out;
// the old one goes dead.
type natProxy struct {
	front    *net.UDPConn // the client's side
	server   *net.UDPAddr
	mu       sync.Mutex
	mapping  *net.UDPConn
	client   *net.UDPAddr
	rebinds  int
	toClient atomic.Int64 // datagrams sent back to the client
}

func newNATProxy(t *testing.T, server net.Addr) *natProxy {
	t.Helper()
	front, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	p := &natProxy{front: front, server: server.(*net.UDPAddr)}
	p.rebind(t)
	t.Cleanup(func() {
		front.Close()
		p.mu.Lock()
		p.mapping.Close()
		p.mu.Unlock()
	})
	go func() {
		buf := make([]byte, 65536)
		for {
			n, from, err := front.ReadFromUDP(buf)
			if err != nil {
				return
			}
			p.mu.Lock()
			p.client = from
			m := p.mapping
			p.mu.Unlock()
			_, _ = m.WriteToUDP(buf[:n], p.server)
		}
	}()
	return p
}

func (p *natProxy) rebind(t *testing.T) {
	t.Helper()
	m, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	p.mu.Lock()
	old := p.mapping
	p.mapping = m
	p.rebinds++
	p.mu.Unlock()
	if old != nil {
		old.Close() // the old mapping is gone: answers to it are lost
	}
	go func() {
		buf := make([]byte, 65536)
		for {
			n, _, err := m.ReadFromUDP(buf)
			if err != nil {
				return
			}
			p.mu.Lock()
			c := p.client
			p.mu.Unlock()
			if c != nil {
				p.toClient.Add(1)
				_, _ = p.front.WriteToUDP(buf[:n], c)
			}
		}
	}()
}

// TestDTLSNATRebinding: a device whose NAT mapping changes mid-run (a new
// source port, the old one dead) keeps its DTLS session through its
// connection ID: no new handshake, every reading stored, and once the
// server has checked the new path (RFC 9853) answers reach the device
// there: a command sent after the rebinding arrives.
func TestDTLSNATRebinding(t *testing.T) {
	srv := startDTLSServer(t, Listener{PSKFile: writePSKFile(t, testPSKs)}, nil)
	for _, v := range []protocol.Version{protocol.Version1_2, protocol.Version1_3} {
		t.Run(map[protocol.Version]string{protocol.Version1_2: "1.2", protocol.Version1_3: "1.3"}[v], func(t *testing.T) {
			id := map[protocol.Version]string{protocol.Version1_2: "psk-dev-1", protocol.Version1_3: "psk-dev-2"}[v]
			nat := newNATProxy(t, srv.ListenerAddr("dtls"))
			suite := ciphersuite.ID(0)
			if v == protocol.Version1_2 {
				suite = ciphersuite.TLS_PSK_WITH_AES_128_CCM_8
			}
			accepted := srv.Stats().Transports["dtls"].Accepted
			conn, err := dialDTLS(t, nat.front.LocalAddr(), dtlsClient{psk: id, version: v, suite: suite, cid: true})
			if err != nil {
				t.Fatal(err)
			}
			cmds := make(chan string, 16)
			go func() {
				buf := make([]byte, 2048)
				for {
					n, err := conn.Read(buf)
					if err != nil {
						return
					}
					cmds <- string(buf[:n])
				}
			}()
			const frames = 300
			for i := range frames {
				if i == frames/2 {
					nat.rebind(t)
				}
				if _, err := fmt.Fprintf(conn, "%s;%d;%d\n", id, i, i); err != nil {
					t.Fatal(err)
				}
				time.Sleep(2 * time.Millisecond)
			}
			waitFor(t, 5*time.Second, "every reading", func() bool { d, _ := srv.Device(id); return d.Readings == frames })
			d, _ := srv.Device(id)
			if d.Lost != 0 {
				t.Fatalf("%d readings lost", d.Lost)
			}
			if st := srv.Stats().Transports["dtls"]; st.Accepted != accepted+1 {
				t.Fatalf("%d handshakes for one device: the rebinding cost a new session", st.Accepted-accepted)
			}
			// The server validates the new path when records arrive on it:
			// keep sending until a command reaches the device there.
			cmd, err := srv.SubmitCommand(id, []byte("LED ON"))
			if err != nil {
				t.Fatal(err)
			}
			want := fmt.Sprintf("#cmd %d LED ON", cmd.ID)
			for end, i := time.Now().Add(10*time.Second), frames; ; i++ {
				select {
				case got := <-cmds:
					if strings.TrimSpace(got) != want {
						t.Fatalf("device got %q, want %q", got, want)
					}
					return
				case <-time.After(100 * time.Millisecond):
				}
				if time.Now().After(end) {
					t.Fatalf("the command never reached the device at its new address (%d datagrams came back through the NAT)", nat.toClient.Load())
				}
				fmt.Fprintf(conn, "%s;%d;%d\n", id, i, i)
			}
		})
	}
}

// captureConn records the datagrams a DTLS client writes.
type captureConn struct {
	net.PacketConn
	mu    sync.Mutex
	wrote [][]byte
}

func (c *captureConn) WriteTo(b []byte, a net.Addr) (int, error) {
	c.mu.Lock()
	c.wrote = append(c.wrote, append([]byte(nil), b...))
	c.mu.Unlock()
	return len(b), nil
}

// clientHello returns the first datagram of a pion client's handshake: a
// ClientHello without a cookie, as a flood sends.
func clientHello(t *testing.T, c dtlsClient) []byte {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	cc := &captureConn{PacketConn: pc}
	conn, err := dtls.Client(cc, &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 9}, c.options()...)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	_ = conn.HandshakeContext(ctx)
	cancel()
	conn.Close()
	cc.mu.Lock()
	defer cc.mu.Unlock()
	if len(cc.wrote) == 0 || cc.wrote[0][0] != 22 || cc.wrote[0][13] != 1 {
		t.Fatalf("no ClientHello captured: %x", cc.wrote)
	}
	return cc.wrote[0]
}

// flood sends hello from ports sockets on each source IP, rounds times
// each, and returns how many it sent.
func flood(t *testing.T, to net.Addr, hello []byte, ips []string, ports, rounds int) int {
	t.Helper()
	var socks []*net.UDPConn
	for _, ip := range ips {
		for range ports {
			s, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.ParseIP(ip)})
			if err != nil {
				t.Fatal(err)
			}
			socks = append(socks, s)
		}
	}
	defer func() {
		for _, s := range socks {
			s.Close()
		}
	}()
	n := 0
	for range rounds {
		for _, s := range socks {
			if _, err := s.WriteTo(hello, to); err == nil {
				n++
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return n
}

func dtlsEngineOf(srv *Server) *dtlsEngine {
	for _, e := range srv.engines {
		if d, ok := e.(*dtlsEngine); ok {
			return d
		}
	}
	return nil
}

// memInUse is the heap and goroutine stacks in use after a collection.
func memInUse() int64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapInuse + m.StackInuse)
}

// TestDTLSHandshakeFlood: floods of ClientHellos that never answer the
// cookie, from many ports of one address and from many addresses, leave
// a canary device served: its established session loses nothing, and a
// new device from another address completes its handshake during the
// one-address flood. Handshakes in progress never pass the listener's
// bound, the server's memory stays within that bound's worth, and every
// refusal is counted by its reason.
func TestDTLSHandshakeFlood(t *testing.T) {
	if testing.Short() {
		t.Skip("floods for seconds")
	}
	ct := dtlsCookieTimeout
	dtlsCookieTimeout = time.Second
	t.Cleanup(func() { dtlsCookieTimeout = ct })
	const maxHS, rate = 64, 20
	srv := startDTLSServer(t, Listener{PSKFile: writePSKFile(t, testPSKs), MaxHandshakes: maxHS, HandshakeRate: rate}, nil)
	addr := srv.ListenerAddr("dtls")
	e := dtlsEngineOf(srv)
	c12 := dtlsClient{version: protocol.Version1_2, suite: ciphersuite.TLS_PSK_WITH_AES_128_CCM_8}
	fl := c12
	fl.psk, fl.key = "flooder", testPSKs["psk-dev-1"]
	hello := clientHello(t, fl)

	// The canary: an established session from 127.0.0.2, sending all along.
	canary := c12
	canary.psk = "psk-dev-1"
	cpc, err := net.ListenPacket("udp", "127.0.0.2:0")
	if err != nil {
		t.Fatal(err)
	}
	cconn, err := dtls.Client(cpc, addr, canary.options()...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cconn.Close(); cpc.Close() })
	if err := cconn.HandshakeContext(context.Background()); err != nil {
		t.Fatal(err)
	}
	base := memInUse()
	baseG := runtime.NumGoroutine()
	stop := make(chan struct{})
	var sent atomic.Int64
	var peak atomic.Int64
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
			if _, err := fmt.Fprintf(cconn, "psk-dev-1;%d;%d\n", i, i); err != nil {
				t.Error(err)
				return
			}
			sent.Add(1)
			if p := e.pending.Load(); p > peak.Load() {
				peak.Store(p)
			}
		}
	}()
	var memPeak atomic.Int64
	memDone := make(chan struct{})
	go func() { // sample the heap during the floods
		defer close(memDone)
		for {
			select {
			case <-stop:
				return
			case <-time.After(300 * time.Millisecond):
			}
			if m := memInUse() - base; m > memPeak.Load() {
				memPeak.Store(m)
			}
		}
	}()

	// One address, many ports: the per-source rate refuses most.
	ports, rounds := 500, 30
	if raceEnabled {
		ports, rounds = 200, 15
	}
	var floodWG sync.WaitGroup
	floodWG.Add(1)
	go func() { defer floodWG.Done(); flood(t, addr, hello, []string{"127.0.0.1"}, ports, rounds) }()
	time.Sleep(200 * time.Millisecond)
	newcomer := c12
	newcomer.psk = "psk-dev-2"
	npc, err := net.ListenPacket("udp", "127.0.0.3:0")
	if err != nil {
		t.Fatal(err)
	}
	nconn, err := dtls.Client(npc, addr, newcomer.options()...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nconn.Close(); npc.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	err = nconn.HandshakeContext(ctx)
	cancel()
	if err != nil {
		t.Fatalf("a new device's handshake during a one-address flood: %v (errors %v)", err, srv.Stats().Errors)
	}
	fmt.Fprintf(nconn, "7\n")
	waitFor(t, 5*time.Second, "the newcomer's reading", func() bool { d, _ := srv.Device("psk-dev-2"); return d.Readings == 1 })
	floodWG.Wait()

	// Many addresses (as spoofed sources are): the bound on handshakes in
	// progress holds, the cookie timeout frees the slots.
	var ips []string
	for i := 1; i <= 200; i++ {
		ips = append(ips, fmt.Sprintf("127.0.1.%d", i))
	}
	flood(t, addr, hello, ips, 4-2*btoi(raceEnabled), rounds)
	close(stop)
	<-done
	<-memDone

	waitFor(t, 5*time.Second, "every canary reading", func() bool { d, _ := srv.Device("psk-dev-1"); return d.Readings == uint64(sent.Load()) })
	if d, _ := srv.Device("psk-dev-1"); d.Lost != 0 {
		t.Fatalf("the canary lost %d readings", d.Lost)
	}
	errs := srv.Stats().Errors
	t.Logf("canary readings %d; handshakes in progress at most %d; heap growth at most %d kB; refusals %v",
		sent.Load(), peak.Load(), memPeak.Load()>>10, errs)
	if peak.Load() > maxHS {
		t.Fatalf("%d handshakes in progress, bound %d", peak.Load(), maxHS)
	}
	for _, r := range []string{"dtls_rate", "dtls_handshake_limit", "dtls_cookie"} {
		if errs[r] == 0 {
			t.Errorf("no %s counted: %v", r, errs)
		}
	}
	// What a half-open handshake may hold (measured: a few kB), times the
	// bound, and slack for the runtime.
	if limit := int64(maxHS*64<<10 + 16<<20); memPeak.Load() > limit {
		t.Fatalf("heap grew by %d kB during the floods, bound %d kB", memPeak.Load()>>10, limit>>10)
	}
	waitFor(t, 5*time.Second, "no handshake in progress", func() bool { return e.pending.Load() == 0 })
	waitFor(t, 5*time.Second, "goroutines back", func() bool { return runtime.NumGoroutine() <= baseG+8 })
}

// TestDTLSSessionMemory measures what an established DTLS session costs
// the server: heap and goroutine stacks after a collection, with n
// sessions open (PSK, connection IDs, one reading each) against none, for
// DTLS 1.2 (CCM_8) and 1.3. The clients run in a child process, so that
// only the server's memory is counted. docs/dtls.md quotes the figures.
func TestDTLSSessionMemory(t *testing.T) {
	if a := os.Getenv("FLEETWIRE_DTLS_CLIENTS"); a != "" {
		dtlsClientsHelper(t, a)
		return
	}
	if testing.Short() {
		t.Skip("opens hundreds of sessions")
	}
	n := 300
	if raceEnabled {
		n = 50
	}
	for _, v := range []string{"1.2", "1.3"} {
		t.Run(v, func(t *testing.T) {
			srv := startDTLSServer(t, Listener{PSKFile: writePSKFile(t, testPSKs), MaxHandshakes: n, HandshakeRate: 10 * n}, nil)
			base, baseG := memInUse(), runtime.NumGoroutine()
			cmd := exec.Command(os.Args[0], "-test.run=^TestDTLSSessionMemory$")
			cmd.Env = append(os.Environ(), fmt.Sprintf("FLEETWIRE_DTLS_CLIENTS=%s,%s,%d", srv.ListenerAddr("dtls"), v, n))
			stdin, _ := cmd.StdinPipe()
			var out strings.Builder
			cmd.Stdout, cmd.Stderr = &out, &out
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { stdin.Close(); _ = cmd.Wait() })
			waitFor(t, 60*time.Second, "every session open with its reading", func() bool {
				st := srv.Stats()
				return st.Transports["dtls"].Connections == int64(n) && st.Readings == uint64(n)
			})
			per := (memInUse() - base) / int64(n)
			t.Logf("DTLS %s: one established session costs %d bytes of server heap and stacks, %.1f goroutines (%d sessions)",
				v, per, float64(runtime.NumGoroutine()-baseG)/float64(n), n)
			limit := int64(128 << 10)
			if raceEnabled {
				limit *= 2 // the detector's bookkeeping
			}
			if per > limit {
				t.Fatalf("a DTLS session costs %d kB", per>>10)
			}
			stdin.Close()
			waitFor(t, 20*time.Second, "every session closed", func() bool { return srv.Stats().Transports["dtls"].Connections == 0 })
		})
	}
}

// dtlsClientsHelper is the child of TestDTLSSessionMemory: it opens the
// sessions and keeps them until stdin closes.
func dtlsClientsHelper(t *testing.T, arg string) {
	f := strings.Split(arg, ",")
	addr, err := net.ResolveUDPAddr("udp", f[0])
	if err != nil {
		t.Fatal(err)
	}
	var n int
	fmt.Sscan(f[2], &n)
	c := dtlsClient{psk: "psk-dev-1", cid: true, version: protocol.Version1_2, suite: ciphersuite.TLS_PSK_WITH_AES_128_CCM_8}
	if f[1] == "1.3" {
		c.version, c.suite = protocol.Version1_3, 0
	}
	var conns []*dtls.Conn
	for k := range n {
		conn, err := dialDTLS(t, addr, c)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(conn, "psk-dev-1.%d;0;%d\n", k, k)
		conns = append(conns, conn)
	}
	_, _ = io.Copy(io.Discard, os.Stdin)
	for _, c := range conns {
		c.Close()
	}
}

// TestSessionCache: the resumption store keeps at most its bound, drops
// the oldest first and forgets what is older than its time to live.
func TestSessionCache(t *testing.T) {
	c := newSessionCache(3, time.Hour)
	for i := range 10 {
		_ = c.Set([]byte{byte(i)}, dtls.Session{ID: []byte{byte(i)}})
		_ = c.Set([]byte{1}, dtls.Session{ID: []byte{1}}) // set again and again: stays
	}
	if len(c.m) != 3 || len(c.order) > 6 {
		t.Fatalf("%d sessions, %d refs", len(c.m), len(c.order))
	}
	for _, k := range []byte{1, 8, 9} {
		if s, _ := c.Get([]byte{k}); len(s.ID) != 1 {
			t.Errorf("session %d gone", k)
		}
	}
	if s, _ := c.Get([]byte{0}); s.ID != nil {
		t.Error("the oldest session stayed")
	}
	c.ttl = 0
	if s, _ := c.Get([]byte{9}); s.ID != nil {
		t.Error("an expired session was served")
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
