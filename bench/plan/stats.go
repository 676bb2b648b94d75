package plan

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/fleetwire/fleetwire/server"
)

// apiStats is the part of GET /api/stats a step uses. The server samples
// it once a second; SampledAt tells snapshots apart.
type apiStats struct {
	Connections int64                            `json:"connections"`
	Datagrams   uint64                           `json:"datagrams"`
	EOS         int                              `json:"eos_devices"`
	Stored      uint64                           `json:"stored"`
	Dropped     map[string]uint64                `json:"dropped"`
	Errors      map[string]uint64                `json:"errors"`
	Transports  map[string]server.TransportStats `json:"transports"`
	Latency     server.LatencyStats              `json:"latency_ms"`
	SampledAt   time.Time                        `json:"sampled_at"`
}

type statsClient struct {
	c   *http.Client
	url string
}

func newStatsClient(addr string) *statsClient {
	tr := &http.Transport{MaxIdleConns: 1, DisableCompression: true}
	return &statsClient{c: &http.Client{Transport: tr, Timeout: 5 * time.Second}, url: "http://" + addr}
}

func (sc *statsClient) get(ctx context.Context, path string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, sc.url+path, nil)
	if err != nil {
		return nil, err
	}
	return sc.c.Do(req)
}

func (sc *statsClient) ready(ctx context.Context) bool {
	resp, err := sc.get(ctx, "/readyz")
	if err != nil {
		return false
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

func (sc *statsClient) stats(ctx context.Context) (*apiStats, error) {
	resp, err := sc.get(ctx, "/api/stats")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET /api/stats: %s", resp.Status)
	}
	var st apiStats
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		return nil, fmt.Errorf("GET /api/stats: %w", err)
	}
	return &st, nil
}
