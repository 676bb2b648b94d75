package ack

import (
	"errors"
	"time"

	"github.com/fleetwire/fleetwire/codec"
)

// Config is how a Sender behaves. Zero fields take their defaults. Many
// Senders may share one Config (a load generator's whole fleet does); it
// must not change while they use it.
type Config struct {
	// Window is how many samples the device can hold unacknowledged, the
	// number its hello announces: 1 to codec.MaxAckWindow, default 256.
	Window int
	// MaxBatch is the most samples a resent frame carries: Due and
	// OnStored cut what to resend into runs of at most this many
	// consecutive samples. Default 64.
	MaxBatch int
	// InitialRTO is the resend timeout before the first RTT sample:
	// default 1 s (RFC 6298 2.1). MinRTO and MaxRTO bound it, and the
	// back-off: defaults 200 ms and 60 s. MinRTO should exceed the
	// receiver's ack interval, or flights sent just after an ack go out
	// twice before the next one comes.
	InitialRTO, MinRTO, MaxRTO time.Duration
	// OnAck, when set, is called for each acknowledged part of a flight,
	// with how long ago its first transmission was (microsecond
	// resolution; a flight resent for more than 71 minutes reports its
	// first send as at most that long before the last): the
	// send-to-durable latency, for a histogram. It must not use the
	// Sender.
	OnAck func(acked codec.SeqRange, latency time.Duration)
}

// Defaults of Config.
const (
	DefaultWindow     = 256
	DefaultMaxBatch   = 64
	DefaultInitialRTO = time.Second
	DefaultMinRTO     = 200 * time.Millisecond
	DefaultMaxRTO     = 60 * time.Second
)

// DefaultInterval is fleetwire serve's default --ack-interval: the
// longest a receiver coalesces acknowledgements of a device that streams
// (sooner at half its window, see PROTOCOL.md). It is a byte budget: one
// #stored is about 45 bytes on the wire with its UDP/IP headers, so every
// 15 s it is 3 bytes a second, 4.3 % of a device sending 20 readings a
// second in compact at batch 10 (3.5 bytes a reading). A device learns
// nothing of it on the wire; a generator that simulates devices derives
// its minimum resend timeout from it.
const DefaultInterval = 15 * time.Second

// ErrConfig is what Check returns for a Config out of its bounds.
var ErrConfig = errors.New("ack: config: Window must be 0-1000000, MaxBatch and the RTOs >= 0, MinRTO <= InitialRTO <= MaxRTO")

// Check reports whether c is usable (after defaults).
func (c *Config) Check() error {
	if c.Window < 0 || c.Window > codec.MaxAckWindow || c.MaxBatch < 0 ||
		c.InitialRTO < 0 || c.MinRTO < 0 || c.MaxRTO < 0 ||
		c.minRTO() > c.initialRTO() || c.initialRTO() > c.maxRTO() {
		return ErrConfig
	}
	return nil
}

func (c *Config) window() uint64 { return uint64(or(c.Window, DefaultWindow)) }

func (c *Config) maxBatch() uint64 { return uint64(or(c.MaxBatch, DefaultMaxBatch)) }

func (c *Config) initialRTO() time.Duration { return or(c.InitialRTO, DefaultInitialRTO) }

func (c *Config) minRTO() time.Duration { return or(c.MinRTO, DefaultMinRTO) }

func (c *Config) maxRTO() time.Duration { return or(c.MaxRTO, DefaultMaxRTO) }

func or[T int | time.Duration](v, def T) T {
	if v == 0 {
		return def
	}
	return v
}
