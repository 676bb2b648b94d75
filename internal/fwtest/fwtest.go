// Package fwtest holds what the tests that run fleetwire as child
// processes share: building the binary once per test binary, and picking
// loopback ports for a child that cannot be told to bind port 0 and say
// which port it got.
package fwtest

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// Build builds cmd/fleetwire into dir and returns its path. It is a plain
// build even under `go test -race`: the children are measured (memory,
// CPU, bytes on the wire and on disk), and the race detector would
// multiply what they cost; their own packages' tests run with -race.
func Build(dir string) (string, error) {
	bin := filepath.Join(dir, "fleetwire")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/fleetwire/fleetwire/cmd/fleetwire").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("build fleetwire: %w: %s", err, out)
	}
	return bin, nil
}

// Main is a TestMain body: it builds the binary into a temporary
// directory named after prefix, sets *bin, runs the tests and removes the
// directory; it returns the exit code.
func Main(m *testing.M, prefix string, bin *string) int {
	dir, err := os.MkdirTemp("", prefix)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	if *bin, err = Build(dir); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return m.Run()
}

// FreePort returns a loopback port ("tcp" or "udp") that was free a
// moment ago. Another process may take it before the child binds it: a
// caller that starts a child retries with new ports.
func FreePort(t testing.TB, network string) int {
	t.Helper()
	if network == "udp" {
		pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer pc.Close()
		return pc.LocalAddr().(*net.UDPAddr).Port
	}
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}
