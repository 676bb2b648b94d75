package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/fleetwire/fleetwire/codec"
)

func init() { subcommands = append(subcommands, newCommandCmd) }

// apiCommand is a command as GET /api/commands/{id} shows it.
type apiCommand struct {
	ID      uint64 `json:"id"`
	Device  string `json:"device"`
	Payload string `json:"payload"`
	State   string `json:"state"`
	Ack     string `json:"ack"`
	Detail  string `json:"detail"`
	Via     string `json:"via"`
	Raw     bool   `json:"raw"`
}

// final: nothing more will happen to it. A raw command is done once sent.
func (c *apiCommand) final() bool {
	return c.State == "acked" || c.State == "failed" || c.State == "expired" || c.Raw && c.State == "sent"
}

func (c *apiCommand) String() string {
	s := fmt.Sprintf("command %d for %s: %s", c.ID, c.Device, c.State)
	if c.Ack != "" {
		s += " (" + c.Ack + ")"
	}
	if c.Via != "" {
		s += " via " + c.Via
	}
	if c.Detail != "" {
		s += ": " + c.Detail
	}
	return s
}

func newCommandCmd() *cobra.Command {
	var device, addr, token string
	var wait, isHex, raw, framed bool
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "command --device ID [--http ADDR] [--token T] [--wait] PAYLOAD",
		Short: "Send a downlink command to a device through a running server's API",
		Long: `Send a downlink command (at most 512 bytes) to a device through the HTTP API
of a running "fleetwire serve". The server writes it to the device's TCP/TLS
connection or its last UDP address, or queues it (bounded, with a TTL) while
the device is unreachable. The device answers with an ack frame.

With --raw the device gets exactly the payload's bytes, nothing added (a
plain device that reads "128," up to its own END byte), and the command is
done once written: no ack is expected. --framed asks for a #cmd frame on a
listener whose devices get raw commands by default.

Prints the command's id and state. With --wait it polls until the command is
acked, failed or expired (or, raw, sent), and exits non-zero unless the
device acked it "ok" (or, raw, it was sent).`,
		Example: `  fleetwire command --device mote-3 "LED ON"
  fleetwire command --device mote-3 --wait "LED TOGGLE"
  fleetwire command --device 192.168.1.40 --raw --wait 128,
  FLEETWIRE_TOKEN=... fleetwire command --http 10.0.0.5:7080 --device mote-3 --hex --wait 0102ff`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if !codec.ValidID([]byte(device)) {
				return fmt.Errorf("--device %q: want 1-64 bytes of [A-Za-z0-9._-]", device)
			}
			base, err := apiBase(addr)
			if err != nil {
				return err
			}
			if raw && framed {
				return fmt.Errorf("--raw and --framed: give one")
			}
			body := map[string]any{"payload": args[0]}
			if isHex {
				if _, err := hex.DecodeString(args[0]); err != nil {
					return fmt.Errorf("--hex payload: %w", err)
				}
				body = map[string]any{"payload_hex": args[0]}
			}
			if raw || framed {
				body["raw"] = raw
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			api := apiClient{base: base, token: token}
			var c apiCommand
			if err := api.do(ctx, "POST", "/api/devices/"+device+"/commands", body, &c); err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			fmt.Fprintln(out, c.String())
			if !wait {
				return nil
			}
			last := c.State
			for !c.final() {
				select {
				case <-ctx.Done():
					return fmt.Errorf("command %d still %s after %s", c.ID, c.State, timeout)
				case <-time.After(200 * time.Millisecond):
				}
				if err := api.do(ctx, "GET", fmt.Sprintf("/api/commands/%d", c.ID), nil, &c); err != nil {
					return err
				}
				if c.State != last {
					fmt.Fprintln(out, c.String())
					last = c.State
				}
			}
			if c.Raw && c.State == "sent" {
				return nil
			}
			if c.State != "acked" || c.Ack != "ok" {
				return fmt.Errorf("not acked ok: %s", c.String())
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&device, "device", "", "device id")
	f.StringVar(&addr, "http", "127.0.0.1:7080", "the server's HTTP address (host:port or URL)")
	f.StringVar(&token, "token", os.Getenv("FLEETWIRE_TOKEN"), "bearer token of the API (default $FLEETWIRE_TOKEN; prefer the variable: arguments show in ps)")
	f.BoolVar(&wait, "wait", false, "wait until the command is acked, failed or expired; exit non-zero unless acked ok")
	f.BoolVar(&isHex, "hex", false, "the payload is hex: send those bytes (binary commands)")
	f.BoolVar(&raw, "raw", false, "send exactly the payload's bytes, nothing added; done once written, no ack expected")
	f.BoolVar(&framed, "framed", false, "send a #cmd frame the device acknowledges, where its listener sends raw by default")
	f.DurationVar(&timeout, "timeout", 60*time.Second, "give up after this long")
	_ = cmd.MarkFlagRequired("device")
	return cmd
}

// apiBase turns "host:port" or a URL into the API's base URL.
func apiBase(addr string) (string, error) {
	if !strings.Contains(addr, "://") {
		addr = "http://" + addr
	}
	u, err := url.Parse(addr)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return "", fmt.Errorf("--http %q: want host:port or an http(s) URL", addr)
	}
	return strings.TrimRight(u.String(), "/"), nil
}

type apiClient struct {
	base, token string
}

// do sends a JSON request and decodes a 2xx JSON answer into out; other
// answers become errors carrying the API's message.
func (a apiClient) do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, a.base+path, body)
	if err != nil {
		return err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if a.token != "" {
		req.Header.Set("Authorization", "Bearer "+a.token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, 1<<20))
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
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("%s %s: decode answer: %w", method, path, err)
	}
	return nil
}
