package main

import (
	"bufio"

	"github.com/spf13/cobra"

	"github.com/fleetwire/fleetwire/codec/csvio"
)

func init() { subcommands = append(subcommands, newCSVCmd) }

func newCSVCmd() *cobra.Command {
	var m csvio.Mapping
	cmd := &cobra.Command{
		Use:   "csv [mapping flags] < in.csv > interchange.csv",
		Short: "Convert a CSV to the interchange schema",
		Long: `csv reads any CSV of samples, maps its columns with the mapping flags, and
writes the interchange schema (device,seq,unix_ms,<channels...>) with values in
the canonical form every codec reproduces. For example:

  fleetwire csv --device-col mote_id --seq-col reading \
      --columns humidity,temperature < multihop.csv > multihop-interchange.csv`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			out := bufio.NewWriterSize(cmd.OutOrStdout(), 64<<10)
			if err := csvio.Convert(out, cmd.InOrStdin(), m); err != nil {
				return err
			}
			return out.Flush()
		},
	}
	addMappingFlags(cmd, &m)
	return cmd
}
