package main

import (
	"bytes"
	"testing"
	"time"

	"github.com/fleetwire/fleetwire/server/sink"
)

func TestFsyncFlag_Success(t *testing.T) {
	f := func(d, want time.Duration) {
		t.Helper()
		got, err := fsyncFlag(d)
		if err != nil || got != want {
			t.Fatalf("fsyncFlag(%v) = %v, %v; want %v", d, got, err, want)
		}
	}
	f(sink.DefaultFsyncInterval, sink.DefaultFsyncInterval)
	f(time.Millisecond, time.Millisecond)
	f(time.Minute, time.Minute)
	f(0, sink.FsyncOnSeal) // only when sealed; the sink logs a warning
}

// Bad values are refused by the command before anything is opened, with
// one message that says what is wanted.
func TestFsyncFlag_Failure(t *testing.T) {
	f := func(arg string) {
		t.Helper()
		root := newRootCmd()
		var out bytes.Buffer
		root.SetOut(&out)
		root.SetErr(&out)
		root.SetArgs([]string{"serve", "--log-level", "error", "--data", t.TempDir(), "--tcp", "", "--udp", "", "--http", "", "--fsync-interval", arg})
		err := root.Execute()
		if err == nil || err.Error() != "invalid --fsync-interval "+arg+": must be 0 or at least 1ms (0: fsync only when a segment is sealed)" {
			t.Fatalf("--fsync-interval %s: %v", arg, err)
		}
	}
	f("-1s")
	f("-1ns")
	f("999µs")
}
