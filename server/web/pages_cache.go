package web

import (
	"sync"
	"time"

	"github.com/fleetwire/fleetwire/server"
)

// deviceCache remembers pages of /api/devices for one sampling interval.
// server.Devices snapshots and sorts every matching session (about
// 150 ms and 140 MB of garbage at 100k devices), so tabs that refresh the
// same view share one computation, and at most two run at a time.
type deviceCache struct {
	ttl  time.Duration
	sem  chan struct{}
	mu   sync.Mutex
	ents map[server.DeviceQuery]cachedPage
}

type cachedPage struct {
	at    time.Time
	devs  []server.Device
	total int
}

const deviceCacheSize = 64

func newDeviceCache(ttl time.Duration) *deviceCache {
	return &deviceCache{ttl: ttl, sem: make(chan struct{}, 2), ents: make(map[server.DeviceQuery]cachedPage)}
}

func (c *deviceCache) get(srv *server.Server, q server.DeviceQuery) ([]server.Device, int) {
	now := time.Now()
	c.mu.Lock()
	e, ok := c.ents[q]
	c.mu.Unlock()
	if ok && now.Sub(e.at) < c.ttl {
		return e.devs, e.total
	}
	c.sem <- struct{}{}
	devs, total := srv.Devices(q)
	<-c.sem
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.ents) >= deviceCacheSize {
		for k, v := range c.ents {
			if now.Sub(v.at) >= c.ttl || len(c.ents) >= deviceCacheSize {
				delete(c.ents, k)
			}
		}
	}
	c.ents[q] = cachedPage{at: now, devs: devs, total: total}
	return devs, total
}
