package plan

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"testing"

	"github.com/fleetwire/fleetwire/internal/fwtest"
)

func TestMain(m *testing.M) {
	if err := stubMain(); !errors.Is(err, errNoStub) {
		fmt.Fprintln(os.Stderr, "stub:", err)
		os.Exit(1)
	}
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

var (
	buildOnce sync.Once
	binDir    string
	binPath   string
	binErr    error
)

// fleetwireBin builds the fleetwire binary once, for the tests that run
// the real generator. Built without -race even under `go test -race`:
// the generator is measured, not checked.
func fleetwireBin(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		if binDir, binErr = os.MkdirTemp("", "fleetwire-plan-test-"); binErr != nil {
			return
		}
		binPath, binErr = fwtest.Build(binDir)
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}
