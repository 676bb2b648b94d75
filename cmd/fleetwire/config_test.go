package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/pflag"
)

// configCheck runs "fleetwire config check" on a file of content.
func configCheck(t *testing.T, content string) (string, error) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "fleetwire.yaml")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	root := newRootCmd()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs([]string{"config", "check", path})
	err := root.Execute()
	if err != nil {
		return "", fmt.Errorf("%s", strings.ReplaceAll(err.Error(), path, "F"))
	}
	return out.String(), nil
}

// TestConfigCheck_Failure: every mistake is one error, at its line where
// it has one.
func TestConfigCheck_Failure(t *testing.T) {
	t.Setenv("FLEETWIRE_TOKEN", "")
	f := func(content, want string) {
		t.Helper()
		_, err := configCheck(t, content)
		if err == nil || err.Error() != want {
			t.Fatalf("%q: error %v, want %q", content, err, want)
		}
	}
	f("# limits\nmaxconns: 5\n", `config F:2: unknown key "maxconns" (did you mean "max-conns"?)`)
	f("max_conns: 5\n", `config F:1: unknown key "max_conns" (did you mean "max-conns"?)`)
	f("shoe-size: 44\n", `config F:1: unknown key "shoe-size"`)
	f("config: other.yaml\n", `config F:1: unknown key "config"`)
	f("tcp: ''\nmax-conns: -5\n", `config F:2: invalid --max-conns -5: must be at least 1`)
	f("max-conns: many\n", `config F:1: max-conns: invalid argument "many" for "--max-conns" flag: strconv.ParseInt: parsing "many": invalid syntax`)
	f("idle-timeout: -1s\n", `config F:1: invalid --idle-timeout -1s: must be at least 0s (0: never)`)
	f("reuseport: yes\n", `config F:1: reuseport: invalid argument "yes" for "--reuseport" flag: strconv.ParseBool: parsing "yes": invalid syntax`)
	f("max-conns: [5]\n", `config F:1: max-conns: want a single value, not a list`)
	f("max-conns: {a: 1}\n", `config F:1: max-conns: want a single value`)
	f("max-conns:\n", `config F:1: max-conns: no value (write "" for an empty one)`)
	f("max-conns: 5\nmax-conns: 6\n", `config F:2: max-conns given twice (first at line 1)`)
	f("max-conns: &n 5\nmax-devices: *n\n", `config F:2: max-devices: aliases are not supported`)
	f("- max-conns\n", `config F:1: want a mapping of flag names to values, e.g. max-conns: 50000`)
	f("tcp: ''\n---\nudp: ''\n", `config F:2: one YAML document only`)
	f("max-conns: 5\n  x: [\n", `config F:2: mapping values are not allowed in this context`)
	f("http-token: s3cret\n", `config F:1: http-token: a secret does not belong in a configuration file; use http-token-file or $FLEETWIRE_TOKEN`)
	f("sink: nats://fleet:pw@n1:4222,n2:4222\n", `config F:1: sink: a URL with credentials does not belong in a configuration file; put the URL in the file sink-file names (cluster-nats defaults to the sink's servers)`)
	f("listen:\n  - tcp://127.0.0.1:0?end=comma\n  - {transport: udp, addr: '127.0.0.1:0', radx: 2}\n",
		`config F:3: listen: unknown key "radx" (did you mean "radix"?) (transport, addr, name, end, radix, naming, formats, downlink, policy, cert, key, client-ca)`)
	f("listen:\n  - {transport: udp, naming: ip}\n", `config F:2: listen: want at least transport and addr`)
	f("listen:\n  - tcp://127.0.0.1:0?end=comma\n  - udp://127.0.0.1:0?naming=ip-prt\n",
		`config F:3: listen: listener "udp://127.0.0.1:0?naming=ip-prt": naming "ip-prt": want ip, ip-port or fixed:<device id>`)
	f("engine: gnat\n", `config F: engine "gnat": want gnet or std`)
	f("log-level: loud\n", `config F: --log-level: slog: level string "loud": unknown name`)
	f("pprof: 0.0.0.0:6060\n", `config F: --pprof 0.0.0.0:6060 is not a loopback address: whoever reaches it could read the process's profiles; listen on 127.0.0.1 (and tunnel to it), or pass --pprof-insecure`)
	f("http-token-file: /nonexistent/token\n", `config F: --http-token-file: open /nonexistent/token: no such file or directory`)
}

// TestConfigCheck_Success: a file of every kind of value, and listeners
// as specs or mappings.
func TestConfigCheck_Success(t *testing.T) {
	t.Setenv("FLEETWIRE_TOKEN", "")
	token := writeFile(t, "token", "s3cret\n")
	f := func(content string) {
		t.Helper()
		out, err := configCheck(t, content)
		if err != nil || !strings.HasSuffix(out, ": ok\n") {
			t.Fatalf("%q: %q, %v", content, out, err)
		}
	}
	f("")
	f("# nothing but comments\n")
	f("max-conns: 50000\nidle-timeout: 0\nreuseport: true\nengine: std\nnaming: ip-port\nend: comma\ntcp-policy: open\n")
	f("http: 0.0.0.0:7080\nhttp-token-file: " + token + "\n")
	f("listen:\n  - tcp://127.0.0.1:7072?name=pots&end=comma&radix=2&naming=ip&downlink=raw\n" +
		"  - {transport: udp, addr: '127.0.0.1:7073', naming: ip-port, policy: open}\n" +
		"  - transport: tcp\n    addr: 127.0.0.1:7074\n    radix: 16\n    formats: text\n")
	f("listen: tcp://127.0.0.1:7072?end=comma\n")
	f("sink: nats://n1:4222,n2:4222\nnats-replicas: 3\n")
}

// serveWithConfig parses serve's command line args with --config holding
// content and applies the file, as serve does before it runs.
func serveWithConfig(t *testing.T, content string, args ...string) *pflag.FlagSet {
	t.Helper()
	serve, err := freshServeCmd(append(args, "--config", writeFile(t, "fleetwire.yaml", content))...)
	if err != nil {
		t.Fatal(err)
	}
	if err := prepareFlags(serve); err != nil {
		t.Fatal(err)
	}
	return serve.Flags()
}

// TestConfigPrecedence: the command line overrides the file, a flag at a
// time; a listener written as a mapping becomes its spec.
func TestConfigPrecedence(t *testing.T) {
	fs := serveWithConfig(t, "max-conns: 50000\nmax-devices: 7\nhttp-token-file: /etc/token\nlog-level: debug\n"+
		"listen:\n  - {transport: tcp, addr: '0.0.0.0:7072', end: comma, radix: 2}\n  - udp://0.0.0.0:7073\n",
		"--max-conns", "60000", "--http-token", "from-argv")
	f := func(name, want string) {
		t.Helper()
		if got := flagText(fs.Lookup(name)); got != want {
			t.Fatalf("%s = %q, want %q", name, got, want)
		}
	}
	f("max-conns", "60000")
	f("max-devices", "7")
	f("http-token", "from-argv")
	f("http-token-file", "") // the command line's token wins over the file's token file
	f("log-level", "debug")
	f("listen", "tcp://0.0.0.0:7072?end=comma&radix=2\x00udp://0.0.0.0:7073")
	fs = serveWithConfig(t, "listen:\n  - udp://0.0.0.0:7073\n", "--listen", "tcp://127.0.0.1:1")
	f("listen", "tcp://127.0.0.1:1")
}

// TestConfigExample: "config example" names every flag of serve, passes
// "config check", and sets every flag to its default.
func TestConfigExample(t *testing.T) {
	t.Setenv("FLEETWIRE_TOKEN", "")
	root := newRootCmd()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetArgs([]string{"config", "example"})
	if err := root.Execute(); err != nil {
		t.Fatal(err)
	}
	example := out.String()
	if _, err := configCheck(t, example); err != nil {
		t.Fatalf("config check of config example: %v", err)
	}
	defaults, err := freshServeCmd()
	if err != nil {
		t.Fatal(err)
	}
	fs := serveWithConfig(t, example)
	keys := 0
	defaults.Flags().VisitAll(func(f *pflag.Flag) {
		if f.Name == configFlag || f.Name == "help" {
			return
		}
		key := f.Name + ": "
		if _, secret := secretKeys[f.Name]; secret {
			key = "# " + key
		}
		if !strings.Contains(example, "\n"+key) {
			t.Errorf("config example has no %q", key)
		}
		keys++
		if got, want := flagText(fs.Lookup(f.Name)), flagText(f); got != want {
			t.Errorf("%s: the example sets %q, the default is %q", f.Name, got, want)
		}
	})
	if keys < 50 {
		t.Fatalf("only %d keys: is this serve's flag set?", keys)
	}
}

// FuzzParseConfig: no file makes the parser panic, and what it accepts,
// serve's flags take or refuse with an error.
func FuzzParseConfig(f *testing.F) {
	for _, seed := range []string{"", "# c\n", "max-conns: 5\n", "listen:\n  - {transport: tcp, addr: ':1'}\n", "a: &x [1]\nb: *x\n",
		"--- \n...\n", "? [a]\n: b\n", "max-conns: !!binary aGVsbG8=\n", "listen: [{transport: [tcp]}]\n"} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		serve, err := freshServeCmd()
		if err != nil {
			t.Fatal(err)
		}
		settings, err := parseConfig("F", data, serve.Flags())
		if err != nil {
			return
		}
		_ = applyConfig(serve, "F", settings)
	})
}

// TestServeSinkFile: the sink comes from --sink-file, trimmed; never
// from both it and --sink, never from an empty file.
func TestServeSinkFile(t *testing.T) {
	stopped, cancel := context.WithCancel(context.Background())
	cancel()
	f := func(wantErr string, args ...string) {
		t.Helper()
		root := newRootCmd() // runServe's arguments have --sink
		root.SetArgs(append([]string{"serve", "--log-level", "error", "--tcp", "", "--udp", "127.0.0.1:0", "--udp-readers", "1",
			"--http", "", "--data", t.TempDir()}, args...))
		err := root.ExecuteContext(stopped)
		if (err == nil) != (wantErr == "") || err != nil && !strings.Contains(err.Error(), wantErr) {
			t.Fatalf("serve %v: error %v, want %q", args, err, wantErr)
		}
	}
	f("", "--sink-file", writeFile(t, "sink", " none\n"))
	f(`--sink "nats:/x": want files, none`, "--sink-file", writeFile(t, "sink", "nats:/x\n"))
	f("give one of them", "--sink-file", writeFile(t, "sink", "none\n"), "--sink", "none")
	f("no sink in it", "--sink-file", writeFile(t, "sink", "\n"))
}
