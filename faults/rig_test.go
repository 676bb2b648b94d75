package faults

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fleetwire/fleetwire/bench"
	"github.com/fleetwire/fleetwire/internal/fwtest"
	"github.com/fleetwire/fleetwire/loadgen"
	"github.com/fleetwire/fleetwire/server"
	"github.com/fleetwire/fleetwire/server/web"
)

// site is where the processes of a test run and how the test reaches
// them: loopback, or the two sides of a bench/netns link.
type site struct {
	host string // the server listens on it, the generators send to it
	// serverCmd and clientCmd run the binary on the server's and on the
	// generators' side.
	serverCmd, clientCmd func(args ...string) *exec.Cmd
	// dial reaches the server's side from the test process (its HTTP API).
	dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// genFlags are what generators need to reach host.
	genFlags []string
	// ports returns the server's TCP, UDP and HTTP ports; retry asks for
	// new ones after a bind failure (another process took one).
	ports func(t *testing.T, retry int) (tcp, udp, http int)
}

// loopback runs everything on 127.0.0.1, on ports that were free a moment
// ago (a child cannot be told to pick port 0 and report it back).
func loopback() *site {
	cmd := func(args ...string) *exec.Cmd { return exec.Command(fleetwireBin, args...) }
	var d net.Dialer
	return &site{host: "127.0.0.1", serverCmd: cmd, clientCmd: cmd, dial: d.DialContext,
		ports: func(t *testing.T, _ int) (int, int, int) {
			return fwtest.FreePort(t, "tcp"), fwtest.FreePort(t, "udp"), fwtest.FreePort(t, "tcp")
		}}
}

// fwServer is one `fleetwire serve` on a data directory and fixed ports,
// which it keeps across restarts: devices come back to the same address.
type fwServer struct {
	t              *testing.T
	site           *site
	dir            string // work directory: logs; the sink's --data is dir/data
	flags          []string
	tcp, udp, http string
	hc             *http.Client
	p              *bench.Proc
	starts         int
}

func newServer(t *testing.T, st *site, flags ...string) *fwServer {
	dir := t.TempDir()
	s := &fwServer{t: t, site: st, dir: dir, flags: flags}
	// No keep-alive: a connection kept from before a kill would fail the
	// first request to the new process.
	s.hc = &http.Client{Timeout: 5 * time.Second,
		Transport: &http.Transport{DialContext: st.dial, DisableKeepAlives: true}}
	t.Cleanup(func() {
		if s.p != nil {
			s.p.Stop(10 * time.Second)
			if t.Failed() {
				t.Logf("server log: %s", s.p.Tail(15))
			}
		}
	})
	return s
}

func (s *fwServer) data() string { return filepath.Join(s.dir, "data") }

// start starts the server and waits until /readyz answers; it returns
// how long that took. The first start picks the ports (again, up to three
// times, if another process took one meanwhile); a restart must get the
// same ones.
func (s *fwServer) start() time.Duration {
	s.t.Helper()
	for retry := 0; ; retry++ {
		if s.starts == 0 {
			tcp, udp, ht := s.site.ports(s.t, retry)
			s.tcp = net.JoinHostPort(s.site.host, strconv.Itoa(tcp))
			s.udp = net.JoinHostPort(s.site.host, strconv.Itoa(udp))
			s.http = net.JoinHostPort(s.site.host, strconv.Itoa(ht))
		}
		s.starts++
		args := append([]string{"serve", "--log-level", "info", "--data", s.data(),
			"--tcp", s.tcp, "--udp", s.udp, "--http", s.http, "--http-insecure"}, s.flags...)
		log := filepath.Join(s.dir, fmt.Sprintf("serve-%d.log", s.starts))
		t0 := time.Now()
		p, err := bench.StartProc(s.site.serverCmd(args...), log)
		if err != nil {
			s.t.Fatal(err)
		}
		s.p = p
		err = s.waitReady(30 * time.Second)
		if err == nil {
			return time.Since(t0)
		}
		p.Stop(5 * time.Second)
		b, _ := os.ReadFile(log)
		if s.starts > 1 || retry == 2 || !bytes.Contains(b, []byte("address already in use")) {
			s.t.Fatalf("fleetwire %s: %v; log: %s", strings.Join(args, " "), err, p.Tail(10))
		}
		s.starts = 0
	}
}

func (s *fwServer) waitReady(limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		if s.p.Exited() {
			return fmt.Errorf("exited: %v", s.p.Err())
		}
		if code, _, err := s.get("/readyz"); err == nil && code == http.StatusOK {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("not ready after %v", limit)
}

// kill is kill -9, by the child's PID, and waits until it is gone.
func (s *fwServer) kill() {
	s.t.Helper()
	if err := s.p.Cmd().Process.Signal(syscall.SIGKILL); err != nil {
		s.t.Fatalf("kill -9 %d: %v", s.p.PID(), err)
	}
	<-s.p.Done()
}

// stop is a clean shutdown (SIGTERM): the sink flushes and fsyncs.
func (s *fwServer) stop() {
	s.t.Helper()
	s.p.Stop(30 * time.Second)
	if st := s.p.Cmd().ProcessState; st == nil || !st.Success() {
		s.t.Fatalf("fleetwire serve did not shut down cleanly: %v; log: %s", s.p.Err(), s.p.Tail(10))
	}
}

func (s *fwServer) get(path string) (int, []byte, error) {
	resp, err := s.hc.Get("http://" + s.http + path)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	return resp.StatusCode, b, err
}

func (s *fwServer) getJSON(path string, v any) error {
	code, b, err := s.get(path)
	if err != nil {
		return err
	}
	if code != http.StatusOK {
		return fmt.Errorf("GET %s: %d %s", path, code, b)
	}
	return json.Unmarshal(b, v)
}

// stats is /api/stats, a snapshot the server takes once a second.
func (s *fwServer) stats() (server.Stats, error) {
	var st server.Stats
	return st, s.getJSON("/api/stats", &st)
}

// device is /api/devices/{id}, live.
func (s *fwServer) device(id string) (web.Device, error) {
	var d web.Device
	return d, s.getJSON("/api/devices/"+id, &d)
}

// generator is one `fleetwire load` process with its JSON report.
type generator struct {
	t      *testing.T
	name   string
	p      *bench.Proc
	report string
	log    string
}

func startGenerator(t *testing.T, st *site, name string, args ...string) *generator {
	t.Helper()
	dir := t.TempDir()
	g := &generator{t: t, name: name, report: filepath.Join(dir, "report.json"), log: filepath.Join(dir, "load.log")}
	args = append(append([]string{"load", "--json", g.report}, st.genFlags...), args...)
	p, err := bench.StartProc(st.clientCmd(args...), g.log)
	if err != nil {
		t.Fatal(err)
	}
	g.p = p
	t.Cleanup(func() {
		p.Stop(5 * time.Second)
		if t.Failed() {
			t.Logf("%s generator log: %s", name, p.Tail(12))
		}
	})
	return g
}

// wait waits up to limit for the generator to end and returns its
// report.
func (g *generator) wait(limit time.Duration) *loadgen.Report {
	g.t.Helper()
	select {
	case <-g.p.Done():
	case <-time.After(limit):
		g.t.Fatalf("%s generator still running after %v: %s", g.name, limit, g.p.Tail(5))
	}
	if err := g.p.Err(); err != nil {
		g.t.Fatalf("%s generator: %v: %s", g.name, err, g.p.Tail(8))
	}
	b, err := os.ReadFile(g.report)
	if err != nil {
		g.t.Fatal(err)
	}
	var r loadgen.Report
	if err := json.Unmarshal(b, &r); err != nil {
		g.t.Fatalf("%s report: %v", g.name, err)
	}
	if r.AckReport == nil {
		g.t.Fatalf("%s report has no ack fields: was --ack lost?", g.name)
	}
	return &r
}

// waitFor polls cond every 50 ms until it holds, for at most limit; what
// says what was awaited and the last state seen when it never holds.
func waitFor(t *testing.T, limit time.Duration, what func() string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %s", limit, what())
		}
		time.Sleep(50 * time.Millisecond)
	}
}
