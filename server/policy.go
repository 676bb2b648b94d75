package server

import (
	"crypto/x509"
	"fmt"
	"net/netip"
	"strings"

	"github.com/fleetwire/fleetwire/codec"
)

// Policy says who may speak for a device on a listener.
type Policy uint8

// Policies, weakest first.
const (
	// PolicyBound binds a device to the address that first speaks for it
	// (trust on first use): another address may speak for it only once
	// it has been silent for Config.BindTTL. The default.
	PolicyBound Policy = iota
	// PolicyOpen lets any peer speak for any device: for closed networks
	// where every peer is trusted.
	PolicyOpen
	// PolicyAuthenticated accepts only devices a credential names: on a
	// TLS listener with client certificates, the certificate's device id
	// (see CertDeviceID).
	PolicyAuthenticated
	numPolicies
)

var policyNames = [numPolicies]string{"bound", "open", "authenticated"}

func (p Policy) String() string {
	if p < numPolicies {
		return policyNames[p]
	}
	return "policy(?)"
}

// ParsePolicy parses a policy name: open, bound or authenticated.
func ParsePolicy(s string) (Policy, error) {
	for i, n := range policyNames {
		if s == n {
			return Policy(i), nil
		}
	}
	return 0, fmt.Errorf("policy %q: want open, bound or authenticated", s)
}

// Set and Type make a Policy a command-line flag value (pflag.Value).
func (p *Policy) Set(s string) error {
	v, err := ParsePolicy(s)
	if err != nil {
		return err
	}
	*p = v
	return nil
}

// Type implements pflag.Value.
func (p *Policy) Type() string { return "policy" }

// Path strengths: how much a path proves about who is at its other end.
// A device's downlink moves to a new path only when the new one is at
// least as strong as the one it has.
const (
	strengthNone        uint8 = iota
	strengthDatagram          // UDP: the source address can be forged
	strengthStream            // TCP and TLS: the handshake proved the address
	strengthCredentials       // a client certificate named the device
)

// CertDeviceID returns the device id a client certificate names: its
// subject common name when that is a valid device id, else its first DNS
// name that is one. A certificate for id X may speak for X and, as a
// gateway, for the devices below it: ids that start with "X.".
func CertDeviceID(c *x509.Certificate) (string, bool) {
	if codec.ValidID([]byte(c.Subject.CommonName)) {
		return c.Subject.CommonName, true
	}
	for _, n := range c.DNSNames {
		if codec.ValidID([]byte(n)) {
			return n, true
		}
	}
	return "", false
}

// credentialCovers reports whether a credential for cred may speak for
// device id: the same id, or one of its gateway's devices ("cred.x").
func credentialCovers(cred, id []byte) bool {
	if len(id) == len(cred) {
		return string(id) == string(cred)
	}
	return len(id) > len(cred)+1 && id[len(cred)] == '.' && strings.HasPrefix(string(id), string(cred))
}

// peerIP is the address a frame came from: the stream's peer, or the
// datagram's source.
func peerIP(st *stream, src netip.AddrPort) netip.Addr {
	if st != nil {
		return st.peer.Addr().Unmap()
	}
	return src.Addr().Unmap()
}
