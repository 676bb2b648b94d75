package web

import (
	"encoding/json"
	"net/http"
	"time"
)

// Server-sent events. Every stream wakes on the recorder's tick, so one
// timer paces all of them, and a stream that cannot write within
// streamWriteTimeout is dropped instead of piling up behind a slow client.
const streamWriteTimeout = 10 * time.Second

// stream prepares w for an event stream; it answers 503 itself and
// returns nil when too many streams are open.
func (s *Server) stream(w http.ResponseWriter) (*http.ResponseController, func()) {
	if s.streams.Add(1) > int64(s.cfg.MaxStreams) {
		s.streams.Add(-1)
		w.Header().Set("Retry-After", "10")
		jsonError(w, http.StatusServiceUnavailable, "too many event streams open")
		return nil, nil
	}
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no") // tell reverse proxies not to buffer
	w.WriteHeader(http.StatusOK)
	return http.NewResponseController(w), func() { s.streams.Add(-1) }
}

// send writes one event and flushes it; false when the client is gone.
func send(w http.ResponseWriter, rc *http.ResponseController, event string, data []byte) bool {
	_ = rc.SetWriteDeadline(time.Now().Add(streamWriteTimeout))
	// data holds no newline (compact JSON), so it is one data line.
	if _, err := w.Write([]byte("event: " + event + "\ndata: ")); err != nil {
		return false
	}
	if _, err := w.Write(data); err != nil {
		return false
	}
	if _, err := w.Write([]byte("\n\n")); err != nil {
		return false
	}
	return rc.Flush() == nil
}

// statsEvents streams the fleet's Snapshot (event "stats") once per
// sample, starting with the latest.
func (s *Server) statsEvents(w http.ResponseWriter, r *http.Request) {
	rc, done := s.stream(w)
	if rc == nil {
		return
	}
	defer done()
	smp, next := s.rec.current()
	for {
		if !send(w, rc, "stats", smp.json) {
			return
		}
		select {
		case <-r.Context().Done():
			return
		case <-s.quit:
			return
		case <-next:
		}
		smp, next = s.rec.current()
	}
}

// deviceEvents streams one device (event "device", the JSON of GET
// /api/devices/{id}) once per sample. A device that is not known yet is
// a 404, so the page can say so instead of waiting.
func (s *Server) deviceEvents(w http.ResponseWriter, r *http.Request) {
	id, ok := deviceID(w, r)
	if !ok {
		return
	}
	if _, ok := s.srv.Device(id); !ok {
		jsonError(w, http.StatusNotFound, "unknown device")
		return
	}
	rc, done := s.stream(w)
	if rc == nil {
		return
	}
	defer done()
	_, next := s.rec.current()
	for {
		d, ok := s.device(id)
		if !ok {
			return
		}
		b, err := json.Marshal(d)
		if err != nil || !send(w, rc, "device", b) {
			return
		}
		select {
		case <-r.Context().Done():
			return
		case <-s.quit:
			return
		case <-next:
		}
		_, next = s.rec.current()
	}
}
