package server

import (
	"errors"
	"fmt"
	"runtime"
	"strings"
	"time"

	"github.com/fleetwire/fleetwire/codec"
	"github.com/fleetwire/fleetwire/codec/ack"
	"github.com/fleetwire/fleetwire/server/sink"
)

// Config is everything `fleetwire serve` can be told. The zero value of a
// field means its default (Defaults, the same values the CLI's flags
// start from); a duration whose feature can be turned off takes Never for
// off. Addresses have no default: a Config needs at least one listener,
// and the sink is the caller's (nil: None, which keeps nothing).
type Config struct {
	// The default listeners, named tcp, udp and tls, with the server-wide
	// END byte and policies. "" leaves one out.
	TCPAddr  string
	UDPAddr  string
	TLSAddr  string
	HTTPAddr string // "" disables the HTTP side

	TLSCert, TLSKey string // server certificate of the tls listener (PEM files)
	TLSClientCA     string // when set, clients must present a certificate it signed (mutual TLS)

	// Listeners are more listeners, each with its own address, framing and
	// trust (see Listener), beside the default ones.
	Listeners []Listener

	Engine     string // "gnet" (default) or "std"
	Loops      int    // gnet event loops; 0 = one per core
	UDPReaders int    // UDP sockets (SO_REUSEPORT) with a reader each; 0 = one per core
	UDPRcvBuf  int    // bytes of kernel receive buffer per UDP socket
	// UDPCoalesce is how long a busy UDP reader sleeps before it reads
	// again instead of waiting on the netpoller; Never: it waits on every
	// empty read (see udpReader).
	UDPCoalesce time.Duration
	ReusePort   bool // share the ports with other server processes

	// Sink is where readings go, opened by the caller (sink.OpenFiles,
	// natssink.Open, sink.None); New takes it over and Shutdown closes it.
	// A sink that keeps acknowledged-delivery state with its data (the
	// file sink: SetCheckpoint and Recover) gets the server's. nil: None.
	Sink sink.Sink

	MaxConns   int // open TCP+TLS connections; beyond: closed at once, counted
	MaxDevices int // identified devices' sessions; beyond: readings dropped, counted
	// MaxAnonymous bounds the sessions of devices named after their
	// address (no id, no hello), a pool apart from MaxDevices; they are
	// evicted once silent for AnonymousIdle.
	MaxAnonymous  int
	AnonymousIdle time.Duration
	// MaxDevicesPerSource bounds the sessions (of either kind) one source
	// creates: an IPv4 address or an IPv6 /64.
	MaxDevicesPerSource int

	// Who may speak for a device, per transport (see Policy). The zero
	// value is PolicyBound. BindTTL is how long a device stays bound to
	// its address after its last frame.
	TCPPolicy, UDPPolicy, TLSPolicy Policy
	BindTTL                         time.Duration

	// Naming (and FixedID) say what the default listeners call a device
	// that does not name itself (see Naming).
	Naming  Naming
	FixedID string

	Limits codec.Limits // frame, decompression, channel and sample limits
	// MaxAmplification bounds decoded bytes (codec.DecodedSize) per wire
	// byte: over a connection's life (a bucket as large as one frame's
	// Limits.MaxDecoded, filled by what the connection sends) and within
	// each datagram. Frames beyond it are refused (amplification).
	MaxAmplification int
	End              byte          // END byte of text frames
	IdleTimeout      time.Duration // close a connection that sent nothing for this long
	FrameTimeout     time.Duration // close a connection whose partial frame is older (slowloris)
	TCPKeepAlive     time.Duration

	// AckInterval is the most often a device that opted in to
	// acknowledged delivery is sent a #stored: sooner only for its first,
	// when half its window waits for one, and after its end-of-stream.
	AckInterval time.Duration

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
	TCPAddr:             "127.0.0.1:7070",
	UDPAddr:             "127.0.0.1:7071",
	HTTPAddr:            "127.0.0.1:7080",
	Engine:              "gnet",
	UDPRcvBuf:           8 << 20,
	UDPCoalesce:         time.Millisecond,
	MaxConns:            100_000,
	MaxDevices:          1_000_000,
	MaxAnonymous:        10_000,
	AnonymousIdle:       5 * time.Minute,
	MaxDevicesPerSource: 16_384,
	BindTTL:             5 * time.Minute,
	MaxAmplification:    2048,
	// The byte budget of acknowledgements: ack.DefaultInterval says why.
	AckInterval:           ack.DefaultInterval,
	End:                   '\n',
	IdleTimeout:           5 * time.Minute,
	FrameTimeout:          30 * time.Second,
	CommandTTL:            10 * time.Minute,
	AckTimeout:            30 * time.Second,
	CommandQueue:          100_000,
	CommandQueuePerDevice: 16,
	CommandHistory:        10_000,
}

// Never, as a Config duration that allows it (IdleTimeout, FrameTimeout,
// UDPCoalesce), turns that feature off; the zero value means the default.
const Never time.Duration = -1

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
	if c.MaxConns == 0 {
		c.MaxConns = d.MaxConns
	}
	if c.MaxDevices == 0 {
		c.MaxDevices = d.MaxDevices
	}
	if c.MaxAmplification == 0 {
		c.MaxAmplification = d.MaxAmplification
	}
	if c.MaxAnonymous == 0 {
		c.MaxAnonymous = d.MaxAnonymous
	}
	if c.MaxDevicesPerSource == 0 {
		c.MaxDevicesPerSource = d.MaxDevicesPerSource
	}
	c.Limits = c.Limits.OrDefault()
	if c.End == 0 {
		c.End = d.End
	}
	for _, p := range []struct {
		v   *time.Duration
		def time.Duration
	}{{&c.CommandTTL, d.CommandTTL}, {&c.AckTimeout, d.AckTimeout}, {&c.AnonymousIdle, d.AnonymousIdle}, {&c.BindTTL, d.BindTTL},
		{&c.AckInterval, d.AckInterval}, {&c.IdleTimeout, d.IdleTimeout}, {&c.FrameTimeout, d.FrameTimeout}, {&c.UDPCoalesce, d.UDPCoalesce}} {
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

// listeners returns the default listeners and Config.Listeners, with the
// server-wide values filled in where a listener says nothing.
func (c *Config) listeners() []Listener {
	var ls []Listener
	if c.TCPAddr != "" {
		ls = append(ls, Listener{Name: "tcp", Transport: TCP, Addr: c.TCPAddr})
	}
	if c.UDPAddr != "" {
		ls = append(ls, Listener{Name: "udp", Transport: UDP, Addr: c.UDPAddr})
	}
	if c.TLSAddr != "" {
		ls = append(ls, Listener{Name: "tls", Transport: TLS, Addr: c.TLSAddr, TLSCert: c.TLSCert, TLSKey: c.TLSKey, TLSClientCA: c.TLSClientCA})
	}
	for i := range ls {
		ls[i].Naming, ls[i].FixedID = c.Naming, c.FixedID
	}
	ls = append(ls, c.Listeners...)
	for i := range ls {
		l := &ls[i]
		if l.Name == "" {
			l.Name = fmt.Sprintf("%s-%d", l.Transport, i)
		}
		if l.End == 0 {
			l.End = c.End
		}
		if l.Radix == 0 {
			l.Radix = 10
		}
		if l.Policy == nil {
			p := [NumTransports]Policy{TCP: c.TCPPolicy, UDP: c.UDPPolicy, TLS: c.TLSPolicy}[l.Transport]
			l.Policy = &p
		}
	}
	return ls
}

// Validate checks c as New does, with defaults filled in, opening
// nothing: certificate files are read by Start.
func (c Config) Validate() error {
	c = c.withDefaults()
	return c.validate()
}

func (c *Config) validate() error {
	if c.Engine != "gnet" && c.Engine != "std" {
		return fmt.Errorf("engine %q: want gnet or std", c.Engine)
	}
	ls := c.listeners()
	if len(ls) == 0 {
		return errors.New("no listener: give a TCP, UDP or TLS address, or a Listener")
	}
	names := map[string]bool{}
	for i := range ls {
		if ls[i].Transport >= NumTransports {
			return fmt.Errorf("listener %s: transport %d", ls[i].Name, ls[i].Transport)
		}
		if err := ls[i].validate(); err != nil {
			return err
		}
		if names[ls[i].Name] {
			return fmt.Errorf("two listeners named %s", ls[i].Name)
		}
		names[ls[i].Name] = true
		for _, o := range ls[:i] {
			if o.Transport == ls[i].Transport && o.Addr == ls[i].Addr && !strings.HasSuffix(o.Addr, ":0") {
				return fmt.Errorf("listeners %s and %s: both on %s %s", o.Name, ls[i].Name, o.Transport, o.Addr)
			}
		}
	}
	for _, v := range []struct {
		name string
		n    int
	}{{"max conns", c.MaxConns}, {"max devices", c.MaxDevices}, {"max anonymous", c.MaxAnonymous},
		{"max devices per source", c.MaxDevicesPerSource}, {"command queue", c.CommandQueue},
		{"command queue per device", c.CommandQueuePerDevice}, {"command history", c.CommandHistory}} {
		if v.n < 0 {
			return fmt.Errorf("%s %d: want a positive number", v.name, v.n)
		}
	}
	for _, v := range []struct {
		name     string
		d        time.Duration
		mayNever bool
	}{{"idle timeout", c.IdleTimeout, true}, {"frame timeout", c.FrameTimeout, true}, {"udp coalesce", c.UDPCoalesce, true},
		{"anonymous idle", c.AnonymousIdle, false}, {"bind ttl", c.BindTTL, false}, {"command ttl", c.CommandTTL, false},
		{"ack timeout", c.AckTimeout, false}, {"ack interval", c.AckInterval, false}} {
		if v.d < 0 && !(v.mayNever && v.d == Never) {
			return fmt.Errorf("%s %v: want a positive duration", v.name, v.d)
		}
	}
	for _, p := range []Policy{c.TCPPolicy, c.UDPPolicy, c.TLSPolicy} {
		if p >= numPolicies {
			return fmt.Errorf("policy %d: want open, bound or authenticated", p)
		}
	}
	if c.TCPPolicy == PolicyAuthenticated || c.UDPPolicy == PolicyAuthenticated {
		return errors.New("policy authenticated: only a TLS listener with client certificates (a client CA) authenticates devices")
	}
	if c.MaxAmplification < 1 {
		return fmt.Errorf("max amplification %d: want at least 1 decoded byte per wire byte", c.MaxAmplification)
	}
	if c.UDPCoalesce > maxUDPCoalesce {
		// Longer naps would hold decoded readings past chunkAge and let a
		// burst outgrow the socket's receive buffer.
		return fmt.Errorf("udp coalesce %v: want at most %v", c.UDPCoalesce, maxUDPCoalesce)
	}
	return nil
}
