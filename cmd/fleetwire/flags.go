package main

import (
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/fleetwire/fleetwire/codec"
)

// bound is the range a numeric flag accepts. Every numeric flag of every
// command has one (TestFlagBoundsComplete), checked before the command
// runs, so that "--max-conns -5" is refused with one message instead of
// being taken for "no limit" or failing later with an unrelated error.
type bound struct {
	min, max       float64 // durations in nanoseconds
	minOpen        bool    // min itself is refused ("more than 0")
	hasMax         bool
	maxOpen        bool   // max itself is refused ("less than 1")
	zero           string // 0 is accepted too and means this
	any            bool   // every value means something (a seed)
	isDur, isFloat bool   // set from the flag's type, for messages
}

func atLeast(min float64) bound { return bound{min: min} }
func above(min float64) bound   { return bound{min: min, minOpen: true} }
func between(min, max float64) bound {
	return bound{min: min, max: max, hasMax: true}
}
func (b bound) upTo(max float64) bound  { b.max, b.hasMax = max, true; return b }
func (b bound) below(max float64) bound { b.max, b.hasMax, b.maxOpen = max, true, true; return b }
func (b bound) orZero(meaning string) bound {
	b.zero = meaning
	return b
}

var anyValue = bound{any: true}

func dur(d time.Duration) float64 { return float64(d) }

// flagBounds are keyed by command name and flag name. A flag that other
// commands share (serve's, on the root) is looked up under "*".
var flagBounds = map[string]map[string]bound{
	"serve": {
		"loops":                  atLeast(0).orZero("one per core"),
		"udp-readers":            atLeast(0).orZero("one per core"),
		"udp-rcvbuf":             atLeast(1),
		"udp-coalesce":           between(0, dur(10*time.Millisecond)).orZero("wake per datagram"),
		"max-conns":              atLeast(1),
		"max-devices":            atLeast(1),
		"max-anonymous":          atLeast(1),
		"max-devices-per-source": atLeast(1),
		"history-devices":        atLeast(1),
		"anonymous-idle":         above(0),
		"bind-ttl":               above(0),
		"max-frame":              atLeast(1),
		"max-decoded":            atLeast(1),
		"max-amplification":      atLeast(1),
		"max-channels":           atLeast(1),
		"max-samples":            atLeast(1),
		"idle-timeout":           atLeast(0).orZero("never"),
		"frame-timeout":          atLeast(0).orZero("never"),
		"ack-interval":           above(0),
		"command-ttl":            above(0),
		"ack-timeout":            above(0),
		"shutdown-timeout":       above(0),
		"fsync-interval":         atLeast(dur(minFsyncInterval)).orZero("fsync only when a segment is sealed"),
		"nats-replicas":          between(1, 5), // JetStream's largest replica count
		"nats-dup-window":        above(0),
		"nats-max-inflight":      atLeast(1),
		"spool-max-bytes":        atLeast(1),
	},
	"load": {
		"devices":         atLeast(1),
		"rate":            between(0, 1e6).orZero("as fast as the sockets take them"),
		"batch":           between(1, codec.DefaultMaxSamples),
		"jitter":          atLeast(0).below(1),
		"duration":        atLeast(0).orZero("bounded by --samples"),
		"samples":         atLeast(0).orZero("bounded by --duration"),
		"channels":        between(1, codec.DefaultMaxChannels),
		"seed":            anyValue,
		"id-offset":       atLeast(0),
		"id-width":        between(1, 20),
		"procs":           between(0, 64).orZero("no worker processes"),
		"loops":           atLeast(0).orZero("one per core"),
		"tick":            between(dur(10*time.Microsecond), dur(100*time.Millisecond)),
		"connect-rate":    above(0),
		"connect-timeout": above(0),
		"connect-retries": between(0, 30),
		"per-source":      atLeast(1),
		"udp-sockets":     atLeast(0).orZero("a socket per device"),
		"send-buffer":     atLeast(1 << 10),
		"so-sndbuf":       atLeast(0).orZero("the kernel's default"),
		"drain-timeout":   atLeast(0),
		"keepalive":       atLeast(0),
		"late-after":      above(0),
		"ack-window":      between(1, codec.MaxAckWindow),
		"ack-max-batch":   between(0, codec.DefaultMaxSamples).orZero("the default"),
		"ack-min-rto":     between(0, dur(10*time.Minute)).orZero("the default"),
		"ack-drain":       atLeast(0).orZero("do not wait"),
		"progress":        atLeast(0).orZero("no progress lines"),
	},
	"plan": {
		"batch":                atLeast(1),
		"channels":             between(1, codec.DefaultMaxChannels),
		"devices":              atLeast(1),
		"start":                above(0),
		"factor":               above(1),
		"max-load":             above(0),
		"resolution":           above(0),
		"max-steps":            atLeast(1),
		"confirm":              atLeast(0),
		"retries":              atLeast(0),
		"retry-wait":           atLeast(0),
		"max-foreign":          between(0, 1).orZero("never disturbed"),
		"step-duration":        above(0),
		"drain":                above(0),
		"repeat":               atLeast(1),
		"max-loss":             between(0, 100),
		"max-p99":              atLeast(0).orZero("no limit"),
		"max-cpu":              above(0),
		"max-gen-cpu":          above(0),
		"max-gen-late":         above(0),
		"min-sent":             between(0, 1),
		"max-fd":               above(0).upTo(1),
		"max-rss":              atLeast(0).orZero("no limit"),
		"server-cores":         atLeast(1),
		"udp-sockets":          atLeast(0).orZero("a socket per device"),
		"mem-devices":          atLeast(0).orZero("no memory step"),
		"fleet":                anyValue, // a number (checked by Fleet.Validate) or a description (ParseFleet)
		"fleet-file":           anyValue,
		"fleet-max-devices":    atLeast(8),
		"fleet-duration":       above(0),
		"fleet-repeat":         atLeast(1),
		"kernel-veth-duration": above(0),
		"kernel-veth-repeat":   atLeast(2), // a standard error needs two rounds
		"tolerance":            above(0),
		"old-cores":            atLeast(0).orZero("no comparison"),
		"old-source":           anyValue,
		"rate":                 above(0),
		"headroom":             above(0).upTo(1),
		"price-per-mb":         atLeast(0),
		"fleet-sizes":          above(0),
	},
	"bench": {
		"channels":    between(1, codec.DefaultMaxChannels),
		"duration":    above(0),
		"samples":     atLeast(0).orZero("bounded by --duration"),
		"udp-sockets": atLeast(0),
		"drain":       atLeast(0),
	},
	"cost":    {"batches": between(1, codec.DefaultMaxSamples)},
	"consume": {"channels": between(1, codec.DefaultMaxChannels)},
	"encode":  {"batch": between(1, codec.DefaultMaxSamples)},
	"command": {"timeout": above(0)},
}

// numericFlag tells whether a flag's value is a number or a list of them,
// and whether the numbers are durations or fractions.
func numericFlag(f *pflag.Flag) (ok, isDur, isFloat bool) {
	switch f.Value.Type() {
	case "int", "int8", "int16", "int32", "int64", "uint", "uint8", "uint16", "uint32", "uint64", "count", "intSlice", "int32Slice", "int64Slice", "uintSlice":
		return true, false, false
	case "duration", "durationSlice":
		return true, true, false
	case "float32", "float64", "float32Slice", "float64Slice":
		return true, false, true
	}
	return false, false, false
}

// checkFlags refuses a numeric flag of cmd outside its bound, with one
// message naming the flag, the value and what is wanted.
func checkFlags(cmd *cobra.Command) error {
	var err error
	cmd.Flags().VisitAll(func(f *pflag.Flag) {
		if err == nil {
			err = checkFlag(cmd, f)
		}
	})
	return err
}

// checkFlag checks one flag against its bound (none: nothing to check).
func checkFlag(cmd *cobra.Command, f *pflag.Flag) error {
	b, ok := flagBounds[cmd.Name()][f.Name]
	if !ok || b.any {
		return nil
	}
	_, b.isDur, b.isFloat = numericFlag(f)
	values := []string{f.Value.String()}
	if sv, ok := f.Value.(pflag.SliceValue); ok {
		values = sv.GetSlice()
	}
	for _, s := range values {
		if v, err := strconv.ParseFloat(s, 64); err == nil && b.isFloat {
			s = strconv.FormatFloat(v, 'g', -1, 64) // a float list prints "-1.000000"
		}
		if msg := b.check(s); msg != "" {
			return fmt.Errorf("invalid --%s %s: %s", f.Name, s, msg)
		}
	}
	return nil
}

// check returns what is wrong with s, "" if nothing.
func (b bound) check(s string) string {
	var v float64
	if b.isDur {
		d, err := time.ParseDuration(s)
		if err != nil {
			return "not a duration"
		}
		v = float64(d)
	} else {
		var err error
		if v, err = strconv.ParseFloat(s, 64); err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
			return "not a number"
		}
	}
	if v == 0 && b.zero != "" {
		return ""
	}
	if v < b.min || b.minOpen && v == b.min || b.hasMax && (v > b.max || b.maxOpen && v == b.max) {
		return b.want()
	}
	return ""
}

// want says what the bound accepts: "must be at least 1", "must be 0 or
// at least 1ms (0: never)", "must be between 0 and 1".
func (b bound) want() string {
	lower, upper := "at least "+b.format(b.min), ""
	if b.minOpen {
		lower = "more than " + b.format(b.min)
	}
	switch {
	case b.hasMax && b.maxOpen:
		upper = " and less than " + b.format(b.max)
	case b.hasMax && !b.minOpen:
		lower, upper = "between "+b.format(b.min)+" and "+b.format(b.max), ""
	case b.hasMax:
		upper = " and at most " + b.format(b.max)
	}
	s := "must be " + lower + upper
	if b.zero != "" {
		if b.min > 0 || b.minOpen {
			s = "must be 0 or " + lower + upper
		}
		s += " (0: " + b.zero + ")"
	}
	return s
}

func (b bound) format(v float64) string {
	switch {
	case b.isDur:
		return time.Duration(v).String()
	case b.isFloat:
		return strconv.FormatFloat(v, 'g', -1, 64)
	}
	return strconv.FormatFloat(v, 'f', -1, 64)
}
