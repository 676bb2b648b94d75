package bench

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// fleetwireBin is the binary the end-to-end test and the benchmarks drive
// as processes, built once per test binary.
var fleetwireBin string

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "fleetwire-bench-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	fleetwireBin = filepath.Join(dir, "fleetwire")
	// Built without -race even under `go test -race`: the processes are
	// measured, not checked.
	cmd := exec.Command("go", "build", "-o", fleetwireBin, "../cmd/fleetwire")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build fleetwire:", err)
		return 1
	}
	return m.Run()
}
