package plan

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/fleetwire/fleetwire/codec"
	"github.com/fleetwire/fleetwire/codec/framing"
	"github.com/fleetwire/fleetwire/codec/wire"
)

// The throttled stub: a test-only UDP server that accepts frames and
// keeps only what a token bucket of a fixed readings/s budget allows,
// dropping every frame beyond it whole (counted in its stats as the
// server counts readings its sink refused). It answers /readyz and the part
// of /api/stats a step reads, so a sweep measures it exactly as it
// measures `fleetwire serve`. The test binary becomes the stub when
// envStub holds the budget.
const (
	envStub     = "FLEETWIRE_PLAN_STUB_BUDGET"
	envStubUDP  = "FLEETWIRE_PLAN_STUB_UDP"
	envStubHTTP = "FLEETWIRE_PLAN_STUB_HTTP"
	// envStubDevices is how many devices share the budget, evenly.
	envStubDevices = "FLEETWIRE_PLAN_STUB_DEVICES"
)

type stub struct {
	mu                          sync.Mutex
	budget, burst               float64 // per device
	buckets                     map[string]*bucket
	datagrams, frames, readings uint64
	rxBytes, dropped            uint64
	devices, eos                map[string]bool
}

// bucket is one device's share of the budget.
type bucket struct {
	tokens float64
	last   time.Time
}

// admit takes n readings from dev's bucket, refilled at its share of the
// budget per second up to its share of the burst, on the clock of the
// frames' own timestamps: a stall of the stub (or of the generator) then
// changes nothing, and what it keeps depends on the offered rate alone.
// One bucket per device, because a device's frames arrive in its own
// time order but different devices' do not: the generator's event loops
// stall unevenly, and a lagging device's frames, older than what another
// device already sent, would find a shared bucket's refill for their time
// already capped at the burst and be dropped beyond the budget. mu is held.
func (s *stub) admit(dev string, n int, now time.Time) bool {
	b := s.buckets[dev]
	if b == nil {
		b = &bucket{tokens: s.burst, last: now}
		s.buckets[dev] = b
	}
	if now.After(b.last) {
		b.tokens = min(s.burst, b.tokens+now.Sub(b.last).Seconds()*s.budget)
		b.last = now
	}
	if b.tokens < float64(n) {
		return false
	}
	b.tokens -= float64(n)
	return true
}

func runStub() error {
	budget, err := strconv.ParseFloat(os.Getenv(envStub), 64)
	if err != nil || budget <= 0 {
		return fmt.Errorf("%s=%q", envStub, os.Getenv(envStub))
	}
	devices, err := strconv.Atoi(os.Getenv(envStubDevices))
	if err != nil || devices <= 0 {
		return fmt.Errorf("%s=%q", envStubDevices, os.Getenv(envStubDevices))
	}
	pc, err := net.ListenPacket("udp", os.Getenv(envStubUDP))
	if err != nil {
		return err
	}
	_ = pc.(*net.UDPConn).SetReadBuffer(4 << 20)
	// A burst of 10 ms absorbs frames that share a millisecond
	// timestamp and the generator's jitter, and lets 1 % of a second's
	// budget more through.
	share := budget / float64(devices)
	s := &stub{budget: share, burst: share / 100, buckets: map[string]*bucket{},
		devices: map[string]bool{}, eos: map[string]bool{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {})
	mux.HandleFunc("GET /api/stats", func(w http.ResponseWriter, _ *http.Request) {
		s.mu.Lock()
		st := map[string]any{
			"connections": 0, "datagrams": s.datagrams, "eos_devices": len(s.eos), "stored": s.readings,
			"dropped": map[string]uint64{"stub_budget": s.dropped},
			"transports": map[string]any{"udp": map[string]any{"devices": len(s.devices), "frames": s.frames, "readings": s.readings,
				"rx_bytes": s.rxBytes, "payload_bytes": s.rxBytes, "dropped": map[string]uint64{"stub_budget": s.dropped}}},
			"sampled_at": time.Now(),
		}
		s.mu.Unlock()
		_ = json.NewEncoder(w).Encode(st)
	})
	go func() { _ = http.ListenAndServe(os.Getenv(envStubHTTP), mux) }()

	dec := wire.NewDecoder(codec.Limits{}, 0, nil)
	split := framing.NewSplitter('\n', codec.DefaultMaxFrame)
	var b codec.Batch
	buf := make([]byte, 64<<10)
	for {
		n, _, err := pc.ReadFrom(buf)
		if err != nil {
			return err
		}
		s.mu.Lock()
		s.datagrams++
		for off := 0; off < n; {
			adv, fr, err := split.Split(buf[off:n], true)
			if err != nil || adv == 0 {
				break
			}
			off += adv
			b.Reset()
			if fr == nil || dec.Decode(&b, fr) != nil {
				continue
			}
			for i := range b.Controls {
				if c := &b.Controls[i]; c.Kind == codec.ControlEOS {
					s.eos[string(c.Device)] = true
				}
			}
			for i := range b.Frames {
				f := &b.Frames[i]
				// As the server does: every reading received is
				// counted, and those it then drops counted by reason.
				s.devices[string(f.Device)] = true
				s.frames++
				s.readings += uint64(f.Readings())
				s.rxBytes += uint64(len(fr))
				if len(f.Times) == 0 || !s.admit(string(f.Device), f.Readings(), time.UnixMilli(f.Times[len(f.Times)-1])) {
					s.dropped += uint64(f.Readings())
				}
			}
		}
		s.mu.Unlock()
	}
}

var errNoStub = errors.New("not the stub")

// stubMain runs the stub when this test binary was started as one.
func stubMain() error {
	if os.Getenv(envStub) == "" {
		return errNoStub
	}
	return runStub()
}
