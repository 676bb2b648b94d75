package loadgen

import (
	"context"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/fleetwire/fleetwire/codec"
	"github.com/fleetwire/fleetwire/codec/control"
	"github.com/fleetwire/fleetwire/codec/wire"
)

var testDecoder = wire.NewDecoder(codec.Limits{}, '\n', nil)

func decodeFrame(b *codec.Batch, fr []byte) error { return testDecoder.Decode(b, fr) }

func appendBinaryControl(dst []byte, c *codec.Control) []byte { return control.AppendBinary(dst, c) }
func appendTextControl(dst []byte, c *codec.Control) []byte {
	return control.AppendText(dst, c, '\n')
}

// testConfig is a small, quick fleet against addr.
func testConfig(tr Transport, addr string) Config {
	c := DefaultConfig()
	c.Transport, c.Addr = tr, addr
	c.Devices = 200
	c.Rate = 50
	c.Batch = 2
	c.Samples = 20
	c.ConnectRate = 20000
	c.ConnectRetries = 2
	c.DrainTimeout = 3 * time.Second
	c.ProgressEvery = 100 * time.Millisecond
	c.Logger = slog.New(slog.DiscardHandler)
	if testing.Verbose() {
		c.Progress = os.Stderr
		c.Logger = slog.Default()
	}
	return c
}

func runOK(t testing.TB, c Config) *Report {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	rep, err := Run(ctx, c)
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	if testing.Verbose() {
		rep.WriteSummary(os.Stderr)
	}
	return rep
}
