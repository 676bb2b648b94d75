package server

import (
	"context"
	"log/slog"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fleetwire/fleetwire/codec"
	"github.com/fleetwire/fleetwire/codec/ack"
	"github.com/fleetwire/fleetwire/codec/control"
)

// Acknowledged delivery, the server's side (PROTOCOL.md, "Acknowledged
// delivery"). A device that opted in keeps every sample until a #stored
// says the sink made it durable. Per device the server keeps two sets of
// sequence numbers:
//
//   - received: what it took from the wire and handed to the sink, durable
//     or not yet. A sample already in it is a resend: counted, not stored
//     again. A chunk the sink failed to write takes its samples out again,
//     so that the device's next resend is stored.
//   - durable: what the sink settled as durable (sink.Receipt). Only this
//     set is ever acknowledged.
//
// The ingesters (event loops, UDP readers) only touch received, under the
// session lock they hold anyway, and attach a receipt to the chunk of each
// acking device's samples. Receipts settle on the sink's goroutine and are
// queued to the acker, one goroutine that applies them and sends the
// #stored frames: nothing here runs on, or waits for, an event loop.

// ackState is an acking device's state, allocated at its opt-in: a device
// that never opts in costs one nil pointer.
type ackState struct {
	window uint32 // samples the device holds unacknowledged (its hello)
	solo   bool   // its hello said no other device shares its link: #stored without its id
	// soloLink is the link its last solo hello came over: the only one
	// #stored may leave its id out on. A UDP device that lost its NAT
	// binding reports bare from new ports, and a port it left may
	// already be another device's: that device would take an id-less
	// #stored for its own and free samples that were never stored.
	soloLink *downlink
	received ack.Set
	durable  ack.Set

	sentAt   int64  // unix ns of the last #stored sent; 0: none yet
	fresh    uint64 // samples received since the last #stored
	dirty    bool   // durable changed since the last #stored
	queued   bool   // in the acker's dirty list
	flush    bool   // ack at once (end of stream, gave up)
	ended    bool   // after #eos: ack each change at once until durable holds everything up to the end
	resends  uint64 // samples received again
	suppress uint64 // of them, not stored again (all of them)
	acks     uint64 // #stored sent
	seeding  bool   // asking the sink what another node stored (seedAcks); frames refused meanwhile
}

// ackEntry is samples [lo, hi] of s handed to the sink in one chunk.
type ackEntry struct {
	s      *Session
	lo, hi uint64
}

// ackReceipt is the sink.Receipt of a chunk that holds acking devices'
// samples: what to mark durable, or take back, when it settles.
type ackReceipt struct {
	a       *acker
	entries []ackEntry
	durable bool
}

// Settled implements sink.Receipt: it only queues the receipt for the
// acker, so that it neither blocks the sink nor takes a session lock (the
// none sink settles inside Submit, where an ingester holds one).
func (r *ackReceipt) Settled(durable bool) {
	r.durable = durable
	r.a.mu.Lock()
	r.a.settled = append(r.a.settled, r)
	r.a.mu.Unlock()
	select {
	case r.a.wake <- struct{}{}:
	default:
	}
}

// acker applies settled receipts and sends #stored frames: at most one
// per device per Config.AckInterval, sooner when half the device's window
// waits for one, and at once for a device's first, after its
// end-of-stream or #gaveup.
type acker struct {
	srv *Server // its live.ackInterval, which Reload changes

	mu      sync.Mutex
	settled []*ackReceipt
	spare   []*ackReceipt // the other of two lists swapped by applySettled, so queueing allocates nothing
	pending []ackEntry    // durable ranges that did not fit yet (see apply)
	dirty   []*Session
	wake    chan struct{}
	pool    sync.Pool

	stop, done chan struct{}

	// Totals for Stats.
	acksSent, ackBytes atomic.Uint64
	resends, suppress  atomic.Uint64
	failed             atomic.Uint64 // samples taken back: the sink could not store them
}

func newAcker(srv *Server) *acker {
	a := &acker{srv: srv, wake: make(chan struct{}, 1),
		stop: make(chan struct{}), done: make(chan struct{})}
	a.pool.New = func() any { return &ackReceipt{a: a} }
	return a
}

// receipt returns an empty receipt for a chunk.
func (a *acker) receipt() *ackReceipt {
	r := a.pool.Get().(*ackReceipt)
	r.entries = r.entries[:0]
	return r
}

// ackTick is how often the acker looks at devices waiting for an ack
// while no receipt wakes it: the resolution of the ack interval.
const ackTick = 100 * time.Millisecond

func (a *acker) run() {
	defer close(a.done)
	t := time.NewTicker(ackTick)
	defer t.Stop()
	for {
		select {
		case <-a.stop:
			a.applySettled()
			a.send(time.Now().UnixNano(), true)
			return
		case <-a.wake:
			a.applySettled()
		case now := <-t.C:
			a.applySettled()
			a.send(now.UnixNano(), false)
		}
	}
}

func (a *acker) close() {
	close(a.stop)
	<-a.done
}

// applySettled moves what the sink settled into the devices' sets.
func (a *acker) applySettled() {
	a.mu.Lock()
	settled := a.settled
	a.settled, a.spare = a.spare[:0], nil
	pending := a.pending
	a.pending = nil
	a.mu.Unlock()
	var retry []ackEntry
	for _, e := range pending {
		if !a.apply(e, true) {
			retry = append(retry, e)
		}
	}
	for _, r := range settled {
		for _, e := range r.entries {
			if !a.apply(e, r.durable) {
				retry = append(retry, e)
			}
		}
		r.entries = r.entries[:0]
		a.pool.Put(r)
	}
	clear(settled)
	a.mu.Lock()
	if a.spare == nil {
		a.spare = settled[:0]
	}
	a.mu.Unlock()
	if len(retry) > 0 {
		a.mu.Lock()
		a.pending = append(a.pending, retry...)
		a.mu.Unlock()
	}
}

// apply marks e durable, or takes it back from received. It returns false
// when a durable range does not fit the set yet: receipts of one device
// may settle out of order (its frames went through different ingesters'
// chunks), and the hole below fills when the earlier chunk settles.
func (a *acker) apply(e ackEntry, durable bool) bool {
	s := e.s
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.ack
	if st == nil {
		return true
	}
	if !durable {
		_, _ = st.received.Remove(e.lo, e.hi)
		a.failed.Add(e.hi - e.lo + 1)
		return true
	}
	if _, err := st.durable.Add(e.lo, e.hi, nil); err != nil {
		return false
	}
	a.queue(s)
	return true
}

// due reports whether st should be acknowledged now. Call with the
// session lock held.
func (a *acker) due(st *ackState, now int64, closing bool) bool {
	switch {
	case !st.dirty:
		return false
	case st.sentAt == 0, st.flush, st.ended, closing:
		return true
	case st.window > 0 && st.fresh >= uint64(st.window)/2:
		return true
	}
	return now-st.sentAt >= a.srv.live.ackInterval.Load()
}

// send acknowledges every dirty device that is due, several devices
// behind one address (a gateway) in one datagram.
func (a *acker) send(now int64, closing bool) {
	a.mu.Lock()
	dirty := a.dirty
	a.dirty = nil
	a.mu.Unlock()
	var keep []*Session
	out := map[sendKey]*pendingWrite{}
	for _, s := range dirty {
		s.mu.Lock()
		st := s.ack
		link := s.link.Load()
		if st == nil || !st.dirty {
			if st != nil {
				st.queued = false
			}
			s.mu.Unlock()
			continue
		}
		if link == nil || !a.due(st, now, closing) {
			keep = append(keep, s) // offline, or not yet: stays queued
			s.mu.Unlock()
			continue
		}
		k := keyOf(link)
		w := out[k]
		if w == nil {
			w = &pendingWrite{link: link}
			out[k] = w
		} else if (link.transport == UDP && len(w.b) > 1200) || (link.transport == DTLS && len(w.b) > dtlsMaxWrite) {
			// One datagram per address, no larger than a UDP payload
			// that no link fragments: start a new one beyond it.
			a.write(link, w.b)
			w.b = w.b[:0]
		}
		var id []byte
		if !st.solo || link != st.soloLink {
			id = []byte(s.ID)
		}
		ctl := st.durable.Stored(id)
		if link.binary.Load() {
			w.b = control.AppendBinary(w.b, &ctl)
		} else {
			w.b = control.AppendText(w.b, &ctl, link.ln.dec.End())
		}
		st.sentAt, st.fresh, st.dirty, st.flush, st.queued = now, 0, false, false, false
		if st.ended && st.durable.Len() == 0 && st.durable.Next() >= s.next {
			st.ended = false // everything up to its end is durable, and it heard so
		}
		st.acks++
		s.mu.Unlock()
	}
	for _, w := range out {
		if len(w.b) > 0 {
			a.write(w.link, w.b)
		}
	}
	if len(keep) > 0 {
		a.mu.Lock()
		a.dirty = append(a.dirty, keep...)
		a.mu.Unlock()
	}
}

// sendKey groups #stored frames into one write: per connection, or per
// UDP address and socket, whichever device of a gateway they are for.
type sendKey struct {
	link *downlink // streams
	udp  udpSender
	addr netip.AddrPort
}

func keyOf(l *downlink) sendKey {
	if l.transport == UDP {
		return sendKey{udp: l.udp, addr: l.addr}
	}
	return sendKey{link: l}
}

type pendingWrite struct {
	link *downlink
	b    []byte
}

func (a *acker) write(link *downlink, b []byte) {
	// link.send keeps b (a connection's queue): hand it a copy.
	if err := link.send(append([]byte(nil), b...)); err != nil {
		slog.Debug("ack send failed", "transport", link.transport, "addr", link.addr, "err", err)
		return
	}
	a.acksSent.Add(1)
	a.ackBytes.Add(uint64(len(b)))
}

// flushSoon has s acknowledged on the acker's next tick, whatever the
// interval: the device ended its stream or gave samples up. Call with
// s.mu held.
func (a *acker) flushSoon(s *Session) {
	s.ack.flush = true
	a.queue(s)
}

// drain has s acknowledged at once, on the acker's next tick, each time
// its durable set changes, until it holds every sample up to the end and
// the device heard so, or the device streams past its end again: the
// device ended its stream and waits (its ack drain) for the #stored that
// covers its last frames, and for what that #stored shows lost, which it
// resends. One #stored right after the #eos holds only what was durable
// then; without this, the rest would wait a whole ack interval, and each
// round of resends another. Call with s.mu held.
func (a *acker) drain(s *Session) {
	s.ack.ended = true
	a.flushSoon(s)
}

// queue has s acknowledged within the interval: its durable set changed,
// or it must hear the same #stored again. Call with s.mu held.
func (a *acker) queue(s *Session) {
	st := s.ack
	st.dirty = true
	if !st.queued {
		st.queued = true
		a.mu.Lock()
		a.dirty = append(a.dirty, s)
		a.mu.Unlock()
	}
}

// optIn starts or updates s's ack state from a hello. Call with s.mu
// held.
func (s *Session) optIn(window uint32, srv *Server) {
	if s.ack == nil {
		s.ack = &ackState{}
		switch rec := srv.recoveredSet(s.ID); {
		case rec != nil:
			// Stored before the server (re)started: a resend of any of it
			// is a duplicate.
			s.ack.received, s.ack.durable = *rec, *srv.recoveredSet(s.ID)
			s.ack.dirty = true // tell the device at once
			if !s.started {
				s.resume(rec)
			}
		case s.started:
			// Samples stored before the device opted in are not resends:
			// numbering starts where the session's count stands.
			s.ack.received.Reset(s.next)
			s.ack.durable.Reset(s.next)
		default:
			srv.acker.seedFrom(s)
		}
	}
	s.ack.window = window
}

// resumeAck opts s in again, without a hello, if it came over UDP and
// the server recovered its state at start. A UDP device puts its hello
// in front of datagrams only until its first #stored, so after a restart
// its frames, #gaveup and #eos arrive bare: taken for a plain device's,
// its frames would be stored again although the server holds them, and
// never acknowledged, so the device would resend them until its drain
// ran out. Its window is unknown until its next hello (0: acknowledged
// every interval, not at half a window). The recovered sets are looked
// up once per session. Call with s.mu held, for a sequenced frame, a
// #gaveup or a #eos, before it is accounted.
func (g *ingester) resumeAck(tr Transport, s *Session) {
	if s.ack != nil || (tr != UDP && tr != DTLS) || s.ackLooked {
		return
	}
	s.ackLooked = true
	if g.srv.recovered[s.ID] == nil {
		return
	}
	s.optIn(0, g.srv)
	g.srv.acker.flushSoon(s)
}

// resume starts the sequence count of a device the server recovered
// where the server stood before it restarted, as if it had not: what the
// device gives up (#gaveup) or skips above the samples the server holds
// is lost, and the holes between them are lost until resends fill them.
// Counted from zero instead, the new session took the device's first
// frame or #gaveup for its start and never counted what it gave up
// during the outage. Call with s.mu held.
func (s *Session) resume(held *ack.Set) {
	top, holes := held.Next(), uint64(0)
	for _, r := range held.Ranges(ack.MaxRanges) {
		holes += r.Lo - top
		top = r.Hi + 1
	}
	s.started, s.next = true, top
	s.addLost(holes)
}

// storeFresh stores the samples of frame f that s has not received yet,
// and counts the rest as resends. It returns false, storing nothing, when
// the frame would open one hole too many (ack.ErrFull): the device keeps
// it and sends it again once the holes below have filled. Call with s.mu
// held.
func (g *ingester) storeFresh(tr Transport, s *Session, f *codec.Frame, id []byte, now int64) bool {
	n := uint64(f.Samples())
	if s.ack.ended && f.Seq+n > s.next {
		s.ack.ended = false // a new stream, past the end: back to the interval
	}
	g.fresh.s, g.fresh.f, g.fresh.id, g.fresh.tr, g.fresh.now = s, f, id, tr, now
	added, err := s.ack.received.Add(f.Seq, f.Seq+n-1, g.freshFn)
	g.fresh.s, g.fresh.f = nil, nil
	if err != nil {
		return false
	}
	if dup := n - added; dup > 0 {
		s.ack.resends += dup
		s.ack.suppress += dup
		g.srv.acker.resends.Add(dup)
		g.srv.acker.suppress.Add(dup)
		// The device did not hear the #stored that covered them (lost on
		// the way, or sent before a restart): say it again, at once. Nothing
		// else would: #stored goes out when the durable set changes, and a
		// resend of what is stored changes nothing. Not at the interval: the
		// device resent because its timer ran out, its window is filling
		// since the lost #stored, and another interval would overflow it
		// (at most one #stored per ack tick, 100 ms, whatever it resends).
		g.srv.acker.flushSoon(s)
	}
	s.ack.fresh += added
	return true
}

// onFresh is storeFresh's callback for each run of new samples [lo, hi]:
// account and store them as a frame of their own.
func (g *ingester) onFresh(lo, hi uint64) {
	f, s := g.fresh.f, g.fresh.s
	i, j := int(lo-f.Seq), int(hi-f.Seq)+1
	sub := *f
	sub.Seq = lo
	sub.Times = f.Times[i:j:j]
	sub.Values = f.Values[i*f.Channels : j*f.Channels : j*f.Channels]
	if i > 0 {
		sub.WireBytes = 0 // the frame's bytes are counted once
	}
	s.account(lo, uint64(j-i), uint64(f.Channels))
	g.storeAcked(g.fresh.tr, s, &sub, g.fresh.id, lo, hi, g.fresh.now)
}

// heldSetter is a sink that can tell what another node stored of an
// acking device (natssink.Sink.HeldSet: the stream is shared).
type heldSetter interface {
	HeldSet(ctx context.Context, device []byte) (*ack.Set, error)
}

// How long seedAcks waits for the sink, and how often it asks.
const (
	seedTimeout = 5 * time.Second
	seedTries   = 3
)

// seedFrom starts seedAcks for s, a device that opted in and that this
// node has no state for (it may have moved here from a node that died),
// when the sink can answer. Call with s.mu held.
func (a *acker) seedFrom(s *Session) {
	hs, ok := a.srv.sink.(heldSetter)
	if !ok {
		return
	}
	s.ack.seeding = true
	go a.seedAcks(s, hs)
}

// seedAcks asks the sink what the stream holds of s and makes that what
// s has received and what is durable, then acknowledges it at once: the
// device frees it and resends only the rest, and a resend of any of it is
// not stored again. Until it returns, storeFresh refuses s's frames (the
// device keeps them and sends them again), on its own goroutine, so that
// no event loop waits for NATS. A sink that does not answer is asked
// seedTries times; then the device starts from nothing, as before: its
// resends of what another node stored are stored twice.
func (a *acker) seedAcks(s *Session, hs heldSetter) {
	var held *ack.Set
	for try := 1; ; try++ {
		ctx, cancel := context.WithTimeout(context.Background(), seedTimeout)
		h, err := hs.HeldSet(ctx, []byte(s.ID))
		cancel()
		if err == nil {
			held = h
			break
		}
		slog.Warn("acknowledged delivery: cannot learn what the stream holds of a device", "device", s.ID, "try", try, "err", err)
		if try == seedTries {
			break
		}
		select {
		case <-a.stop:
			return
		case <-time.After(time.Duration(try) * time.Second):
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.ack
	if st == nil || !st.seeding {
		return
	}
	st.seeding = false
	if held == nil {
		return
	}
	// A #gaveup that came meanwhile moved next: keep it.
	for _, set := range []*ack.Set{&st.received, &st.durable} {
		gaveUp := set.Next()
		set.Reset(held.Next())
		for _, r := range held.Ranges(ack.MaxRanges) {
			_, _ = set.Add(r.Lo, r.Hi, nil)
		}
		set.Advance(gaveUp)
	}
	a.flushSoon(s)
}
