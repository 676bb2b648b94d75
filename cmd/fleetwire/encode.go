package main

import (
	"bufio"
	"log/slog"

	"github.com/spf13/cobra"

	"github.com/fleetwire/fleetwire/codec"
	"github.com/fleetwire/fleetwire/codec/csvio"
	"github.com/fleetwire/fleetwire/codec/csvio/transcode"
	"github.com/fleetwire/fleetwire/codec/wire"
)

func init() { subcommands = append(subcommands, newEncodeCmd) }

func newEncodeCmd() *cobra.Command {
	var (
		codecName string
		batch     int
		m         csvio.Mapping
	)
	cmd := &cobra.Command{
		Use:   "encode --codec C [--batch N] [mapping flags] < samples.csv > frames.bin",
		Short: "Encode CSV samples as a stream of wire frames",
		Long: `encode reads samples as CSV on stdin and writes them to stdout as frames of
one codec, back to back, as a device would stream them over TCP.

The input is the interchange schema (device,seq,unix_ms,<channels...>) or any
CSV with mapping flags. A frame holds up to --batch consecutive rows of one
device with consecutive seq numbers, so 'fleetwire decode' gives the rows back
in their order. Channel names are not on the wire: pass them to decode.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := codec.ParseCodec(codecName)
			if err != nil {
				return err
			}
			out := bufio.NewWriterSize(cmd.OutOrStdout(), 64<<10)
			st, err := transcode.Encode(out, cmd.InOrStdin(), wire.NewEncoder(c, 0, nil),
				transcode.EncodeOptions{Batch: batch, Mapping: m})
			if err != nil {
				return err
			}
			slog.Debug("encoded", "codec", c, "batch", batch, "rows", st.Rows, "frames", st.Frames, "bytes", st.Bytes)
			return out.Flush()
		},
	}
	cmd.Flags().StringVar(&codecName, "codec", "text", "codec: text, binary or compact, optionally +zstd, +s2 or +zstd-dict")
	cmd.Flags().IntVar(&batch, "batch", 1, "samples per frame, at most")
	addMappingFlags(cmd, &m)
	return cmd
}

// addMappingFlags adds the flags that map a foreign CSV's columns onto the
// interchange schema.
func addMappingFlags(cmd *cobra.Command, m *csvio.Mapping) {
	f := cmd.Flags()
	f.StringVar(&m.DeviceCol, "device-col", "", `column of device ids (default "device" if the header has it; "-" for none)`)
	f.StringVar(&m.SeqCol, "seq-col", "", `column of sequence numbers (default "seq" if present; "-" for none)`)
	f.StringVar(&m.TimeCol, "time-col", "", `column of device time in unix ms (default "unix_ms" if present; "-" for none)`)
	f.StringSliceVar(&m.Columns, "columns", nil, "channel columns, in order (default every other column)")
	f.StringVar(&m.Device, "device", "", "device id of rows that name none")
}
