package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/pflag"

	"github.com/fleetwire/fleetwire/bench"
)

func TestBenchFlags_Matrix(t *testing.T) {
	var g benchFlags
	fs := pflag.NewFlagSet("bench", pflag.ContinueOnError)
	g.register(fs)
	if err := fs.Parse([]string{"--transport", "tcp,udp", "--codec", "text,compact+s2", "--batch", "1,60", "--rate", "0.5", "--profile", "loss-1", "--duration", "2s"}); err != nil {
		t.Fatal(err)
	}
	m, err := g.matrix()
	if err != nil {
		t.Fatal(err)
	}
	ss, err := m.Scenarios()
	if err != nil {
		t.Fatal(err)
	}
	if len(ss) != 8 || ss[0].ID() != "flags:tcp/text/b1/100d@0.5/s/loss-1" || ss[7].ID() != "flags:udp/compact+s2/b60/100d@0.5/s/loss-1" {
		var ids []string
		for _, s := range ss {
			ids = append(ids, s.ID())
		}
		t.Fatalf("%d scenarios:\n%s", len(ss), strings.Join(ids, "\n"))
	}
	g.batch = []string{"ten"}
	if _, err := g.matrix(); err == nil {
		t.Fatal("a batch of \"ten\" accepted")
	}
}

func TestBenchCmd_MatrixAlone(t *testing.T) {
	root := newRootCmd()
	root.SetArgs([]string{"bench", "--matrix", "x.yaml", "--quick"})
	root.SetOut(&bytes.Buffer{})
	root.SetErr(&bytes.Buffer{})
	if err := root.Execute(); err == nil || !strings.Contains(err.Error(), "--matrix goes alone") {
		t.Fatalf("got %v", err)
	}
}

// TestBenchCmd_Run runs `fleetwire bench` on one tiny scenario; the
// processes it starts are this test binary acting as fleetwire.
func TestBenchCmd_Run(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	t.Setenv(envAsMain, "1")
	out := t.TempDir()
	root := newRootCmd()
	var stdout, stderr bytes.Buffer
	root.SetOut(&stdout)
	root.SetErr(&stderr)
	root.SetArgs([]string{"bench", "--log-level", "warn", "--transport", "udp", "--devices", "5", "--rate", "20", "--duration", "1s",
		"--engines", "gnet", "--out", out})
	if err := root.Execute(); err != nil {
		t.Fatalf("%v\n%s", err, stderr.String())
	}
	for _, f := range []string{"report.md", "results.csv", "results.json", "bytes-per-reading.svg"} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(filepath.Join(out, "results.json"))
	if err != nil {
		t.Fatal(err)
	}
	var rep bench.Report
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	if len(rep.Results) != 1 || rep.Results[0].Err != "" || rep.Results[0].Figures.Sent == 0 || rep.Results[0].Figures.Delivered == 0 {
		t.Fatalf("%+v", rep.Results)
	}
	md, _ := os.ReadFile(filepath.Join(out, "report.md"))
	if !bytes.Contains(md, []byte("flags:udp/text/b10/5d@20/s/loopback")) || !bytes.Contains(md, []byte("Which counter produced each figure")) {
		t.Fatalf("report.md:\n%s", md)
	}
}
