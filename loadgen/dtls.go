package loadgen

import (
	"context"
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/dtls/v4"
	"github.com/pion/dtls/v4/pkg/crypto/ciphersuite"
	"github.com/pion/dtls/v4/pkg/protocol"
	"github.com/pion/logging"

	"github.com/fleetwire/fleetwire/internal/pskfile"
)

// DTLS devices run as TLS devices do (a sender and a reader goroutine
// each, tlsdevice.go), over pion/dtls on a UDP socket of their own. They
// authenticate with a pre-shared key (--dtls-psk-file: each device's key
// under its id, as the server's key file holds it) or, like TLS devices,
// with the server's certificate (--tls-ca, optionally --tls-cert/--tls-key).
// Each write is one record: frames are grouped into records of at most
// dtlsMaxRecord bytes, never cut. With PerReport each report (the frames
// due together) is a session of its own: handshake, one record, close;
// with Resume a device's later sessions resume its first (DTLS 1.2
// session ids, 1.3 tickets). Every datagram the devices send and receive
// is counted (DTLSReport), handshakes included.

// dtlsMaxRecord is the most frame bytes one record carries: with the
// record's overhead (13 bytes of header, a connection ID, 8 of explicit
// nonce, an 8-16 byte tag) it fits a 1,200-byte datagram.
const dtlsMaxRecord = 1100

// DTLSReport is what the DTLS devices' sockets carried, handshakes
// included: the wire cost of the run beside the frames' bytes.
type DTLSReport struct {
	Version          string `json:"version"`
	Auth             string `json:"auth"` // psk or certificate
	PerReport        bool   `json:"per_report"`
	Resume           bool   `json:"resume"`
	Handshakes       uint64 `json:"handshakes"` // sessions established
	DatagramsSent    uint64 `json:"datagrams_sent"`
	BytesSent        uint64 `json:"bytes_sent"` // UDP payload bytes
	DatagramsRecv    uint64 `json:"datagrams_received"`
	BytesRecv        uint64 `json:"bytes_received"`
	RecordsSent      uint64 `json:"records_sent"` // application data records written
	HandshakeFailure uint64 `json:"handshake_failures"`
}

// dtlsWire counts what the devices' sockets carried.
type dtlsWire struct {
	txDgrams, txBytes, rxDgrams, rxBytes, handshakes, records, failures atomic.Uint64
}

// countingConn is a device's UDP socket, counted.
type countingConn struct {
	net.PacketConn
	w *dtlsWire
}

func (c *countingConn) WriteTo(b []byte, a net.Addr) (int, error) {
	n, err := c.PacketConn.WriteTo(b, a)
	if err == nil {
		c.w.txDgrams.Add(1)
		c.w.txBytes.Add(uint64(n))
	}
	return n, err
}

func (c *countingConn) ReadFrom(b []byte) (int, net.Addr, error) {
	n, a, err := c.PacketConn.ReadFrom(b)
	if err == nil {
		c.w.rxDgrams.Add(1)
		c.w.rxBytes.Add(uint64(n))
	}
	return n, a, err
}

// dtlsSetup is what every device's client shares.
type dtlsSetup struct {
	keys  map[string][]byte // PSK: device id -> key
	roots *x509.CertPool
	cert  *tls.Certificate
	wire  dtlsWire
}

func (r *runner) dtlsSetup() (*dtlsSetup, error) {
	c := r.cfg
	s := &dtlsSetup{}
	if c.DTLSPSKFile != "" {
		keys, _, err := pskfile.Load(c.DTLSPSKFile)
		if err != nil {
			return nil, fmt.Errorf("--dtls-psk-file: %w", err)
		}
		for i := range c.Devices {
			if id := c.deviceID(c.IDOffset + i); keys[id] == nil {
				return nil, fmt.Errorf("--dtls-psk-file %s: no key for device %s", c.DTLSPSKFile, id)
			}
		}
		s.keys = keys
		return s, nil
	}
	pem, err := os.ReadFile(c.TLSCA)
	if err != nil {
		return nil, fmt.Errorf("--tls-ca: %w", err)
	}
	s.roots = x509.NewCertPool()
	if !s.roots.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("--tls-ca %s: no PEM certificate in it", c.TLSCA)
	}
	if c.TLSCert != "" {
		cert, err := tls.LoadX509KeyPair(c.TLSCert, c.TLSKey)
		if err != nil {
			return nil, fmt.Errorf("--tls-cert/--tls-key: %w", err)
		}
		s.cert = &cert
	}
	return s, nil
}

func (s *dtlsSetup) report(c Config) *DTLSReport {
	auth := "certificate"
	if s.keys != nil {
		auth = "psk"
	}
	return &DTLSReport{
		Version: c.dtlsVersion(), Auth: auth, PerReport: c.DTLSPerReport, Resume: c.DTLSResume,
		Handshakes: s.wire.handshakes.Load(), HandshakeFailure: s.wire.failures.Load(),
		DatagramsSent: s.wire.txDgrams.Load(), BytesSent: s.wire.txBytes.Load(),
		DatagramsRecv: s.wire.rxDgrams.Load(), BytesRecv: s.wire.rxBytes.Load(), RecordsSent: s.wire.records.Load(),
	}
}

func (c *Config) dtlsVersion() string {
	if c.DTLSVersion == "" {
		return "1.2"
	}
	return c.DTLSVersion
}

// options are device d's client options (serverName: the target's host).
func (s *dtlsSetup) options(c Config, d *device, serverName string) []dtls.ClientOption {
	opts := []dtls.ClientOption{
		dtls.WithExtendedMasterSecret(dtls.RequireExtendedMasterSecret),
		// Send the server's connection ID; ask for none back.
		dtls.WithConnectionID(dtls.OnlySendCIDGenerator(), dtls.CIDPathMigrationRRC),
		dtls.WithMTU(1200),
		dtls.WithLoggerFactory(quietLogs{}),
	}
	v12 := c.dtlsVersion() == "1.2"
	if v12 {
		opts = append(opts, dtls.WithMinVersion(protocol.Version1_2), dtls.WithMaxVersion(protocol.Version1_2))
	} else {
		opts = append(opts, dtls.WithMinVersion(protocol.Version1_3), dtls.WithMaxVersion(protocol.Version1_3),
			dtls.WithCipherSuites(ciphersuite.TLS_AES_128_GCM_SHA256))
	}
	if s.keys != nil {
		id := d.id
		key := s.keys[string(id)]
		opts = append(opts, dtls.WithPSK(func() ([]dtls.PSK, error) {
			return []dtls.PSK{{Identity: id, Key: key, Hash: crypto.SHA256}}, nil
		}, nil))
		if v12 {
			// What constrained devices speak (CoAP, LwM2M).
			opts = append(opts, dtls.WithCipherSuites(ciphersuite.TLS_PSK_WITH_AES_128_CCM_8))
		}
	} else {
		opts = append(opts, dtls.WithRootCAs(s.roots), dtls.WithServerName(serverName))
		if c.TLSServerName != "" {
			opts = append(opts, dtls.WithServerName(c.TLSServerName))
		}
		if s.cert != nil {
			opts = append(opts, dtls.WithCertificates(*s.cert))
		}
		if v12 {
			opts = append(opts, dtls.WithCipherSuites(ciphersuite.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, ciphersuite.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256))
		}
	}
	if c.DTLSResume {
		if d.dtlsSessions == nil {
			d.dtlsSessions = &sessionStore{}
		}
		opts = append(opts, dtls.WithSessionStore(d.dtlsSessions))
	}
	return opts
}

// dialDTLS opens one session of d: a UDP socket of its own (bound to the
// device's source address when it has one), the handshake.
func (t *tlsRun) dialDTLS(ctx context.Context, d *device) (secConn, error) {
	c := t.r.cfg
	ti := int(d.tgt)
	laddr := &net.UDPAddr{}
	if src, ok := t.r.tgts.source(d.num, ti); ok {
		laddr.IP = src.AsSlice()
	}
	tgt := t.r.tgts.list[ti]
	pc, err := net.ListenUDP("udp", laddr)
	if err != nil {
		return nil, err
	}
	raddr := net.UDPAddrFromAddrPort(tgt.addr)
	conn, err := dtls.Client(&countingConn{PacketConn: pc, w: &t.dtls.wire}, raddr, t.dtls.options(*c, d, tgt.host)...)
	if err != nil {
		pc.Close()
		return nil, err
	}
	hctx, cancel := context.WithTimeout(ctx, c.ConnectTimeout)
	defer cancel()
	if err := conn.HandshakeContext(hctx); err != nil {
		conn.Close()
		pc.Close()
		t.dtls.wire.failures.Add(1)
		return nil, err
	}
	t.dtls.wire.handshakes.Add(1)
	return &dtlsConn{Conn: conn, pc: pc, w: &t.dtls.wire}, nil
}

// dtlsConn is a device's session: Close sends close_notify and closes
// the socket too.
type dtlsConn struct {
	*dtls.Conn
	pc net.PacketConn
	w  *dtlsWire
}

func (c *dtlsConn) Write(b []byte) (int, error) {
	n, err := c.Conn.Write(b)
	if err == nil {
		c.w.records.Add(1)
	}
	return n, err
}

func (c *dtlsConn) Close() error {
	err := c.Conn.Close()
	_ = c.pc.Close()
	return err
}

// CloseWrite ends the session: DTLS has no half-close; close_notify
// tells the server the device is done.
func (c *dtlsConn) CloseWrite() error { return c.Close() }

// sessionStore is a device's resumption state: one session (its server's).
type sessionStore struct {
	mu sync.Mutex
	m  map[string]dtls.Session
}

func (s *sessionStore) Set(key []byte, v dtls.Session) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = map[string]dtls.Session{}
	}
	s.m[string(key)] = v
	return nil
}

func (s *sessionStore) Get(key []byte) (dtls.Session, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.m[string(key)], nil
}

func (s *sessionStore) Del(key []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, string(key))
	return nil
}

type quietLogs struct{}

func (quietLogs) NewLogger(string) logging.LeveledLogger { return quietLog{} }

type quietLog struct{}

func (quietLog) Trace(string)          {}
func (quietLog) Tracef(string, ...any) {}
func (quietLog) Debug(string)          {}
func (quietLog) Debugf(string, ...any) {}
func (quietLog) Info(string)           {}
func (quietLog) Infof(string, ...any)  {}
func (quietLog) Warn(string)           {}
func (quietLog) Warnf(string, ...any)  {}
func (quietLog) Error(string)          {}
func (quietLog) Errorf(string, ...any) {}

// perReport is the sender goroutine of a DTLS device whose every report
// is a session of its own (Config.DTLSPerReport): at each due time a
// handshake (resumed with DTLSResume), the report's frames, close_notify;
// its end-of-stream goes the same way. Per-report TCP and TLS devices
// (Config.Session) run here too (streamSession).
func (t *tlsRun) perReport(ctx context.Context, d *device) {
	s := &t.r.sched
	w := &tlsWriter{t: t, d: d, framer: newFramer(t.r), kick: make(chan struct{}, 1)}
	t.ready.Done() // nothing to connect before the start
	select {
	case <-t.started:
	case <-t.stopped:
		<-t.started
	}
	w.t0 = t.t0
	if s.periodNs == 0 {
		sleepUntil(t.r.base.Add(time.Duration(t.t0)), t.stopped)
	}
	for s.frameSamples(d.k) > 0 {
		if s.periodNs > 0 {
			due := t.t0 + s.due(d, d.k)
			if t.end > 0 && due >= t.end || !w.sleep(due) {
				break
			}
		} else if closed(t.stopped) || t.end > 0 && t.r.now() >= t.end {
			break
		}
		w.sendDue()
		w.report(ctx)
	}
	w.reset()
	w.appendEOS()
	w.report(ctx)
	t.live.finished.Add(1)
}

// report sends what w holds in a session of its own: DTLS here, TCP and
// TLS in streamSession.
func (w *tlsWriter) report(ctx context.Context) {
	if w.t.dtls == nil {
		w.streamSession(ctx)
		return
	}
	w.session(ctx)
}

// session sends what w holds in a DTLS session of its own and records
// the radio-on time, handshake to close_notify.
func (w *tlsWriter) session(ctx context.Context) {
	t, d := w.t, w.d
	if len(w.out) == 0 {
		return
	}
	start := time.Now()
	defer func() { t.count(func(tl *tally) { recordLateness(tl.radioOn, int64(time.Since(start))) }) }()
	conn := t.dial(ctx, d)
	if conn == nil {
		t.mu.Lock()
		t.acc.dropQueued(d, w.marks, dropDisconnected)
		t.mu.Unlock()
		return
	}
	t.sessionOpened(conn)
	w.attach(conn)
	go w.read(w.c)
	if err := w.write(); err != nil {
		t.count(func(tl *tally) { tl.disconnects[tlsReason(err)]++ })
	}
	w.down()
}
