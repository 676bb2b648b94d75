package main

import (
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/fleetwire/fleetwire/server"
	"github.com/fleetwire/fleetwire/server/sink"
)

func init() { subcommands = append(subcommands, newExportCmd) }

func newExportCmd() *cobra.Command {
	var (
		dataDir string
		since   string
		strict  bool
		f       sink.Filter
	)
	cmd := &cobra.Command{
		Use:   "export [--data DIR] [--device ID]... [--since T]",
		Short: "Print the readings the server stored as interchange CSV",
		Long: `export reads the segments under DIR/readings (sealed and .partial, in time
order) and prints their rows as interchange CSV: device,seq,unix_ms,ch1..chK,
K being the widest segment's; rows of narrower devices end in empty cells.
Values are printed as the devices sent them.

It can run beside a live server. A torn frame at the end of a segment (a
crash, or the frame being written right now) is reported on stderr and
skipped; every row before it is printed.

--since keeps rows whose device time is at or after T, given as unix ms,
RFC 3339 (2026-11-25T11:00:00Z) or a duration back from now (15m); rows
without a device time are left out then.`,
		Example: `  fleetwire export --data ./data > all.csv
  fleetwire export --device mote-3 --since 2026-11-25T11:00:00Z
  zstdcat data/readings/seg-*.csv.zst   # the same rows, one header per segment`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if since != "" {
				ms, err := parseSince(since, time.Now())
				if err != nil {
					return err
				}
				f.Since, f.HasSince = ms, true
			}
			r, err := sink.OpenReader(dataDir)
			if err != nil {
				return err
			}
			defer r.Close()
			n, err := sink.Export(cmd.OutOrStdout(), r, f)
			if err != nil {
				return err
			}
			damage := r.Damage()
			for _, d := range damage {
				slog.Warn("export: skipped damaged data", "err", d)
			}
			slog.Debug("exported", "rows", n, "segments", len(r.Segments()))
			if strict && len(damage) > 0 {
				return fmt.Errorf("%d damaged parts in %s (see above)", len(damage), dataDir)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&dataDir, "data", server.Defaults.DataDir, "data directory of the server (its --data)")
	cmd.Flags().StringSliceVar(&f.Devices, "device", nil, "only these devices (repeat the flag or separate with commas)")
	cmd.Flags().StringVar(&since, "since", "", "only rows with device time at or after this: unix ms, RFC 3339, or a duration back from now")
	cmd.Flags().BoolVar(&strict, "strict", false, "exit with an error if any segment is damaged or torn")
	return cmd
}

// parseSince reads --since: unix ms, RFC 3339, or a duration before now.
func parseSince(s string, now time.Time) (int64, error) {
	if ms, err := strconv.ParseInt(s, 10, 64); err == nil {
		return ms, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t.UnixMilli(), nil
	}
	if d, err := time.ParseDuration(s); err == nil && d >= 0 {
		return now.Add(-d).UnixMilli(), nil
	}
	return 0, fmt.Errorf("--since %q: want unix ms (1764068400000), RFC 3339 (2026-11-25T11:00:00Z) or a duration (15m)", s)
}
