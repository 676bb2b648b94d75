package main

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"os/exec"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/fleetwire/fleetwire/codec"
	"github.com/fleetwire/fleetwire/loadgen"
)

func init() { subcommands = append(subcommands, newLoadCmd) }

func newLoadCmd() *cobra.Command {
	cfg := loadgen.DefaultConfig()
	var (
		tcp, udp, tlsAddr, dtlsAddr, codecName, end, jsonPath, columns string
		worker                                                         bool
	)
	cmd := &cobra.Command{
		Use:   "load",
		Short: "Simulate a device fleet against a server, with exact ground truth of what was sent",
		Long: `Simulate a fleet of sensor devices against a fleetwire server (or anything
that speaks its formats) and report exactly what was sent.

Each device has an id (dev-000001, ...), a sequence counter, a signal per
channel, a send period with jitter and a batch size. Devices connect at a
bounded rate with retries and back-off, say hello (TCP/TLS), send frames
on an open-loop schedule (frames are due at fixed times from the start,
never "after the previous send returned", so a slow server shows as
lateness and loss, not as a slower generator), obey downlink commands
("LED ON", "LED OFF", "LED TOGGLE"; anything else is acked "unknown"),
and end with an end-of-stream frame carrying their next sequence number.

Signals: "walk" is a random walk per channel on a sensor's grid
(temperature 0.01, humidity 0.03, ...) printed with fixed decimals;
"replay:FILE.csv" replays a recording, each recorded device a template for
many simulated ones (device i plays template i mod T from its own offset,
looping). A CSV in the interchange schema (device,seq,unix_ms,<channels>)
needs no mapping; others need --device-col, --seq-col, --columns.

The run is bounded by --duration (from the moment all devices connected)
and/or --samples (per device). A comma-separated list of addresses
spreads the fleet over several servers: device n (dev-000001 is 0) sends
to the (n mod len)-th, whatever --procs splits the fleet into, and the
report's "targets" give each one's totals. Only loopback targets are
allowed without --allow-remote. A progress line goes to stderr every second, a summary to
stdout at the end, and --json writes the full report with per-device counts.
A run in which no device could connect exits 1 after the summary, with one
line on stderr that says so and why.

With --ack devices ask for acknowledged delivery (#stored): they keep what is
not acknowledged and send it again, give up their oldest samples when the
--ack-window overflows (#gaveup), move to the next target of a list when theirs
refuses or drops them, and after end-of-stream wait up to --ack-drain for the
acks. The report then says what was acknowledged, resent, given up (per device,
which sequence numbers) and left unacknowledged.`,
		Example: `  fleetwire load --devices 1000 --rate 1 --duration 60s
  fleetwire load --udp 127.0.0.1:7071 --devices 10000 --rate 10 --batch 5 --codec compact --samples 600 --json run.json
  fleetwire load --devices 19000 --rate 0.2 --duration 60s --connect-rate 2000
  fleetwire load --devices 100000 --procs 6 --rate 0.2 --duration 60s
  fleetwire load --signal replay:../shared/data/multihop.csv --device-col mote_id --seq-col reading --columns humidity,temperature
  fleetwire load --udp 127.0.0.1:7071 --udp-sockets 4 --devices 10000 --rate 0 --samples 1000
  fleetwire load --tls 127.0.0.1:7443 --tls-ca ca.pem --devices 500 --duration 30s
  fleetwire load --dtls 127.0.0.1:5684 --dtls-psk-file keys.psk --devices 500 --rate 0.1 --batch 10 --duration 60s
  fleetwire load --dtls 127.0.0.1:5684 --dtls-psk-file keys.psk --dtls-per-report --dtls-resume --devices 100 --duration 60s
  fleetwire load --tcp 127.0.0.1:7070 --session per-report --rate 0.1 --batch 6 --devices 100 --duration 5m
  fleetwire load --dtls 127.0.0.1:5684 --tls-ca ca.pem --dtls-version 1.3 --devices 100 --duration 60s
  fleetwire load --tcp 127.0.0.1:7070,127.0.0.1:7170 --devices 2000 --rate 4 --duration 60s --json run.json
  fleetwire load --tcp 127.0.0.1:7070,127.0.0.1:7170 --ack --devices 1000 --rate 1 --duration 60s --json run.json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if worker {
				// A worker of a --procs run: config on stdin, JSON lines on stdout.
				return loadgen.ServeWorker(cmd.Context(), cmd.InOrStdin(), cmd.OutOrStdout())
			}
			if err := loadTarget(&cfg, tcp, udp, tlsAddr, dtlsAddr); err != nil {
				return err
			}
			c, err := codec.ParseCodec(codecName)
			if err != nil {
				return fmt.Errorf("--codec: %w", err)
			}
			cfg.Codec = c
			if len(end) != 1 {
				return fmt.Errorf("--end must be one byte, got %q", end)
			}
			cfg.End = end[0]
			if columns != "" {
				cfg.Replay.Columns = strings.Split(columns, ",")
			}
			if cfg.ProgressEvery > 0 {
				cfg.Progress = cmd.ErrOrStderr()
			}
			cfg.Logger = slog.Default()
			if cfg.Procs > 1 {
				exe, err := os.Executable()
				if err != nil {
					return fmt.Errorf("--procs: find this binary: %w", err)
				}
				level, format := cmd.Flag("log-level").Value.String(), cmd.Flag("log-format").Value.String()
				cfg.WorkerCommand = func() *exec.Cmd {
					return exec.Command(exe, "load", "--worker", "--log-level", level, "--log-format", format)
				}
			}
			rep, runErr := loadgen.Run(cmd.Context(), cfg)
			if rep == nil {
				return runErr
			}
			summary := cmd.OutOrStdout()
			if jsonPath == "-" {
				summary = cmd.ErrOrStderr()
			}
			if err := rep.WriteSummary(summary); err != nil {
				return err
			}
			if jsonPath != "" {
				if err := writeJSON(jsonPath, cmd.OutOrStdout(), rep); err != nil {
					return errors.Join(runErr, err)
				}
			}
			if runErr != nil {
				return runErr
			}
			return noneConnected(rep)
		},
	}
	f := cmd.Flags()
	f.SortFlags = false
	f.StringVar(&tcp, "tcp", "", "send over TCP to this address (the default transport, at 127.0.0.1:7070); A,B,C spreads devices over several: device n to the (n mod 3)-th")
	f.StringVar(&udp, "udp", "", "send over UDP to this address or list (one datagram per frame, from each device's own socket)")
	f.StringVar(&tlsAddr, "tls", "", "send over TLS to this address or list (needs --tls-ca)")
	f.StringVar(&dtlsAddr, "dtls", "", "send over DTLS to this address or list (needs --dtls-psk-file, or --tls-ca for certificates)")
	f.IntVar(&cfg.Devices, "devices", cfg.Devices, "simulated devices")
	f.Float64Var(&cfg.Rate, "rate", cfg.Rate, "samples per second per device; a frame leaves every --batch samples. 0: as fast as the sockets take them")
	f.IntVar(&cfg.Batch, "batch", cfg.Batch, "samples per frame (the main lever on bytes per reading)")
	f.Float64Var(&cfg.Jitter, "jitter", cfg.Jitter, "each frame leaves up to this fraction of its period after its slot (0 <= j < 1)")
	f.DurationVar(&cfg.Duration, "duration", 0, "send for this long after every device connected (bounds the run; with --samples, whichever ends first)")
	f.IntVar(&cfg.Samples, "samples", 0, "samples per device, then end-of-stream (bounds the run)")
	f.StringVar(&codecName, "codec", "text", "wire codec: text, binary or compact, optionally +zstd, +s2 or +zstd-dict")
	f.StringVar(&end, "end", "\n", "END byte of text frames")
	f.StringVar(&cfg.Signal, "signal", cfg.Signal, `signal: "walk" or "replay:FILE.csv"`)
	f.IntVar(&cfg.Channels, "channels", cfg.Channels, "channels per sample of the walk signal (temperature, humidity, pressure, voltage, light, co2, repeating)")
	f.StringVar(&cfg.Replay.DeviceCol, "device-col", "", "replay: column naming the recorded device (default: device, if present)")
	f.StringVar(&cfg.Replay.SeqCol, "seq-col", "", "replay: column ordering a device's samples (default: seq, if present)")
	f.StringVar(&columns, "columns", "", "replay: comma-separated channel columns (default: all other columns)")
	f.Uint64Var(&cfg.Seed, "seed", cfg.Seed, "seed of the signals, phases and jitter (same seed, same fleet)")
	f.StringVar(&cfg.IDPrefix, "id-prefix", cfg.IDPrefix, "device ids are this prefix and a zero-padded number")
	f.IntVar(&cfg.IDOffset, "id-offset", cfg.IDOffset, "number the devices from this offset + 1 (disjoint fleets from several generators)")
	f.IntVar(&cfg.IDWidth, "id-width", cfg.IDWidth, "digits of the device number, at least")
	f.IntVar(&cfg.Procs, "procs", 0, "run this many worker processes and merge their reports (each has its own open-file limit)")
	f.IntVar(&cfg.Loops, "loops", 0, "event loops per process (0: one per core)")
	f.DurationVar(&cfg.Tick, "tick", cfg.Tick, "timer resolution of the event loops: frames leave up to one tick after they are due")
	f.Float64Var(&cfg.ConnectRate, "connect-rate", cfg.ConnectRate, "new TCP/TLS connections per second, all processes together")
	f.DurationVar(&cfg.ConnectTimeout, "connect-timeout", cfg.ConnectTimeout, "timeout of one connect attempt")
	f.IntVar(&cfg.ConnectRetries, "connect-retries", cfg.ConnectRetries, "retries after a failed connect (back-off 100ms doubling to 5s, jittered)")
	f.BoolVar(&cfg.Reconnect, "reconnect", cfg.Reconnect, "reconnect a device whose connection broke mid-run (frames due meanwhile are skipped)")
	f.BoolVar(&cfg.NoDelay, "nodelay", cfg.NoDelay, "TCP_NODELAY on device connections")
	f.StringVar(&cfg.SourceBase, "source-base", cfg.SourceBase, `first loopback source address; device n binds to base + n/--per-source ("" binds nothing)`)
	f.IntVar(&cfg.PerSource, "per-source", cfg.PerSource, "devices per source address (one address has ~28k ephemeral ports per destination)")
	f.IntVar(&cfg.UDPSockets, "udp-sockets", 0, "multiplex all UDP devices over this many sockets per target with sendmmsg (max-rate runs; commands cannot reach devices then)")
	f.IntVar(&cfg.SendBuffer, "send-buffer", cfg.SendBuffer, "bytes a TCP device queues while its socket is full; frames beyond are dropped (and counted)")
	f.IntVar(&cfg.SocketBuffer, "so-sndbuf", 0, "SO_SNDBUF of device sockets in bytes, as small as a device's (0: kernel default, autotuned)")
	f.DurationVar(&cfg.DrainTimeout, "drain-timeout", cfg.DrainTimeout, "after end-of-stream, wait this long for the server to close")
	f.DurationVar(&cfg.LateAfter, "late-after", cfg.LateAfter, "a frame written later than this after its due time counts as a late send")
	f.BoolVar(&cfg.Ack, "ack", false, "acknowledged delivery: devices ask for #stored (\"#hello <id> ack <window>\"), keep what is not acknowledged and send it again, give up their oldest samples when the window overflows (#gaveup), move to the next target of a list when theirs refuses or drops them, and wait for acks after end-of-stream (needs --rate > 0)")
	f.IntVar(&cfg.AckWindow, "ack-window", cfg.AckWindow, "--ack: samples a device holds unacknowledged, as its hello announces (256: about a small MCU's RAM)")
	f.IntVar(&cfg.AckMaxBatch, "ack-max-batch", 0, "--ack: most samples in a resent frame, which packs due flights together (0: 4 x --batch, at least 16, at most the window)")
	f.DurationVar(&cfg.AckMinRTO, "ack-min-rto", 0, "--ack: minimum resend timeout (0: min(window/(2 x rate), 15s) + 2s). A device cannot know the server's --ack-interval, but the server acks at least that often (15s by default) and sooner once half a window is unacknowledged, which takes window/(2 x rate): timing out earlier resends what is already stored")
	f.DurationVar(&cfg.AckDrain, "ack-drain", cfg.AckDrain, "--ack: after end-of-stream, wait up to this long for everything sent to be acknowledged or given up, resending meanwhile (0: do not wait)")
	f.StringVar(&cfg.TLSCA, "tls-ca", "", "CA certificate(s), PEM, that signed the server's certificate")
	f.StringVar(&cfg.TLSCert, "tls-cert", "", "client certificate, PEM (mutual TLS)")
	f.StringVar(&cfg.TLSKey, "tls-key", "", "client private key, PEM (mutual TLS)")
	f.StringVar(&cfg.TLSServerName, "tls-server-name", "", "name to verify in the server's certificate (default: the --tls host)")
	f.StringVar(&cfg.DTLSPSKFile, "dtls-psk-file", "", "DTLS pre-shared keys: the server's key file format (\"identity hex-key\" a line); each device uses the key of its id")
	f.StringVar(&cfg.DTLSVersion, "dtls-version", "", "DTLS version: 1.2 (default: PSK with AES-128-CCM-8, certificates with ECDHE AES-128-GCM) or 1.3 (AES-128-GCM)")
	f.BoolVar(&cfg.DTLSPerReport, "dtls-per-report", false, "DTLS: a session per report (handshake, the due frames, close_notify) instead of one per device")
	f.BoolVar(&cfg.DTLSResume, "dtls-resume", false, "DTLS with --dtls-per-report: resume the device's first session (1.2 session id, 1.3 ticket) instead of a full handshake")
	f.StringVar((*string)(&cfg.Session), "session", "persistent", "tcp, tls: persistent (one connection per device) or per-report (connect, hello, the report's frames, FIN, close)")
	f.BoolVar(&cfg.TLSResume, "tls-resume", false, "TLS with --session per-report: resume the device's session from a ticket instead of a full handshake")
	f.StringVar(&cfg.NATBinding, "nat-binding", "keep", "udp: keep (one source port) or lose (a new socket, so a new source port, per report)")
	f.DurationVar(&cfg.KeepAlive, "keepalive", 0, "persistent tcp, tls: TCP keep-alive idle time and probe interval (0: off)")
	f.BoolVar(&cfg.AllowRemote, "allow-remote", false, "allow a target outside loopback (127.0.0.0/8, ::1)")
	f.StringVar(&jsonPath, "json", "", `write the report as JSON to this file ("-": stdout)`)
	f.DurationVar(&cfg.ProgressEvery, "progress", cfg.ProgressEvery, "progress line interval on stderr (0: none)")
	f.BoolVar(&worker, "worker", false, "internal: run as a --procs worker (config on stdin)")
	f.MarkHidden("worker")
	return cmd
}

// loadTarget picks the transport from --tcp, --udp or --tls.
func loadTarget(cfg *loadgen.Config, tcp, udp, tlsAddr, dtlsAddr string) error {
	n := 0
	for _, t := range []struct {
		addr string
		tr   loadgen.Transport
	}{{tcp, loadgen.TCP}, {udp, loadgen.UDP}, {tlsAddr, loadgen.TLS}, {dtlsAddr, loadgen.DTLS}} {
		if t.addr != "" {
			cfg.Transport, cfg.Addr = t.tr, t.addr
			n++
		}
	}
	if n > 1 {
		return errors.New("give one of --tcp, --udp, --tls and --dtls")
	}
	return nil
}

// noneConnected fails a run in which every device gave up connecting, in
// one line: "no device could connect to 127.0.0.1:7070 (connection
// refused)". A run that measured nothing must not exit 0 as if it had.
func noneConnected(rep *loadgen.Report) error {
	if rep.Devices == 0 || rep.DevicesConnected > 0 || rep.ConnectFailuresTotal == 0 {
		return nil
	}
	reasons := slices.Collect(maps.Keys(rep.ConnectFailures))
	slices.SortFunc(reasons, func(a, b string) int {
		return cmp.Or(cmp.Compare(rep.ConnectFailures[b], rep.ConnectFailures[a]), strings.Compare(a, b))
	})
	var why []string
	for _, r := range reasons {
		d := connectFailureText[r]
		if d == "" {
			d = r
		}
		if len(reasons) > 1 {
			d = fmt.Sprintf("%d %s", rep.ConnectFailures[r], d)
		}
		why = append(why, d)
	}
	return fmt.Errorf("no device could connect to %s (%s)", rep.Target, strings.Join(why, ", "))
}

// connectFailureText spells out the report's connect failure reasons.
var connectFailureText = map[string]string{
	"refused":        "connection refused",
	"timeout":        "timed out",
	"unreachable":    "network unreachable",
	"reset":          "connection reset",
	"addr_not_avail": "no free source address or port",
	"emfile":         "out of file descriptors",
	"enfile":         "out of file descriptors",
}

func writeJSON(path string, out io.Writer, rep *loadgen.Report) error {
	b, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	b = append(b, '\n')
	if path == "-" {
		_, err = out.Write(b)
		return err
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		return fmt.Errorf("--json: %w", err)
	}
	return nil
}
