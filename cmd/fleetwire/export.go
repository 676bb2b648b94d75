package main

import (
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/spf13/cobra"

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

It can run beside a live server. A torn frame at the end of a .partial
segment (a crash, or the frame being written right now) is reported on
stderr and skipped; every row before it is printed.

A damaged frame (its checksum fails, or it is no zstd frame) or a row that
does not fit its header is skipped too, and export goes on with the next;
it then prints a summary line to stderr (segments, frames skipped and
where, rows skipped, rows exported) and exits 1 after exporting every good
row. fleetwire verify lists the damage segment by segment.

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
			for _, d := range r.Damage() {
				slog.Warn("export: skipped damaged data", "err", d)
			}
			sum := summarize(r)
			if sum.badFrames > 0 || sum.badRows > 0 || sum.torn > 0 {
				fmt.Fprintf(cmd.ErrOrStderr(), "export: %v; %d rows exported\n", sum, n)
			}
			slog.Debug("exported", "rows", n, "segments", sum.segments)
			if sum.damaged > 0 {
				return fmt.Errorf("%d damaged segments in %s: %d frames and %d rows skipped (fleetwire verify --data %s lists them)",
					sum.damaged, dataDir, sum.badFrames, sum.badRows, dataDir)
			}
			if strict && sum.torn > 0 {
				return fmt.Errorf("%d .partial segments in %s end in a torn frame (--strict)", sum.torn, dataDir)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&dataDir, "data", DefaultDataDir, "data directory of the server (its --data)")
	cmd.Flags().StringSliceVar(&f.Devices, "device", nil, "only these devices (repeat the flag or separate with commas)")
	cmd.Flags().StringVar(&since, "since", "", "only rows with device time at or after this: unix ms, RFC 3339, or a duration back from now")
	cmd.Flags().BoolVar(&strict, "strict", false, "also exit with an error when a .partial segment ends in a torn frame (a crash, or a live server writing it)")
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
