package natssink

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/fleetwire/fleetwire/codec"
)

// Config configures a Sink. Zero fields take the defaults below.
type Config struct {
	// URL lists the NATS servers, as --sink gives it:
	// "nats://host:4222[,host2:4222...]". The client connects to one and
	// fails over to the others (and to those the cluster gossips).
	URL string
	// Dir is the data directory (--data); the spool goes to
	// Dir/nats-spool/<node>.
	Dir string
	// Node names this server: in the message ids, the Fleetwire-Node
	// header, the spool directory and the stats subject. It must be a
	// valid device id (1-64 bytes of [A-Za-z0-9._-]). Empty means the
	// host name.
	Node string

	// Stream is the JetStream stream. Default "FLEETWIRE".
	Stream string
	// Subject is the prefix of the subjects readings are published to:
	// Subject.<device>. Default "fleetwire.readings".
	Subject string
	// StatsSubject is the prefix of the per-node stats subjects:
	// StatsSubject.<node>. Default "fleetwire.stats".
	StatsSubject string
	// CreateStream creates the stream when it does not exist, with
	// Replicas replicas, file storage, subjects Subject.> and a
	// duplicate window of DupWindow. An existing stream is never changed.
	CreateStream bool
	// Replicas of a stream CreateStream makes. Default 1.
	Replicas int
	// DupWindow is the duplicate window of a stream CreateStream makes
	// (--nats-dup-window): how long JetStream remembers message ids. A
	// batch republished after a longer outage than this may be stored
	// twice, and so may an acking device's run published by two nodes
	// further apart than this (doc.go). An existing stream keeps its own;
	// NATSStats.DupWindowMs shows it. Default 2 minutes (JetStream's own
	// default); JetStream takes 100 ms to the stream's max age.
	DupWindow time.Duration

	// MaxInflight bounds the batches published and not yet acknowledged.
	// Default 256.
	MaxInflight int
	// AckTimeout fails a publish whose acknowledgement takes longer; the
	// batch is then republished (JetStream drops the copy if the first
	// one was stored). Default 5 s.
	AckTimeout time.Duration
	// Linger is how long readings wait for more of the same device
	// before their batch is closed and published: larger batches,
	// fewer messages, later acknowledgements. Default 200 ms.
	Linger time.Duration

	// SpoolMaxBytes bounds the spool: once the batches on disk that
	// JetStream has not acknowledged reach it, Submit refuses chunks
	// (back-pressure; the server counts them as dropped, sink_full).
	// Default 1 GiB.
	SpoolMaxBytes int64
	// SpoolSegmentBytes rotates spool files. Default SpoolMaxBytes/8,
	// within 1-64 MiB.
	SpoolSegmentBytes int64
	// SyncInterval is how often the spool is fsynced while it holds
	// unacknowledged batches; it bounds what a power loss (not a process
	// crash) can cost. Default 1 s.
	SyncInterval time.Duration
	// StatsInterval is how often the stats are published. Default 1 s.
	StatsInterval time.Duration
	// DrainTimeout is how long Close keeps publishing the spool before it
	// leaves the rest on disk for the next start. Default 10 s.
	DrainTimeout time.Duration

	// QueueChunks and QueueBytes bound the chunks waiting for the writer
	// goroutine. Defaults 4096 and 256 MiB.
	QueueChunks int
	QueueBytes  int64

	// Logger receives connection changes, publish failures and recovery
	// notices. Default slog.Default().
	Logger *slog.Logger
}

// Defaults of Config.
const (
	DefaultStream       = "FLEETWIRE"
	DefaultSubject      = "fleetwire.readings"
	DefaultStatsSubject = "fleetwire.stats"
	DefaultMaxInflight  = 256
	DefaultAckTimeout   = 5 * time.Second
	DefaultLinger       = 200 * time.Millisecond
	DefaultSpoolMax     = 1 << 30
	DefaultSyncInterval = time.Second
	DefaultDrainTimeout = 10 * time.Second
	DefaultDupWindow    = 2 * time.Minute
	DefaultQueueChunks  = 4096
	DefaultQueueBytes   = 256 << 20

	// Codec is the Fleetwire-Codec header value: the codec name of the
	// payloads (codec.ParseCodec reads it).
	Codec = "compact+zstd"
	// HeaderCodec and HeaderNode are the headers every message carries.
	HeaderCodec = "Fleetwire-Codec"
	HeaderNode  = "Fleetwire-Node"
)

func (c Config) withDefaults() (Config, error) {
	if c.Node == "" {
		h, err := os.Hostname()
		if err != nil {
			return c, fmt.Errorf("natssink: no node name and no host name: %w", err)
		}
		c.Node = string(idBytes(nil, []byte(h)))
	}
	if !codec.ValidID([]byte(c.Node)) {
		return c, fmt.Errorf("natssink: node name %q: want 1-64 bytes of [A-Za-z0-9._-]", c.Node)
	}
	if c.Dir == "" {
		return c, errors.New("natssink: no data directory for the spool")
	}
	if _, err := ServerURLs(c.URL); err != nil {
		return c, err
	}
	def := func(s *string, d string) {
		if *s == "" {
			*s = d
		}
	}
	def(&c.Stream, DefaultStream)
	def(&c.Subject, DefaultSubject)
	def(&c.StatsSubject, DefaultStatsSubject)
	if strings.ContainsAny(c.Stream, " \t.*>") {
		return c, fmt.Errorf("natssink: stream name %q: no spaces, dots or wildcards", c.Stream)
	}
	for _, s := range []string{c.Subject, c.StatsSubject} {
		if s == "" || strings.ContainsAny(s, " \t*>") || strings.HasPrefix(s, ".") || strings.HasSuffix(s, ".") || strings.Contains(s, "..") {
			return c, fmt.Errorf("natssink: subject prefix %q: want tokens separated by dots, no wildcards", s)
		}
	}
	if c.Replicas <= 0 {
		c.Replicas = 1
	}
	if c.Replicas > 5 {
		return c, fmt.Errorf("natssink: %d replicas: JetStream allows 1-5", c.Replicas)
	}
	if c.DupWindow <= 0 {
		c.DupWindow = DefaultDupWindow
	}
	if c.MaxInflight <= 0 {
		c.MaxInflight = DefaultMaxInflight
	}
	if c.AckTimeout <= 0 {
		c.AckTimeout = DefaultAckTimeout
	}
	if c.Linger <= 0 {
		c.Linger = DefaultLinger
	}
	if c.SpoolMaxBytes <= 0 {
		c.SpoolMaxBytes = DefaultSpoolMax
	}
	if c.SpoolSegmentBytes <= 0 {
		c.SpoolSegmentBytes = min(max(c.SpoolMaxBytes/8, 1<<20), 64<<20)
	}
	if c.SyncInterval <= 0 {
		c.SyncInterval = DefaultSyncInterval
	}
	if c.StatsInterval <= 0 {
		c.StatsInterval = time.Second
	}
	if c.DrainTimeout <= 0 {
		c.DrainTimeout = DefaultDrainTimeout
	}
	if c.QueueChunks <= 0 {
		c.QueueChunks = DefaultQueueChunks
	}
	if c.QueueBytes <= 0 {
		c.QueueBytes = DefaultQueueBytes
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c, nil
}

// IsURL reports whether a --sink value names NATS servers.
func IsURL(sink string) bool {
	return strings.HasPrefix(sink, "nats://") || strings.HasPrefix(sink, "tls://")
}

// ServerURLs splits "nats://a:4222,b:4222" (or "nats://a:4222,nats://b:4222")
// into the URLs the NATS client takes; a host without a scheme gets the
// first one's.
func ServerURLs(s string) ([]string, error) {
	if !IsURL(s) {
		return nil, fmt.Errorf("natssink: %q: want nats://host:port[,host2:port...]", s)
	}
	scheme, _, _ := strings.Cut(s, "://")
	var out []string
	for _, u := range strings.Split(s, ",") {
		u = strings.TrimSpace(u)
		if u == "" {
			continue
		}
		if !strings.Contains(u, "://") {
			u = scheme + "://" + u
		}
		if _, hostport, _ := strings.Cut(u, "://"); hostport == "" {
			return nil, fmt.Errorf("natssink: %q: empty host", s)
		}
		out = append(out, u)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("natssink: %q: no server", s)
	}
	return out, nil
}

// idBytes appends id as a device id the formats accept: bytes outside
// [A-Za-z0-9._-] become '_', and it is cut to codec.MaxIDLen. Server
// ids are valid already; an id made from a peer address with an IPv6
// zone ("%eth0") is not, and a compact frame must carry a valid one.
func idBytes(dst, id []byte) []byte {
	if len(id) > codec.MaxIDLen {
		id = id[:codec.MaxIDLen]
	}
	for _, b := range id {
		if !idByte(b) {
			b = '_'
		}
		dst = append(dst, b)
	}
	return dst
}

func idByte(b byte) bool {
	return b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' || b == '.' || b == '_' || b == '-'
}

// SubjectToken is the subject token of a device: its id with '.' (a
// subject separator) as '_', so each device is one token and
// Subject.* matches every device. Ids differing only in '.' and '_'
// share a subject; the payload names the device exactly.
func SubjectToken(dst, device []byte) []byte {
	if len(device) == 0 {
		return append(dst, '_')
	}
	for _, b := range device {
		if b == '.' {
			b = '_'
		}
		dst = append(dst, b)
	}
	return dst
}
