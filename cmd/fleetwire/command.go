package main

import (
	"context"
	"encoding/hex"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/fleetwire/fleetwire/codec"
	"github.com/fleetwire/fleetwire/server"
	"github.com/fleetwire/fleetwire/server/web"
)

func init() { subcommands = append(subcommands, newCommandCmd) }

// describe is one line about a command, as the CLI prints its progress.
func describe(c web.Command) string {
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
			if !cmd.Flags().Changed("token") {
				// Read here, not as the flag's default: --help prints defaults.
				token = os.Getenv("FLEETWIRE_TOKEN")
			}
			api, err := web.NewClient(addr, web.WithToken(token))
			if err != nil {
				return fmt.Errorf("--http: %w", err)
			}
			if raw && framed {
				return fmt.Errorf("--raw and --framed: give one")
			}
			req := web.CommandRequest{Payload: &args[0]}
			if isHex {
				if _, err := hex.DecodeString(args[0]); err != nil {
					return fmt.Errorf("--hex payload: %w", err)
				}
				req = web.CommandRequest{PayloadHex: &args[0]}
			}
			if raw || framed {
				req.Raw = &raw
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			c, err := api.Submit(ctx, device, req)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			fmt.Fprintln(out, describe(c))
			if !wait {
				return nil
			}
			last := c.State
			for !c.Final() {
				select {
				case <-ctx.Done():
					return fmt.Errorf("command %d still %s after %s", c.ID, c.State, timeout)
				case <-time.After(200 * time.Millisecond):
				}
				if c, err = api.Command(ctx, c.ID); err != nil {
					return err
				}
				if c.State != last {
					fmt.Fprintln(out, describe(c))
					last = c.State
				}
			}
			if c.Raw && c.State == server.CmdSent {
				return nil
			}
			if c.State != server.CmdAcked || c.Ack != "ok" {
				return fmt.Errorf("not acked ok: %s", describe(c))
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&device, "device", "", "device id")
	f.StringVar(&addr, "http", "127.0.0.1:7080", "the server's HTTP address (host:port or URL)")
	f.StringVar(&token, "token", "", "bearer token of the API (default $FLEETWIRE_TOKEN; prefer the variable: arguments show in ps)")
	f.BoolVar(&wait, "wait", false, "wait until the command is acked, failed or expired; exit non-zero unless acked ok")
	f.BoolVar(&isHex, "hex", false, "the payload is hex: send those bytes (binary commands)")
	f.BoolVar(&raw, "raw", false, "send exactly the payload's bytes, nothing added; done once written, no ack expected")
	f.BoolVar(&framed, "framed", false, "send a #cmd frame the device acknowledges, where its listener sends raw by default")
	f.DurationVar(&timeout, "timeout", 60*time.Second, "give up after this long")
	_ = cmd.MarkFlagRequired("device")
	return cmd
}
