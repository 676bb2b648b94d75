package faults

import (
	"os"
	"testing"

	"github.com/fleetwire/fleetwire/internal/fwtest"
)

// fleetwireBin is the binary every test starts, server and generators,
// built once per test binary.
var fleetwireBin string

func TestMain(m *testing.M) { os.Exit(fwtest.Main(m, "fleetwire-faults-", &fleetwireBin)) }
