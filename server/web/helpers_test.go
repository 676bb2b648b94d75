package web

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fleetwire/fleetwire/server"
)

// env is a real ingest server on loopback ports 0 with the control plane
// in front of it, on an httptest server.
type env struct {
	srv *server.Server
	web *Server
	ts  *httptest.Server
}

func newEnv(t testing.TB, wcfg Config, scfg server.Config) *env {
	t.Helper()
	scfg.TCPAddr, scfg.UDPAddr = "127.0.0.1:0", "127.0.0.1:0"
	srv, err := server.New(scfg)
	if err != nil {
		t.Fatalf("server.New: %s", err)
	}
	if err := srv.Start(); err != nil {
		t.Fatalf("server.Start: %s", err)
	}
	return serveEnv(t, srv, wcfg)
}

// serveEnv puts the control plane in front of a started server; the
// test's cleanup shuts both down.
func serveEnv(t testing.TB, srv *server.Server, wcfg Config) *env {
	t.Helper()
	if wcfg.Interval == 0 {
		wcfg.Interval = 100 * time.Millisecond
	}
	w := New(srv, wcfg)
	w.SetReady(true)
	ts := httptest.NewServer(w.Handler())
	e := &env{srv: srv, web: w, ts: ts}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		// Streams end on Shutdown; only then can httptest's Close finish.
		_ = w.Shutdown(ctx)
		ts.Close()
		_ = srv.Shutdown(ctx)
	})
	return e
}

func (e *env) addr(tr server.Transport) string { return e.srv.Addr(tr).String() }

// do sends a request to the control plane and returns status and body.
func (e *env) do(t *testing.T, method, path, token, ctype, body string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(method, e.ts.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatalf("request %s %s: %s", method, path, err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	res, err := e.ts.Client().Do(req)
	if err != nil {
		t.Fatalf("%s %s: %s", method, path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("read %s %s: %s", method, path, err)
	}
	return res.StatusCode, res.Header, string(b)
}

// getJSON fetches path, wants 200, and decodes into v.
func (e *env) getJSON(t *testing.T, path, token string, v any) {
	t.Helper()
	code, _, body := e.do(t, "GET", path, token, "", "")
	if code != http.StatusOK {
		t.Fatalf("GET %s: status %d, body %s", path, code, body)
	}
	if err := json.Unmarshal([]byte(body), v); err != nil {
		t.Fatalf("GET %s: %s in %s", path, err, body)
	}
}

// waitFor polls cond every 20 ms until it holds or d passes.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// device is a fake device speaking the text format over TCP or UDP. It
// reads downlink frames on its own goroutine and acknowledges every
// command with "#ack <id> ok" when autoAck is on.
type device struct {
	id      string
	conn    net.Conn
	autoAck bool

	mu   sync.Mutex
	seq  int
	cmds []string // "<id> <payload>" of each command received
	led  bool
}

func dialDevice(t *testing.T, network, addr, id string, autoAck bool) *device {
	t.Helper()
	c, err := net.Dial(network, addr)
	if err != nil {
		t.Fatalf("dial %s %s: %s", network, addr, err)
	}
	d := &device{id: id, conn: c, autoAck: autoAck}
	t.Cleanup(func() { _ = c.Close() })
	if network == "tcp" {
		d.write("#hello " + id)
	}
	go d.read(network)
	return d
}

// write sends one line. Errors are not reported: a feeder may outlive
// the connection by a tick, and what the server counted is what tests
// check.
func (d *device) write(line string) {
	_, _ = d.conn.Write([]byte(line + "\n"))
}

// send sends n one-sample frames of two channels, numbered from the
// device's next sequence number.
func (d *device) send(n int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for range n {
		ms := time.Now().UnixMilli()
		temp := 20 + float64(d.seq%50)/10
		d.write(fmt.Sprintf("%s;%d;%d;%.1f:%d", d.id, d.seq, ms, temp, 40+d.seq%7))
		d.seq++
	}
}

func (d *device) read(network string) {
	var lines func(yield func(string) bool)
	if network == "tcp" {
		sc := bufio.NewScanner(d.conn)
		lines = func(yield func(string) bool) {
			for sc.Scan() && yield(sc.Text()) {
			}
		}
	} else {
		lines = func(yield func(string) bool) {
			buf := make([]byte, 2048)
			for {
				n, err := d.conn.Read(buf)
				if err != nil {
					return
				}
				for _, l := range strings.Split(strings.TrimRight(string(buf[:n]), "\n"), "\n") {
					if !yield(l) {
						return
					}
				}
			}
		}
	}
	for line := range lines {
		rest, ok := strings.CutPrefix(line, "#cmd ")
		if !ok {
			continue
		}
		id, payload, _ := strings.Cut(rest, " ")
		if _, err := strconv.ParseUint(id, 10, 64); err != nil {
			continue
		}
		d.mu.Lock()
		d.cmds = append(d.cmds, rest)
		switch payload {
		case "LED ON":
			d.led = true
		case "LED OFF":
			d.led = false
		}
		ack := d.autoAck
		d.mu.Unlock()
		if ack {
			_, _ = d.conn.Write([]byte("#ack " + id + " ok\n"))
		}
	}
}

func (d *device) commands() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]string(nil), d.cmds...)
}

// feed keeps devices sending every period until stop is closed.
func feed(devs []*device, period time.Duration, stop <-chan struct{}) {
	tk := time.NewTicker(period)
	defer tk.Stop()
	for {
		select {
		case <-stop:
			return
		case <-tk.C:
			for _, d := range devs {
				d.send(1)
			}
		}
	}
}
