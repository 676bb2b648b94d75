package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spf13/pflag"

	"github.com/fleetwire/fleetwire/loadgen"
)

// A --procs run re-executes os.Executable(), which in tests is the test
// binary: with this variable set it behaves as the fleetwire command.
const envAsMain = "FLEETWIRE_TEST_AS_MAIN"

func init() {
	if os.Getenv(envAsMain) == "1" {
		main()
		os.Exit(0)
	}
}

// lineSink accepts text streams and counts data lines and end-of-stream
// lines per connection, closing each stream at its end as a server does.
type lineSink struct {
	ln                  net.Listener
	mu                  sync.Mutex
	frames, eos, closed int
}

// wait returns the sink's counts once conns connections have ended. The
// generator has closed its side when it returns, but the sink may still be
// accepting or reading the last of them, so the counts are read under the
// lock only after every connection was seen to its end.
func (s *lineSink) wait(t *testing.T, conns int) (frames, eos int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		s.mu.Lock()
		frames, eos, closed := s.frames, s.eos, s.closed
		s.mu.Unlock()
		if closed >= conns {
			return frames, eos
		}
		if time.Now().After(deadline) {
			t.Fatalf("sink: %d of %d connections ended after 10 s (%d frames, %d end-of-stream)", closed, conns, frames, eos)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func newLineSink(t *testing.T) *lineSink {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	s := &lineSink{ln: ln}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer func() {
					c.Close()
					s.mu.Lock()
					s.closed++
					s.mu.Unlock()
				}()
				sc := bufio.NewScanner(c)
				for sc.Scan() {
					s.mu.Lock()
					switch {
					case bytes.HasPrefix(sc.Bytes(), []byte("#eos ")):
						s.eos++
					case !bytes.HasPrefix(sc.Bytes(), []byte("#")):
						s.frames++
					}
					s.mu.Unlock()
				}
			}()
		}
	}()
	return s
}

func runLoad(t *testing.T, args ...string) (string, error) {
	t.Helper()
	root := newRootCmd()
	var out, errOut bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errOut)
	root.SetArgs(append([]string{"load"}, args...))
	err := root.Execute()
	return out.String() + errOut.String(), err
}

func TestLoadCLI(t *testing.T) {
	f := func(extra ...string) {
		t.Helper()
		s := newLineSink(t)
		path := filepath.Join(t.TempDir(), "run.json")
		args := append([]string{"--tcp", s.ln.Addr().String(), "--devices", "50", "--rate", "100", "--batch", "5",
			"--samples", "20", "--json", path, "--progress", "0"}, extra...)
		out, err := runLoad(t, args...)
		if err != nil {
			t.Fatalf("%v: %v\n%s", args, err, out)
		}
		frames, eos := s.wait(t, 50)
		var rep loadgen.Report
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, &rep); err != nil {
			t.Fatal(err)
		}
		if rep.FramesSent != 200 || rep.ReadingsSent != 2000 || len(rep.PerDevice) != 50 || rep.EOSSent != 50 {
			t.Fatalf("%v: frames %d readings %d devices %d eos %d", extra, rep.FramesSent, rep.ReadingsSent, len(rep.PerDevice), rep.EOSSent)
		}
		if frames != 200 || eos != 50 {
			t.Fatalf("%v: sink counted %d frames, %d end-of-stream", extra, frames, eos)
		}
		if !strings.Contains(out, "200 frames, 2000 readings") {
			t.Fatalf("summary: %s", out)
		}
		if d := rep.PerDevice[49]; d.Device != "dev-000050" || d.NextSeq != 20 || d.Readings != 40 {
			t.Fatalf("last device %+v", d)
		}
	}
	f()
	t.Setenv(envAsMain, "1") // the workers are this test binary
	f("--procs", "2")
}

func TestLoadCLIRefuses(t *testing.T) {
	f := func(want string, args ...string) {
		t.Helper()
		out, err := runLoad(t, args...)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("%v: err %v, want %q\n%s", args, err, want, out)
		}
	}
	f("not a loopback address", "--tcp", "192.0.2.1:7070", "--samples", "1")
	f("unbounded run", "--tcp", "127.0.0.1:7070")
	f("one of --tcp, --udp, --tls and --dtls", "--tcp", "127.0.0.1:7070", "--udp", "127.0.0.1:7071", "--samples", "1")
	f("unknown codec", "--codec", "morse", "--samples", "1")
	f("--tls needs --tls-ca", "--tls", "127.0.0.1:7443", "--samples", "1")
	f("--ack needs --rate > 0", "--ack", "--rate", "0", "--samples", "1")
}

// TestLoadHelp: every flag explains itself.
func TestLoadHelp(t *testing.T) {
	cmd := newLoadCmd()
	cmd.Flags().VisitAll(func(f *pflag.Flag) {
		if len(f.Usage) < 15 {
			t.Errorf("--%s: usage %q says too little", f.Name, f.Usage)
		}
	})
}
