package attack

import (
	"bytes"
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
	"testing"
	"time"

	"github.com/fleetwire/fleetwire/bench"
	"github.com/fleetwire/fleetwire/internal/fwtest"
	"github.com/fleetwire/fleetwire/server"
	"github.com/fleetwire/fleetwire/server/web"
)

// child is one `fleetwire serve` process on loopback ports of its own.
type child struct {
	p               *bench.Proc
	engine          string
	tcp, udp, httpA string
	pprof           string // --pprof: its heap profile with ?gc=1 is how a case makes the child collect
	hc              *http.Client
}

// startChild starts `fleetwire serve` with --sink none (flags may say
// otherwise: the last occurrence of a flag wins) and waits until it is
// ready. Another process may take a port between FreePort and the
// child's bind: then it tries again with new ports, three times at most.
func startChild(t *testing.T, engine string, flags ...string) *child {
	t.Helper()
	dir := t.TempDir()
	var lastErr error
	for attempt := range 3 {
		c := &child{engine: engine, hc: &http.Client{Timeout: 5 * time.Second},
			tcp:   net.JoinHostPort("127.0.0.1", strconv.Itoa(fwtest.FreePort(t, "tcp"))),
			udp:   net.JoinHostPort("127.0.0.1", strconv.Itoa(fwtest.FreePort(t, "udp"))),
			httpA: net.JoinHostPort("127.0.0.1", strconv.Itoa(fwtest.FreePort(t, "tcp"))),
			pprof: net.JoinHostPort("127.0.0.1", strconv.Itoa(fwtest.FreePort(t, "tcp")))}
		args := append([]string{"serve", "--engine", engine, "--sink", "none", "--log-level", "warn",
			"--tcp", c.tcp, "--udp", c.udp, "--http", c.httpA, "--data", filepath.Join(dir, "data"),
			"--pprof", c.pprof, "--shutdown-timeout", "5s"}, flags...)
		logPath := filepath.Join(dir, fmt.Sprintf("serve-%d.log", attempt))
		p, err := bench.StartProc(exec.Command(fleetwireBin, args...), logPath)
		if err != nil {
			t.Fatal(err)
		}
		c.p = p
		if lastErr = c.waitReady(10 * time.Second); lastErr == nil {
			t.Cleanup(func() {
				p.Stop(10 * time.Second)
				if t.Failed() {
					t.Logf("server log: %s", p.Tail(20))
				}
			})
			return c
		}
		p.Stop(5 * time.Second)
		if log, _ := os.ReadFile(logPath); !bytes.Contains(log, []byte("address already in use")) {
			t.Fatalf("fleetwire serve %s: %v; log: %s", strings.Join(args, " "), lastErr, p.Tail(10))
		}
	}
	t.Fatalf("fleetwire serve: no free ports after 3 attempts: %v", lastErr)
	return nil
}

func (c *child) waitReady(limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		if c.p.Exited() {
			return fmt.Errorf("exited: %v", c.p.Err())
		}
		if code, _, err := c.get("/readyz"); err == nil && code == http.StatusOK {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("not ready after %v", limit)
}

func (c *child) pid() int { return c.p.PID() }

func (c *child) get(path string) (int, []byte, error) { return c.getURL("http://" + c.httpA + path) }

func (c *child) getURL(url string) (int, []byte, error) {
	resp, err := c.hc.Get(url)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	return resp.StatusCode, b, err
}

func (c *child) getJSON(t *testing.T, path string, v any) int {
	t.Helper()
	code, b, err := c.get(path)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	if code == http.StatusOK {
		if err := json.Unmarshal(b, v); err != nil {
			t.Fatalf("GET %s: %v: %s", path, err, b)
		}
	}
	return code
}

// post sends body with content type ct and returns the status and the
// answer.
func (c *child) post(t *testing.T, path, ct, body string) (int, []byte) {
	t.Helper()
	resp, err := c.hc.Post("http://"+c.httpA+path, ct, strings.NewReader(body))
	if err != nil {
		t.Fatalf("POST %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, b
}

// stats reads /api/stats: the snapshot the server takes once a second.
func (c *child) stats(t *testing.T) server.Stats {
	t.Helper()
	var st server.Stats
	if code := c.getJSON(t, "/api/stats", &st); code != http.StatusOK {
		t.Fatalf("GET /api/stats: %d", code)
	}
	return st
}

// device reads /api/devices/{id}, live; ok is false for an unknown device.
func (c *child) device(t *testing.T, id string) (web.Device, bool) {
	t.Helper()
	var d web.Device
	return d, c.getJSON(t, "/api/devices/"+id, &d) == http.StatusOK
}

func (c *child) command(t *testing.T, id uint64) web.Command {
	t.Helper()
	var cmd web.Command
	if code := c.getJSON(t, fmt.Sprintf("/api/commands/%d", id), &cmd); code != http.StatusOK {
		t.Fatalf("GET /api/commands/%d: %d", id, code)
	}
	return cmd
}

// submit sends a command through the API and returns it; it fails the
// test unless the server answers want.
func (c *child) submit(t *testing.T, device, payload string, want int) web.Command {
	t.Helper()
	b, _ := json.Marshal(map[string]string{"payload": payload})
	code, body := c.post(t, "/api/devices/"+device+"/commands", "application/json", string(b))
	if code != want {
		t.Fatalf("POST command %q to %s: %d %s, want %d", payload, device, code, body, want)
	}
	var cmd web.Command
	if code == http.StatusAccepted {
		if err := json.Unmarshal(body, &cmd); err != nil {
			t.Fatal(err)
		}
	}
	return cmd
}

// liveHeap makes the child collect (twice: what sync.Pools hold goes on
// the second) and returns its live heap, HeapAlloc of runtime.MemStats as
// the heap profile reports it.
func (c *child) liveHeap(t *testing.T) int64 {
	t.Helper()
	var b []byte
	for range 2 {
		code, body, err := c.getURL("http://" + c.pprof + "/debug/pprof/heap?gc=1&debug=1")
		if err != nil || code != http.StatusOK {
			t.Fatalf("heap profile: %d %v", code, err)
		}
		b = body
	}
	const key = "\n# HeapAlloc = "
	i := bytes.Index(b, []byte(key))
	if i < 0 {
		t.Fatalf("heap profile without %q", key[1:])
	}
	line, _, _ := bytes.Cut(b[i+len(key):], []byte("\n"))
	n, err := strconv.ParseInt(string(line), 10, 64)
	if err != nil {
		t.Fatalf("heap profile: HeapAlloc %q: %v", line, err)
	}
	return n
}

// alive fails the test unless the process runs and answers /healthz.
func (c *child) alive(t *testing.T) {
	t.Helper()
	if c.p.Exited() {
		t.Fatalf("the server died: %v; log: %s", c.p.Err(), c.p.Tail(20))
	}
	if code, _, err := c.get("/healthz"); err != nil || code != http.StatusOK {
		t.Fatalf("/healthz: %d %v", code, err)
	}
}

// waitUntil polls cond every 100 ms for up to limit; what describes the
// state to report when it never holds.
func waitUntil(t *testing.T, limit time.Duration, what func() string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %s", limit, what())
		}
		time.Sleep(100 * time.Millisecond)
	}
}
