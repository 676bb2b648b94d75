package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/fleetwire/fleetwire/codec"
	"github.com/fleetwire/fleetwire/server"
	"github.com/fleetwire/fleetwire/server/natssink"
	"github.com/fleetwire/fleetwire/server/sink"
	"github.com/fleetwire/fleetwire/server/web"
)

func init() { subcommands = append(subcommands, newServeCmd) }

func newServeCmd() *cobra.Command {
	cfg := server.Defaults
	var end string
	var maxFrame, maxDecoded, maxChannels, maxSamples int
	var shutdownGrace, fsyncInterval, fsync time.Duration
	var clusterNATS, naming, sinkKind, dataDir string
	var natsCfg natssink.Config
	var listens []string
	var httpInsecure bool
	var wcfg web.Config
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the ingest server (TCP on gnet, UDP on recvmmsg, TLS; file sink; HTTP side)",
		Long: `Run the ingest server. It accepts every fleetwire format on every transport,
telling formats apart by the first byte of each frame, keeps per-device
sessions (loss, duplicates, reordering from sequence numbers) and writes
readings to zstd-compressed CSV segments under --data.

Defaults listen on loopback only. An empty address turns a transport off.
--tcp, --udp and --tls are the default listeners, with the server-wide
--end, --naming and policies; --listen adds more, each with its own
framing and trust (a legacy device printing "512," on its own port):

  --listen 'tcp://0.0.0.0:7072?name=pots&end=comma&radix=2&naming=ip&downlink=raw'
  --listen 'udp://0.0.0.0:7073?naming=ip-port&policy=open'
  --listen 'tls://:7443?cert=c.pem&key=k.pem&client-ca=ca.pem&policy=authenticated'
  --listen 'dtls://:5684?psk-file=keys.psk&cert=c.pem&key=k.pem&client-ca=ca.pem'

Options: name, end (one byte, or lf, cr, comma, space, tab), radix (2, 8,
10, 16), naming (ip, ip-port, fixed:<device id>), formats (all, or text:
a byte >= 0x80 is line noise, not an envelope), downlink (framed, raw),
policy (bound, open, authenticated), cert, key, client-ca; DTLS only:
psk-file (lines "identity hex-key"; the identity is the device id),
max-handshakes (in progress, 1024), handshake-rate (per source and second,
100: raise it for fleets behind one NAT), max-version (1.2 or 1.3), cid-migration (rrc, or any: devices without
return routability checks). See docs/dtls.md.
--http beyond loopback needs a token ($FLEETWIRE_TOKEN or --http-token-file)
or an explicit --http-insecure.
SIGINT/SIGTERM: stop accepting, finish what was received, flush and fsync
the sink, log a summary. SIGHUP: reread the DTLS PSK key files.`,
		Example: `  fleetwire serve
  fleetwire serve --engine std --sink none
  fleetwire serve --node ingest-1 --sink nats://n1:4222,n2:4222,n3:4222 --nats-create-stream --nats-replicas 3
  fleetwire serve --tls 127.0.0.1:7443 --tls-cert cert.pem --tls-key key.pem
  fleetwire serve --listen 'tcp://127.0.0.1:7072?name=pots&end=comma&naming=ip&downlink=raw'
  fleetwire serve --listen 'dtls://127.0.0.1:5684?psk-file=keys.psk&policy=authenticated'
  printf 'mote-3;42;21.5:40,21.6:41\n' | nc -q1 127.0.0.1 7070`,
		Args: cobra.NoArgs,
		// PreRunE checks everything and opens nothing, so that
		// "fleetwire config check" runs it alone.
		PreRunE: func(cmd *cobra.Command, _ []string) error {
			b, err := server.ParseEnd(end)
			if err != nil {
				return fmt.Errorf("--end: %w", err)
			}
			cfg.End = b
			if cfg.Naming, cfg.FixedID, err = server.ParseNaming(naming); err != nil {
				return fmt.Errorf("--naming: %w", err)
			}
			for _, spec := range listens {
				l, err := server.ParseListener(spec)
				if err != nil {
					return fmt.Errorf("--listen: %w", err)
				}
				cfg.Listeners = append(cfg.Listeners, l)
			}
			token, err := httpToken(cmd)
			if err != nil {
				return err
			}
			if err := checkHTTPExposure(cfg.HTTPAddr, token, httpInsecure); err != nil {
				return err
			}
			wcfg.Token = token
			if sinkKind, err = sinkFlag(cmd); err != nil {
				return err
			}
			if fsync, err = fsyncFlag(fsyncInterval); err != nil {
				return err
			}
			for _, d := range []struct {
				flag string
				v    *time.Duration
			}{{"--idle-timeout", &cfg.IdleTimeout}, {"--frame-timeout", &cfg.FrameTimeout}, {"--udp-coalesce", &cfg.UDPCoalesce}} {
				switch {
				case *d.v < 0:
					return fmt.Errorf("%s %v: want a positive duration, or 0 for never", d.flag, *d.v)
				case *d.v == 0:
					*d.v = server.Never
				}
			}
			cfg.Limits = codec.Limits{MaxFrame: maxFrame, MaxDecoded: maxDecoded, MaxChannels: maxChannels, MaxSamples: maxSamples}
			return cfg.Validate()
		},
		RunE: func(cmd *cobra.Command, _ []string) error {
			sk, err := openSink(sinkKind, dataDir, cfg.Node, fsync, natsCfg)
			if err != nil {
				return err
			}
			if ns, ok := sk.(*natssink.Sink); ok {
				cfg.Node = ns.Node() // the sink defaults it to the host name: one name everywhere
			}
			cfg.Sink = sk
			srv, err := server.New(cfg)
			if err != nil {
				_ = sk.Close()
				return err
			}
			if ns, ok := sk.(*natssink.Sink); ok {
				ns.SetStatsSource(func() any { return srv.Stats() })
			}
			if err := srv.Start(); err != nil {
				return err
			}
			slog.Info("sink", "sink", redactURL(sinkKind), "data", dataDir)
			if url := clusterURL(sinkKind, clusterNATS); url != "" && cfg.HTTPAddr != "" {
				view, stop, err := web.DialCluster(url, natsCfg.StatsSubject, strings.Join(strings.Fields("fleetwire "+cfg.Node+" cluster view"), " "))
				if err != nil {
					_ = srv.Shutdown(context.Background())
					return fmt.Errorf("--cluster-nats: %w", err)
				}
				defer stop() // after the HTTP side, deferred below
				wcfg.Cluster = view
			}
			ws, httpErr, err := startHTTP(srv, cfg.HTTPAddr, wcfg)
			if err != nil {
				_ = srv.Shutdown(context.Background())
				return err
			}
			defer reloadOnHangup(cmd, srv, ws)()
			select {
			case <-cmd.Context().Done():
			case err = <-httpErr:
				slog.Error("http side failed: shutting down", "err", err)
			}
			slog.Info("shutting down: finishing received frames, flushing the sink")
			ctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
			defer cancel()
			if ws != nil {
				// Not ready while draining; the API stays up until the sink is flushed.
				ws.SetReady(false)
				defer func() { _ = ws.Shutdown(ctx) }()
			}
			if serr := srv.Shutdown(ctx); serr != nil {
				return serr
			}
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.TCPAddr, "tcp", cfg.TCPAddr, "TCP listen address (gnet event loops); empty turns TCP off")
	f.StringVar(&cfg.UDPAddr, "udp", cfg.UDPAddr, "UDP listen address (recvmmsg readers); empty turns UDP off")
	f.StringVar(&cfg.TLSAddr, "tls", "", "TLS listen address (crypto/tls, standard-library engine); needs --tls-cert and --tls-key")
	f.StringVar(&cfg.TLSCert, "tls-cert", "", "TLS server certificate, PEM")
	f.StringVar(&cfg.TLSKey, "tls-key", "", "TLS server private key, PEM")
	f.StringVar(&cfg.TLSClientCA, "tls-client-ca", "", "CA bundle, PEM: require client certificates it signed (mutual TLS)")
	f.StringVar(&cfg.HTTPAddr, "http", cfg.HTTPAddr, "HTTP address for the dashboard, JSON API and /metrics; empty turns it off")
	f.String("http-token", "", "bearer token required by /api/* and /metrics (default $FLEETWIRE_TOKEN); prefer the variable or --http-token-file: arguments show in ps")
	f.String("http-token-file", "", "file holding the bearer token (its content, trimmed); instead of --http-token, before $FLEETWIRE_TOKEN")
	f.BoolVar(&httpInsecure, "http-insecure", false, "serve --http beyond loopback without a token: anyone who reaches it can read the fleet and send commands to devices")
	f.BoolVar(&wcfg.MetricsPerDevice, "metrics-per-device", false, "add per-device series to /metrics (one label value per device: mind the cardinality)")
	f.IntVar(&wcfg.HistoryDevices, "history-devices", web.DefaultHistoryDevices, "devices that keep their last 5 minutes for their page's charts, at most (under 10 KB each, 2.9 KB at 2 channels)")
	f.StringVar(&dataDir, "data", DefaultDataDir, "directory of the file sink's segments (and of the NATS sink's spool)")
	f.DurationVar(&fsyncInterval, "fsync-interval", sink.DefaultFsyncInterval, "file sink: fsync the open segment this often, so a power cut costs about this plus 100 ms of readings (0: only when a segment is sealed, up to a minute)")
	f.StringVar(&sinkKind, "sink", "files", "where readings go: files, none (for benchmarks) or nats://host:4222[,host2:4222...] (a JetStream stream, through a spool under --data)")
	f.StringVar(&natsCfg.Stream, "nats-stream", natssink.DefaultStream, "JetStream stream of --sink nats://...")
	f.IntVar(&natsCfg.Replicas, "nats-replicas", 1, "replicas of the stream --nats-create-stream creates")
	f.BoolVar(&natsCfg.CreateStream, "nats-create-stream", false, "create the stream if it does not exist (subjects fleetwire.readings.>, file storage)")
	f.DurationVar(&natsCfg.DupWindow, "nats-dup-window", natssink.DefaultDupWindow, "duplicate window of the stream --nats-create-stream creates: how long JetStream drops a message id it has stored (a republished batch, an acking device's run resent through another node); at most the stream's max age")
	f.IntVar(&natsCfg.MaxInflight, "nats-max-inflight", natssink.DefaultMaxInflight, "batches published and not yet acknowledged, at most")
	f.Int64Var(&natsCfg.SpoolMaxBytes, "spool-max-bytes", natssink.DefaultSpoolMax, "unacknowledged batches kept on disk at most; beyond, readings are refused (dropped, sink_full)")
	f.StringVar(&cfg.Engine, "engine", cfg.Engine, "I/O engine: gnet (event loops) or std (goroutine per connection, ReadFrom for UDP)")
	f.IntVar(&cfg.Loops, "loops", 0, "gnet event loops (0: one per core)")
	f.IntVar(&cfg.UDPReaders, "udp-readers", 0, "UDP sockets with a reader each, sharing the port with SO_REUSEPORT (0: one per core)")
	f.IntVar(&cfg.UDPRcvBuf, "udp-rcvbuf", cfg.UDPRcvBuf, "kernel receive buffer per UDP socket, bytes (forced past rmem_max when root)")
	f.DurationVar(&cfg.UDPCoalesce, "udp-coalesce", cfg.UDPCoalesce, "while datagrams keep coming, a UDP reader sleeps this long between drains of its socket instead of waking per datagram: less CPU per reading for up to this much latency (0: wake per datagram; --engine gnet only, std is the ReadFrom baseline)")
	f.BoolVar(&cfg.ReusePort, "reuseport", false, "SO_REUSEPORT on every listener, so several server processes share the ports")
	f.IntVar(&cfg.MaxConns, "max-conns", cfg.MaxConns, "open TCP and TLS connections at most; more are closed at once and counted")
	f.IntVar(&cfg.MaxDevices, "max-devices", cfg.MaxDevices, "identified devices with a session at most; readings of more are dropped and counted (device_limit)")
	f.IntVar(&cfg.MaxAnonymous, "max-anonymous", cfg.MaxAnonymous, "sessions of devices named after their address (no id, no hello) at most, a pool apart from --max-devices; more are dropped and counted (anonymous_limit)")
	f.DurationVar(&cfg.AnonymousIdle, "anonymous-idle", cfg.AnonymousIdle, "evict an anonymous device's session once it has been silent this long (its counts stay in the totals)")
	f.IntVar(&cfg.MaxDevicesPerSource, "max-devices-per-source", cfg.MaxDevicesPerSource, "sessions one source (an IPv4 address, an IPv6 /64) may create at most; more are dropped and counted (source_limit)")
	f.Var(&cfg.TCPPolicy, "tcp-policy", "who may speak for a device on TCP: bound (to the address that first spoke for it, until silent for --bind-ttl) or open (any peer: trusted networks only)")
	f.Var(&cfg.UDPPolicy, "udp-policy", "who may speak for a device on UDP: bound or open (see --tcp-policy); a datagram's source address can be forged, see SECURITY.md")
	f.Var(&cfg.TLSPolicy, "tls-policy", "who may speak for a device on TLS: bound, open, or authenticated (only devices a client certificate names: needs --tls-client-ca)")
	f.DurationVar(&cfg.BindTTL, "bind-ttl", cfg.BindTTL, "how long a device stays bound to its address after its last frame (policy bound)")
	f.IntVar(&maxFrame, "max-frame", codec.DefaultMaxFrame, "largest frame in bytes, envelope included")
	f.IntVar(&maxDecoded, "max-decoded", codec.DefaultMaxDecoded, "bytes one frame may decode to: decompressed bytes, and 16 per reading + 8 per sample of its readings (inner frames of a compressed frame together)")
	f.IntVar(&cfg.MaxAmplification, "max-amplification", cfg.MaxAmplification, "decoded bytes per wire byte a connection (over its life, with one --max-decoded of slack) or a datagram may cost; frames beyond are refused and counted (amplification)")
	f.IntVar(&maxChannels, "max-channels", codec.DefaultMaxChannels, "channels per sample at most")
	f.IntVar(&maxSamples, "max-samples", codec.DefaultMaxSamples, "samples per frame at most")
	f.StringVar(&end, "end", "lf", "END byte of text frames on the default listeners: one byte, or lf, cr, comma, space, tab (comma: a frame is one sample)")
	f.StringVar(&naming, "naming", "ip", "what the default listeners call a device that names itself neither in its frames nor with #hello: ip (one device across reconnects), ip-port (one per source port: many devices behind a NAT) or fixed:<device id>")
	f.StringArrayVar(&listens, "listen", nil, "add a listener with its own framing and trust, e.g. 'tcp://0.0.0.0:7072?end=comma&radix=2&downlink=raw' (repeatable; options above)")
	f.DurationVar(&cfg.IdleTimeout, "idle-timeout", cfg.IdleTimeout, "close a connection that sent nothing for this long (0: never)")
	f.DurationVar(&cfg.FrameTimeout, "frame-timeout", cfg.FrameTimeout, "close a connection whose unfinished frame is older than this (slow clients; 0: never)")
	f.DurationVar(&cfg.AckInterval, "ack-interval", cfg.AckInterval, "acknowledged delivery: send a device that opted in (#hello <id> ack <window>) at most one #stored this often; sooner for its first, when half its window waits for one, and after its end-of-stream")
	f.DurationVar(&cfg.CommandTTL, "command-ttl", cfg.CommandTTL, "how long a downlink command waits for an unreachable device")
	f.DurationVar(&cfg.AckTimeout, "ack-timeout", cfg.AckTimeout, "how long a sent command waits for its acknowledgement")
	f.StringVar(&cfg.Node, "node", "", "name of this server in logs, stats and multi-node views")
	f.StringVar(&clusterNATS, "cluster-nats", "", "NATS servers whose fleetwire.stats.* the dashboard shows as the cluster (default: those of --sink nats://...; none: no cluster view)")
	f.DurationVar(&shutdownGrace, "shutdown-timeout", 30*time.Second, "how long shutdown may take to close connections")
	addConfigFlags(f)
	return cmd
}

// minFsyncInterval bounds --fsync-interval from below: shorter would fsync
// on nearly every flush for no durability a 100 ms flush interval keeps.
const minFsyncInterval = time.Millisecond

// fsyncFlag turns --fsync-interval into Config.FsyncInterval: 0 means
// "only when a segment is sealed" (sink.FsyncOnSeal, which the sink warns
// about), negative and sub-millisecond values are refused.
func fsyncFlag(d time.Duration) (time.Duration, error) {
	switch {
	case d == 0:
		return sink.FsyncOnSeal, nil
	case d < minFsyncInterval:
		return 0, fmt.Errorf("--fsync-interval %v: want a duration of at least %v, or 0 to fsync only when a segment is sealed", d, minFsyncInterval)
	}
	return d, nil
}

// clusterURL picks the NATS servers of the cluster view: --cluster-nats,
// else the sink's when it is NATS; "" for none.
func clusterURL(sink, flag string) string {
	switch {
	case flag == "none":
		return ""
	case flag != "":
		return flag
	case natssink.IsURL(sink):
		return sink
	}
	return ""
}

// startHTTP serves the control plane on addr ("" = off). Binding happens
// here, so a taken port fails the command at once; serving errors arrive
// on the channel.
func startHTTP(srv *server.Server, addr string, cfg web.Config) (*web.Server, <-chan error, error) {
	if addr == "" {
		return nil, nil, nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, nil, fmt.Errorf("--http: %w", err)
	}
	ws := web.New(srv, cfg)
	errc := make(chan error, 1)
	go func() { errc <- ws.Serve(ln) }()
	ws.SetReady(true)
	return ws, errc, nil
}

// httpToken returns the bearer token of serve's HTTP side: the content of
// --http-token-file (trimmed), else --http-token, else $FLEETWIRE_TOKEN;
// "" for a command without these flags. The --pprof listener takes it too.
func httpToken(cmd *cobra.Command) (string, error) {
	file, value := cmd.Flags().Lookup("http-token-file"), cmd.Flags().Lookup("http-token")
	switch {
	case file == nil || value == nil:
		return "", nil
	case file.Changed && value.Changed:
		return "", errors.New("--http-token-file and --http-token: give one of them")
	case file.Changed:
		b, err := os.ReadFile(file.Value.String())
		if err != nil {
			return "", fmt.Errorf("--http-token-file: %w", err)
		}
		tok := strings.TrimSpace(string(b))
		if tok == "" {
			// An empty token would turn authentication off.
			return "", fmt.Errorf("--http-token-file %s: no token in it", file.Value)
		}
		return tok, nil
	case value.Changed:
		return value.Value.String(), nil
	}
	return os.Getenv("FLEETWIRE_TOKEN"), nil
}

// checkHTTPExposure refuses an HTTP side beyond loopback without a token,
// unless insecure: the API lists the fleet and sends commands to devices.
func checkHTTPExposure(addr, token string, insecure bool) error {
	if addr == "" || token != "" || isLoopback(addr) {
		return nil
	}
	if !insecure {
		return fmt.Errorf("--http %s is not a loopback address and no token is set: anyone who reaches it could send commands to devices; "+
			"set $FLEETWIRE_TOKEN or --http-token-file, or pass --http-insecure to serve it open", addr)
	}
	slog.Warn("INSECURE: --http-insecure: the HTTP API listens beyond loopback without a token; anyone who reaches it can read the fleet and send commands to devices", "http", addr)
	return nil
}

// isLoopback tells whether a listener on addr (host:port) is reachable
// from this host only: localhost or a loopback IP. An empty or unspecified
// host listens on every interface; another name may resolve to any.
func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}
