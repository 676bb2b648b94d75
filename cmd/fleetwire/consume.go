package main

import (
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/spf13/cobra"

	"github.com/fleetwire/fleetwire/server/natssink"
)

func init() { subcommands = append(subcommands, newConsumeCmd) }

func newConsumeCmd() *cobra.Command {
	var (
		url   string
		since string
		o     natssink.ReadOptions
	)
	cmd := &cobra.Command{
		Use:   "consume --nats URL [--stream S] [--device ID]... [--since T] [--follow]",
		Short: "Print the readings of the JetStream stream as interchange CSV",
		Long: `consume reads the stream that servers started with --sink nats://... publish
to, and prints its readings as interchange CSV, the same output as export:
device,seq,unix_ms,ch1..ch8, narrower rows ending in empty cells; a wider
device prints a new header line of its width first (--channels sets the
width up front). Rows come in stream order: per device, the order the
devices sent them.

Without --follow it stops at the last message of the stream as of its
start; with --follow it keeps printing new readings until interrupted.

--since keeps rows whose device time is at or after T, given as unix ms,
RFC 3339 (2026-11-25T11:00:00Z) or a duration back from now (15m); rows
without a device time are left out then. Reading starts at the messages
stored a minute before T.

At the end it logs what it read, with the rows missing from each device's
sequence numbers between its first and last row (readings a node held only
in memory when it died, or that never reached a node, show there) and the
rows whose device and sequence number came before (stored twice: see
"Acknowledging devices across nodes" in server/natssink/README.md for when). A missing
or duplicate row logs a warning.`,
		Example: `  fleetwire consume --nats nats://127.0.0.1:4222 > all.csv
  fleetwire consume --nats nats://n1:4222,n2:4222 --device mote-3 --since 15m
  fleetwire consume --nats nats://127.0.0.1:4222 --follow`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if since != "" {
				ms, err := parseSince(since, time.Now())
				if err != nil {
					return err
				}
				o.Since, o.HasSince = ms, true
			}
			if env := os.Getenv("FLEETWIRE_NATS_URL"); env != "" && !cmd.Flags().Changed("nats") {
				url = env // a URL with a password stays out of ps
			}
			urls, err := natssink.ServerURLs(url)
			if err != nil {
				return fmt.Errorf("--nats: %w", err)
			}
			nc, err := nats.Connect(strings.Join(urls, ","), nats.Name("fleetwire consume"))
			if err != nil {
				return fmt.Errorf("connect %s: %w", redactURL(url), err)
			}
			defer nc.Close()
			st, err := natssink.Read(cmd.Context(), nc, cmd.OutOrStdout(), o, func(seq uint64, err error) {
				slog.Warn("consume: skipped a message that does not decode", "stream_seq", seq, "err", err)
			})
			level := slog.LevelInfo
			if st.MissingRows > 0 || st.DuplicateRows > 0 || st.Skipped > 0 {
				level = slog.LevelWarn
			}
			slog.Log(cmd.Context(), level, "consumed", "messages", st.Messages, "rows", st.Rows, "skipped", st.Skipped,
				"devices", st.Devices, "missing_rows", st.MissingRows, "missing_readings", st.MissingReadings, "devices_with_gaps", st.GapDevices,
				"duplicate_rows", st.DuplicateRows, "duplicate_readings", st.DuplicateReadings, "devices_with_duplicates", st.DupDevices)
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&url, "nats", "nats://127.0.0.1:4222", "NATS servers: nats://host:4222[,host2:4222...]; $FLEETWIRE_NATS_URL, when set, replaces the default (a URL with a password stays out of ps)")
	f.StringVar(&o.Stream, "stream", natssink.DefaultStream, "JetStream stream")
	f.StringSliceVar(&o.Devices, "device", nil, "only these devices (repeat the flag or separate with commas)")
	f.StringVar(&since, "since", "", "only rows with device time at or after this: unix ms, RFC 3339, or a duration back from now")
	f.BoolVar(&o.Follow, "follow", false, "keep printing new readings until interrupted")
	f.IntVar(&o.Channels, "channels", 8, "value columns of the header (wider devices print a wider header when they appear)")
	return cmd
}
