package loadgen

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/fleetwire/fleetwire/codec"
)

// Transport is how devices reach the receiver.
type Transport string

// Transports.
const (
	TCP  Transport = "tcp"
	UDP  Transport = "udp"
	TLS  Transport = "tls"
	DTLS Transport = "dtls"
)

// Config describes one run. The zero value is not usable: start from
// DefaultConfig. Config is JSON-serialisable so that --procs can hand each
// worker process its share.
type Config struct {
	Transport Transport
	// Addr is host:port of the receiver, or a comma-separated list of
	// them: device number n sends to the (n mod len)-th (see targets).
	Addr string

	Devices int     // simulated devices in this process (or in all workers with Procs > 1)
	Rate    float64 // samples per second per device; 0 = as fast as the socket takes them
	Jitter  float64 // each frame leaves up to Jitter*period after its slot, 0 <= Jitter < 1
	Batch   int     // samples per frame: the main lever on bytes per reading

	// Stop conditions: at least one must be set. Duration counts from the
	// moment every device has connected (or given up); Samples is per device.
	Duration time.Duration
	Samples  int

	Codec    codec.Codec
	End      byte   // text END byte; 0 means '\n'
	Signal   string // "walk" or "replay:FILE.csv"
	Channels int    // channels per sample of the walk signal
	Replay   ReplayMapping
	Seed     uint64

	IDPrefix string // device ids are IDPrefix + zero-padded number: dev-000001
	IDOffset int    // the first device of this process is number IDOffset+1
	IDWidth  int    // digits of the number (at least)

	Loops          int           // event loops; 0 = GOMAXPROCS
	Tick           time.Duration // timer resolution of the loops: frames leave up to one tick late
	ConnectRate    float64       // new connections per second (whole process)
	ConnectTimeout time.Duration // per attempt
	ConnectRetries int           // attempts after the first, with exponential back-off
	Reconnect      bool          // reconnect devices whose connection broke mid-run
	NoDelay        bool          // TCP_NODELAY

	// Source addresses: device number n binds to SourceBase + n/PerSource
	// (IPv4 loopback targets only). Empty SourceBase disables binding.
	SourceBase string
	PerSource  int

	// UDPSockets > 0 multiplexes all UDP devices of the process over that
	// many sockets per target with sendmmsg. Downlink commands cannot
	// reach such devices (the receiver only sees the shared sockets'
	// addresses).
	UDPSockets int

	SendBuffer   int           // bytes a TCP device may queue while its socket is full; beyond it frames are dropped
	SocketBuffer int           // SO_SNDBUF of device sockets (a small device has little); 0 = kernel default
	DrainTimeout time.Duration // how long to wait for the receiver to close after end-of-stream
	LateAfter    time.Duration // a frame that leaves later than this after its due time is a late send

	// Acknowledged delivery (PROTOCOL.md, package codec/ack): every device
	// asks for #stored acknowledgements, runs an ack.Sender, keeps what is
	// not acknowledged and sends it again; with several targets it fails
	// over to the next. Needs Rate > 0. See ack.go.
	Ack         bool
	AckWindow   int           // samples a device holds unacknowledged (its hello says so); 0 = DefaultAckWindow
	AckMaxBatch int           // samples per resent frame; 0 = 4 frames' worth, at least 16
	AckMinRTO   time.Duration // minimum resend timeout; 0 = min(window/(2*Rate), ack.DefaultInterval) + 2s
	AckDrain    time.Duration // after end-of-stream, wait up to this long for acknowledgements; 0 = not at all

	TLSCA, TLSCert, TLSKey, TLSServerName string

	// DTLS (see dtls.go): pre-shared keys from a key file (each device's
	// under its id), else the server's certificate (TLSCA...). DTLSVersion
	// is "1.2" (the default: PSK with CCM_8) or "1.3". DTLSPerReport makes
	// each report a session of its own; DTLSResume resumes a device's
	// first session in its later ones.
	DTLSPSKFile   string
	DTLSVersion   string
	DTLSPerReport bool
	DTLSResume    bool

	// Session modes (session.go): Session is persistent (the default) or
	// per-report (TCP and TLS: a connection per report), TLSResume resumes
	// a per-report TLS device's session from a ticket, NATBinding is keep
	// or lose (UDP: a new source port per report), KeepAlive the TCP
	// keep-alive interval of persistent TCP and TLS connections (0: off).
	Session    Session
	TLSResume  bool
	NATBinding string
	KeepAlive  time.Duration

	AllowRemote bool
	Procs       int // worker processes; <= 1 runs in this process

	ProgressEvery time.Duration

	// Not serialised.
	Progress io.Writer    `json:"-"` // progress lines, nil for none
	Logger   *slog.Logger `json:"-"`
	// WorkerCommand returns the command that runs one worker (it must call
	// ServeWorker with the command's stdin and stdout). Required with Procs > 1.
	WorkerCommand func() *exec.Cmd `json:"-"`
}

// ReplayMapping says which columns of a replayed CSV hold what; the zero
// value reads the interchange schema (device,seq,unix_ms,<channels>).
type ReplayMapping struct {
	DeviceCol string
	SeqCol    string
	Columns   []string
}

// DefaultConfig returns the defaults the command line starts from.
func DefaultConfig() Config {
	return Config{
		Transport:      TCP,
		Addr:           "127.0.0.1:7070",
		Devices:        100,
		Rate:           1,
		Jitter:         0.1,
		Batch:          1,
		Codec:          codec.Codec{Format: codec.FormatText},
		Signal:         "walk",
		Channels:       2,
		Seed:           1,
		IDPrefix:       "dev-",
		IDWidth:        6,
		Tick:           250 * time.Microsecond,
		ConnectRate:    2000,
		ConnectTimeout: 5 * time.Second,
		ConnectRetries: 5,
		Reconnect:      true,
		NoDelay:        true,
		SourceBase:     "127.0.0.2",
		PerSource:      10000,
		SendBuffer:     256 << 10,
		DrainTimeout:   5 * time.Second,
		LateAfter:      2 * time.Millisecond,
		AckWindow:      DefaultAckWindow,
		AckDrain:       DefaultAckDrain,
		ProgressEvery:  time.Second,
	}
}

// MaxDatagram is the largest UDP payload over IPv4.
const MaxDatagram = 65507

func (c *Config) validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	switch c.Transport {
	case TCP, UDP, TLS, DTLS:
	default:
		bad("transport %q: want tcp, udp, tls or dtls", c.Transport)
	}
	if c.Addr == "" {
		bad("no target address")
	} else if addrs := addrList(c.Addr); slices.Contains(addrs, "") {
		bad("target list %q has an empty address", c.Addr)
	} else if len(slices.Compact(slices.Sorted(slices.Values(addrs)))) < len(addrs) {
		bad("target list %q names an address twice", c.Addr)
	}
	if c.Devices < 1 {
		bad("--devices %d: need at least 1", c.Devices)
	}
	if c.Rate < 0 || c.Rate > 1e6 {
		bad("--rate %g: want 0 (as fast as possible) up to 1e6 samples/s per device", c.Rate)
	}
	if c.Jitter < 0 || c.Jitter >= 1 {
		bad("--jitter %g: want 0 <= jitter < 1 (a fraction of the frame period)", c.Jitter)
	}
	if c.Batch < 1 || c.Batch > codec.DefaultMaxSamples {
		bad("--batch %d: want 1..%d samples per frame", c.Batch, codec.DefaultMaxSamples)
	}
	if c.Duration <= 0 && c.Samples <= 0 {
		bad("unbounded run: give --duration or --samples")
	}
	if c.Duration < 0 || c.Samples < 0 {
		bad("negative --duration or --samples")
	}
	if c.Channels < 1 || c.Channels > codec.DefaultMaxChannels {
		bad("--channels %d: want 1..%d", c.Channels, codec.DefaultMaxChannels)
	}
	if c.Signal != "walk" && !strings.HasPrefix(c.Signal, "replay:") {
		bad("--signal %q: want walk or replay:FILE.csv", c.Signal)
	}
	if c.Codec.Format != codec.FormatText && c.Codec.Format != codec.FormatBinary && c.Codec.Format != codec.FormatCompact {
		bad("codec %v: not a sample format", c.Codec)
	}
	if c.End >= 0x80 || c.End == ';' || c.End == ',' || c.End == ':' || c.End == '@' || c.End == '#' {
		bad("END byte %q clashes with the text format", c.End)
	}
	if c.IDOffset < 0 || c.IDWidth < 1 || c.IDWidth > 20 {
		bad("--id-offset %d / id width %d out of range", c.IDOffset, c.IDWidth)
	}
	if !codec.ValidID([]byte(c.deviceID(c.IDOffset + c.Devices - 1))) {
		bad("--id-prefix %q makes invalid device ids (1-64 bytes of [A-Za-z0-9._-])", c.IDPrefix)
	}
	if c.Tick < 10*time.Microsecond || c.Tick > 100*time.Millisecond {
		bad("--tick %v: want 10µs..100ms", c.Tick)
	}
	if c.ConnectRate <= 0 {
		bad("--connect-rate %g: must be positive", c.ConnectRate)
	}
	if c.ConnectTimeout <= 0 || c.ConnectRetries < 0 || c.ConnectRetries > 30 {
		bad("--connect-timeout must be positive and --connect-retries 0..30")
	}
	if c.PerSource < 1 {
		bad("--per-source %d: must be positive", c.PerSource)
	}
	if c.UDPSockets < 0 || c.UDPSockets > 0 && c.Transport != UDP {
		bad("--udp-sockets needs --udp")
	}
	if c.SocketBuffer < 0 {
		bad("--so-sndbuf %d: negative", c.SocketBuffer)
	}
	if c.SendBuffer < 1<<10 {
		bad("--send-buffer %d: at least 1 KiB", c.SendBuffer)
	}
	if c.Procs < 0 || c.Procs > 64 {
		bad("--procs %d: want 0..64", c.Procs)
	}
	if c.Procs > c.Devices {
		bad("--procs %d exceeds --devices %d", c.Procs, c.Devices)
	}
	if c.Transport == TLS && c.TLSCA == "" {
		bad("--tls needs --tls-ca (the CA that signed the server's certificate)")
	}
	if c.Transport == DTLS && c.DTLSPSKFile == "" && c.TLSCA == "" {
		bad("--dtls needs --dtls-psk-file (pre-shared keys) or --tls-ca (the CA that signed the server's certificate)")
	}
	if c.Transport != DTLS && (c.DTLSPSKFile != "" || c.DTLSVersion != "" || c.DTLSPerReport || c.DTLSResume) {
		bad("--dtls-* options need --dtls")
	}
	if c.DTLSVersion != "" && c.DTLSVersion != "1.2" && c.DTLSVersion != "1.3" {
		bad("--dtls-version %q: want 1.2 or 1.3", c.DTLSVersion)
	}
	if c.DTLSResume && !c.DTLSPerReport {
		bad("--dtls-resume needs --dtls-per-report (a persistent session has nothing to resume)")
	}
	if c.DTLSPerReport && c.Ack {
		bad("--dtls-per-report and --ack: a device's acknowledgements need its session to outlive its report")
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		bad("--tls-cert and --tls-key go together")
	}
	if c.Ack {
		c.validateAck(bad)
	}
	c.validateSession(bad)
	return errors.Join(errs...)
}

// sockets returns how many sockets the run holds open at most.
func (c *Config) sockets() int {
	if c.UDPSockets > 0 {
		return c.UDPSockets * len(addrList(c.Addr))
	}
	return c.Devices
}

func (c *Config) loops() int {
	n := c.Loops
	if n <= 0 {
		n = runtime.GOMAXPROCS(0)
	}
	if n > c.Devices {
		n = c.Devices
	}
	if c.UDPSockets > 0 && n > c.UDPSockets {
		n = c.UDPSockets
	}
	return max(n, 1)
}

// deviceID returns the id of device number n (0-based): IDPrefix and n+1
// zero-padded to IDWidth digits.
func (c *Config) deviceID(n int) string {
	return string(appendID(nil, c.IDPrefix, n+1, c.IDWidth))
}

func appendID(dst []byte, prefix string, n, width int) []byte {
	dst = append(dst, prefix...)
	var digits [20]byte
	i := len(digits)
	for n > 0 || i == len(digits) {
		i--
		digits[i] = byte('0' + n%10)
		n /= 10
	}
	for pad := width - (len(digits) - i); pad > 0; pad-- {
		dst = append(dst, '0')
	}
	return append(dst, digits[i:]...)
}

// period returns the frame period and the sample step of the schedule.
func (c *Config) period() (frame, sample time.Duration) {
	if c.Rate == 0 {
		return 0, 0
	}
	sample = time.Duration(float64(time.Second) / c.Rate)
	return sample * time.Duration(c.Batch), sample
}

func (c *Config) logger() *slog.Logger {
	if c.Logger != nil {
		return c.Logger
	}
	return slog.Default()
}

func (c *Config) validateAck(bad func(string, ...any)) {
	if c.Rate == 0 {
		// A resent sample carries the time of its first transmission,
		// computed back from the schedule, and a window of samples is
		// only meaningful at a rate.
		bad("--ack needs --rate > 0: resent samples take their times from the schedule")
	}
	if w := c.ackWindow(); w < c.Batch || w > codec.MaxAckWindow {
		bad("--ack-window %d: want --batch (%d) to %d samples", c.AckWindow, c.Batch, codec.MaxAckWindow)
	}
	if c.AckMaxBatch < 0 || c.AckMaxBatch > codec.DefaultMaxSamples {
		bad("--ack-max-batch %d: want 1..%d samples per resent frame (0: default)", c.AckMaxBatch, codec.DefaultMaxSamples)
	}
	if c.AckMinRTO < 0 || c.AckMinRTO > 10*time.Minute {
		bad("--ack-min-rto %v: want 0 (default) up to 10m", c.AckMinRTO)
	}
	if c.AckDrain < 0 {
		bad("--ack-drain %v: negative", c.AckDrain)
	}
}
