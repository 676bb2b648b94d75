package main

import (
	"bytes"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// TestFlagBounds_Failure: a nonsensical value is refused with one line
// naming the flag, the value and what is wanted, before the command
// starts anything (no server, no generator, no file written).
func TestFlagBounds_Failure(t *testing.T) {
	t.Chdir(t.TempDir()) // plan and bench would write reports here
	f := func(want string, args ...string) {
		t.Helper()
		root := newRootCmd()
		var out bytes.Buffer
		root.SetOut(&out)
		root.SetErr(&out)
		root.SetArgs(append(args, "--log-level", "error"))
		err := root.Execute()
		if err == nil || err.Error() != want {
			t.Fatalf("fleetwire %s: error %v, want %q", strings.Join(args, " "), err, want)
		}
	}
	f("invalid --max-conns -5: must be at least 1", "serve", "--max-conns", "-5")
	f("invalid --max-conns 0: must be at least 1", "serve", "--max-conns", "0")
	f("invalid --max-devices -1: must be at least 1", "serve", "--max-devices", "-1")
	f("invalid --loops -2: must be at least 0 (0: one per core)", "serve", "--loops", "-2")
	f("invalid --idle-timeout -1s: must be at least 0s (0: never)", "serve", "--idle-timeout", "-1s")
	f("invalid --udp-coalesce 20ms: must be between 0s and 10ms (0: wake per datagram)", "serve", "--udp-coalesce", "20ms")
	f("invalid --ack-interval 0s: must be more than 0s", "serve", "--ack-interval", "0")
	f("invalid --nats-replicas 7: must be between 1 and 5", "serve", "--nats-replicas", "7")
	f("invalid --spool-max-bytes -1: must be at least 1", "serve", "--spool-max-bytes", "-1")
	f("invalid --devices -1: must be at least 1", "load", "--devices", "-1")
	f("invalid --rate -1: must be between 0 and 1e+06 (0: as fast as the sockets take them)", "load", "--rate", "-1")
	f("invalid --rate NaN: not a number", "load", "--rate", "NaN")
	f("invalid --jitter 1: must be at least 0 and less than 1", "load", "--jitter", "1")
	f("invalid --tick 1µs: must be between 10µs and 100ms", "load", "--tick", "1us")
	f("invalid --devices 0: must be at least 1", "plan", "--devices", "0")
	f("invalid --factor 1: must be more than 1", "plan", "--factor", "1")
	f("invalid --batch 0: must be at least 1", "plan", "--batch", "10,0")
	f("invalid --fleet-sizes -1: must be more than 0", "plan", "--fleet-sizes", "1e5,-1")
	f(`load foo/text/b10: transport "foo": want tcp or udp`, "plan", "--transport", "foo")
	f(`load udp/morse/b10: codec "morse": unknown codec "morse": want text, binary or compact, optionally with +zstd, +s2 or +zstd-dict`, "plan", "--codec", "morse")
	f("invalid --channels 0: must be between 1 and 64", "bench", "--channels", "0")
	f("invalid --batches -3: must be between 1 and 4096", "cost", "--batches", "-3")
	f("invalid --channels -1: must be between 1 and 64", "consume", "--channels", "-1")
	f("invalid --batch 0: must be between 1 and 4096", "encode", "--batch", "0")
	f("invalid --timeout -1s: must be more than 0s", "command", "--timeout", "-1s", "--device", "d", "ping")
	if ents, _ := os.ReadDir("."); len(ents) != 0 {
		t.Fatalf("a refused command wrote %v", ents)
	}
}

// TestFlagBoundsExit: the binary prints the one line and exits 1.
func TestFlagBoundsExit(t *testing.T) {
	cmd := exec.Command(os.Args[0], "serve", "--max-conns", "-5")
	cmd.Env = append(os.Environ(), envAsMain+"=1")
	out, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
		t.Fatalf("exit: %v, want status 1; output %q", err, out)
	}
	if got := string(out); got != "fleetwire: invalid --max-conns -5: must be at least 1\n" {
		t.Fatalf("output %q", got)
	}
}

// TestFlagBoundsComplete: every numeric flag of every command has a
// bound, and every bound names a flag that exists.
func TestFlagBoundsComplete(t *testing.T) {
	root := newRootCmd()
	seen := map[string]map[string]bool{}
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		c.Flags().VisitAll(func(f *pflag.Flag) {
			if seen[c.Name()] == nil {
				seen[c.Name()] = map[string]bool{}
			}
			seen[c.Name()][f.Name] = true
			if ok, _, _ := numericFlag(f); ok {
				if _, has := flagBounds[c.Name()][f.Name]; !has {
					t.Errorf("%s --%s (%s): no bound in flagBounds", c.Name(), f.Name, f.Value.Type())
				}
			}
		})
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
	for cmd, flags := range flagBounds {
		for name := range flags {
			if !seen[cmd][name] {
				t.Errorf("flagBounds[%s][%s]: no such flag", cmd, name)
			}
		}
	}
}

// TestFlagBounds_Success: values at the edges of their bounds, and 0
// where it means something, pass.
func TestFlagBounds_Success(t *testing.T) {
	f := func(cmd string, args ...string) {
		t.Helper()
		root := newRootCmd()
		c, _, err := root.Find([]string{cmd})
		if err != nil {
			t.Fatal(err)
		}
		if err := c.ParseFlags(args); err != nil {
			t.Fatal(err)
		}
		if err := checkFlags(c); err != nil {
			t.Fatalf("%s %v: %v", cmd, args, err)
		}
	}
	f("serve") // the defaults
	f("load")
	f("plan")
	f("bench")
	f("serve", "--max-conns", "1", "--loops", "0", "--idle-timeout", "0", "--udp-coalesce", "10ms", "--fsync-interval", "0", "--nats-replicas", "5")
	f("load", "--rate", "0", "--jitter", "0.99", "--seed", "18446744073709551615", "--tick", "10us")
	f("plan", "--max-fd", "1", "--min-sent", "0", "--headroom", "1")
}
