package loadgen

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"testing"
)

// The test binary doubles as a worker process for --procs tests and as
// the discard sink of the benchmarks, chosen by environment variables.
const (
	envWorker = "FLEETWIRE_LOADGEN_TEST_WORKER"
	envSink   = "FLEETWIRE_LOADGEN_TEST_SINK"
)

func TestMain(m *testing.M) {
	switch {
	case os.Getenv(envWorker) != "":
		slog.SetDefault(slog.New(slog.DiscardHandler))
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
		defer stop()
		if err := ServeWorker(ctx, os.Stdin, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "worker:", err)
			os.Exit(1)
		}
		os.Exit(0)
	case os.Getenv(envSink) == "tcp-ack":
		os.Exit(ackSinkMain())
	case os.Getenv(envSink) != "":
		os.Exit(discardSinkMain(os.Getenv(envSink)))
	}
	os.Exit(m.Run())
}

// testWorkerCommand re-runs the test binary as a worker.
func testWorkerCommand() *exec.Cmd {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), envWorker+"=1")
	return cmd
}
