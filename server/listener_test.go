package server

import (
	"strings"
	"testing"
)

func TestParseListener_Success(t *testing.T) {
	f := func(spec string, check func(Listener) bool) {
		t.Helper()
		l, err := ParseListener(spec)
		if err != nil {
			t.Fatalf("%s: %v", spec, err)
		}
		if !check(l) {
			t.Fatalf("%s: %+v", spec, l)
		}
		again, err := ParseListener(l.String())
		if err != nil || again.String() != l.String() {
			t.Fatalf("%s: String() %q does not read back (%v)", spec, l.String(), err)
		}
	}
	f("tcp://127.0.0.1:7072", func(l Listener) bool { return l.Transport == TCP && l.Addr == "127.0.0.1:7072" && l.Policy == nil })
	f("tcp://0.0.0.0:7072?name=pots&end=comma&radix=2&naming=ip&downlink=raw&formats=text", func(l Listener) bool {
		return l.Name == "pots" && l.End == ',' && l.Radix == 2 && l.Naming == NameByIP && l.RawDownlink && l.TextOnly
	})
	f("udp://:7073?naming=ip-port&policy=open", func(l Listener) bool {
		return l.Transport == UDP && l.Naming == NameByIPPort && *l.Policy == PolicyOpen
	})
	f("tcp://127.0.0.1:7074?naming=fixed:boiler-1&end=%7C", func(l Listener) bool {
		return l.Naming == NameFixed && l.FixedID == "boiler-1" && l.End == '|'
	})
	f("tls://:7443?cert=c.pem&key=k.pem&client-ca=ca.pem&policy=authenticated", func(l Listener) bool {
		return l.Transport == TLS && l.TLSCert == "c.pem" && l.TLSClientCA == "ca.pem" && *l.Policy == PolicyAuthenticated
	})
	f("dtls://:5684?psk-file=keys.psk&cert=c.pem&key=k.pem&client-ca=ca.pem&max-handshakes=64&handshake-rate=5&max-version=1.2&cid-migration=any", func(l Listener) bool {
		return l.Transport == DTLS && l.PSKFile == "keys.psk" && l.TLSClientCA == "ca.pem" && l.MaxHandshakes == 64 &&
			l.HandshakeRate == 5 && l.DTLSMaxVersion12 && l.CIDMigrationAny
	})
}

func TestParseListener_Failure(t *testing.T) {
	f := func(spec, want string) {
		t.Helper()
		if _, err := ParseListener(spec); err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("%s: %v, want an error with %q", spec, err, want)
		}
	}
	f("sctp://127.0.0.1:1", "want tcp://")
	f("tcp://127.0.0.1:1/path", "want tcp://host:port")
	f("tcp://127.0.0.1:1?end=ab", "want one byte")
	f("tcp://127.0.0.1:1?radix=x", "radix")
	f("tcp://127.0.0.1:1?naming=mac", "naming")
	f("tcp://127.0.0.1:1?downlink=fast", "downlink")
	f("tcp://127.0.0.1:1?formats=binary", "formats")
	f("tcp://127.0.0.1:1?policy=trusting", "policy")
	f("tcp://127.0.0.1:1?colour=red", "unknown option")
	f("tcp://127.0.0.1:1?end=comma&end=lf", "given 2 times")
	f("dtls://127.0.0.1:1?max-handshakes=0", "positive")
	f("dtls://127.0.0.1:1?max-version=1.0", "max-version")
	f("dtls://127.0.0.1:1?cid-migration=never", "cid-migration")
}

// TestListenerValidation: what a listener may not be, with one message
// naming it.
func TestListenerValidation(t *testing.T) {
	f := func(spec, want string) {
		t.Helper()
		l, err := ParseListener(spec)
		if err != nil {
			t.Fatal(err)
		}
		_, err = New(Config{Listeners: []Listener{l}})
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("%s: %v, want an error with %q", spec, err, want)
		}
	}
	f("tcp://127.0.0.1:1?end=:", "END")
	f("tcp://127.0.0.1:1?radix=3", "radix")
	f("tcp://127.0.0.1:1?naming=fixed:no%20spaces", "fixed device id")
	f("tcp://127.0.0.1:1?policy=authenticated", "authenticated")
	f("tls://127.0.0.1:1", "certificate")
	f("udp://127.0.0.1:1?cert=x", "for TLS")
	f("dtls://127.0.0.1:1", "pre-shared keys")
	f("dtls://127.0.0.1:1?cert=c.pem", "certificate and a key")
	f("dtls://127.0.0.1:1?psk-file=k&client-ca=ca.pem", "certificate and a key")
	f("dtls://127.0.0.1:1?cert=c.pem&key=k.pem&policy=authenticated", "authenticated")
	f("udp://127.0.0.1:1?psk-file=k", "for DTLS")
	if _, err := New(Config{TCPAddr: "127.0.0.1:7999", Listeners: []Listener{{Name: "b", Transport: TCP, Addr: "127.0.0.1:7999"}}}); err == nil || !strings.Contains(err.Error(), "both on") {
		t.Fatalf("two listeners on one address: %v", err)
	}
}
