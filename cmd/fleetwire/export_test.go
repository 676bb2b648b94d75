package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fleetwire/fleetwire/codec"
	"github.com/fleetwire/fleetwire/codec/text"
	"github.com/fleetwire/fleetwire/server/sink"
)

// runExport runs "fleetwire export args..." in process.
func runExport(t *testing.T, args ...string) (string, error) {
	t.Helper()
	out, _, err := run(t, "export", args...)
	return out, err
}

// run runs "fleetwire cmd args..." in process, logging errors only, and
// returns its stdout and stderr.
func run(t *testing.T, cmd string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	root := newRootCmd()
	var out, errOut bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errOut)
	root.SetArgs(append([]string{cmd, "--log-level", "error"}, args...))
	err = root.Execute()
	return out.String(), errOut.String(), err
}

// storeLines stores text frames through a FileSink, as the server would.
func storeLines(t *testing.T, dir string, lines ...string) {
	t.Helper()
	storeLinesWith(t, sink.FileConfig{Dir: dir}, lines...)
}

// storeLinesWith is storeLines with a FileConfig of the caller's.
func storeLinesWith(t *testing.T, cfg sink.FileConfig, lines ...string) {
	t.Helper()
	s, err := sink.OpenFiles(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var batch codec.Batch
	for _, l := range lines {
		if err := text.Decode(&batch, []byte(l), &codec.DefaultLimits); err != nil {
			t.Fatalf("%q: %v", l, err)
		}
	}
	c := sink.GetChunk()
	for i := range batch.Frames {
		c.Add(&batch.Frames[i], []byte("peer-1"))
	}
	if !s.Submit(c) {
		t.Fatal("Submit refused")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestExport(t *testing.T) {
	dir := t.TempDir()
	storeLines(t, dir,
		"mote-1;1;1764068400000;30.20:40,30.21:41@60000", // 11:00:00 and 11:01:00 UTC
		"mote-2;7;1764068430000;-0.00",
		"21.5,21.50",
		"mote-1;3;1764068520000;1.5e-7:1000000000000000000000")
	const header = "device,seq,unix_ms,ch1,ch2,ch3,ch4,ch5,ch6,ch7,ch8\n"
	f := func(want string, args ...string) {
		t.Helper()
		got, err := runExport(t, append([]string{"--data", dir}, args...)...)
		if err != nil {
			t.Fatalf("export %v: %v", args, err)
		}
		if got != header+want {
			t.Fatalf("export %v:\n%s\nwant:\n%s", args, got, header+want)
		}
	}
	m1 := "mote-1,1,1764068400000,30.20,40,,,,,,\n" +
		"mote-1,2,1764068460000,30.21,41,,,,,,\n"
	m2 := "mote-2,7,1764068430000,-0.00,,,,,,,\n"
	peer := "peer-1,,,21.5,,,,,,,\n" +
		"peer-1,,,21.50,,,,,,,\n"
	m1b := "mote-1,3,1764068520000,1.5e-07,1e+21,,,,,,\n"
	f(m1 + m2 + peer + m1b)
	f(m1+m1b, "--device", "mote-1")
	f(m1+m2+m1b, "--device", "mote-1,mote-2")
	f(m1+m2+m1b, "--device", "mote-1", "--device", "mote-2")
	f("mote-1,2,1764068460000,30.21,41,,,,,,\n"+m1b, "--since", "1764068460000")
	f("mote-1,2,1764068460000,30.21,41,,,,,,\n"+m1b, "--since", "2025-11-25T11:01:00Z")
	f(m1b, "--device", "mote-1", "--since", "2025-11-25T11:01:00.001Z")
	f("", "--device", "nobody")
	f("", "--since", "1h") // the rows are from 2025

	// A crash left a torn frame at the end of a .partial: the rows before
	// it are exported, --strict turns the report into an error.
	storeLines(t, dir, "mote-3;1;1764068400000;5")
	segs, _ := filepath.Glob(filepath.Join(dir, "readings", "seg-*.csv.zst"))
	last := segs[len(segs)-1]
	b, _ := os.ReadFile(last)
	os.Remove(last)
	os.WriteFile(last+".partial", b[:len(b)-3], 0o644)
	f(m1+m2+peer+m1b, "--device", "mote-1,mote-2,peer-1")
	if _, err := runExport(t, "--data", dir, "--strict"); err == nil || !strings.Contains(err.Error(), "end in a torn frame") {
		t.Fatalf("--strict on a torn segment: %v", err)
	}

	if _, err := runExport(t, "--data", filepath.Join(dir, "nope")); err == nil {
		t.Fatalf("export of a missing directory: no error")
	}
	if _, err := runExport(t, "--data", dir, "--since", "yesterday"); err == nil {
		t.Fatalf("--since yesterday: no error")
	}
}

func TestParseSince(t *testing.T) {
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	f := func(s string, want int64) {
		t.Helper()
		got, err := parseSince(s, now)
		if err != nil || got != want {
			t.Fatalf("parseSince(%q) = %d, %v; want %d", s, got, err, want)
		}
	}
	f("1764068400000", 1764068400000)
	f("-5", -5)
	f("2026-11-25T11:00:00Z", 1795604400000)
	f("2026-11-25T12:00:00.250+01:00", 1795604400250)
	f("15m", now.Add(-15*time.Minute).UnixMilli())
	for _, bad := range []string{"", "yesterday", "-15m", "2026-11-25"} {
		if _, err := parseSince(bad, now); err == nil {
			t.Fatalf("parseSince(%q): no error", bad)
		}
	}
}
