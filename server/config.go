package server

import (
	"errors"
	"fmt"
	"runtime"
	"time"

	"github.com/fleetwire/fleetwire/codec"
	"github.com/fleetwire/fleetwire/server/natssink"
	"github.com/fleetwire/fleetwire/server/sink"
)

// Config is everything `fleetwire serve` can be told. The zero value of a
// field means its default (see Defaults), so a Config{} serves on loopback.
type Config struct {
	TCPAddr  string // "" disables TCP
	UDPAddr  string // "" disables UDP
	TLSAddr  string // "" disables TLS
	HTTPAddr string // "" disables the HTTP side

	TLSCert, TLSKey string // server certificate (PEM files)
	TLSClientCA     string // when set, clients must present a certificate it signed (mutual TLS)

	Engine     string // "gnet" (default) or "std"
	Loops      int    // gnet event loops; 0 = one per core
	UDPReaders int    // UDP sockets (SO_REUSEPORT) with a reader each; 0 = one per core
	UDPRcvBuf  int    // bytes of kernel receive buffer per UDP socket
	// UDPCoalesce is how long a busy UDP reader sleeps before it reads
	// again instead of waiting on the netpoller; 0 = never (see udpReader).
	UDPCoalesce time.Duration
	ReusePort   bool // share the ports with other server processes

	DataDir string // where the file sink writes
	// FsyncInterval is how often the file sink fsyncs its open segment
	// (sink.FileConfig.FsyncInterval); negative: only when a segment is
	// sealed.
	FsyncInterval time.Duration
	Sink          string // "files" (default), "none" or "nats://host:port[,host:port...]"
	// NATS configures the sink of --sink nats://...; its URL, Dir and
	// Node are taken from Sink, DataDir and Node.
	NATS natssink.Config

	MaxConns     int           // open TCP+TLS connections; beyond: closed at once, counted
	MaxDevices   int           // sessions; beyond: readings dropped, counted
	Limits       codec.Limits  // frame, decompression, channel and sample limits
	End          byte          // END byte of text frames
	IdleTimeout  time.Duration // close a connection that sent nothing for this long
	FrameTimeout time.Duration // close a connection whose partial frame is older (slowloris)
	TCPKeepAlive time.Duration

	CommandTTL            time.Duration // how long a command waits for an unreachable device
	AckTimeout            time.Duration // how long a sent command waits for its ack
	CommandQueue          int           // queued commands in all
	CommandQueuePerDevice int           // queued commands per device
	CommandHistory        int           // finished commands remembered

	Node string // this server's name (logs, stats, multi-node)
}

// maxUDPCoalesce bounds Config.UDPCoalesce.
const maxUDPCoalesce = 10 * time.Millisecond

// Defaults are the values a zero Config field takes.
var Defaults = Config{
	TCPAddr:               "127.0.0.1:7070",
	UDPAddr:               "127.0.0.1:7071",
	HTTPAddr:              "127.0.0.1:7080",
	Engine:                "gnet",
	UDPRcvBuf:             8 << 20,
	UDPCoalesce:           time.Millisecond,
	DataDir:               "./data",
	FsyncInterval:         sink.DefaultFsyncInterval,
	Sink:                  "files",
	MaxConns:              100_000,
	MaxDevices:            1_000_000,
	End:                   '\n',
	IdleTimeout:           5 * time.Minute,
	FrameTimeout:          30 * time.Second,
	CommandTTL:            10 * time.Minute,
	AckTimeout:            30 * time.Second,
	CommandQueue:          100_000,
	CommandQueuePerDevice: 16,
	CommandHistory:        10_000,
}

// withDefaults fills zero fields. Addresses are not defaulted: an empty
// address means that transport is off (the CLI supplies the defaults).
func (c Config) withDefaults() Config {
	d := Defaults
	if c.Engine == "" {
		c.Engine = d.Engine
	}
	if c.Loops <= 0 {
		c.Loops = runtime.GOMAXPROCS(0)
	}
	if c.UDPReaders <= 0 {
		c.UDPReaders = runtime.GOMAXPROCS(0)
	}
	if c.UDPRcvBuf == 0 {
		c.UDPRcvBuf = d.UDPRcvBuf
	}
	if c.DataDir == "" {
		c.DataDir = d.DataDir
	}
	if c.Sink == "" {
		c.Sink = d.Sink
	}
	if c.FsyncInterval == 0 {
		c.FsyncInterval = d.FsyncInterval
	}
	if c.MaxConns == 0 {
		c.MaxConns = d.MaxConns
	}
	if c.MaxDevices == 0 {
		c.MaxDevices = d.MaxDevices
	}
	c.Limits = c.Limits.OrDefault()
	if c.End == 0 {
		c.End = d.End
	}
	for _, p := range []struct {
		v   *time.Duration
		def time.Duration
	}{{&c.CommandTTL, d.CommandTTL}, {&c.AckTimeout, d.AckTimeout}} {
		if *p.v == 0 {
			*p.v = p.def
		}
	}
	for _, p := range []struct {
		v   *int
		def int
	}{{&c.CommandQueue, d.CommandQueue}, {&c.CommandQueuePerDevice, d.CommandQueuePerDevice}, {&c.CommandHistory, d.CommandHistory}} {
		if *p.v == 0 {
			*p.v = p.def
		}
	}
	return c
}

func (c *Config) validate() error {
	if c.Engine != "gnet" && c.Engine != "std" {
		return fmt.Errorf("engine %q: want gnet or std", c.Engine)
	}
	if c.TCPAddr == "" && c.UDPAddr == "" && c.TLSAddr == "" {
		return errors.New("no transport: give at least one of --tcp, --udp, --tls")
	}
	if c.TLSAddr != "" && (c.TLSCert == "" || c.TLSKey == "") {
		return errors.New("--tls needs --tls-cert and --tls-key")
	}
	if c.End >= 0x80 || c.End == ',' || c.End == ':' || c.End == ';' || c.End == '@' || (c.End >= '0' && c.End <= '9') {
		return fmt.Errorf("END byte %q collides with the text format", c.End)
	}
	if c.UDPCoalesce < 0 || c.UDPCoalesce > maxUDPCoalesce {
		// Longer naps would hold decoded readings past chunkAge and let a
		// burst outgrow the socket's receive buffer.
		return fmt.Errorf("--udp-coalesce %v: want 0 to %v", c.UDPCoalesce, maxUDPCoalesce)
	}
	return nil
}
