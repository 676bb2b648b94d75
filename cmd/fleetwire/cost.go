package main

import (
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/fleetwire/fleetwire/bench/cost"
	"github.com/fleetwire/fleetwire/codec"
	"github.com/fleetwire/fleetwire/codec/csvio"
	"github.com/fleetwire/fleetwire/codec/wire"
)

func init() { subcommands = append(subcommands, newCostCmd) }

func newCostCmd() *cobra.Command {
	var (
		in      string
		format  string
		batches []int
		codecs  []string
		m       csvio.Mapping
	)
	cmd := &cobra.Command{
		Use:   "cost --in samples.csv [mapping flags] [--batches 1,10,60,600] [--format table|csv|json]",
		Short: "Bytes per reading of every codec and batch size on your data",
		Long: `cost reads recorded samples and prints what each wire choice costs on them, in
bytes per reading: every codec at every batch size, as payload and on the wire
over UDP and TCP, beside reference rows computed from their specifications on
the same data: MQTT 3.1.1 PUBLISH at QoS 0 and 1, SenML JSON and SenML CBOR
(RFC 8428). Each device batches its own samples. The transport model is
printed under the table.

For multihop.csv:

  fleetwire cost --in multihop.csv --device-col mote_id --seq-col reading \
      --columns humidity,temperature`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var src io.Reader = cmd.InOrStdin()
			if in != "-" {
				f, err := os.Open(in)
				if err != nil {
					return err
				}
				defer f.Close()
				src = f
			}
			cs := codec.Codecs()
			if len(codecs) > 0 {
				cs = cs[:0:0]
				for _, n := range codecs {
					c, err := codec.ParseCodec(n)
					if err != nil {
						return err
					}
					cs = append(cs, c)
				}
			}
			o := cost.Options{Mapping: m, Batches: batches, References: true}
			for _, c := range cs {
				o.Encoders = append(o.Encoders, wire.NewEncoder(c, 0, nil))
			}
			rep, err := cost.Run(src, o)
			if err != nil {
				return fmt.Errorf("%s: %w", in, err)
			}
			return rep.Write(cmd.OutOrStdout(), format)
		},
	}
	cmd.Flags().StringVar(&in, "in", "", `CSV of recorded samples ("-" for stdin)`)
	cmd.MarkFlagRequired("in")
	cmd.Flags().IntSliceVar(&batches, "batches", cost.DefaultBatches, "batch sizes: samples per frame")
	cmd.Flags().StringSliceVar(&codecs, "codecs", nil, "codecs to compare (default all)")
	cmd.Flags().StringVar(&format, "format", cost.FormatTable, "output: table, csv or json")
	addMappingFlags(cmd, &m)
	return cmd
}
