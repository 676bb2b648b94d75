package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/fleetwire/fleetwire/server"
	"github.com/fleetwire/fleetwire/server/sink"
)

// APIStats is the part of a server's GET /api/stats (server.Stats, which
// the server samples once a second) that the bench and the planner read.
type APIStats struct {
	Engine      string                           `json:"engine"`
	Connections int64                            `json:"connections"`
	Datagrams   uint64                           `json:"datagrams"`
	EOS         int                              `json:"eos_devices"`
	Stored      uint64                           `json:"stored"`
	Dropped     map[string]uint64                `json:"dropped"`
	Errors      map[string]uint64                `json:"errors"`
	Transports  map[string]server.TransportStats `json:"transports"`
	Latency     server.LatencyStats              `json:"latency_ms"`
	Acks        server.AckStats                  `json:"acks"` // acknowledged delivery
	Sink        sink.Stats                       `json:"sink"`
	SampledAt   time.Time                        `json:"sampled_at"` // tells snapshots apart
}

// StatsClient asks a server started for a run how it is doing.
type StatsClient struct {
	c   *http.Client
	url string
}

// NewStatsClient returns a client for the server's HTTP side at addr;
// dial, when not nil, reaches it (inside a network namespace).
func NewStatsClient(dial func(ctx context.Context, network, addr string) (net.Conn, error), addr string) *StatsClient {
	tr := &http.Transport{DialContext: dial, MaxIdleConns: 1, DisableCompression: true}
	return &StatsClient{c: &http.Client{Transport: tr, Timeout: 5 * time.Second}, url: "http://" + addr}
}

func (sc *StatsClient) get(ctx context.Context, path string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, sc.url+path, nil)
	if err != nil {
		return nil, err
	}
	return sc.c.Do(req)
}

// Close releases the client's idle connection.
func (sc *StatsClient) Close() { sc.c.CloseIdleConnections() }

// Ready reports whether the server answers /readyz with 200.
func (sc *StatsClient) Ready(ctx context.Context) bool {
	resp, err := sc.get(ctx, "/readyz")
	if err != nil {
		return false
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// Stats reads /api/stats.
func (sc *StatsClient) Stats(ctx context.Context) (*APIStats, error) {
	resp, err := sc.get(ctx, "/api/stats")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET /api/stats: %s", resp.Status)
	}
	var st APIStats
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		return nil, fmt.Errorf("GET /api/stats: %w", err)
	}
	return &st, nil
}
