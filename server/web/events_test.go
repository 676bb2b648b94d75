package web

import (
	"bufio"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fleetwire/fleetwire/server"
)

// readEvents reads n events of the stream at path.
func readEvents(t *testing.T, e *env, path string, n int) []string {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), "GET", e.ts.URL+path, nil)
	res, err := e.ts.Client().Do(req)
	if err != nil {
		t.Fatalf("GET %s: %s", path, err)
	}
	defer res.Body.Close()
	if res.StatusCode != 200 || res.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("GET %s: %d %q", path, res.StatusCode, res.Header.Get("Content-Type"))
	}
	sc := bufio.NewScanner(res.Body)
	sc.Buffer(nil, 1<<20)
	var out []string
	event := ""
	done := time.AfterFunc(10*time.Second, func() { res.Body.Close() })
	defer done.Stop()
	for len(out) < n && sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "event: "):
			event = line[len("event: "):]
		case strings.HasPrefix(line, "data: "):
			out = append(out, event+" "+line[len("data: "):])
		}
	}
	if len(out) < n {
		t.Fatalf("GET %s: %d events, want %d (%v)", path, len(out), n, sc.Err())
	}
	return out
}

func TestStatsEvents(t *testing.T) {
	e := newEnv(t, Config{}, server.Config{})
	dev := dialDevice(t, "udp", e.addr(server.UDP), "dev-e", true)
	stop := make(chan struct{})
	defer close(stop)
	go feed([]*device{dev}, 20*time.Millisecond, stop)

	// Ten intervals of 100 ms: the device sends every 20 ms, but on a
	// loaded machine a single interval can pass without a reading (its
	// rate is then rightly 0), so the rate is wanted in some interval.
	evs := readEvents(t, e, "/api/events", 10)
	type snap struct {
		SampledAt time.Time `json:"sampled_at"`
		Readings  uint64    `json:"readings"`
		Rates     Point     `json:"rates"`
	}
	var first, last snap
	var rates []float64
	for i, ev := range evs {
		kind, data, _ := strings.Cut(ev, " ")
		if kind != "stats" {
			t.Fatalf("event %d is %q, want stats", i, kind)
		}
		var s snap
		if err := json.Unmarshal([]byte(data), &s); err != nil {
			t.Fatalf("event %d: %s", i, err)
		}
		if i == 0 {
			first = s
		} else {
			rates = append(rates, s.Rates.Readings)
		}
		last = s
	}
	if !last.SampledAt.After(first.SampledAt) || last.Readings <= first.Readings {
		t.Errorf("stream did not move: first %v %d readings, last %v %d", first.SampledAt, first.Readings, last.SampledAt, last.Readings)
	}
	if slices.Max(rates) <= 0 {
		t.Errorf("rates.readings_per_s = %v with a device sending", rates)
	}
}

func TestDeviceEvents(t *testing.T) {
	e := newEnv(t, Config{}, server.Config{})
	dev := dialDevice(t, "tcp", e.addr(server.TCP), "dev-f", true)
	stop := make(chan struct{})
	defer close(stop)
	go feed([]*device{dev}, 20*time.Millisecond, stop)
	waitFor(t, 5*time.Second, "dev-f", func() bool { _, ok := e.srv.Device("dev-f"); return ok })

	evs := readEvents(t, e, "/api/devices/dev-f/events", 3)
	type devJSON struct {
		ID         string   `json:"id"`
		Readings   uint64   `json:"readings"`
		LastValues []string `json:"last_values"`
	}
	var a, b devJSON
	for i, ev := range []string{evs[0], evs[2]} {
		kind, data, _ := strings.Cut(ev, " ")
		dst := []*devJSON{&a, &b}[i]
		if err := json.Unmarshal([]byte(data), dst); kind != "device" || err != nil {
			t.Fatalf("event %q: %v", kind, err)
		}
	}
	if a.ID != "dev-f" || b.Readings <= a.Readings || len(b.LastValues) != 2 {
		t.Errorf("device stream: first %+v, last %+v", a, b)
	}
}

func TestStreamLimit(t *testing.T) {
	e := newEnv(t, Config{MaxStreams: 1}, server.Config{})
	req, _ := http.NewRequestWithContext(t.Context(), "GET", e.ts.URL+"/api/events", nil)
	res, err := e.ts.Client().Do(req)
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("first stream: %v %v", res, err)
	}
	defer res.Body.Close()
	if code, _, body := e.do(t, "GET", "/api/events", "", "", ""); code != http.StatusServiceUnavailable {
		t.Errorf("second stream: %d %s, want 503", code, body)
	}
}
