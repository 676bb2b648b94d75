package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/fleetwire/fleetwire/loadgen"
)

// closedPort returns a loopback address nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// TestLoadNoneConnected runs the command as a process, in each log
// format: when no device could connect it exits 1, and the last line on
// stderr says so; the log lines before it are in the format asked for.
func TestLoadNoneConnected(t *testing.T) {
	addr := closedPort(t)
	f := func(format string, isLogLine func(string) bool) {
		t.Helper()
		cmd := exec.Command(os.Args[0], "load", "--tcp", addr, "--devices", "3", "--samples", "1",
			"--connect-retries", "0", "--progress", "0", "--log-format", format)
		cmd.Env = append(os.Environ(), envAsMain+"=1")
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() != 1 {
			t.Fatalf("%s: exit %v, want 1\nstdout:\n%s\nstderr:\n%s", format, err, &stdout, &stderr)
		}
		lines := strings.Split(strings.TrimSuffix(stderr.String(), "\n"), "\n")
		want := "fleetwire load: no device could connect to " + addr + " (connection refused)"
		if last := lines[len(lines)-1]; last != want {
			t.Fatalf("%s: last line of stderr %q, want %q", format, last, want)
		}
		if len(lines) < 2 {
			t.Fatalf("%s: no log lines before the error:\n%s", format, &stderr)
		}
		for _, l := range lines[:len(lines)-1] {
			if !isLogLine(l) {
				t.Fatalf("%s: log line %q", format, l)
			}
		}
		if !strings.Contains(stdout.String(), "connect failures  3 {refused: 3}") {
			t.Fatalf("%s: the summary is still printed; got:\n%s", format, &stdout)
		}
	}
	f("text", func(l string) bool { return strings.HasPrefix(l, "time=") && strings.Contains(l, " level=") })
	f("json", func(l string) bool {
		var rec map[string]any
		return json.Unmarshal([]byte(l), &rec) == nil && rec["level"] != nil && rec["msg"] != nil
	})
}

func TestNoneConnected(t *testing.T) {
	f := func(rep loadgen.Report, want string) {
		t.Helper()
		err := noneConnected(&rep)
		if (err == nil) != (want == "") || err != nil && err.Error() != want {
			t.Fatalf("%+v: %v, want %q", rep, err, want)
		}
	}
	f(loadgen.Report{Target: "127.0.0.1:7070", Devices: 3, ConnectFailures: map[string]uint64{"refused": 3}, ConnectFailuresTotal: 3},
		"no device could connect to 127.0.0.1:7070 (connection refused)")
	f(loadgen.Report{Target: "127.0.0.1:7070,127.0.0.1:7170", Devices: 5, ConnectFailures: map[string]uint64{"refused": 2, "timeout": 3, "weird": 0}, ConnectFailuresTotal: 5},
		"no device could connect to 127.0.0.1:7070,127.0.0.1:7170 (3 timed out, 2 connection refused, 0 weird)")
	f(loadgen.Report{Target: "127.0.0.1:7070", Devices: 3, DevicesConnected: 1, ConnectFailures: map[string]uint64{"refused": 2}, ConnectFailuresTotal: 2}, "")
	f(loadgen.Report{Target: "127.0.0.1:7070", Devices: 3}, "") // interrupted before any attempt ended
}

// --log-format takes text or json, nothing else.
func TestLogFormatFlag(t *testing.T) {
	root := newRootCmd()
	root.SetArgs([]string{"version", "--log-format", "JSON"})
	root.SetOut(&bytes.Buffer{})
	if err := root.Execute(); err == nil || err.Error() != `--log-format: "JSON": want text or json` {
		t.Fatalf("--log-format JSON: %v", err)
	}
}
