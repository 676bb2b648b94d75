package attack

import (
	"os"
	"testing"

	"github.com/fleetwire/fleetwire/internal/fwtest"
)

// fleetwireBin is the server binary every case starts as a child process,
// built once per test binary.
var fleetwireBin string

func TestMain(m *testing.M) { os.Exit(fwtest.Main(m, "fleetwire-attack-", &fleetwireBin)) }
