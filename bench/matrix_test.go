package bench

import (
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParseMatrix_Success(t *testing.T) {
	m, err := ParseMatrix([]byte(`
name: t
defaults: {devices: 7, rate: 2.5, duration: 1s}
groups:
  - name: a
    transport: [tcp, udp]
    codec: [text, compact+zstd]
    batch: 10
  - transport: udp
    codec: text
    profile: [loopback, loss-1]
    udp_sockets: 2
    samples: 50
    channels: 3
    drain: 2s
  - transport: tcp   # a duplicate of group a's first scenario
    codec: text
    batch: 10
    name: a
`))
	if err != nil {
		t.Fatal(err)
	}
	ss, err := m.Scenarios()
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, s := range ss {
		ids = append(ids, s.ID())
	}
	want := []string{
		"a:tcp/text/b10/7d@2.5/s/loopback", "a:tcp/compact+zstd/b10/7d@2.5/s/loopback",
		"a:udp/text/b10/7d@2.5/s/loopback", "a:udp/compact+zstd/b10/7d@2.5/s/loopback",
		"udp/text/b1/7d@2.5/s/loopback", "udp/text/b1/7d@2.5/s/loss-1",
	}
	if strings.Join(ids, " ") != strings.Join(want, " ") {
		t.Fatalf("got\n%s\nwant\n%s", strings.Join(ids, "\n"), strings.Join(want, "\n"))
	}
	s := ss[5]
	if s.UDPSockets != 2 || s.Samples != 50 || s.Channels != 3 || s.Drain != 2*time.Second || s.Duration != time.Second {
		t.Fatalf("%+v", s)
	}
	if ss[0].Channels != 2 || ss[0].Drain != 10*time.Second {
		t.Fatalf("built-in defaults not applied: %+v", ss[0])
	}
}

func TestParseMatrix_Failure(t *testing.T) {
	f := func(y, want string) {
		t.Helper()
		m, err := ParseMatrix([]byte(y))
		if err == nil {
			_, err = m.Scenarios()
		}
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("%q: got %v, want an error with %q", y, err, want)
		}
	}
	f("name: x\n", "no groups")
	f("groups:\n  - transprot: tcp\n", "transprot")
	f("groups:\n  - transport: sctp\n", "transport \"sctp\"")
	f("groups:\n  - codec: gzip\n", "codec \"gzip\"")
	f("groups:\n  - batch: 0\n", "batch 0")
	f("groups:\n  - batch: []\n", "empty list")
	f("groups:\n  - duration: soon\n", "soon")
	f("groups:\n  - transport: tcp\n    udp_sockets: 2\n", "udp_sockets needs transport udp")
	f("groups:\n  - rate: -1\n", "rate -1")
	f("groups:\n  - transport: tls+ack\n", "transport \"tls+ack\"")
	f("groups:\n  - transport: udp+ack\n    rate: 0\n", "udp+ack needs rate > 0")
	f("groups:\n  - transport: udp\n    ack_window: 64\n    engines: gnet\n", "ack_window and ack_drain need a +ack transport")
	f("groups:\n  - transport: tcp\n    ack_drain: 5s\n", "ack_window and ack_drain need a +ack transport")
	f("groups:\n  - engines: [gnet, epoll]\n", "engine \"epoll\"")
}

func TestParseMatrix_Ack(t *testing.T) {
	m, err := ParseMatrix([]byte(`
groups:
  - name: acked
    transport: [udp, udp+ack, tcp+ack]
    codec: compact
    batch: 10
    ack_window: 512
    ack_drain: 45s
    engines: gnet
`))
	if err != nil {
		t.Fatal(err)
	}
	ss, err := m.Scenarios()
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, s := range ss {
		ids = append(ids, s.ID())
	}
	want := "acked:udp/compact/b10/100d@10/s/loopback acked:udp+ack/compact/b10/100d@10/s/loopback/w512/ackdrain45s acked:tcp+ack/compact/b10/100d@10/s/loopback/w512/ackdrain45s"
	if strings.Join(ids, " ") != want {
		t.Fatalf("got %s", strings.Join(ids, " "))
	}
	// The window and the drain are the +ack scenarios' only.
	if s := ss[0]; s.AckWindow != 0 || s.AckDrain != 0 || s.Acked() || s.Wire() != "udp" {
		t.Fatalf("%+v", s)
	}
	if s := ss[2]; s.AckWindow != 512 || s.AckDrain != 45*time.Second || !s.Acked() || s.Wire() != "tcp" {
		t.Fatalf("%+v", s)
	}
	for _, s := range ss {
		if got := s.RunsOn(Engines); len(got) != 1 || got[0] != "gnet" {
			t.Fatalf("%s runs on %v", s.ID(), got)
		}
		if got := s.RunsOn([]string{"std"}); len(got) != 0 {
			t.Fatalf("%s runs on %v of [std]", s.ID(), got)
		}
	}
}

func TestSuites(t *testing.T) {
	for _, name := range Suites {
		m, err := Suite(name)
		if err != nil {
			t.Fatal(err)
		}
		ss, err := m.Scenarios()
		if err != nil || len(ss) == 0 {
			t.Fatalf("%s: %d scenarios, %v", name, len(ss), err)
		}
		for _, s := range ss {
			// Acked runs must be long to measure what acks cost: the acked
			// suite's, and a device profile's choice among the others.
			if s.Acked() && name != "acked" && !s.isDevice() {
				t.Errorf("suite %s has %s: acknowledged delivery is the acked suite's and the device profiles'", name, s.ID())
			}
			if name == "acked" && !slices.Equal(s.RunsOn(Engines), []string{"gnet"}) {
				t.Errorf("suite acked: %s runs on %v, want gnet only", s.ID(), s.RunsOn(Engines))
			}
		}
	}
	if _, err := Suite("nope"); err == nil {
		t.Fatal("unknown suite accepted")
	}
}

// TestMatrixSessions: session modes multiply out, skipping the modes a
// transport does not have, and reach the generator's flags.
func TestMatrixSessions(t *testing.T) {
	m, err := ParseMatrix([]byte(`
name: t
defaults: {devices: 2, rate: 0.5, duration: 10s}
groups:
  - transport: [udp, udp+ack, tcp, tcp+ack, tls]
    session: [persistent, per-report, per-report+resume]
    keepalive: 30s
`))
	if err != nil {
		t.Fatal(err)
	}
	ss, err := m.Scenarios()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	o := &Options{Exe: "fw", WorkDir: t.TempDir()}
	for _, s := range ss {
		args := strings.Join(genArgs(o, &s, "x:1", "x", "j"), " ")
		flags := ""
		for _, f := range []string{"--session per-report", "--tls-resume", "--nat-binding lose", "--keepalive 30s"} {
			if strings.Contains(args, f) {
				flags += " " + f
			}
		}
		got = append(got, s.ID()+flags)
	}
	want := []string{
		"udp/text/b1/2d@0.5/s/loopback", "udp/text/b1/2d@0.5/s/loopback/per-report --nat-binding lose",
		"udp+ack/text/b1/2d@0.5/s/loopback", "udp+ack/text/b1/2d@0.5/s/loopback/per-report --nat-binding lose",
		"tcp/text/b1/2d@0.5/s/loopback/ka30s --keepalive 30s", "tcp/text/b1/2d@0.5/s/loopback/per-report --session per-report",
		"tcp+ack/text/b1/2d@0.5/s/loopback/ka30s --keepalive 30s",
		"tls/text/b1/2d@0.5/s/loopback/ka30s --keepalive 30s", "tls/text/b1/2d@0.5/s/loopback/per-report --session per-report",
		"tls/text/b1/2d@0.5/s/loopback/per-report+resume --session per-report --tls-resume",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
