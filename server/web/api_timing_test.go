package web

import (
	"bufio"
	"fmt"
	"net"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/fleetwire/fleetwire/server"
)

// BenchmarkAPIDevices measures one page of /api/devices over a fleet of
// 100k devices: server.Devices snapshots and sorts every matching session,
// which is what the page cache (one sampling interval) saves.
func BenchmarkAPIDevices(b *testing.B) {
	const fleet = 100_000
	e := newEnv(b, Config{}, server.Config{})
	// One TCP stream whose frames name 100k devices: lossless, unlike UDP.
	c, err := net.Dial("tcp", e.addr(server.TCP))
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	w := bufio.NewWriter(c)
	for i := range fleet {
		fmt.Fprintf(w, "d-%06d;0;%d.5\n", i, i%100)
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for _, n := e.srv.Devices(server.DeviceQuery{Limit: 1}); n < fleet; _, n = e.srv.Devices(server.DeviceQuery{Limit: 1}) {
		if time.Now().After(deadline) {
			b.Fatalf("%d of %d devices arrived", n, fleet)
		}
		time.Sleep(50 * time.Millisecond)
	}
	h := e.web.Handler()
	run := func(name, q string) {
		b.Run(name+q, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				w := httptest.NewRecorder()
				h.ServeHTTP(w, httptest.NewRequest("GET", "http://127.0.0.1/api/devices"+q, nil))
				if w.Code != 200 {
					b.Fatalf("status %d", w.Code)
				}
			}
		})
	}
	e.web.devs = newDeviceCache(0) // every request computes its page
	for _, q := range []string{"?limit=100&sort=-readings", "?limit=100", "?limit=100&q=d-0999"} {
		run("uncached", q)
	}
	e.web.devs = newDeviceCache(time.Hour) // every request after the first shares it
	run("cached", "?limit=100")
}
