package faults

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// fleetwireBin is the binary every test starts, server and generators,
// built once per test binary.
var fleetwireBin string

func TestMain(m *testing.M) { os.Exit(runMain(m)) }

func runMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "fleetwire-faults-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	fleetwireBin = filepath.Join(dir, "fleetwire")
	// A plain build even under `go test -race`: the race detector would
	// slow the server and the generators several times over, and what is
	// tested here is what they do on the wire and on disk, not data races
	// (their own packages' tests run with -race).
	cmd := exec.Command("go", "build", "-o", fleetwireBin, "../cmd/fleetwire")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build fleetwire:", err)
		return 1
	}
	return m.Run()
}
