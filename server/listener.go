package server

import (
	"crypto/tls"
	"fmt"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/fleetwire/fleetwire/codec"
	"github.com/fleetwire/fleetwire/codec/text"
	"github.com/fleetwire/fleetwire/codec/wire"
)

// Listener is one address the server accepts devices on, with its own
// framing and trust: a legacy device printing "512," on its own port
// beside fleetwire-format devices on "\n" is two listeners of one server.
// Zero fields take the server-wide value (Config.End, the transport's
// policy) or the default below.
type Listener struct {
	// Name identifies the listener in logs, stats and flags; unique. The
	// listeners made from --tcp, --udp and --tls are named after their
	// transport.
	Name      string
	Transport Transport
	Addr      string

	// Policy says who may speak for a device here (see Policy); nil
	// means the server's policy for the transport.
	Policy *Policy
	// End is the END byte of text frames; 0 means Config.End.
	End byte
	// Radix is the number base of text values: 10 (0 means 10), or 2, 8
	// or 16 for devices that print integers in those bases.
	Radix int
	// Naming says what a device that names itself neither in its frames
	// nor with #hello is called.
	Naming Naming
	// FixedID is the device of every unnamed frame with NameFixed.
	FixedID string
	// TextOnly takes text frames and control lines only: a byte that
	// would start a binary envelope is line noise from a plain device.
	TextOnly bool
	// RawDownlink makes commands to devices heard here go as exactly
	// their bytes, with nothing added and no ack expected, unless a
	// command says otherwise.
	RawDownlink bool

	// TLS and DTLS: the server certificate, and the client CA that makes
	// clients present a certificate naming their device.
	TLSCert, TLSKey, TLSClientCA string
	// DTLS only: the pre-shared keys, a file of "identity hex-key" lines
	// (see LoadPSKFile), reread when it changes and on Server.Reload. A
	// PSK identity names the device, as a client certificate does.
	PSKFile string
	// DTLS only: handshakes in progress at most (0: DefaultDTLSHandshakes)
	// and new handshakes a source (an IPv4 address, an IPv6 /64) may
	// start a second (0: DefaultDTLSHandshakeRate).
	MaxHandshakes, HandshakeRate int
	// DTLSMaxVersion12 offers DTLS 1.2 only (default: 1.2 and 1.3).
	DTLSMaxVersion12 bool
	// CIDMigrationAny lets an authenticated record with the session's
	// connection ID move the session to its source address at once, as
	// RFC 9146 devices without return routability checks (RFC 9853)
	// expect; default: the new address is checked first (RRC), and a
	// device that does not negotiate RRC keeps sending under its
	// connection ID while answers go to its old address.
	CIDMigrationAny bool
}

// Naming is how a listener names devices that do not name themselves.
type Naming uint8

// Namings.
const (
	// NameByIP names a device after its IP address: it stays one device
	// across reconnects (each from a new ephemeral port). The default,
	// for devices on a LAN.
	NameByIP Naming = iota
	// NameByIPPort names it after its address and port: for many devices
	// behind one NAT, each with a connection (or socket) of its own.
	NameByIPPort
	// NameFixed gives every unnamed frame one device id (Listener.FixedID):
	// a port for one device.
	NameFixed
	numNamings
)

var namingNames = [numNamings]string{"ip", "ip-port", "fixed"}

func (n Naming) String() string {
	if n < numNamings {
		return namingNames[n]
	}
	return "naming(?)"
}

// ParseListener parses a listener spec, the value of `serve --listen`:
//
//	tcp://0.0.0.0:7072?name=pots&end=,&radix=2&naming=ip&downlink=raw&policy=open
//	udp://127.0.0.1:7073?naming=ip-port
//	tls://:7443?cert=c.pem&key=k.pem&client-ca=ca.pem&policy=authenticated
//	dtls://:5684?psk-file=keys.psk&cert=c.pem&key=k.pem&client-ca=ca.pem
//	tcp://127.0.0.1:7074?naming=fixed:boiler-1
//
// The END byte is written as itself, URL-escaped ("%0A" for a newline), or
// as one of the names lf, cr, comma, space, tab.
func ParseListener(spec string) (Listener, error) {
	u, err := url.Parse(spec)
	if err != nil {
		return Listener{}, fmt.Errorf("listener %q: %w", spec, err)
	}
	var l Listener
	switch u.Scheme {
	case "tcp":
		l.Transport = TCP
	case "udp":
		l.Transport = UDP
	case "tls":
		l.Transport = TLS
	case "dtls":
		l.Transport = DTLS
	default:
		return Listener{}, fmt.Errorf("listener %q: want tcp://, udp://, tls:// or dtls://host:port", spec)
	}
	if u.Host == "" || u.Path != "" || u.User != nil || u.Fragment != "" {
		return Listener{}, fmt.Errorf("listener %q: want %s://host:port?option=value&...", spec, u.Scheme)
	}
	l.Addr = u.Host
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return Listener{}, fmt.Errorf("listener %q: %w", spec, err)
	}
	for key, vals := range q {
		if len(vals) != 1 {
			return Listener{}, fmt.Errorf("listener %q: option %s given %d times", spec, key, len(vals))
		}
		v := vals[0]
		switch key {
		case "name":
			l.Name = v
		case "end":
			if l.End, err = ParseEnd(v); err != nil {
				return Listener{}, fmt.Errorf("listener %q: %w", spec, err)
			}
		case "radix":
			if l.Radix, err = strconv.Atoi(v); err != nil {
				return Listener{}, fmt.Errorf("listener %q: radix %q: want 2, 8, 10 or 16", spec, v)
			}
		case "naming":
			if l.Naming, l.FixedID, err = ParseNaming(v); err != nil {
				return Listener{}, fmt.Errorf("listener %q: %w", spec, err)
			}
		case "formats":
			switch v {
			case "text":
				l.TextOnly = true
			case "all":
			default:
				return Listener{}, fmt.Errorf("listener %q: formats %q: want all or text", spec, v)
			}
		case "downlink":
			switch v {
			case "raw":
				l.RawDownlink = true
			case "framed":
			default:
				return Listener{}, fmt.Errorf("listener %q: downlink %q: want framed or raw", spec, v)
			}
		case "policy":
			p, err := ParsePolicy(v)
			if err != nil {
				return Listener{}, fmt.Errorf("listener %q: %w", spec, err)
			}
			l.Policy = &p
		case "cert":
			l.TLSCert = v
		case "key":
			l.TLSKey = v
		case "client-ca":
			l.TLSClientCA = v
		case "psk-file":
			l.PSKFile = v
		case "max-handshakes", "handshake-rate":
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 {
				return Listener{}, fmt.Errorf("listener %q: %s %q: want a positive number", spec, key, v)
			}
			if key == "max-handshakes" {
				l.MaxHandshakes = n
			} else {
				l.HandshakeRate = n
			}
		case "max-version":
			switch v {
			case "1.2":
				l.DTLSMaxVersion12 = true
			case "1.3":
			default:
				return Listener{}, fmt.Errorf("listener %q: max-version %q: want 1.2 or 1.3", spec, v)
			}
		case "cid-migration":
			switch v {
			case "any":
				l.CIDMigrationAny = true
			case "rrc":
			default:
				return Listener{}, fmt.Errorf("listener %q: cid-migration %q: want rrc or any", spec, v)
			}
		default:
			return Listener{}, fmt.Errorf("listener %q: unknown option %q (name, end, radix, naming, formats, downlink, policy, cert, key, client-ca, psk-file, max-handshakes, handshake-rate, max-version, cid-migration)", spec, key)
		}
	}
	return l, nil
}

// ParseNaming parses a naming: ip, ip-port or fixed:<device id>.
func ParseNaming(v string) (Naming, string, error) {
	switch id, fixed := strings.CutPrefix(v, "fixed:"); {
	case fixed:
		return NameFixed, id, nil
	case v == "ip":
		return NameByIP, "", nil
	case v == "ip-port":
		return NameByIPPort, "", nil
	}
	return 0, "", fmt.Errorf("naming %q: want ip, ip-port or fixed:<device id>", v)
}

var endNames = map[string]byte{"lf": '\n', "cr": '\r', "comma": ',', "space": ' ', "tab": '\t'}

// ParseEnd parses an END byte: the byte itself, or lf, cr, comma, space,
// tab.
func ParseEnd(v string) (byte, error) {
	if b, ok := endNames[v]; ok {
		return b, nil
	}
	if len(v) != 1 {
		return 0, fmt.Errorf("end %q: want one byte, or lf, cr, comma, space, tab", v)
	}
	return v[0], nil
}

// String writes l as a spec ParseListener reads back.
func (l Listener) String() string {
	q := url.Values{}
	if l.Name != "" {
		q.Set("name", l.Name)
	}
	if l.End != 0 {
		q.Set("end", string(l.End))
	}
	if l.Radix != 0 && l.Radix != 10 {
		q.Set("radix", strconv.Itoa(l.Radix))
	}
	switch l.Naming {
	case NameByIPPort:
		q.Set("naming", "ip-port")
	case NameFixed:
		q.Set("naming", "fixed:"+l.FixedID)
	}
	if l.TextOnly {
		q.Set("formats", "text")
	}
	if l.RawDownlink {
		q.Set("downlink", "raw")
	}
	if l.Policy != nil {
		q.Set("policy", l.Policy.String())
	}
	for k, v := range map[string]string{"cert": l.TLSCert, "key": l.TLSKey, "client-ca": l.TLSClientCA, "psk-file": l.PSKFile} {
		if v != "" {
			q.Set(k, v)
		}
	}
	if l.MaxHandshakes != 0 {
		q.Set("max-handshakes", strconv.Itoa(l.MaxHandshakes))
	}
	if l.HandshakeRate != 0 {
		q.Set("handshake-rate", strconv.Itoa(l.HandshakeRate))
	}
	if l.DTLSMaxVersion12 {
		q.Set("max-version", "1.2")
	}
	if l.CIDMigrationAny {
		q.Set("cid-migration", "any")
	}
	s := l.Transport.String() + "://" + l.Addr
	if len(q) > 0 {
		s += "?" + q.Encode()
	}
	return s
}

// listener is a Listener as the ingest path uses it: its decoder (END
// byte, radix, limits) and its rules, resolved once.
type listener struct {
	cfg       Listener
	cert      atomic.Pointer[tls.Certificate] // of a TLS listener: ReloadCertificates swaps it
	transport Transport
	dec       *wire.Decoder
	policy    Policy
	naming    Naming
	fixedID   []byte
	raw       bool
	index     int       // in Server.listeners
	hellos    *helloMap // UDP: the device each source said hello for
}

// anonID appends the id of a device heard from a that does not name
// itself, and whether it is anonymous (an address, not an operator's id).
func (ln *listener) anonID(dst []byte, a netip.AddrPort) ([]byte, bool) {
	switch ln.naming {
	case NameFixed:
		return append(dst, ln.fixedID...), false
	case NameByIPPort:
		return appendAddrID(dst, a), true
	}
	return appendIPID(dst, a.Addr()), true
}

// appendIPID turns an IP address into a device id: "192.168.1.7"; an IPv6
// address's ':' (not an id byte) become '-': "fe80--1".
func appendIPID(dst []byte, a netip.Addr) []byte {
	start := len(dst)
	dst = a.Unmap().AppendTo(dst)
	for i := start; i < len(dst); i++ {
		if dst[i] == ':' {
			dst[i] = '-'
		}
	}
	return dst
}

// appendAddrID turns an address and port into a device id:
// "127.0.0.1_40000".
func appendAddrID(dst []byte, a netip.AddrPort) []byte {
	dst = appendIPID(dst, a.Addr())
	dst = append(dst, '_')
	return appendUint(dst, uint64(a.Port()))
}

func appendUint(dst []byte, n uint64) []byte {
	var b [20]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
		if n == 0 {
			break
		}
	}
	return append(dst, b[i:]...)
}

// authenticates tells whether every device on l is named by a credential:
// a client certificate (TLS, DTLS with a client CA) or a PSK identity
// (DTLS).
func (l *Listener) authenticates() bool {
	switch l.Transport {
	case TLS:
		return l.TLSClientCA != ""
	case DTLS:
		// A DTLS handshake without a client certificate is a PSK one
		// (a certificate-only listener with no client CA has anonymous
		// clients).
		return l.TLSClientCA != "" || (l.PSKFile != "" && l.TLSCert == "")
	}
	return false
}

// validate checks l after defaults.
func (l *Listener) validate() error {
	if l.Name == "" || !codec.ValidID([]byte(l.Name)) {
		return fmt.Errorf("listener name %q: want 1-64 bytes of [A-Za-z0-9._-]", l.Name)
	}
	if l.Addr == "" {
		return fmt.Errorf("listener %s: no address", l.Name)
	}
	if err := text.CheckRadix(l.Radix); err != nil {
		return fmt.Errorf("listener %s: %w", l.Name, err)
	}
	if l.Naming == NameFixed && !codec.ValidID([]byte(l.FixedID)) {
		return fmt.Errorf("listener %s: fixed device id %q: want 1-64 bytes of [A-Za-z0-9._-]", l.Name, l.FixedID)
	}
	if l.Naming >= numNamings {
		return fmt.Errorf("listener %s: naming %d", l.Name, l.Naming)
	}
	if l.Transport == TLS && (l.TLSCert == "" || l.TLSKey == "") {
		return fmt.Errorf("listener %s: TLS needs a certificate and a key", l.Name)
	}
	if l.Transport == DTLS {
		if l.PSKFile == "" && l.TLSCert == "" {
			return fmt.Errorf("listener %s: DTLS needs pre-shared keys (psk-file) or a certificate and a key", l.Name)
		}
		if (l.TLSCert == "") != (l.TLSKey == "") || (l.TLSClientCA != "" && l.TLSCert == "") {
			return fmt.Errorf("listener %s: DTLS certificates need a certificate and a key (and a client CA to authenticate devices)", l.Name)
		}
	}
	if l.Transport != TLS && l.Transport != DTLS && (l.TLSCert != "" || l.TLSKey != "" || l.TLSClientCA != "") {
		return fmt.Errorf("listener %s: certificates are for TLS and DTLS listeners", l.Name)
	}
	if l.Transport != DTLS && (l.PSKFile != "" || l.MaxHandshakes != 0 || l.HandshakeRate != 0 || l.DTLSMaxVersion12 || l.CIDMigrationAny) {
		return fmt.Errorf("listener %s: pre-shared keys and handshake options are for DTLS listeners", l.Name)
	}
	if l.MaxHandshakes < 0 || l.HandshakeRate < 0 {
		return fmt.Errorf("listener %s: max handshakes and handshake rate: want positive numbers", l.Name)
	}
	p := *l.Policy
	if p >= numPolicies {
		return fmt.Errorf("listener %s: policy %d", l.Name, p)
	}
	if p == PolicyAuthenticated && !l.authenticates() {
		return fmt.Errorf("listener %s: policy authenticated: only a TLS listener with client certificates (a client CA), or a DTLS listener with pre-shared keys or a client CA, authenticates devices", l.Name)
	}
	if err := text.EndAllowed(l.End); err != nil {
		return fmt.Errorf("listener %s: %w", l.Name, err)
	}
	return nil
}
