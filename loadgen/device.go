package loadgen

import (
	"crypto/tls"

	"github.com/fleetwire/fleetwire/codec"
	"github.com/fleetwire/fleetwire/codec/framing"
)

type devState uint8

const (
	stIdle       devState = iota // waiting for a connect slot
	stRetry                      // backing off before the next connect attempt
	stConnecting                 // non-blocking connect in flight
	stUp                         // connected
	stDraining                   // end-of-stream written and write side shut, waiting for the receiver to close
	stDone                       // closed for good
)

// device is one simulated device. It lives in its loop's slice and is
// touched by that loop only.
type device struct {
	id    []byte
	num   int   // global device number (0-based): id, source address and seed derive from it
	lid   int32 // index in its loop
	fd    int
	state devState

	finishing  bool // no more frames: end-of-stream once the queue drains
	drainArmed bool // the drain deadline runs while the queue drains
	eosSent    bool
	everUp     bool
	attempts   uint8
	lastErr    string

	// Schedule: frame k is due at t0 + phase + k*period + jitter(k).
	k     uint64
	phase int64

	// Ground truth.
	firstSeq, seq             uint64 // seq: the next sample's sequence number
	frames, samples, readings uint64
	bytes                     uint64
	skipped                   uint64 // frames not sent (their seqs were consumed)

	// Signal state.
	rng      uint64
	walk     []int64
	tpl, pos int32

	pend  *pending          // bytes the socket did not take yet
	rx    []byte            // partial downlink frame
	split *framing.Splitter // downlink framing, made on the first downlink bytes

	led      bool
	commands uint64
	acks     uint64
	sock     int32 // --udp-sockets: index of the shared socket

	dtlsSessions *sessionStore // DTLS with Resume: the session to resume
	tlsConf      *tls.Config   // TLS with TLSResume: its own session cache
	tlsConfTgt   int32         // the target tlsConf is for

	// Target: the index of the receiver it sends to. It starts at num mod
	// the number of targets and, with Ack, moves on when one fails.
	tgt       int32
	failovers uint32
}

// mark describes one frame in an output buffer: where it ends and what
// it counts for once written.
type mark struct {
	end     int   // offset just past the frame
	due     int64 // ns on the run clock; data frames only
	size    int32
	samples int32 // 0 for control frames
	pre     int32 // bytes of a hello put in front of the frame in its datagram (UDP, ack), part of size
	kind    markKind
}

type markKind uint8

const (
	markData markKind = iota
	markHello
	markEOS
	markEOSCopy // a repeat of a UDP end-of-stream (see udpEOSCopies)
	markAck
	markResend // samples sent again (ack)
	markGaveUp // #gaveup
)

// pending is a device's queue of bytes its socket has not accepted yet.
type pending struct {
	buf   []byte
	off   int
	marks []mark
}

func (p *pending) empty() bool { return p == nil || p.off == len(p.buf) }

// mix is a stateless hash of a device number and a frame index, for
// jitter that does not depend on the order frames are built in.
func mix(a, b uint64) uint64 {
	s := a*0x9e3779b97f4a7c15 ^ b
	return splitmix(&s)
}

// sched holds what every loop needs to compute due times and frames.
type sched struct {
	periodNs int64 // frame period; 0 = as fast as possible
	jitterNs int64 // max jitter added to a frame's slot
	stepMs   int64 // time between samples within a frame
	batch    int
	samples  uint64 // per device; 0 = unbounded
	channels int
	seed     uint64
	replay   *replaySet
}

// due returns when frame k of d is due, relative to t0.
func (s *sched) due(d *device, k uint64) int64 {
	t := d.phase + int64(k)*s.periodNs
	if s.jitterNs > 0 {
		t += int64(uniform(mix(uint64(d.num)^s.seed, k), uint64(s.jitterNs)))
	}
	return t
}

// frameSamples returns how many samples frame k carries, 0 when the device
// has sent all it was asked to.
func (s *sched) frameSamples(k uint64) int {
	if s.samples == 0 {
		return s.batch
	}
	done := k * uint64(s.batch)
	if done >= s.samples {
		return 0
	}
	return int(min(uint64(s.batch), s.samples-done))
}

// initDevice sets up d's id, seed, phase and signal.
func (s *sched) initDevice(d *device, c *Config, num int) {
	*d = device{num: num, fd: -1, sock: -1}
	d.id = appendID(nil, c.IDPrefix, num+1, c.IDWidth)
	d.rng = mix(uint64(num), s.seed)
	if s.periodNs > 0 {
		d.phase = int64(uniform(splitmix(&d.rng), uint64(s.periodNs)))
	}
	if s.replay != nil {
		t := num % len(s.replay.templates)
		d.tpl = int32(t)
		// Start each copy of a template somewhere else, so that devices
		// replaying the same recording are not in lockstep.
		d.pos = int32(uniform(splitmix(&d.rng), uint64(s.replay.templates[t].samples)))
		return
	}
	d.walk = make([]int64, s.channels)
	for c := range d.walk {
		d.walk[c] = walkStart(c, &d.rng)
	}
}

// fill appends n samples of d's signal to vals and returns it.
func (s *sched) fill(vals []codec.Value, d *device, n int) []codec.Value {
	if s.replay != nil {
		t := &s.replay.templates[d.tpl]
		for range n {
			vals = append(vals, s.replay.sample(int(d.tpl), int(d.pos))...)
			if d.pos++; int(d.pos) == t.samples {
				d.pos = 0
			}
		}
		return vals
	}
	for range n {
		for c, x := range d.walk {
			x = walkStep(c, x, splitmix(&d.rng))
			d.walk[c] = x
			vals = append(vals, walkValue(c, x))
		}
	}
	return vals
}
