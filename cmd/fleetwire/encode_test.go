package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fleetwire/fleetwire/codec"
	"github.com/fleetwire/fleetwire/codec/csvio/csvtest"
)

// fleetwire runs the CLI in process with stdin and returns stdout.
func fleetwire(t *testing.T, stdin []byte, args ...string) []byte {
	t.Helper()
	root := newRootCmd()
	var out, errOut bytes.Buffer
	root.SetIn(bytes.NewReader(stdin))
	root.SetOut(&out)
	root.SetErr(&errOut)
	root.SetArgs(args)
	if err := root.Execute(); err != nil {
		t.Fatalf("fleetwire %s: %v\n%s", strings.Join(args, " "), err, errOut.String())
	}
	return out.Bytes()
}

// foreignCSV returns multihop.csv (or, without it, a CSV of its layout).
func foreignCSV(t *testing.T) []byte {
	t.Helper()
	if p := csvtest.MultihopPath(); p != "" {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	return []byte("reading,mote_id,indoor,humidity,temperature,label\n1,1,0,43.82,30.21,0\n2,1,0,43.79,30.2,0\n1,2,0,40.1,29.50,0\n")
}

// TestCLI_RoundTrip: csv, encode and decode through the cobra commands:
// the decoded CSV is the converted CSV, byte for byte.
func TestCLI_RoundTrip(t *testing.T) {
	interchange := fleetwire(t, foreignCSV(t), "csv", "--device-col", "mote_id", "--seq-col", "reading", "--columns", "humidity,temperature")
	if !bytes.HasPrefix(interchange, []byte("device,seq,unix_ms,humidity,temperature\n1,1,,43.82,30.21\n")) {
		t.Fatalf("csv: %.80q", interchange)
	}
	for _, c := range []string{"text", "binary+s2", "compact", "compact+zstd-dict"} {
		frames := fleetwire(t, interchange, "encode", "--codec", c, "--batch", "60")
		got := fleetwire(t, frames, "decode", "--codec", c, "--columns", "humidity,temperature")
		if !bytes.Equal(got, interchange) {
			t.Fatalf("%s: decode(encode(x)) != x", c)
		}
		// Without names, channels are ch1..chN; the rows are the same.
		got = fleetwire(t, frames, "decode")
		if want := bytes.Replace(interchange, []byte("humidity,temperature"), []byte("ch1,ch2"), 1); !bytes.Equal(got, want) {
			t.Fatalf("%s: decode without --columns", c)
		}
	}
	// encode reads a foreign CSV directly with the mapping flags.
	frames := fleetwire(t, foreignCSV(t), "encode", "--codec", "binary", "--device-col", "mote_id", "--seq-col", "reading", "--columns", "humidity,temperature")
	if got := fleetwire(t, frames, "decode", "--columns", "humidity,temperature"); !bytes.Equal(got, interchange) {
		t.Fatal("encode with mapping flags")
	}
}

func TestCLI_Errors(t *testing.T) {
	f := func(stdin string, want string, args ...string) {
		t.Helper()
		root := newRootCmd()
		root.SetIn(strings.NewReader(stdin))
		root.SetOut(&bytes.Buffer{})
		root.SetErr(&bytes.Buffer{})
		root.SetArgs(args)
		err := root.Execute()
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("fleetwire %s: got %v, want %q", strings.Join(args, " "), err, want)
		}
	}
	f("v\n1\n", `unknown codec "morse"`, "encode", "--codec", "morse")
	f("v\n1\n", `unknown compression "+gzip"`, "decode", "--codec", "text+gzip")
	f("v\nx\n", `csv line 2, column "v": not a finite decimal number: "x"`, "encode")
	f("m;1;2\n", "a text frame in a stream said to be compact", "decode", "--codec", "compact")
	f("", `required flag(s) "in" not set`, "cost")
	f("v\n1\n", `unknown format "xml"`, "cost", "--in", "-", "--format", "xml")
	f("v\n1\n", "invalid --batches 0: must be between 1 and 4096", "cost", "--in", "-", "--batches", "0")
}

// TestCLI_Cost: every codec and reference at every batch size, on a file
// (the head of multihop.csv: the whole file is slow under -race, and
// bench/cost/README.md has its table).
func TestCLI_Cost(t *testing.T) {
	in := filepath.Join(t.TempDir(), "in.csv")
	head := bytes.SplitAfter(foreignCSV(t), []byte("\n"))
	if err := os.WriteFile(in, bytes.Join(head[:min(len(head), 1500)], nil), 0o644); err != nil {
		t.Fatal(err)
	}
	out := string(fleetwire(t, nil, "cost", "--in", in, "--device-col", "mote_id", "--seq-col", "reading",
		"--columns", "humidity,temperature", "--format", "csv"))
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if want := 1 + (len(codec.Codecs())+4)*4; len(lines) != want {
		t.Fatalf("%d lines, want %d:\n%s", len(lines), want, out)
	}
	for _, c := range codec.Codecs() {
		if !strings.Contains(out, "\n"+c.String()+",false,600,") {
			t.Fatalf("no %s row at batch 600:\n%s", c, out)
		}
	}
	for _, ref := range []string{"mqtt-qos0", "mqtt-qos1", "senml-json", "senml-cbor"} {
		if !strings.Contains(out, "\n"+ref+",true,60,") {
			t.Fatalf("no %s row:\n%s", ref, out)
		}
	}
	table := string(fleetwire(t, nil, "cost", "--in", in, "--device-col", "mote_id", "--seq-col", "reading",
		"--columns", "humidity,temperature", "--batches", "60", "--codecs", "text,compact"))
	if !strings.Contains(table, "compact ") || strings.Contains(table, "binary") || !strings.Contains(table, "delayed-ACK") {
		t.Fatalf("table:\n%s", table)
	}
}
