package bench

import (
	"os"
	"testing"

	"github.com/fleetwire/fleetwire/internal/fwtest"
)

// fleetwireBin is the binary the end-to-end test and the benchmarks drive
// as processes, built once per test binary.
var fleetwireBin string

func TestMain(m *testing.M) { os.Exit(fwtest.Main(m, "fleetwire-bench-test-", &fleetwireBin)) }
