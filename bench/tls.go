package bench

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// tlsFiles writes (once per work directory and host) a self-signed
// certificate for 127.0.0.1 and host that is its own CA, so the generator
// verifies the server with --tls-ca cert.
func tlsFiles(dir, host string) (cert, key string, err error) {
	cert, key = filepath.Join(dir, "tls-"+host+".crt"), filepath.Join(dir, "tls-"+host+".key")
	if _, err := os.Stat(key); err == nil {
		return cert, key, nil
	}
	pk, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", "", err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "fleetwire bench"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	if ip := net.ParseIP(host); ip != nil && !ip.Equal(net.IPv4(127, 0, 0, 1)) {
		tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &pk.PublicKey, pk)
	if err != nil {
		return "", "", err
	}
	kb, err := x509.MarshalECPrivateKey(pk)
	if err != nil {
		return "", "", err
	}
	if err := os.WriteFile(cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		return "", "", err
	}
	if err := os.WriteFile(key, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		return "", "", err
	}
	return cert, key, nil
}

// pskFile returns a DTLS key file for dev-000001..dev-<n> (the
// generator's default ids) in dir, written once per fleet size: random
// 16-byte keys, read by the server (--listen dtls://...?psk-file=) and the
// generator (--dtls-psk-file) alike.
func pskFile(dir string, n int) (string, error) {
	path := filepath.Join(dir, fmt.Sprintf("dtls-%d.psk", n))
	if _, err := os.Stat(path); err == nil {
		return path, nil
	}
	var b strings.Builder
	b.WriteString("# fleetwire bench: a key per generated device\n")
	key := make([]byte, 16)
	for i := 1; i <= n; i++ {
		if _, err := rand.Read(key); err != nil {
			return "", err
		}
		fmt.Fprintf(&b, "dev-%06d %x\n", i, key)
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		return "", err
	}
	return path, nil
}
