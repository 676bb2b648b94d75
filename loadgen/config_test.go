package loadgen

import (
	"strings"
	"testing"
	"time"

	"github.com/fleetwire/fleetwire/codec"
)

func TestConfigValidate_Success(t *testing.T) {
	f := func(mod func(c *Config)) {
		t.Helper()
		c := DefaultConfig()
		c.Samples = 10
		mod(&c)
		if err := c.validate(); err != nil {
			t.Fatalf("valid config refused: %v", err)
		}
	}
	f(func(c *Config) {})
	f(func(c *Config) { c.Samples, c.Duration = 0, time.Minute })
	f(func(c *Config) { c.Rate = 0 })
	f(func(c *Config) { c.Transport, c.UDPSockets = UDP, 4 })
	f(func(c *Config) { c.Transport, c.TLSCA = TLS, "ca.pem" })
	f(func(c *Config) {
		c.Codec = codec.Codec{Format: codec.FormatCompact, Compression: codec.CompressZstdDict}
	})
	f(func(c *Config) { c.Devices, c.Procs = 100000, 6 })
	f(func(c *Config) { c.Addr = "127.0.0.1:7070,127.0.0.1:7170, 127.0.0.1:7270" })
	f(func(c *Config) { c.Devices, c.Addr = 1, "127.0.0.1:7070,127.0.0.1:7170" }) // a target without devices
	f(func(c *Config) { c.Ack = true })
	f(func(c *Config) { c.Ack, c.AckWindow, c.Batch, c.AckDrain = true, 10, 10, 0 })
	f(func(c *Config) { c.Ack, c.Transport, c.UDPSockets = true, UDP, 2 })
}

func TestConfigValidate_Failure(t *testing.T) {
	f := func(want string, mod func(c *Config)) {
		t.Helper()
		c := DefaultConfig()
		c.Samples = 10
		mod(&c)
		err := c.validate()
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("err %v, want it to mention %q", err, want)
		}
	}
	f("unbounded", func(c *Config) { c.Samples = 0 })
	f("--devices", func(c *Config) { c.Devices = 0 })
	f("--rate", func(c *Config) { c.Rate = -1 })
	f("--jitter", func(c *Config) { c.Jitter = 1 })
	f("--batch", func(c *Config) { c.Batch = 0 })
	f("--batch", func(c *Config) { c.Batch = codec.DefaultMaxSamples + 1 })
	f("--channels", func(c *Config) { c.Channels = 65 })
	f("--signal", func(c *Config) { c.Signal = "sine" })
	f("transport", func(c *Config) { c.Transport = "sctp" })
	f("--udp-sockets needs --udp", func(c *Config) { c.UDPSockets = 2 })
	f("--tls needs --tls-ca", func(c *Config) { c.Transport = TLS })
	f("go together", func(c *Config) { c.TLSCert = "c.pem" })
	f("--id-prefix", func(c *Config) { c.IDPrefix = "dev/" })
	f("--id-prefix", func(c *Config) { c.IDPrefix = strings.Repeat("x", 60) })
	f("--procs", func(c *Config) { c.Devices, c.Procs = 2, 3 })
	f("--tick", func(c *Config) { c.Tick = time.Microsecond })
	f("END byte", func(c *Config) { c.End = ';' })
	f("no target", func(c *Config) { c.Addr = "" })
	f("empty address", func(c *Config) { c.Addr = "127.0.0.1:7070,,127.0.0.1:7170" })
	f("empty address", func(c *Config) { c.Addr = "127.0.0.1:7070," })
	f("twice", func(c *Config) { c.Addr = "127.0.0.1:7070,127.0.0.1:7170,127.0.0.1:7070" })
	f("--ack needs --rate > 0", func(c *Config) { c.Ack, c.Rate = true, 0 })
	f("--ack-window", func(c *Config) { c.Ack, c.AckWindow, c.Batch = true, 10, 11 })
	f("--ack-window", func(c *Config) { c.Ack, c.AckWindow = true, codec.MaxAckWindow+1 })
	f("--ack-max-batch", func(c *Config) { c.Ack, c.AckMaxBatch = true, codec.DefaultMaxSamples+1 })
	f("--ack-min-rto", func(c *Config) { c.Ack, c.AckMinRTO = true, -time.Second })
	f("--ack-drain", func(c *Config) { c.Ack, c.AckDrain = true, -time.Second })
}

func TestDeviceID(t *testing.T) {
	f := func(prefix string, n, width int, want string) {
		t.Helper()
		if got := string(appendID(nil, prefix, n, width)); got != want {
			t.Fatalf("appendID(%q, %d, %d) = %q, want %q", prefix, n, width, got, want)
		}
	}
	f("dev-", 1, 6, "dev-000001")
	f("dev-", 123456, 6, "dev-123456")
	f("dev-", 1234567, 6, "dev-1234567")
	f("m", 0, 1, "m0")
	f("", 42, 3, "042")
}

func TestSourceAddresses(t *testing.T) {
	c := DefaultConfig()
	c.Devices, c.PerSource, c.Samples = 25000, 10000, 1
	tgts, err := resolveTargets(t.Context(), &c)
	if err != nil {
		t.Fatal(err)
	}
	f := func(n int, want string) {
		t.Helper()
		if a, ok := tgts.source(n, 0); !ok || a.String() != want {
			t.Fatalf("device %d binds to %v (%v), want %s", n, a, ok, want)
		}
	}
	f(0, "127.0.0.2")
	f(9999, "127.0.0.2")
	f(10000, "127.0.0.3")
	f(24999, "127.0.0.4")
	f(256*10000, "127.0.1.2")
	c.Addr = "[::1]:7070,127.0.0.1:7070" // IPv6 loopback has one address: no spreading
	tgts, err = resolveTargets(t.Context(), &c)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := tgts.source(0, 0); ok {
		t.Fatal("binds a source address for an IPv6 target")
	}
	if a, ok := tgts.source(10001, 1); !ok || a.String() != "127.0.0.3" {
		t.Fatalf("device 10001 to the IPv4 target binds to %v (%v), want 127.0.0.3", a, ok)
	}
	c.Addr = "127.0.0.1:7070,127.0.0.1:0"
	if _, err := resolveTargets(t.Context(), &c); err == nil || !strings.Contains(err.Error(), "bad port") {
		t.Fatalf("port 0 in the second target: %v", err)
	}
}

// TestAckDefaults: the minimum resend timeout is min(W/(2r), 15 s) + 2 s
// (the server acks at its interval, sooner at half a window), and a
// resent frame carries 4 frames' worth, at least 16, at most the window.
func TestAckDefaults(t *testing.T) {
	f := func(window int, rate float64, batch int, wantRTO time.Duration, wantBatch int) {
		t.Helper()
		c := DefaultConfig()
		c.AckWindow, c.Rate, c.Batch = window, rate, batch
		if got := c.ackMinRTO(); got != wantRTO {
			t.Errorf("window %d rate %g: min RTO %v, want %v", window, rate, got, wantRTO)
		}
		if got := c.ackMaxBatch(); got != wantBatch {
			t.Errorf("window %d batch %d: resend batch %d, want %d", window, batch, got, wantBatch)
		}
		ac := c.newAckConfig(nil)
		if err := ac.Check(); err != nil || ac.InitialRTO < wantRTO || ac.MinRTO != wantRTO {
			t.Errorf("ack config %+v: %v", ac, err)
		}
	}
	f(256, 1, 1, 17*time.Second, 16)         // half a window takes 128 s: the server's 15 s
	f(256, 50, 2, 4560*time.Millisecond, 16) // 2.56 s + 2 s
	f(256, 1000, 10, 2128*time.Millisecond, 40)
	f(20, 100, 5, 2100*time.Millisecond, 20) // no more than the window
	f(4096, 1000, 2000, 4048*time.Millisecond, codec.DefaultMaxSamples)
	c := DefaultConfig()
	c.AckMinRTO = 300 * time.Millisecond
	if got := c.ackMinRTO(); got != c.AckMinRTO {
		t.Errorf("--ack-min-rto 300ms: %v", got)
	}
}
