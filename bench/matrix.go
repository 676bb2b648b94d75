package bench

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/fleetwire/fleetwire/codec"
)

// Scenario is one measured situation: which wire, which fleet, which link.
// A scenario runs once per engine.
type Scenario struct {
	Name       string        `json:"name"`
	Transport  string        `json:"transport"` // tcp, udp, tls, or tcp+ack, udp+ack (acknowledged delivery)
	Codec      string        `json:"codec"`     // a codec.ParseCodec name
	Batch      int           `json:"batch"`     // samples per frame
	Devices    int           `json:"devices"`
	Rate       float64       `json:"rate"` // samples/s per device; 0 = as fast as the sockets take them
	Channels   int           `json:"channels"`
	Profile    string        `json:"profile"` // network profile: loopback or a netns profile name
	Duration   time.Duration `json:"duration_ns"`
	Samples    int           `json:"samples"`     // per device; 0 = bounded by Duration only
	UDPSockets int           `json:"udp_sockets"` // > 0: the generator's sendmmsg path over this many sockets
	Drain      time.Duration `json:"drain_ns"`    // how long to wait for the server to count every end-of-stream
	// AckWindow is the window the devices of a +ack transport announce
	// (fleetwire load --ack-window); 0 takes the generator's default.
	AckWindow int `json:"ack_window,omitempty"`
	// AckDrain is how long a +ack device waits for acknowledgements after
	// its end-of-stream (fleetwire load --ack-drain); 0 takes the
	// generator's default.
	AckDrain time.Duration `json:"ack_drain_ns,omitempty"`
	// Engines, when set, are the only engines the scenario runs on (of
	// those the run was given); nil means all of them.
	Engines []string `json:"engines,omitempty"`
	// Session is how a device holds its connection (docs/load.md,
	// "Session modes"): "" or persistent; per-report (tcp, tls: a
	// connection per report; udp, udp+ack: a new source port per report,
	// the NAT binding lost; dtls: a session per report); per-report+resume
	// (tls, dtls: the session resumed). KeepAlive is the TCP keep-alive
	// interval of persistent tcp and tls devices (0: off).
	Session   string        `json:"session,omitempty"`
	KeepAlive time.Duration `json:"keepalive_ns,omitempty"`
}

// Session modes of a scenario.
const (
	SessionPersistent = "persistent"
	SessionPerReport  = "per-report"
	SessionResume     = "per-report+resume"
)

// SessionMode is the scenario's session mode, persistent when unset.
func (s *Scenario) SessionMode() string { return cmp.Or(s.Session, SessionPersistent) }

// ackSuffix marks a transport with acknowledged delivery: the generator
// runs with --ack, the server with the file sink.
const ackSuffix = "+ack"

// Wire is the scenario's transport without "+ack": tcp, udp or tls, the
// key of the server's per-transport stats.
func (s *Scenario) Wire() string { return strings.TrimSuffix(s.Transport, ackSuffix) }

// Acked reports whether the scenario uses acknowledged delivery.
func (s *Scenario) Acked() bool { return strings.HasSuffix(s.Transport, ackSuffix) }

// Loopback is the clean profile: both processes on 127.0.0.1.
const Loopback = "loopback"

// Engines are the server's I/O engines; every scenario runs on each.
var Engines = []string{"gnet", "std"}

// ID names a scenario uniquely within a run.
func (s *Scenario) ID() string {
	rate := "max"
	if s.Rate > 0 {
		rate = fmt.Sprintf("%g/s", s.Rate)
	}
	id := fmt.Sprintf("%s/%s/b%d/%dd@%s/%s", s.Transport, s.Codec, s.Batch, s.Devices, rate, s.Profile)
	if s.AckWindow > 0 {
		id += fmt.Sprintf("/w%d", s.AckWindow)
	}
	if s.AckDrain > 0 {
		id += "/ackdrain" + s.AckDrain.String()
	}
	if s.Session != "" && s.Session != SessionPersistent {
		id += "/" + s.Session
	}
	if s.KeepAlive > 0 {
		id += "/ka" + s.KeepAlive.String()
	}
	if s.Name != "" {
		id = s.Name + ":" + id
	}
	return id
}

// RunsOn returns those of the run's engines the scenario runs on, in
// the run's order.
func (s *Scenario) RunsOn(run []string) []string {
	if len(s.Engines) == 0 {
		return run
	}
	var out []string
	for _, e := range run {
		if slices.Contains(s.Engines, e) {
			out = append(out, e)
		}
	}
	return out
}

func (s *Scenario) validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	switch s.Transport {
	case "tcp", "udp", "tls", "dtls", "tcp+ack", "udp+ack":
	default:
		bad("transport %q: want tcp, udp, tls, dtls, tcp+ack or udp+ack", s.Transport)
	}
	if s.Acked() && s.Rate == 0 {
		bad("%s needs rate > 0: resent samples take their times from the schedule", s.Transport)
	}
	if s.AckWindow < 0 || s.AckWindow > 0 && !s.Acked() {
		bad("ack_window needs a +ack transport")
	}
	if s.AckDrain < 0 || s.AckDrain > 0 && !s.Acked() {
		bad("ack_drain needs a +ack transport")
	}
	for _, e := range s.Engines {
		if !slices.Contains(Engines, e) {
			bad("engine %q: want one of %s", e, strings.Join(Engines, ", "))
		}
	}
	if _, err := codec.ParseCodec(s.Codec); err != nil {
		bad("codec %q: %v", s.Codec, err)
	}
	if s.Batch < 1 || s.Batch > codec.DefaultMaxSamples {
		bad("batch %d: want 1..%d", s.Batch, codec.DefaultMaxSamples)
	}
	if s.Devices < 1 {
		bad("devices %d: want at least 1", s.Devices)
	}
	if s.Rate < 0 {
		bad("rate %g: want >= 0", s.Rate)
	}
	if s.Channels < 1 || s.Channels > codec.DefaultMaxChannels {
		bad("channels %d: want 1..%d", s.Channels, codec.DefaultMaxChannels)
	}
	if s.Duration <= 0 && s.Samples <= 0 {
		bad("unbounded: give duration or samples")
	}
	if s.Duration > time.Hour {
		bad("duration %v: at most 1h", s.Duration)
	}
	if s.UDPSockets < 0 || s.UDPSockets > 0 && s.Wire() != "udp" {
		bad("udp_sockets needs transport udp")
	}
	if s.Profile == "" {
		bad("no profile")
	}
	switch s.SessionMode() {
	case SessionPersistent:
	case SessionPerReport:
		if s.Transport == "tcp+ack" {
			bad("session per-report: not for tcp+ack (the generator's per-report connections do not wait for acks)")
		}
		if s.Rate == 0 {
			bad("session per-report needs rate > 0: a report is the frames due together")
		}
		if s.UDPSockets > 0 {
			bad("session per-report and udp_sockets: a shared socket has no NAT binding of its own")
		}
	case SessionResume:
		if s.Transport != "tls" && s.Transport != "dtls" {
			bad("session %s: for tls and dtls", s.Session)
		}
		if s.Rate == 0 {
			bad("session %s needs rate > 0", s.Session)
		}
	default:
		bad("session %q: want %s, %s or %s", s.Session, SessionPersistent, SessionPerReport, SessionResume)
	}
	if s.KeepAlive != 0 && (s.KeepAlive < time.Second || s.SessionMode() != SessionPersistent || s.Wire() != "tcp" && s.Wire() != "tls") {
		bad("keepalive %v: at least 1s, for persistent tcp and tls", s.KeepAlive)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("scenario %s: %w", s.ID(), err)
	}
	return nil
}

// Matrix is a benchmark suite as its YAML file spells it: defaults, then
// groups whose list-valued fields multiply out into scenarios.
//
//	name: default
//	defaults: {devices: 100, rate: 20, channels: 2, duration: 3s}
//	groups:
//	  - transport: [tcp, udp]
//	    codec: [text, compact+zstd]
//	    batch: [1, 10]
//	    profile: [loopback, loss1]
type Matrix struct {
	Name     string  `yaml:"name"`
	Defaults Group   `yaml:"defaults"`
	Groups   []Group `yaml:"groups"`
}

// Group is a cross product of scenario fields. A field may be a scalar or
// a list; an unset field takes the matrix default, then the built-in one.
type Group struct {
	Name      string        `yaml:"name"`
	Transport list[string]  `yaml:"transport"`
	Codec     list[string]  `yaml:"codec"`
	Batch     list[int]     `yaml:"batch"`
	Devices   list[int]     `yaml:"devices"`
	Rate      list[float64] `yaml:"rate"`
	Profile   list[string]  `yaml:"profile"`
	// Single-valued: 0 (or absent) takes the default.
	Channels   int       `yaml:"channels"`
	Duration   yDuration `yaml:"duration"`
	Samples    int       `yaml:"samples"`
	UDPSockets int       `yaml:"udp_sockets"`
	Drain      yDuration `yaml:"drain"`
	AckWindow  int       `yaml:"ack_window"` // +ack transports only
	AckDrain   yDuration `yaml:"ack_drain"`  // +ack transports only
	// Engines restricts the group's scenarios to these engines.
	Engines list[string] `yaml:"engines"`
	// Session multiplies out like Transport: persistent, per-report,
	// per-report+resume. A mode a transport does not have (resume on tcp
	// or udp) is skipped for it, not an error, so one group can cross
	// every transport with every mode.
	Session   list[string] `yaml:"session"`
	KeepAlive yDuration    `yaml:"keepalive"` // persistent tcp and tls only
}

// builtin are the values of fields neither a group nor the defaults set.
var builtin = Group{
	Transport: list[string]{"tcp"}, Codec: list[string]{"text"}, Batch: list[int]{1},
	Devices: list[int]{100}, Rate: list[float64]{10}, Profile: list[string]{Loopback},
	Channels: 2, Duration: yDuration(3 * time.Second), Drain: yDuration(10 * time.Second),
}

// list is a YAML field that takes one value or a sequence of them.
type list[T any] []T

func (l *list[T]) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.SequenceNode {
		var vs []T
		if err := n.Decode(&vs); err != nil {
			return err
		}
		if len(vs) == 0 {
			return fmt.Errorf("line %d: empty list", n.Line)
		}
		*l = vs
		return nil
	}
	var v T
	if err := n.Decode(&v); err != nil {
		return err
	}
	*l = list[T]{v}
	return nil
}

// yDuration reads "3s", "500ms".
type yDuration time.Duration

func (d *yDuration) UnmarshalYAML(n *yaml.Node) error {
	var s string
	if err := n.Decode(&s); err != nil {
		return err
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	*d = yDuration(v)
	return nil
}

// ParseMatrix reads a matrix from YAML. Unknown fields are errors: a typo
// must not silently run the default.
func ParseMatrix(b []byte) (*Matrix, error) {
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	var m Matrix
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("parse matrix: %w", err)
	}
	if len(m.Groups) == 0 {
		return nil, errors.New("parse matrix: no groups")
	}
	return &m, nil
}

// ReadMatrix parses the matrix file at path.
func ReadMatrix(path string) (*Matrix, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	m, err := ParseMatrix(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return m, nil
}

func pick[T any](vals ...list[T]) list[T] {
	for _, v := range vals {
		if len(v) > 0 {
			return v
		}
	}
	return nil
}

func first[T comparable](vals ...T) T {
	var zero T
	for _, v := range vals {
		if v != zero {
			return v
		}
	}
	return zero
}

// Scenarios multiplies every group out, in file order, and checks each
// scenario. Duplicates (the same ID twice) are run once.
func (m *Matrix) Scenarios() ([]Scenario, error) {
	var out []Scenario
	seen := map[string]bool{}
	d := &m.Defaults
	for gi := range m.Groups {
		g := &m.Groups[gi]
		name := g.Name
		if name == "" {
			name = d.Name
		}
		if (g.AckWindow != 0 || g.AckDrain != 0) && !slices.ContainsFunc(pick(g.Transport, d.Transport, builtin.Transport), func(tr string) bool {
			return strings.HasSuffix(strings.ToLower(tr), ackSuffix)
		}) {
			return nil, fmt.Errorf("group %d: ack_window and ack_drain need a +ack transport", gi+1)
		}
		for _, tr := range pick(g.Transport, d.Transport, builtin.Transport) {
			for _, cd := range pick(g.Codec, d.Codec, builtin.Codec) {
				for _, b := range pick(g.Batch, d.Batch, builtin.Batch) {
					for _, dev := range pick(g.Devices, d.Devices, builtin.Devices) {
						for _, r := range pick(g.Rate, d.Rate, builtin.Rate) {
							for _, p := range pick(g.Profile, d.Profile, builtin.Profile) {
								for _, sess := range pick(g.Session, d.Session, list[string]{SessionPersistent}) {
									if !sessionFits(strings.ToLower(tr), sess) {
										continue
									}
									if sess == SessionPersistent {
										sess = "" // the default: scenarios and IDs as before
									}
									s := Scenario{
										Session: sess,
										Name:    name, Transport: strings.ToLower(tr), Codec: cd, Batch: b, Devices: dev, Rate: r, Profile: p,
										Channels:   first(g.Channels, d.Channels, builtin.Channels),
										Duration:   time.Duration(first(g.Duration, d.Duration, builtin.Duration)),
										Samples:    first(g.Samples, d.Samples, builtin.Samples),
										UDPSockets: first(g.UDPSockets, d.UDPSockets, builtin.UDPSockets),
										Drain:      time.Duration(first(g.Drain, d.Drain, builtin.Drain)),
										Engines:    pick(g.Engines, d.Engines),
									}
									if s.Acked() {
										s.AckWindow = first(g.AckWindow, d.AckWindow)
										s.AckDrain = time.Duration(first(g.AckDrain, d.AckDrain))
									}
									if sess == "" && (s.Wire() == "tcp" || s.Wire() == "tls") {
										s.KeepAlive = time.Duration(first(g.KeepAlive, d.KeepAlive))
									}
									if err := s.validate(); err != nil {
										return nil, fmt.Errorf("group %d: %w", gi+1, err)
									}
									if id := s.ID(); !seen[id] {
										seen[id] = true
										out = append(out, s)
									}
								}
							}
						}
					}
				}
			}
		}
	}
	return out, nil
}

// Profiles returns the network profiles the scenarios use, in order.
func Profiles(ss []Scenario) []string {
	var ps []string
	for _, s := range ss {
		if !slices.Contains(ps, s.Profile) {
			ps = append(ps, s.Profile)
		}
	}
	return ps
}

// sessionFits reports whether a group's session mode applies to a
// transport: resumption only to tls and dtls, per-report not to tcp+ack.
func sessionFits(transport, session string) bool {
	switch session {
	case SessionResume:
		return transport == "tls" || transport == "dtls"
	case SessionPerReport:
		return transport != "tcp+ack"
	}
	return true
}
