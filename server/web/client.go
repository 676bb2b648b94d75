package web

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Client speaks the JSON API this package serves: the CLI's `command`
// and the benchmarks use it, so that the API's shapes live here once.
// It is safe for concurrent use.
type Client struct {
	base  string
	token string
	hc    *http.Client
}

// ClientOption configures a Client.
type ClientOption func(*Client)

// WithToken sends the bearer token the server requires (--http-token).
func WithToken(token string) ClientOption { return func(c *Client) { c.token = token } }

// WithDialer reaches the server through dial, e.g. inside a network
// namespace.
func WithDialer(dial func(ctx context.Context, network, addr string) (net.Conn, error)) ClientOption {
	return func(c *Client) {
		c.hc = &http.Client{Transport: &http.Transport{DialContext: dial, MaxIdleConns: 1, DisableCompression: true},
			Timeout: c.hc.Timeout}
	}
}

// WithTimeout bounds each request, answer included (default 10 s).
func WithTimeout(d time.Duration) ClientOption { return func(c *Client) { c.hc.Timeout = d } }

// NewClient returns a client of the server whose HTTP side is at addr:
// "host:port" or an http(s) URL.
func NewClient(addr string, opts ...ClientOption) (*Client, error) {
	if !strings.Contains(addr, "://") {
		addr = "http://" + addr
	}
	u, err := url.Parse(addr)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return nil, fmt.Errorf("web: address %q: want host:port or an http(s) URL", addr)
	}
	c := &Client{base: strings.TrimRight(u.String(), "/"), hc: &http.Client{Timeout: 10 * time.Second}}
	for _, o := range opts {
		o(c)
	}
	return c, nil
}

// Close releases idle connections.
func (c *Client) Close() { c.hc.CloseIdleConnections() }

// Do sends a JSON request (in, when not nil) and decodes a 2xx JSON answer
// into out (when not nil); any other answer is an error carrying the
// API's message.
func (c *Client) Do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	res, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("%s %s: read answer: %w", method, path, err)
	}
	if res.StatusCode/100 != 2 {
		var e struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(b, &e) != nil || e.Error == "" {
			e.Error = strings.TrimSpace(string(b))
		}
		return fmt.Errorf("%s %s: %s: %s", method, path, res.Status, e.Error)
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("%s %s: decode answer: %w", method, path, err)
	}
	return nil
}

// Ready reports whether the server answers /readyz with 200.
func (c *Client) Ready(ctx context.Context) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+"/readyz", nil)
	if err != nil {
		return false
	}
	res, err := c.hc.Do(req)
	if err != nil {
		return false
	}
	_, _ = io.Copy(io.Discard, res.Body)
	res.Body.Close()
	return res.StatusCode == http.StatusOK
}

// CommandRequest is the body of POST /api/devices/{id}/commands: a
// payload as text or hex, and optionally whether it goes raw.
type CommandRequest struct {
	Payload    *string `json:"payload,omitempty"`
	PayloadHex *string `json:"payload_hex,omitempty"`
	Raw        *bool   `json:"raw,omitempty"`
}

// Submit sends a command to device id.
func (c *Client) Submit(ctx context.Context, id string, req CommandRequest) (Command, error) {
	var cmd Command
	err := c.Do(ctx, http.MethodPost, "/api/devices/"+url.PathEscape(id)+"/commands", req, &cmd)
	return cmd, err
}

// Command returns a command by id.
func (c *Client) Command(ctx context.Context, id uint64) (Command, error) {
	var cmd Command
	err := c.Do(ctx, http.MethodGet, "/api/commands/"+strconv.FormatUint(id, 10), nil, &cmd)
	return cmd, err
}

// Stats returns the server's last sample of its stats (GET /api/stats):
// server.Stats, when it was taken (the server samples once a second, so
// SampledAt tells a fresh answer from a repeated one) and the rates of
// the interval before.
func (c *Client) Stats(ctx context.Context) (Snapshot, error) {
	var st Snapshot
	err := c.Do(ctx, http.MethodGet, "/api/stats", nil, &st)
	return st, err
}

// Cluster returns the cluster's view from this node (GET /api/cluster).
func (c *Client) Cluster(ctx context.Context) (Cluster, error) {
	var v Cluster
	err := c.Do(ctx, http.MethodGet, "/api/cluster", nil, &v)
	return v, err
}

// Device returns one device (GET /api/devices/{id}).
func (c *Client) Device(ctx context.Context, id string) (Device, error) {
	var d Device
	err := c.Do(ctx, http.MethodGet, "/api/devices/"+url.PathEscape(id), nil, &d)
	return d, err
}
