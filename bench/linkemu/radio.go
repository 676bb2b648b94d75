package linkemu

import (
	"slices"
	"sync"
	"time"
)

// Radio-on time, the energy proxy of a duty-cycled device, measured where
// every packet passes: at the emulator. A device's radio is on from the
// first packet of a burst to its last, both directions: an uplink packet
// counts when the device sends it (the emulator reads it from the
// client's TUN, before the link may lose it), a downlink packet when it
// reaches the device (the emulator writes it to the client's TUN). A
// burst ends after Gap of silence on its flow; the next packet starts a
// new one, a new wake. A flow is the client end's protocol and port: a
// device that connects per report has a new flow per report, a
// persistent one keeps its flow, and its bursts are its reports, its
// keep-alives and the replies that come after it slept (an
// acknowledgement sent later than Gap is a wake of its own).
//
// The radio's inactivity tail (the RRC timer a real modem waits out
// before it sleeps) is not in the figure: it is the same for every
// choice, and adds Gap-like time per wake, so wakes are counted too.

// RadioStats are the bursts of a watch (Link.WatchRadio to Link.Radio).
type RadioStats struct {
	Gap    time.Duration `json:"gap_ns"`
	Flows  int           `json:"flows"`  // client ports seen
	Bursts int           `json:"bursts"` // wakes
	// Total, P50, P99 and Max are over the bursts' first-to-last packet
	// times; Dropped counts bursts beyond the record's bound (MaxBursts),
	// which are in Bursts and Total but not in the percentiles.
	// Bytes is what the bursts carried, IP bytes both ways: the uplink's
	// as the device sent them (lost on the link or not), the downlink's
	// as they reached it.
	Bytes   int64         `json:"bytes"`
	Total   time.Duration `json:"total_ns"`
	P50     time.Duration `json:"p50_ns"`
	P99     time.Duration `json:"p99_ns"`
	Max     time.Duration `json:"max_ns"`
	Dropped int           `json:"dropped"`
	// From and To are the window of Between, if the figures are of one.
	From time.Time `json:"from,omitzero"`
	To   time.Time `json:"to,omitzero"`
	// Each burst's start and length (at most MaxBursts), for Between.
	Each []Burst `json:"-"`
}

// Burst is one wake: when its first packet passed and how long until
// its last.
type Burst struct {
	Start time.Time
	On    time.Duration
	Bytes int64
}

// Between is s over the bursts that started in [from, to) only: the
// steady state of a run, without its connects and its end.
func (s RadioStats) Between(from, to time.Time) RadioStats {
	w := RadioStats{Gap: s.Gap, Flows: s.Flows, From: from, To: to}
	var on []time.Duration
	for _, b := range s.Each {
		if !b.Start.Before(from) && b.Start.Before(to) {
			w.Each = append(w.Each, b)
			on = append(on, b.On)
			w.Bytes += b.Bytes
		}
	}
	w.summarise(on, len(on))
	return w
}

// summarise sets Bursts (n: those not in on included), Total and the
// percentiles from on.
func (s *RadioStats) summarise(on []time.Duration, n int) {
	s.Bursts, s.Dropped = n, n-len(on)
	s.Total = 0
	for _, d := range on {
		s.Total += d
	}
	if len(on) > 0 {
		slices.Sort(on)
		at := func(q float64) time.Duration { return on[min(len(on)-1, int(q*float64(len(on))))] }
		s.P50, s.P99, s.Max = at(0.50), at(0.99), on[len(on)-1]
	}
}

// MaxBursts bounds the bursts a watch keeps for its percentiles.
const MaxBursts = 1 << 20

type flowKey struct {
	proto uint8
	port  uint16
}

type flowBurst struct {
	first, last time.Duration
	bytes       int64
}

// radio is one watch; its methods are called from the emulator's threads.
type radio struct {
	gap   time.Duration
	epoch time.Time // of the times packet is given
	mu    sync.Mutex
	on    map[flowKey]flowBurst
	all   map[flowKey]struct{}
	got   []flowBurst
	n     int
	sum   time.Duration
	bytes int64
}

func newRadio(gap time.Duration, epoch time.Time) *radio {
	return &radio{gap: gap, epoch: epoch, on: map[flowKey]flowBurst{}, all: map[flowKey]struct{}{}}
}

// packet records one packet of n bytes of the client's flow k at now.
func (r *radio) packet(k flowKey, now time.Duration, n int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	b, ok := r.on[k]
	switch {
	case !ok:
		r.all[k] = struct{}{}
		b = flowBurst{first: now, last: now}
	case now-b.last > r.gap:
		r.end(b)
		b = flowBurst{first: now, last: now}
	default:
		b.last = max(b.last, now)
	}
	b.bytes += int64(n)
	r.on[k] = b
}

func (r *radio) end(b flowBurst) {
	r.n++
	r.sum += b.last - b.first
	r.bytes += b.bytes
	if len(r.got) < MaxBursts {
		r.got = append(r.got, b)
	}
}

// stats ends every open burst and summarises.
func (r *radio) stats() RadioStats {
	r.mu.Lock()
	defer r.mu.Unlock()
	for k, b := range r.on {
		r.end(b)
		delete(r.on, k)
	}
	s := RadioStats{Gap: r.gap, Flows: len(r.all)}
	on := make([]time.Duration, len(r.got))
	s.Each = make([]Burst, len(r.got))
	for i, b := range r.got {
		on[i] = b.last - b.first
		s.Each[i] = Burst{Start: r.epoch.Add(b.first), On: on[i], Bytes: b.bytes}
	}
	s.summarise(on, r.n)
	s.Total, s.Bytes = r.sum, r.bytes // the bursts beyond MaxBursts too
	return s
}

// clientFlow is the client end of an IPv4 packet: its source port on the
// uplink, its destination port on the downlink (0 for a protocol without
// ports, or a fragment after the first). ok is false for what is not
// IPv4.
func clientFlow(b []byte, up bool) (k flowKey, ok bool) {
	if len(b) < 20 || b[0]>>4 != 4 {
		return k, false
	}
	ihl := int(b[0]&0x0f) * 4
	k.proto = b[9]
	fragOff := (uint16(b[6])&0x1f)<<8 | uint16(b[7])
	if (k.proto != 6 && k.proto != 17) || fragOff != 0 || len(b) < ihl+4 {
		return k, true
	}
	p := b[ihl:]
	if up {
		k.port = uint16(p[0])<<8 | uint16(p[1])
	} else {
		k.port = uint16(p[2])<<8 | uint16(p[3])
	}
	return k, true
}
