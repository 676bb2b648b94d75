package plan

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/fleetwire/fleetwire/codec"
)

// FleetSpec describes a fleet as its devices behave: how many, how often
// each one reports (one frame per report, so one wake-up of the server
// per report), how many samples a report carries and how many readings a
// sample has, over which transport and codec, and in which session mode.
//
// Written as key=value pairs separated by commas or newlines ('#' starts
// a comment), for instance
//
//	devices=10000, interval=1s, batch=5, readings=4, transport=tcp, codec=text, session=plain
type FleetSpec struct {
	Devices   float64       `json:"devices"`
	Interval  time.Duration `json:"interval_ns"` // between two reports of one device
	Batch     int           `json:"batch"`       // samples per report (frame)
	Readings  int           `json:"readings"`    // readings per sample (channels)
	Transport string        `json:"transport"`   // tcp or udp
	Codec     string        `json:"codec"`
	// Session is plain (a device sends and never waits) or ack (a device
	// asks for #stored acknowledgements and resends what is not
	// acknowledged: fleetwire load --ack).
	Session string `json:"session"`
}

// FleetKeys are the keys a fleet description takes, in the order
// String writes them.
var FleetKeys = []string{"devices", "interval", "batch", "readings", "transport", "codec", "session"}

// ParseFleet reads a fleet description. Every key must be given once,
// unknown keys and bad values are errors, all reported together.
func ParseFleet(s string) (FleetSpec, error) {
	var f FleetSpec
	var errs []error
	seen := map[string]bool{}
	for _, line := range strings.Split(s, "\n") {
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		for _, field := range strings.Split(line, ",") {
			field = strings.TrimSpace(field)
			if field == "" {
				continue
			}
			k, v, ok := strings.Cut(field, "=")
			k, v = strings.ToLower(strings.TrimSpace(k)), strings.TrimSpace(v)
			if !ok || v == "" {
				errs = append(errs, fmt.Errorf("fleet: %q: want key=value", field))
				continue
			}
			if seen[k] {
				errs = append(errs, fmt.Errorf("fleet: %s given twice", k))
				continue
			}
			seen[k] = true
			if err := f.set(k, v); err != nil {
				errs = append(errs, fmt.Errorf("fleet: %s=%q: %w", k, v, err))
			}
		}
	}
	for _, k := range FleetKeys {
		if !seen[k] {
			errs = append(errs, fmt.Errorf("fleet: %s missing", k))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return f, err
	}
	return f, f.Validate()
}

func (f *FleetSpec) set(k, v string) error {
	var err error
	switch k {
	case "devices":
		f.Devices, err = strconv.ParseFloat(v, 64)
	case "interval":
		f.Interval, err = time.ParseDuration(v)
	case "batch":
		f.Batch, err = strconv.Atoi(v)
	case "readings":
		f.Readings, err = strconv.Atoi(v)
	case "transport":
		f.Transport = strings.ToLower(v)
	case "codec":
		f.Codec = v
	case "session":
		f.Session = strings.ToLower(v)
	default:
		return fmt.Errorf("unknown key (want %s)", strings.Join(FleetKeys, ", "))
	}
	return err
}

// Validate checks every field and reports every bad one.
func (f *FleetSpec) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf("fleet: "+format, args...)) }
	if !(f.Devices >= 1) || f.Devices != math.Trunc(f.Devices) || f.Devices > 1e9 {
		bad("devices %g: want a whole number in 1..1e9", f.Devices)
	}
	if f.Interval < time.Millisecond || f.Interval > 24*time.Hour {
		bad("interval %v: want 1ms..24h", f.Interval)
	}
	if f.Batch < 1 || f.Batch > codec.DefaultMaxSamples {
		bad("batch %d: want 1..%d", f.Batch, codec.DefaultMaxSamples)
	}
	if f.Readings < 1 || f.Readings > codec.DefaultMaxChannels {
		bad("readings %d: want 1..%d", f.Readings, codec.DefaultMaxChannels)
	}
	if f.Transport != "tcp" && f.Transport != "udp" {
		bad("transport %q: want tcp or udp", f.Transport)
	}
	if _, err := codec.ParseCodec(f.Codec); err != nil {
		bad("codec %q: %v", f.Codec, err)
	}
	if f.Session != "plain" && f.Session != "ack" {
		bad("session %q: want plain or ack", f.Session)
	}
	return errors.Join(errs...)
}

// String writes f as ParseFleet reads it.
func (f FleetSpec) String() string {
	return fmt.Sprintf("devices=%.0f, interval=%v, batch=%d, readings=%d, transport=%s, codec=%s, session=%s",
		f.Devices, f.Interval, f.Batch, f.Readings, f.Transport, f.Codec, f.Session)
}

// FramesPerSec is the fleet's reports (frames, wake-ups) per second.
func (f *FleetSpec) FramesPerSec() float64 { return f.Devices / f.Interval.Seconds() }

// ReadingsPerSec is the fleet's readings per second.
func (f *FleetSpec) ReadingsPerSec() float64 {
	return f.FramesPerSec() * float64(f.Batch*f.Readings)
}

// Load is the fleet's shape at devices devices, each reporting every
// interval, with batch samples per report, sending for d.
func (f *FleetSpec) Load(devices int, interval time.Duration, batch int, d time.Duration) Load {
	return Load{Transport: f.Transport, Codec: f.Codec, Batch: batch, Channels: f.Readings, Devices: devices,
		Rate: float64(batch) / interval.Seconds(), Duration: d, Ack: f.Session == "ack"}
}
