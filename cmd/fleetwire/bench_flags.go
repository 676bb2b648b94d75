package main

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/fleetwire/fleetwire/bench"
)

// benchFlags describe one scenario group on the command line; list flags
// multiply out like a matrix group.
type benchFlags struct {
	transport, codec, batch, devices, rate, profile []string
	channels, samples, udpSockets                   int
	duration, drain                                 time.Duration
}

var benchScenarioFlags = []string{"transport", "codec", "batch", "devices", "rate", "profile", "channels", "duration", "samples", "udp-sockets", "drain"}

func (g *benchFlags) register(f *pflag.FlagSet) {
	f.StringSliceVar(&g.transport, "transport", []string{"tcp"}, "scenario: transports (tcp, udp, tls, dtls: DTLS 1.2 with a pre-shared key per device; tcp+ack, udp+ack: acknowledged delivery, file sink)")
	f.StringSliceVar(&g.codec, "codec", []string{"text"}, "scenario: codecs")
	f.StringSliceVar(&g.batch, "batch", []string{"10"}, "scenario: samples per frame")
	f.StringSliceVar(&g.devices, "devices", []string{"100"}, "scenario: devices")
	f.StringSliceVar(&g.rate, "rate", []string{"10"}, "scenario: samples/s per device (0: as fast as possible)")
	f.StringSliceVar(&g.profile, "profile", []string{bench.Loopback}, "scenario: network profiles")
	f.IntVar(&g.channels, "channels", 2, "scenario: readings per sample")
	f.DurationVar(&g.duration, "duration", 3*time.Second, "scenario: send for this long")
	f.IntVar(&g.samples, "samples", 0, "scenario: samples per device (0: bounded by --duration)")
	f.IntVar(&g.udpSockets, "udp-sockets", 0, "scenario: generator's sendmmsg sockets (UDP max-rate runs)")
	f.DurationVar(&g.drain, "drain", 10*time.Second, "scenario: wait this long for the server to count every end-of-stream")
}

func (g *benchFlags) set(cmd *cobra.Command) bool {
	for _, n := range benchScenarioFlags {
		if cmd.Flags().Changed(n) {
			return true
		}
	}
	return false
}

// matrix writes the flags as a one-group matrix and parses it, so flags
// and files go through the same checks.
func (g *benchFlags) matrix() (*bench.Matrix, error) {
	for _, v := range [][]string{g.batch, g.devices, g.rate} {
		for _, x := range v {
			if _, err := strconv.ParseFloat(x, 64); err != nil {
				return nil, fmt.Errorf("not a number: %q", x)
			}
		}
	}
	l := func(v []string) string { return "[" + strings.Join(v, ", ") + "]" }
	y := fmt.Sprintf("name: flags\ngroups:\n  - name: flags\n    transport: %s\n    codec: %s\n    batch: %s\n    devices: %s\n    rate: %s\n    profile: %s\n    channels: %d\n    duration: %s\n    samples: %d\n    udp_sockets: %d\n    drain: %s\n",
		l(g.transport), l(g.codec), l(g.batch), l(g.devices), l(g.rate), l(g.profile), g.channels, g.duration, g.samples, g.udpSockets, g.drain)
	return bench.ParseMatrix([]byte(y))
}
