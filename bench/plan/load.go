package plan

import (
	"errors"
	"fmt"
	"time"

	"github.com/fleetwire/fleetwire/bench"
	"github.com/fleetwire/fleetwire/codec"
)

// Load is one offered load: Devices devices, each sending Rate samples/s
// of Channels readings, Batch samples per frame, for Duration.
type Load struct {
	Transport string        `json:"transport"` // tcp or udp
	Codec     string        `json:"codec"`
	Batch     int           `json:"batch"`
	Channels  int           `json:"channels"`
	Devices   int           `json:"devices"`
	Rate      float64       `json:"rate"` // samples/s per device
	Duration  time.Duration `json:"duration_ns"`
	// Ack: devices ask for acknowledgements (fleetwire load --ack).
	Ack bool `json:"ack,omitempty"`
}

// Offered is the load in readings/s.
func (l *Load) Offered() float64 { return float64(l.Devices) * l.Rate * float64(l.Channels) }

// FramesPerSec is the load in frames/s (datagrams/s on UDP).
func (l *Load) FramesPerSec() float64 { return float64(l.Devices) * l.Rate / float64(l.Batch) }

// Config names the wire choice: "udp/compact/b10".
func (l *Load) Config() string { return fmt.Sprintf("%s/%s/b%d", l.Transport, l.Codec, l.Batch) }

// WithOffered returns l with the per-device rate that offers readings/s.
func (l Load) WithOffered(readings float64) Load {
	l.Rate = readings / float64(l.Devices*l.Channels)
	return l
}

// Scenario is l as a bench scenario, so bench.Compute derives the same
// figures a bench report shows.
func (l *Load) Scenario() bench.Scenario {
	return bench.Scenario{Name: "plan", Transport: l.Transport, Codec: l.Codec, Batch: l.Batch, Devices: l.Devices,
		Rate: l.Rate, Channels: l.Channels, Profile: bench.Loopback, Duration: l.Duration}
}

// Validate checks l as Measure does before it starts anything.
func (l *Load) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if l.Transport != "tcp" && l.Transport != "udp" {
		bad("transport %q: want tcp or udp", l.Transport)
	}
	if _, err := codec.ParseCodec(l.Codec); err != nil {
		bad("codec %q: %v", l.Codec, err)
	}
	if l.Batch < 1 || l.Batch > codec.DefaultMaxSamples {
		bad("batch %d: want 1..%d", l.Batch, codec.DefaultMaxSamples)
	}
	if l.Channels < 1 || l.Channels > codec.DefaultMaxChannels {
		bad("channels %d: want 1..%d", l.Channels, codec.DefaultMaxChannels)
	}
	if l.Devices < 1 {
		bad("devices %d: want at least 1", l.Devices)
	}
	if !(l.Rate > 0) {
		bad("rate %g: want > 0 (a sweep paces its load)", l.Rate)
	}
	if l.Duration <= 0 || l.Duration > 10*time.Minute {
		bad("duration %v: want (0, 10m]", l.Duration)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("load %s: %w", l.Config(), err)
	}
	return nil
}
