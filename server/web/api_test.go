package web

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/fleetwire/fleetwire/server"
)

// udpFleet starts n UDP devices dev-0..dev-{n-1}; dev-i sends i+1 frames.
func udpFleet(t *testing.T, e *env, n int) []*device {
	t.Helper()
	devs := make([]*device, n)
	for i := range devs {
		devs[i] = dialDevice(t, "udp", e.addr(server.UDP), fmt.Sprintf("dev-%d", i), true)
		devs[i].send(i + 1)
	}
	waitFor(t, 5*time.Second, "devices to be counted", func() bool {
		_, total := e.srv.Devices(server.DeviceQuery{})
		var sum uint64
		devs, _ := e.srv.Devices(server.DeviceQuery{})
		for _, d := range devs {
			sum += d.Readings
		}
		return total == n && sum == uint64(n*(n+1))
	})
	return devs
}

func TestAPIStats(t *testing.T) {
	e := newEnv(t, Config{}, server.Config{})
	udpFleet(t, e, 3)
	var st map[string]any
	waitFor(t, 5*time.Second, "stats to show the readings", func() bool {
		st = nil
		e.getJSON(t, "/api/stats", "", &st)
		return st["readings"] == float64(12)
	})
	for _, k := range []string{"devices", "connections", "frames", "readings", "payload_bytes", "rx_bytes", "lost",
		"duplicates", "reordered", "errors", "dropped", "transports", "codecs", "latency_ms", "sink", "rates", "sampled_at", "uptime_s"} {
		if _, ok := st[k]; !ok {
			t.Errorf("/api/stats has no %q: %v", k, st)
		}
	}
	if st["devices"] != float64(3) {
		t.Errorf("devices = %v, want 3", st["devices"])
	}
	udp := st["transports"].(map[string]any)["udp"].(map[string]any)
	if udp["readings"] != float64(12) || udp["devices"] != float64(3) {
		t.Errorf("transports.udp = %v, want 12 readings of 3 devices", udp)
	}
	if st["codecs"].(map[string]any)["text"].(map[string]any)["frames"] != float64(6) {
		t.Errorf("codecs.text = %v, want 6 frames", st["codecs"])
	}

	var h struct {
		IntervalSec float64 `json:"interval_s"`
		Points      []Point `json:"points"`
	}
	waitFor(t, 5*time.Second, "history", func() bool {
		e.getJSON(t, "/api/history", "", &h)
		return len(h.Points) >= 2
	})
	if h.IntervalSec != 0.1 {
		t.Errorf("interval_s = %v, want 0.1", h.IntervalSec)
	}
	for i := 1; i < len(h.Points); i++ {
		if h.Points[i].T <= h.Points[i-1].T {
			t.Fatalf("history not in time order: %v", h.Points)
		}
	}
}

func TestAPIDevices(t *testing.T) {
	e := newEnv(t, Config{}, server.Config{})
	udpFleet(t, e, 5)
	ids := func(p DevicePage) string {
		var s []string
		for _, d := range p.Devices {
			s = append(s, d.ID)
		}
		return strings.Join(s, ",")
	}
	f := func(query string, wantTotal, wantLimit int, wantIDs string) {
		t.Helper()
		var p DevicePage
		e.getJSON(t, "/api/devices"+query, "", &p)
		if p.Total != wantTotal || p.Limit != wantLimit || ids(p) != wantIDs {
			t.Errorf("GET /api/devices%s: total %d limit %d ids %q; want %d %d %q", query, p.Total, p.Limit, ids(p), wantTotal, wantLimit, wantIDs)
		}
	}
	f("", 5, DefaultLimit, "dev-0,dev-1,dev-2,dev-3,dev-4")
	f("?limit=2", 5, 2, "dev-0,dev-1")
	f("?limit=2&offset=2", 5, 2, "dev-2,dev-3")
	f("?limit=2&offset=4", 5, 2, "dev-4")
	f("?offset=9", 5, DefaultLimit, "")
	f("?sort=-readings&limit=3", 5, 3, "dev-4,dev-3,dev-2")
	f("?sort=readings&limit=2", 5, 2, "dev-0,dev-1")
	f("?sort=-id", 5, DefaultLimit, "dev-4,dev-3,dev-2,dev-1,dev-0")
	f("?q=v-3", 1, DefaultLimit, "dev-3")
	f("?transport=udp&limit=1", 5, 1, "dev-0")
	f("?transport=tcp", 0, DefaultLimit, "")
	f("?limit=100000", 5, MaxLimit, "dev-0,dev-1,dev-2,dev-3,dev-4")

	// The JSON shape of one entry.
	var raw struct {
		Devices []map[string]any `json:"devices"`
	}
	e.getJSON(t, "/api/devices?limit=1&sort=-readings", "", &raw)
	d := raw.Devices[0]
	for _, k := range []string{"id", "transport", "codec", "online", "frames", "readings", "payload_bytes", "lost",
		"duplicates", "reordered", "restarts", "next_seq", "eos", "last_seen", "last_values"} {
		if _, ok := d[k]; !ok {
			t.Errorf("device entry has no %q: %v", k, d)
		}
	}
	if d["readings"] != float64(10) || d["next_seq"] != float64(5) || d["transport"] != "udp" || d["codec"] != "text" {
		t.Errorf("dev-4 = %v, want 10 readings, next_seq 5, udp, text", d)
	}

	bad := func(query string) {
		t.Helper()
		code, _, body := e.do(t, "GET", "/api/devices"+query, "", "", "")
		if code != http.StatusBadRequest || !strings.Contains(body, `"error"`) {
			t.Errorf("GET /api/devices%s: %d %s, want 400 with an error", query, code, body)
		}
	}
	bad("?sort=password")
	bad("?sort=-")
	bad("?limit=-1")
	bad("?offset=x")
	bad("?transport=carrier-pigeon")
	bad("?q=" + strings.Repeat("a", 65))
}

func TestAPIDevice(t *testing.T) {
	e := newEnv(t, Config{}, server.Config{})
	udpFleet(t, e, 2)
	var d map[string]any
	e.getJSON(t, "/api/devices/dev-1", "", &d)
	if d["id"] != "dev-1" || d["readings"] != float64(4) || d["online"] != true || d["state"] != "online" || d["eos"] != false {
		t.Errorf("dev-1 = %v", d)
	}
	if v, ok := d["last_values"].([]any); !ok || len(v) != 2 || v[0] != "20.1" || v[1] != "41" {
		t.Errorf("dev-1 last_values = %v, want [20.1 41]", d["last_values"])
	}
	if c, ok := d["commands"].([]any); !ok || len(c) != 0 {
		t.Errorf("dev-1 commands = %v, want []", d["commands"])
	}
	if d["address"] == nil || !strings.HasPrefix(d["address"].(string), "127.0.0.1:") {
		t.Errorf("dev-1 address = %v", d["address"])
	}

	f := func(path string, wantCode int) {
		t.Helper()
		code, hdr, body := e.do(t, "GET", path, "", "", "")
		if code != wantCode {
			t.Errorf("GET %s: %d %s, want %d", path, code, body, wantCode)
		}
		if strings.Contains(body, "<") {
			t.Errorf("GET %s echoes markup: %s", path, body)
		}
		if ct := hdr.Get("Content-Type"); wantCode != http.StatusOK && !strings.HasPrefix(ct, "application/json") {
			t.Errorf("GET %s: content type %q", path, ct)
		}
	}
	f("/api/devices/dev-9", http.StatusNotFound)
	f("/api/devices/"+url.PathEscape("<script>alert(1)</script>"), http.StatusBadRequest)
	f("/api/devices/"+url.PathEscape("dev 1"), http.StatusBadRequest)
	f("/api/devices/"+strings.Repeat("a", 65), http.StatusBadRequest)
	f("/api/devices/"+url.PathEscape("<script>")+"/events", http.StatusBadRequest)
	f("/api/devices/dev-9/events", http.StatusNotFound)
	f("/api/devices/dev-9/history", http.StatusNotFound)
	f("/api/devices/"+url.PathEscape("<img src=x>")+"/history", http.StatusBadRequest)
	f("/api/nothing", http.StatusNotFound)
}

// TestAPIDeviceHistory: a device's last samples, one per tick with a new
// one, named as the CSV names its columns; after its end-of-stream it is
// "ended" and no longer "online", until it sends again.
func TestAPIDeviceHistory(t *testing.T) {
	e := newEnv(t, Config{Interval: 50 * time.Millisecond}, server.Config{})
	dev := udpFleet(t, e, 1)[0]
	get := func() histAnswer {
		t.Helper()
		code, _, body := e.do(t, "GET", "/api/devices/dev-0/history", "", "", "")
		if code != http.StatusOK {
			t.Fatalf("history: %d %s", code, body)
		}
		return decodeHistory(t, []byte(body))
	}
	waitFor(t, 5*time.Second, "a point", func() bool { return len(get().Points) == 1 })
	dev.send(1)
	waitFor(t, 5*time.Second, "two points", func() bool { return len(get().Points) == 2 })
	time.Sleep(200 * time.Millisecond) // ticks without samples add nothing
	h := get()
	if len(h.Points) != 2 || fmt.Sprint(h.Channels) != "[ch1 ch2]" || h.Interval != 0.05 {
		t.Fatalf("history %+v", h)
	}
	for i, want := range []string{"20 40", "20.1 41"} {
		p := h.Points[i]
		if len(p.V) != 2 || p.V[0] == nil || p.V[1] == nil || fmt.Sprint(float32(*p.V[0]), *p.V[1]) != want {
			t.Errorf("point %d: %+v, want %s", i, p, want)
		}
	}

	state := func() (string, bool, bool) {
		var d struct {
			State  string `json:"state"`
			Online bool   `json:"online"`
			EOS    bool   `json:"eos"`
		}
		e.getJSON(t, "/api/devices/dev-0", "", &d)
		return d.State, d.Online, d.EOS
	}
	dev.write("#eos dev-0 2")
	waitFor(t, 5*time.Second, "ended", func() bool { s, on, eos := state(); return s == "ended" && !on && eos })
	time.Sleep(200 * time.Millisecond) // a few ticks: the #eos is no sample
	if n := len(get().Points); n != 2 {
		t.Errorf("%d points after the #eos, want still 2", n)
	}
	dev.send(1)
	waitFor(t, 5*time.Second, "online again", func() bool { s, on, eos := state(); return s == "online" && on && !eos })
}

func TestAPICommands(t *testing.T) {
	e := newEnv(t, Config{}, server.Config{CommandQueuePerDevice: 2})
	dev := dialDevice(t, "tcp", e.addr(server.TCP), "dev-t", false)
	dev.send(1)
	waitFor(t, 5*time.Second, "dev-t online", func() bool { d, ok := e.srv.Device("dev-t"); return ok && d.Online })

	post := func(id, ctype, body string, wantCode int) Command {
		t.Helper()
		code, hdr, resp := e.do(t, "POST", "/api/devices/"+id+"/commands", "", ctype, body)
		if code != wantCode {
			t.Fatalf("POST %s %q: %d %s, want %d", ctype, body, code, resp, wantCode)
		}
		var c Command
		if code == http.StatusAccepted {
			if err := json.Unmarshal([]byte(resp), &c); err != nil {
				t.Fatalf("POST response %s: %s", resp, err)
			}
			if want := fmt.Sprintf("/api/commands/%d", c.ID); hdr.Get("Location") != want {
				t.Errorf("Location %q, want %q", hdr.Get("Location"), want)
			}
		} else if strings.Contains(resp, "<") {
			t.Errorf("error echoes markup: %s", resp)
		}
		return c
	}
	c := post("dev-t", "application/json", `{"payload": "LED ON"}`, http.StatusAccepted)
	if c.Device != "dev-t" || c.Payload != "LED ON" || c.PayloadHex != "4c4544204f4e" || c.State != server.CmdSent || c.Via != "tcp" {
		t.Errorf("command = %+v", c)
	}
	if c := post("dev-t", "text/plain; charset=utf-8", "LED OFF", http.StatusAccepted); c.Payload != "LED OFF" {
		t.Errorf("text/plain command = %+v", c)
	}
	if c := post("dev-t", "application/json", `{"payload_hex": "4c4544"}`, http.StatusAccepted); c.Payload != "LED" {
		t.Errorf("hex command = %+v", c)
	}
	// Bytes a text line cannot carry would read as lines of their own
	// on a line-based device: refused, never sent.
	post("dev-t", "application/json", `{"payload_hex": "00ff10"}`, http.StatusBadRequest)
	post("dev-t", "application/json", `{"payload": "x\n#cmd 999 REBOOT"}`, http.StatusBadRequest)
	waitFor(t, 5*time.Second, "the device to get the three text commands", func() bool { return len(dev.commands()) == 3 })

	post("dev-nobody", "application/json", `{"payload": "LED ON"}`, http.StatusNotFound)
	post(url.PathEscape("<img src=x>"), "application/json", `{"payload": "LED ON"}`, http.StatusBadRequest)
	post("dev-t", "application/json", `{"payload": ""}`, http.StatusBadRequest)
	post("dev-t", "application/json", `{}`, http.StatusBadRequest)
	post("dev-t", "application/json", `{"payload": "a", "payload_hex": "61"}`, http.StatusBadRequest)
	post("dev-t", "application/json", `{"payload_hex": "zz"}`, http.StatusBadRequest)
	post("dev-t", "application/json", `{"payload": "LED ON", "admin": true}`, http.StatusBadRequest)
	post("dev-t", "application/json", `{"payload": "`+strings.Repeat("x", 513)+`"}`, http.StatusBadRequest)
	post("dev-t", "text/plain", strings.Repeat("x", 5000), http.StatusBadRequest)
	post("dev-t", "application/xml", `<cmd/>`, http.StatusBadRequest)

	var got Command
	e.getJSON(t, fmt.Sprintf("/api/commands/%d", c.ID), "", &got)
	if got.ID != c.ID || got.Payload != "LED ON" {
		t.Errorf("GET command = %+v", got)
	}
	for path, want := range map[string]int{"/api/commands/abc": 400, "/api/commands/-1": 400, fmt.Sprintf("/api/commands/%d", c.ID^1): 404} {
		if code, _, body := e.do(t, "GET", path, "", "", ""); code != want {
			t.Errorf("GET %s: %d %s, want %d", path, code, body, want)
		}
	}

	// Offline, commands queue up to the per-device bound, then 429.
	_ = dev.conn.Close()
	waitFor(t, 5*time.Second, "dev-t offline", func() bool { d, _ := e.srv.Device("dev-t"); return !d.Online })
	for range 2 {
		if c := post("dev-t", "text/plain", "LED ON", http.StatusAccepted); c.State != server.CmdQueued {
			t.Errorf("offline command state %s, want queued", c.State)
		}
	}
	code, hdr, _ := e.do(t, "POST", "/api/devices/dev-t/commands", "", "text/plain", "LED ON")
	if code != http.StatusTooManyRequests || hdr.Get("Retry-After") == "" {
		t.Errorf("full queue: %d Retry-After %q, want 429 with Retry-After", code, hdr.Get("Retry-After"))
	}
}
