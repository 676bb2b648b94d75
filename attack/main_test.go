package attack

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// fleetwireBin is the server binary every case starts as a child process,
// built once per test binary.
var fleetwireBin string

func TestMain(m *testing.M) { os.Exit(runMain(m)) }

func runMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "fleetwire-attack-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	fleetwireBin = filepath.Join(dir, "fleetwire")
	// A plain build even under `go test -race`: the child's memory is
	// what is measured, and the race detector would multiply it.
	cmd := exec.Command("go", "build", "-o", fleetwireBin, "../cmd/fleetwire")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build fleetwire:", err)
		return 1
	}
	return m.Run()
}
