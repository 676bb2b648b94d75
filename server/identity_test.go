package server

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fleetwire/fleetwire/codec"
	"github.com/fleetwire/fleetwire/codec/control"
)

// lineDevice is a TCP device that reads the command lines it is sent.
type lineDevice struct {
	c     net.Conn
	lines chan string
}

func dialLineDevice(t *testing.T, network, addr, hello string) *lineDevice {
	t.Helper()
	c, err := net.Dial(network, addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	d := &lineDevice{c: c, lines: make(chan string, 64)}
	go func() {
		sc := bufio.NewScanner(c)
		for sc.Scan() {
			d.lines <- sc.Text()
		}
	}()
	if hello != "" {
		d.write(t, "#hello "+hello+"\n")
	}
	return d
}

func (d *lineDevice) write(t *testing.T, s string) {
	t.Helper()
	if _, err := d.c.Write([]byte(s)); err != nil {
		t.Fatal(err)
	}
}

// next returns the next line the device got, failing after 5 s.
func (d *lineDevice) next(t *testing.T) string {
	t.Helper()
	select {
	case l := <-d.lines:
		return l
	case <-time.After(5 * time.Second):
		t.Fatal("the device got no line")
		return ""
	}
}

// nothing checks that the device got no line for a while.
func (d *lineDevice) nothing(t *testing.T) {
	t.Helper()
	select {
	case l := <-d.lines:
		t.Fatalf("the device got %q", l)
	case <-time.After(200 * time.Millisecond):
	}
}

// udpFrom returns a UDP socket bound to source address src (127.0.0.x).
func udpFrom(t *testing.T, src string, to net.Addr) *net.UDPConn {
	t.Helper()
	c, err := net.DialUDP("udp", &net.UDPAddr{IP: net.ParseIP(src)}, to.(*net.UDPAddr))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func online(t *testing.T, srv *Server, id string) {
	t.Helper()
	waitFor(t, 5*time.Second, id+" online", func() bool { d, ok := srv.Device(id); return ok && d.Online })
}

// TestForgedAck: an ack counts only from the path its command was sent
// on; a datagram acknowledging another device's command (even with its
// id) is bad_ack and changes nothing, and the device's own ack still
// counts. Command ids are not small counters.
func TestForgedAck(t *testing.T) {
	for _, engine := range []string{"gnet", "std"} {
		t.Run(engine, func(t *testing.T) {
			srv := startServer(t, func(c *Config) { c.Engine = engine })
			dev := dialLineDevice(t, "tcp", srv.Addr(TCP).String(), "dev-v")
			online(t, srv, "dev-v")
			cmd, err := srv.SubmitCommand("dev-v", []byte("LED ON"))
			if err != nil {
				t.Fatal(err)
			}
			if cmd.ID < 1<<20 {
				t.Errorf("command id %d: guessable", cmd.ID)
			}
			if got, want := dev.next(t), fmt.Sprintf("#cmd %d LED ON", cmd.ID); got != want {
				t.Fatalf("device got %q, want %q", got, want)
			}
			forger := udpFrom(t, "127.0.0.1", srv.Addr(UDP))
			fmt.Fprintf(forger, "#ack %d ok forged\n#ack %d ok\n", cmd.ID, cmd.ID+1)
			waitFor(t, 5*time.Second, "two bad_ack", func() bool { return srv.Stats().Errors["bad_ack"] == 2 })
			if c, _ := srv.Command(cmd.ID); c.State != CmdSent {
				t.Fatalf("after a forged ack the command is %s", c.State)
			}
			dev.write(t, fmt.Sprintf("#ack %d ok real\n", cmd.ID))
			waitFor(t, 5*time.Second, "the device's ack", func() bool {
				c, _ := srv.Command(cmd.ID)
				return c.State == CmdAcked && c.Detail == "real"
			})
		})
	}
}

// TestDownlinkTheft: a datagram naming a device that is connected over
// TCP does not move its downlink, whatever the policy: a datagram's
// source can be forged, a TCP peer's cannot. The next command goes to the
// device.
func TestDownlinkTheft(t *testing.T) {
	for _, policy := range []Policy{PolicyOpen, PolicyBound} {
		t.Run(policy.String(), func(t *testing.T) {
			srv := startServer(t, func(c *Config) { c.TCPPolicy, c.UDPPolicy = policy, policy })
			dev := dialLineDevice(t, "tcp", srv.Addr(TCP).String(), "dev-v")
			online(t, srv, "dev-v")
			thief := udpFrom(t, "127.0.0.1", srv.Addr(UDP))
			fmt.Fprintf(thief, "dev-v;2;1.0\n")
			waitFor(t, 5*time.Second, "the datagram", func() bool { return srv.Stats().Datagrams == 1 })
			cmd, err := srv.SubmitCommand("dev-v", []byte("LED OFF"))
			if err != nil {
				t.Fatal(err)
			}
			if cmd.Via != "tcp" {
				t.Fatalf("command went via %q", cmd.Via)
			}
			if got := dev.next(t); !strings.HasSuffix(got, " LED OFF") {
				t.Fatalf("device got %q", got)
			}
			_ = thief.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
			if n, err := thief.Read(make([]byte, 100)); err == nil {
				t.Fatalf("the thief got %d bytes", n)
			}
		})
	}
}

// TestBoundPolicy: on a bound listener a device belongs to the address
// that first spoke for it; another address is refused (bound_elsewhere,
// nothing stored) until the device has been silent for --bind-ttl, and
// on an open listener it is not.
func TestBoundPolicy(t *testing.T) {
	srv := startServer(t, func(c *Config) { c.BindTTL = 1500 * time.Millisecond })
	owner := udpFrom(t, "127.0.0.1", srv.Addr(UDP))
	other := udpFrom(t, "127.0.0.2", srv.Addr(UDP))
	fmt.Fprintf(owner, "dev-b;0;1\n")
	waitFor(t, 5*time.Second, "dev-b", func() bool { d, _ := srv.Device("dev-b"); return d.Readings == 1 })
	fmt.Fprintf(other, "dev-b;1;666\n#eos dev-b 99\n")
	waitFor(t, 5*time.Second, "bound_elsewhere", func() bool { return srv.Stats().Errors["bound_elsewhere"] == 2 })
	fmt.Fprintf(owner, "dev-b;1;2\n") // a new port of the owner's address is the owner
	waitFor(t, 5*time.Second, "dev-b's own frame", func() bool { d, _ := srv.Device("dev-b"); return d.Readings == 2 })
	if d, _ := srv.Device("dev-b"); d.Lost != 0 || d.EOS || d.LastValues[0] != "2" {
		t.Fatalf("the other address changed the device: %+v", d)
	}
	time.Sleep(1600 * time.Millisecond)
	fmt.Fprintf(other, "dev-b;2;3\n")
	waitFor(t, 5*time.Second, "the binding to lapse", func() bool { d, _ := srv.Device("dev-b"); return d.Readings == 3 })
	fmt.Fprintf(owner, "dev-b;3;4\n")
	waitFor(t, 5*time.Second, "the old owner refused", func() bool { return srv.Stats().Errors["bound_elsewhere"] == 3 })

	open := startServer(t, func(c *Config) { c.UDPPolicy = PolicyOpen })
	a, b := udpFrom(t, "127.0.0.1", open.Addr(UDP)), udpFrom(t, "127.0.0.2", open.Addr(UDP))
	fmt.Fprintf(a, "dev-o;0;1\n")
	waitFor(t, 5*time.Second, "dev-o", func() bool { d, _ := open.Device("dev-o"); return d.Readings == 1 })
	fmt.Fprintf(b, "dev-o;1;2\n")
	waitFor(t, 5*time.Second, "dev-o from another address", func() bool { d, _ := open.Device("dev-o"); return d.Readings == 2 })
}

// TestCommandInjection: a payload that would read as a second command
// line on a text device is refused and never sent; a binary device gets
// any bytes in a length-prefixed frame.
func TestCommandInjection(t *testing.T) {
	srv := startServer(t, nil)
	dev := dialLineDevice(t, "tcp", srv.Addr(TCP).String(), "dev-t")
	online(t, srv, "dev-t")
	for _, p := range []string{"LED\n#cmd 999 REBOOT", "a\rb", "\x00", "caf\xc3\xa9"} {
		if _, err := srv.SubmitCommand("dev-t", []byte(p)); err != ErrUnframable {
			t.Errorf("payload %q: %v, want ErrUnframable", p, err)
		}
	}
	dev.nothing(t)

	bin, err := net.Dial("tcp", srv.Addr(TCP).String())
	if err != nil {
		t.Fatal(err)
	}
	defer bin.Close()
	if _, err := bin.Write(binaryFrame(1)); err != nil { // dev-h, binary
		t.Fatal(err)
	}
	online(t, srv, "dev-h")
	payload := []byte("LED\n#cmd 999 REBOOT")
	cmd, err := srv.SubmitCommand("dev-h", payload)
	if err != nil {
		t.Fatal(err)
	}
	want := control.AppendBinary(nil, &codec.Control{Kind: codec.ControlCommand, ID: cmd.ID, Payload: payload})
	got := make([]byte, len(want))
	_ = bin.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := ioReadFull(bin, got); err != nil || string(got) != string(want) {
		t.Fatalf("binary device got % x (%v), want % x", got, err, want)
	}
}

// TestMutualTLSIdentity: with client certificates the id comes from the
// certificate: frames naming no device are its device's, frames naming
// another device are refused (credential_mismatch), a gateway's
// certificate covers the ids below it, and a certificate that names no
// valid id is refused at the handshake.
func TestMutualTLSIdentity(t *testing.T) {
	pki := newTestPKI(t)
	srv := startServer(t, func(c *Config) {
		c.TLSAddr, c.TLSCert, c.TLSKey, c.TLSClientCA = "127.0.0.1:0", pki.serverCert, pki.serverKey, pki.caFile
		c.TLSPolicy = PolicyAuthenticated
	})
	dial := func(cn string) *tls.Conn {
		t.Helper()
		c, err := tls.Dial("tcp", srv.Addr(TLS).String(), pki.client(t, cn))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	dev := dial("dev-000001")
	fmt.Fprintf(dev, "21.5\ndev-000001;1;21.6\ndev-000002;1;66.6\n#hello dev-000003\n")
	waitFor(t, 5*time.Second, "credential_mismatch", func() bool { return srv.Stats().Errors["credential_mismatch"] == 2 })
	waitFor(t, 5*time.Second, "dev-000001", func() bool { d, _ := srv.Device("dev-000001"); return d.Readings == 2 })
	for _, id := range []string{"dev-000002", "dev-000003"} {
		if _, ok := srv.Device(id); ok {
			t.Fatalf("a certificate for dev-000001 created %s", id)
		}
	}
	gw := dial("gw-7")
	fmt.Fprintf(gw, "gw-7.s1;0;1\ngw-7.s2;0;2\ngw-70;0;3\n")
	waitFor(t, 5*time.Second, "the gateway's devices", func() bool {
		_, ok1 := srv.Device("gw-7.s1")
		_, ok2 := srv.Device("gw-7.s2")
		return ok1 && ok2 && srv.Stats().Errors["credential_mismatch"] == 3
	})
	c, err := tls.Dial("tcp", srv.Addr(TLS).String(), pki.client(t, "not an id!"))
	if err == nil {
		_, err = c.Read(make([]byte, 1)) // TLS 1.3: the server's verdict comes after the client's handshake
		c.Close()
	}
	if err == nil {
		t.Fatal("a certificate naming no device id was served")
	}
	waitFor(t, 5*time.Second, "tls_identity", func() bool { return srv.Stats().Errors["tls_identity"] == 1 })
}

// TestAuthenticatedPolicyNeedsCredentials: only a TLS listener with client
// certificates can be authenticated.
func TestAuthenticatedPolicyNeedsCredentials(t *testing.T) {
	for _, mutate := range []func(*Config){
		func(c *Config) { c.TCPPolicy = PolicyAuthenticated },
		func(c *Config) { c.UDPPolicy = PolicyAuthenticated },
		func(c *Config) {
			c.TLSPolicy = PolicyAuthenticated
			c.TLSAddr, c.TLSCert, c.TLSKey = "127.0.0.1:0", "x", "y"
		},
	} {
		cfg := Config{TCPAddr: "127.0.0.1:0"}
		mutate(&cfg)
		if _, err := New(cfg); err == nil || !strings.Contains(err.Error(), "authenticated") {
			t.Errorf("config %+v: %v", cfg, err)
		}
	}
}

// TestAnonymousSessions: devices named after their address have a pool of
// their own and idle out; a flood of them never takes an identified
// device's place; one source may create only so many sessions.
func TestAnonymousSessions(t *testing.T) {
	srv := startServer(t, func(c *Config) {
		c.MaxAnonymous, c.AnonymousIdle, c.MaxDevices, c.MaxDevicesPerSource = 10, time.Second, 3, 12
		c.Naming = NameByIPPort // a device per source port, as behind a NAT
	})
	for i := range 20 {
		c := udpFrom(t, "127.0.0.1", srv.Addr(UDP))
		fmt.Fprintf(c, "%d\n", i)
	}
	waitFor(t, 5*time.Second, "10 anonymous, 10 refused", func() bool {
		st := srv.Stats()
		return st.Devices == 10 && st.Errors["anonymous_limit"] == 10 && st.Dropped["anonymous_limit"] == 10
	})
	idd := udpFrom(t, "127.0.0.1", srv.Addr(UDP))
	fmt.Fprintf(idd, "dev-1;0;1\ndev-2;0;1\ndev-3;0;1\n")
	waitFor(t, 5*time.Second, "the source's 12 sessions, then source_limit", func() bool {
		st := srv.Stats()
		return st.Devices == 12 && st.Errors["source_limit"] == 1
	})
	fmt.Fprintf(udpFrom(t, "127.0.0.2", srv.Addr(UDP)), "dev-3;0;1\ndev-4;0;1\n")
	waitFor(t, 5*time.Second, "dev-3 from another source, then device_limit", func() bool {
		_, ok := srv.Device("dev-3")
		return ok && srv.Stats().Errors["device_limit"] == 1
	})
	time.Sleep(1100 * time.Millisecond)
	srv.reg.evictIdle(len(srv.reg.shards), srv.cfg.AnonymousIdle, time.Now().UnixNano())
	st := srv.Stats()
	if st.Devices != 3 {
		t.Fatalf("after the idle time %d devices remain, want the 3 identified ones", st.Devices)
	}
	fmt.Fprintf(udpFrom(t, "127.0.0.1", srv.Addr(UDP)), "7\n")
	waitFor(t, 5*time.Second, "a new anonymous device", func() bool { return srv.Stats().Devices == 4 })
}

// TestSequencePoisoning: no single frame or end-of-stream can claim an
// absurd loss or wrap the counters: beyond 2^24 samples ahead it is
// bad_sequence and counts no loss.
func TestSequencePoisoning(t *testing.T) {
	srv := startServer(t, nil)
	c := udpFrom(t, "127.0.0.1", srv.Addr(UDP))
	for _, s := range []string{"dev-p;0;1", "#eos dev-p 18446744073709551615", "dev-p;18446744073709551615;1:2", "dev-p;1;1", "dev-p;99999999999;1"} {
		fmt.Fprintf(c, "%s\n", s)
	}
	waitFor(t, 5*time.Second, "3 bad_sequence", func() bool { return srv.Stats().Errors["bad_sequence"] == 3 })
	d, _ := srv.Device("dev-p")
	if st := srv.Stats(); d.Lost != 0 || st.Lost != 0 || d.EOS {
		t.Fatalf("lost %d (fleet %d), eos %v: poisoned", d.Lost, st.Lost, d.EOS)
	}
	if d.Readings != 3 {
		t.Fatalf("readings %d, want 3: the frame past 2^64 refused, the jump stored", d.Readings)
	}
	fmt.Fprintf(c, "dev-p;100000000004;1\n#eos dev-p 100000000010\n")
	waitFor(t, 5*time.Second, "the count from the new start", func() bool { d, _ := srv.Device("dev-p"); return d.Lost == 9 })
}

func ioReadFull(c net.Conn, b []byte) (int, error) {
	n := 0
	for n < len(b) {
		m, err := c.Read(b[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// testPKI is a CA with a server certificate for 127.0.0.1 and client
// certificates on demand, in files as `fleetwire serve` reads them.
type testPKI struct {
	ca                            *x509.Certificate
	caKey                         *ecdsa.PrivateKey
	caFile, serverCert, serverKey string
	roots                         *x509.CertPool
	serial                        int64
}

func newTestPKI(t *testing.T) *testPKI {
	t.Helper()
	dir := t.TempDir()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true,
		BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(der)
	p := &testPKI{ca: ca, caKey: key, caFile: filepath.Join(dir, "ca.pem"), roots: x509.NewCertPool(), serial: 1}
	p.roots.AddCert(ca)
	writePEM(t, p.caFile, "CERTIFICATE", der)
	srvDER, srvKey := p.issue(t, "127.0.0.1", true)
	p.serverCert, p.serverKey = filepath.Join(dir, "server.pem"), filepath.Join(dir, "server.key")
	writePEM(t, p.serverCert, "CERTIFICATE", srvDER)
	kb, _ := x509.MarshalECPrivateKey(srvKey)
	writePEM(t, p.serverKey, "EC PRIVATE KEY", kb)
	return p
}

func (p *testPKI) issue(t *testing.T, cn string, server bool) ([]byte, *ecdsa.PrivateKey) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	p.serial++
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(p.serial), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	if server {
		tmpl.ExtKeyUsage, tmpl.IPAddresses = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, []net.IP{net.IPv4(127, 0, 0, 1)}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.ca, &key.PublicKey, p.caKey)
	if err != nil {
		t.Fatal(err)
	}
	return der, key
}

// client returns a TLS client configuration with a certificate for cn.
func (p *testPKI) client(t *testing.T, cn string) *tls.Config {
	t.Helper()
	der, key := p.issue(t, cn, false)
	return &tls.Config{RootCAs: p.roots, ServerName: "127.0.0.1",
		Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}
}

func writePEM(t *testing.T, file, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(file, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}
