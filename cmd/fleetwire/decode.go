package main

import (
	"bufio"
	"log/slog"

	"github.com/spf13/cobra"

	"github.com/fleetwire/fleetwire/codec"
	"github.com/fleetwire/fleetwire/codec/csvio/transcode"
	"github.com/fleetwire/fleetwire/codec/wire"
)

func init() { subcommands = append(subcommands, newDecodeCmd) }

func newDecodeCmd() *cobra.Command {
	var (
		codecName string
		o         transcode.DecodeOptions
	)
	cmd := &cobra.Command{
		Use:   "decode [--codec C] [--columns a,b] < frames.bin > samples.csv",
		Short: "Decode a stream of wire frames to CSV samples",
		Long: `decode reads frames from stdin, as a server reads a TCP stream, and writes
their samples to stdout as interchange CSV (device,seq,unix_ms,<channels...>).

Each frame's format is told by its first byte, so any mix of codecs decodes;
--codec only checks that every frame is of that codec. Channel names are not
on the wire: --columns names them (default ch1..chN). With the names of the
original header, decode reproduces what encode read, byte for byte.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if codecName != "" {
				c, err := codec.ParseCodec(codecName)
				if err != nil {
					return err
				}
				o.Expect = &c
			}
			out := bufio.NewWriterSize(cmd.OutOrStdout(), 64<<10)
			st, err := transcode.Decode(out, cmd.InOrStdin(), wire.NewDecoder(codec.Limits{}, 0, nil), o)
			if err != nil {
				out.Flush() // the rows before the bad frame are good
				return err
			}
			slog.Debug("decoded", "frames", st.Frames, "rows", st.Rows, "bytes", st.Bytes)
			return out.Flush()
		},
	}
	cmd.Flags().StringVar(&codecName, "codec", "", "check that every frame is of this codec (formats are detected either way)")
	cmd.Flags().StringSliceVar(&o.Columns, "columns", nil, "channel names for the CSV header (default ch1..chN)")
	cmd.Flags().StringVar(&o.FallbackDevice, "device", "", "device id of frames that name none")
	return cmd
}
