package server

import (
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// helloMap remembers, per UDP listener, which device each source address
// said hello for: a device that sends "#hello NAME" and then bare values
// from the same socket is NAME, until another hello from that address or
// until the address has been silent for the idle time. It is bounded:
// beyond max addresses a new hello is not remembered (its frames still
// count, named by the listener's naming), so a flood of hellos from
// forged sources costs a bounded map.
type helloMap struct {
	mu  sync.RWMutex
	m   map[netip.AddrPort]*udpHello
	max int
}

type udpHello struct {
	id []byte       // owned copy
	at atomic.Int64 // unix ns of the address's last datagram that used it
}

func newHelloMap(max int) *helloMap {
	return &helloMap{m: make(map[netip.AddrPort]*udpHello), max: max}
}

// bind makes src speak for id from now on.
func (h *helloMap) bind(src netip.AddrPort, id []byte, now int64) {
	if h == nil {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	e := h.m[src]
	switch {
	case e != nil && string(e.id) == string(id):
	case e != nil:
		e.id = append(e.id[:0], id...)
	case len(h.m) >= h.max:
		return
	default:
		e = &udpHello{id: append([]byte(nil), id...)}
		h.m[src] = e
	}
	e.at.Store(now)
}

// lookup returns the device src said hello for, nil if none. The slice
// stays valid until the next bind or expire: copy what you keep past the
// frame.
func (h *helloMap) lookup(src netip.AddrPort, now int64) []byte {
	if h == nil {
		return nil
	}
	h.mu.RLock()
	e := h.m[src]
	h.mu.RUnlock()
	if e == nil {
		return nil
	}
	e.at.Store(now)
	return e.id
}

// expire forgets addresses silent for longer than idle.
func (h *helloMap) expire(now int64, idle time.Duration) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for src, e := range h.m {
		if now-e.at.Load() > int64(idle) {
			delete(h.m, src)
		}
	}
}
