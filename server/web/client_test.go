package web

import (
	"context"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fleetwire/fleetwire/server"
)

// TestClientStats: Stats carries the snapshot's time, and WithDialer's
// dial is the one that reaches the server.
func TestClientStats(t *testing.T) {
	e := newEnv(t, Config{}, server.Config{})
	udpFleet(t, e, 3)
	var dials atomic.Int32
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		dials.Add(1)
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}
	c, err := NewClient(e.ts.URL, WithDialer(dial), WithTimeout(3*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	if !c.Ready(ctx) {
		t.Fatal("not ready")
	}
	var st Snapshot
	waitFor(t, 5*time.Second, "stats to show the readings", func() bool {
		if st, err = c.Stats(ctx); err != nil {
			t.Fatal(err)
		}
		return st.Transports["udp"].Readings == 12
	})
	if st.SampledAt.IsZero() || st.Devices != 3 {
		t.Fatalf("sampled_at %v, devices %d", st.SampledAt, st.Devices)
	}
	if dials.Load() == 0 {
		t.Fatal("the dialer was not used")
	}
	if c.hc.Timeout != 3*time.Second {
		t.Fatalf("timeout %v", c.hc.Timeout)
	}
}
