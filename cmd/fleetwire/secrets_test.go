package main

import (
	"bytes"
	"strings"
	"testing"
)

// TestSecretsStayOut: a secret in the environment shows in no --help (a
// flag's default is printed there), and a NATS URL from the environment
// is redacted in errors.
func TestSecretsStayOut(t *testing.T) {
	t.Setenv("FLEETWIRE_TOKEN", "leaky-token")
	t.Setenv("FLEETWIRE_NATS_URL", "nats://fleet:leaky-password@127.0.0.1:1")
	run := func(args ...string) string {
		t.Helper()
		root := newRootCmd()
		var out bytes.Buffer
		root.SetOut(&out)
		root.SetErr(&out)
		root.SetArgs(args)
		if err := root.Execute(); err != nil {
			out.WriteString(err.Error())
		}
		return out.String()
	}
	for _, cmd := range []string{"serve", "command", "consume", "load"} {
		if out := run(cmd, "--help"); strings.Contains(out, "leaky") {
			t.Errorf("%s --help shows a secret:\n%s", cmd, out)
		}
	}
	out := run("consume", "--log-level", "error")
	if strings.Contains(out, "leaky") || !strings.Contains(out, "fleet:xxxxx@127.0.0.1:1") {
		t.Fatalf("consume with $FLEETWIRE_NATS_URL: %s", out)
	}
}
