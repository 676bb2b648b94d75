package main

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/fleetwire/fleetwire/server/sink"
)

func init() { subcommands = append(subcommands, newVerifyCmd) }

func newVerifyCmd() *cobra.Command {
	var dataDir string
	cmd := &cobra.Command{
		Use:   "verify [--data DIR]",
		Short: "Check every frame of every stored segment: checksums and CSV shape",
		Long: `verify reads every segment under DIR/readings, sealed and .partial, and
checks every zstd frame: that it is one, its content checksum, that the
first is a header (device,seq,unix_ms,ch1..chK) and that every row has that
header's width and parses. It prints a line for each damaged segment (what
was skipped, at which byte offsets) and for each .partial one, then a
summary, and exits 1 if any segment is damaged.

A .partial segment is what a running server writes, or what a crash left
(the next serve seals it): a torn frame at its end is expected and does
not fail verify; damage anywhere else does. It reads what export reads,
so it can run beside a live server.`,
		Example: `  fleetwire verify --data ./data`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			r, err := sink.OpenReader(dataDir)
			if err != nil {
				return err
			}
			defer r.Close()
			for r.Next() {
			}
			if err := r.Err(); err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			damage := map[string][]*sink.DamageError{}
			for _, d := range r.Damage() {
				damage[d.Segment] = append(damage[d.Segment], d)
			}
			for _, st := range r.Segments() {
				if st.Damaged() || st.Partial {
					printSegment(out, st, damage[st.Name])
				}
			}
			sum := summarize(r)
			fmt.Fprintf(out, "verify: %v; %d intact frames, %d rows\n", sum, sum.frames, sum.rows)
			if sum.damaged > 0 {
				return fmt.Errorf("%d of %d segments in %s damaged", sum.damaged, sum.segments, dataDir)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&dataDir, "data", DefaultDataDir, "data directory of the server (its --data)")
	return cmd
}

// printSegment prints one line about a damaged or .partial segment:
// what was skipped, where, and why (the first few of each).
func printSegment(w io.Writer, st sink.SegmentStats, damage []*sink.DamageError) {
	state := "partial"
	if st.Damaged() {
		state = "DAMAGED"
	}
	var parts []string
	if st.HeaderLost {
		parts = append(parts, fmt.Sprintf("header frame lost, width %d taken from the rows", st.Width))
	}
	if st.Width < 0 {
		parts = append(parts, "no readable header or row frame: nothing read")
	}
	if st.BadFrames > 0 {
		parts = append(parts, fmt.Sprintf("%d frames skipped (%d bytes)", st.BadFrames, st.BadBytes))
	}
	if st.BadRows > 0 {
		parts = append(parts, fmt.Sprintf("%d rows skipped", st.BadRows))
	}
	var where []string
	for _, d := range damage {
		switch {
		case len(where) == maxWhere:
		case d.Row > 0:
			where = append(where, fmt.Sprintf("byte %d row %d: %v", d.Offset, d.Row, d.Err))
		case errors.Is(d, sink.ErrTorn):
			where = append(where, fmt.Sprintf("byte %d: torn end, %d bytes", d.Offset, d.Bytes))
		default:
			where = append(where, fmt.Sprintf("byte %d: %v (%d bytes)", d.Offset, d.Err, d.Bytes))
		}
	}
	if len(damage) > maxWhere {
		where = append(where, fmt.Sprintf("and %d more", len(damage)-maxWhere))
	}
	if st.Partial && !st.Damaged() {
		parts = append(parts, "not sealed: a live server writes it, or a crash left it (the next serve seals it)")
	}
	fmt.Fprintf(w, "%s %s: %d rows in %d intact frames", state, st.Name, st.Rows, st.Frames)
	if len(parts) > 0 {
		fmt.Fprintf(w, "; %s", strings.Join(parts, "; "))
	}
	if len(where) > 0 {
		fmt.Fprintf(w, "; %s", strings.Join(where, "; "))
	}
	fmt.Fprintln(w)
}
