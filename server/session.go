package server

import (
	"hash/maphash"
	"math"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fleetwire/fleetwire/codec"
)

// seqWindow is how many recent sequence numbers a session remembers, to
// tell a late sample (it fills a gap: lost turns into reordered) from a
// duplicate. 1024 samples cost 128 bytes per device.
const seqWindow = 1024

const windowWords = seqWindow / 64

// Session is one device's state. Its counters are in readings (a sample
// of three channels lost is three readings lost), and are exact on a clean
// link: N readings sent are N counted and 0 lost.
//
// The ingester that serves the device holds mu while it applies a run of
// frames, so the hot path takes this one lock per run, uncontended unless
// two connections speak for the same device; readers (HTTP) take it to
// copy a snapshot.
type Session struct {
	ID string

	mu        sync.Mutex
	transport Transport
	format    codec.Format
	compress  codec.Compression
	frames    uint64
	readings  uint64
	bytes     uint64 // payload bytes of its frames as they arrived
	lost      uint64 // readings in sequence gaps not (yet) filled
	dups      uint64 // readings whose sequence number arrived before
	reordered uint64 // readings that arrived after a later one
	resets    uint64 // sequence restarts (device rebooted: seq went far back)
	resyncs   uint64 // jumps forward beyond maxSeqGap, not counted as loss
	eos       bool
	started   bool
	// ackLooked: a datagram of the device without its hello made the
	// server look for state it recovered at start (resumeAck), once.
	ackLooked bool
	next      uint64 // highest sequence number seen + 1
	window    [windowWords]uint64
	channels  int
	lastSeen  int64 // unix ns, receive time
	lastTime  int64 // unix ms, device time of the last sample
	lastVals  []codec.Value
	addr      netip.AddrPort // last source address (UDP downlink goes there)
	errors    *errorRing     // allocated at the device's first error: most never have one
	// bound is the address the device is bound to on listeners of the
	// bound-on-first-use policy: other addresses may not speak for it
	// until it has been silent for Config.BindTTL.
	bound netip.Addr

	// Set when the session is created, never changed: whether the id was
	// derived from an address (anonymous: idles out, has its own pool),
	// and the source prefix that created it (per-source limit).
	anon   bool
	source netip.Prefix
	// gone is set when the registry evicted the session; holders of a
	// cached pointer look the device up again.
	gone atomic.Bool

	// link is how to reach the device now (its TCP/TLS connection or its
	// UDP address); nil when offline. Read by the command sender.
	link atomic.Pointer[downlink]
	// pendingCmds lets the hot path skip the command queue's lock when the
	// device has nothing queued, which is almost always.
	pendingCmds atomic.Int32

	// ack is the device's acknowledged-delivery state, nil until it opts
	// in (acks.go).
	ack *ackState
	// streams counts the open connections whose session this is since
	// they connected (openStream): an anonymous one stays while any does.
	streams int32

	// lostSamples: samples found lost before any frame said how many
	// channels the device has (after a restart its hello and #gaveup
	// come before its frames); readings at its next frame (account).
	lostSamples uint64
}

// seqOverflows reports whether the samples of f would be numbered past
// 2^64: such a frame is refused whole (bad_sequence) before apply.
func seqOverflows(f *codec.Frame) bool {
	return f.Flags&codec.HasSeq != 0 && f.Seq > math.MaxUint64-uint64(f.Samples())
}

// apply accounts one frame of n samples starting at seq. Call with mu
// held, and only for frames that pass seqOverflows. It returns true when
// the frame jumped further than maxSeqGap ahead: not counted as loss, the
// count starts afresh there, and the caller counts bad_sequence.
func (s *Session) apply(f *codec.Frame, now int64) (jumped bool) {
	n := uint64(f.Samples())
	ch := uint64(f.Channels)
	s.readings += n * ch
	s.note(f, now)
	if f.Flags&codec.HasSeq == 0 || n == 0 {
		return false
	}
	return s.account(f.Seq, n, ch)
}

// note takes what a frame says besides its readings' count: format,
// channels, last values, time. Call with mu held.
func (s *Session) note(f *codec.Frame, now int64) {
	n := uint64(f.Samples())
	s.frames++
	s.bytes += uint64(f.WireBytes)
	s.format, s.compress = f.Format, f.Compression
	s.channels = f.Channels
	s.lastSeen = now
	if n > 0 {
		s.lastTime = f.Times[n-1]
		last := f.Sample(int(n - 1))
		s.lastVals = append(s.lastVals[:0], last...)
	}
}

// maxSeqGap is the largest gap between sequence numbers counted as lost
// readings: about 2 days of samples at 100 Hz. A larger jump forward (a
// frame or an end-of-stream far ahead of what the device sent so far) is
// not evidence of loss but of a device that renumbered, or of a forged
// frame trying to poison the fleet's loss counts: it is refused as
// bad_sequence, and a frame that makes it starts the count afresh there.
const maxSeqGap = 1 << 24

// account updates loss, duplicate and reorder counts for samples
// [seq, seq+n) of ch channels, the way iperf3 does (a gap counts as lost
// when seen; a late sample that fills it turns lost into reordered), with
// a bitmap of the last seqWindow samples to recognise duplicates. It
// reports a jump beyond maxSeqGap (counted as a resync, not as loss).
// seq+n must not pass 2^64 (seqOverflows).
func (s *Session) account(seq, n, ch uint64) (jumped bool) {
	if s.lostSamples > 0 {
		s.lost += s.lostSamples * ch
		s.lostSamples = 0
	}
	if !s.started {
		s.started = true
		s.next = seq
	}
	if seq > s.next && seq-s.next > maxSeqGap {
		s.resyncs++
		s.next = seq
		s.window = [windowWords]uint64{}
		jumped = true
	}
	// A jump far back is a device restart, not 4 billion reorders.
	if seq+seqWindow < s.next && seq+n <= s.next && s.next-seq > 1<<20 {
		s.resets++
		s.next = seq
		s.window = [windowWords]uint64{}
	}
	end := seq + n
	// Late part: samples below next.
	for q := seq; q < end && q < s.next; q++ {
		if s.next-q > seqWindow-64 {
			// Too old to remember: assume it fills a gap, as iperf3 does.
			s.reordered += ch
			if s.lost >= ch {
				s.lost -= ch
			}
			continue
		}
		w, bit := &s.window[(q/64)%windowWords], uint64(1)<<(q%64)
		if *w&bit != 0 {
			s.dups += ch
			continue
		}
		*w |= bit
		s.reordered += ch
		if s.lost >= ch {
			s.lost -= ch
		}
	}
	if end <= s.next {
		return jumped
	}
	// New part: a gap before it is lost (for now).
	from := max(seq, s.next)
	if from > s.next {
		s.lost += (from - s.next) * ch
	}
	s.advance(from, end)
	return jumped
}

// advance marks [from, end) received and moves next to end, clearing the
// bitmap words that the window slides past.
func (s *Session) advance(from, end uint64) {
	if end-s.next >= seqWindow {
		s.window = [windowWords]uint64{}
	} else {
		// Clear each word that now represents a new block of 64.
		for b := (s.next + 63) / 64; b*64 < end; b++ {
			if b*64 >= s.next {
				s.window[b%windowWords] = 0
			}
		}
	}
	for q := max(from, end-min(end-from, seqWindow)); q < end; q++ {
		s.window[(q/64)%windowWords] |= 1 << (q % 64)
	}
	s.next = end
}

// endOfStream accounts a device's end-of-stream: samples it says it sent
// that never arrived are lost. An end-of-stream further ahead than
// maxSeqGap is refused (false): it would claim an absurd loss.
func (s *Session) endOfStream(next uint64, now int64) bool {
	if s.started && next > s.next && next-s.next > maxSeqGap {
		return false
	}
	s.eos = true
	s.lastSeen = now
	if !s.started {
		s.started = true
		s.next = next
		return true
	}
	if next > s.next {
		s.addLost(next - s.next)
		s.advance(next, next)
	}
	return true
}

// addLost counts n samples lost: in readings when the device's channel
// count is known, else in lostSamples until it is. Call with mu held.
func (s *Session) addLost(n uint64) {
	if s.channels == 0 {
		s.lostSamples += n
		return
	}
	s.lost += n * uint64(s.channels)
}

// lostReadings is lost with what waits in lostSamples counted as one
// reading a sample, the best guess before a frame tells. Call with mu
// held.
func (s *Session) lostReadings() uint64 { return s.lost + s.lostSamples }

// gaveUp accounts a device's #gaveup: it will never send again the
// samples below next it has not had acknowledged. Those not received are
// lost; acknowledgements move past them. false: next is absurdly far
// ahead (bad_sequence), as for an end-of-stream.
func (s *Session) gaveUp(next uint64, now int64) bool {
	if s.started && next > s.next && next-s.next > maxSeqGap {
		return false
	}
	s.lastSeen = now
	switch {
	case !s.started:
		s.started, s.next = true, next
	case next > s.next:
		s.addLost(next - s.next)
		s.advance(next, next)
	}
	if st := s.ack; st != nil {
		st.received.Advance(next)
		st.durable.Advance(next)
		st.dirty, st.flush = true, true
	}
	return true
}

// errorRing keeps a device's last few errors for its page.
type errorRing struct {
	at     [8]int64
	reason [8]ErrReason
	off    [8]int32
	n      int
}

func (r *errorRing) add(now int64, reason ErrReason, off int) {
	i := r.n % len(r.at)
	r.at[i], r.reason[i], r.off[i] = now, reason, int32(off)
	r.n++
}

// registry maps device ids to sessions, sharded so that ingesters on
// different cores rarely meet on one lock. Lookups of a known device take
// a shard read lock; only a device's first frame takes the write lock.
//
// Sessions are a bounded resource shared fairly:
//   - identified devices (an id the device sent or its credential gives)
//     count against maxDevices and are never evicted;
//   - anonymous sessions (named after an address) have their own pool,
//     maxAnon, and are evicted once idle for the anonymous idle time, so a
//     flood of sources without ids cannot take identified devices' room;
//   - one source (an IPv4 address, an IPv6 /64) may create at most
//     perSource sessions of either kind, until some are evicted.
type registry struct {
	seed   maphash.Seed
	shards [64]struct {
		mu sync.RWMutex
		m  map[string]*Session
		_  [40]byte // keep shards on separate cache lines
	}
	count     atomic.Int64 // sessions of every kind
	anonCount atomic.Int64
	// The limits, atomic so that Server.Reload changes them while
	// ingesters read them.
	max       atomic.Int64
	maxAnon   atomic.Int64
	perSource atomic.Int32

	srcMu   sync.Mutex
	sources map[netip.Prefix]int32 // sessions each source created, still held

	retiredMu sync.Mutex
	retired   retiredCounts // counts of evicted sessions, so totals never go backwards
	sweepAt   atomic.Uint32 // next shard the eviction sweep looks at
}

// retiredCounts are what evicted sessions had counted.
type retiredCounts struct {
	sessions              uint64
	lost, dups, reordered uint64
	byTransport           [NumTransports]struct{ lost, dups, reordered uint64 }
}

// refusal says why get created no session.
type refusal uint8

const (
	refusedNone refusal = iota
	refusedDevices
	refusedAnonymous
	refusedSource
)

func newRegistry(maxDevices, maxAnon, perSource int) *registry {
	r := &registry{seed: maphash.MakeSeed(), sources: make(map[netip.Prefix]int32)}
	r.setLimits(maxDevices, maxAnon, perSource)
	for i := range r.shards {
		r.shards[i].m = make(map[string]*Session)
	}
	return r
}

// setLimits sets the registry's limits (0: none). Lowering one refuses
// new sessions beyond it and keeps those already held.
func (r *registry) setLimits(maxDevices, maxAnon, perSource int) {
	r.max.Store(int64(maxDevices))
	r.maxAnon.Store(int64(maxAnon))
	r.perSource.Store(int32(perSource))
}

// sourcePrefix is the unit of the per-source limit: an IPv4 address, or
// the /64 of an IPv6 one (a host usually owns a whole /64).
func sourcePrefix(a netip.Addr) netip.Prefix {
	a = a.Unmap()
	if !a.IsValid() {
		return netip.Prefix{}
	}
	if a.Is4() {
		return netip.PrefixFrom(a, 32)
	}
	p, _ := a.Prefix(64)
	return p
}

// get returns the session of id, creating it for a device first heard
// from src (anon: its id was derived from an address). It returns nil and
// why when a limit refuses a new session.
func (r *registry) get(id []byte, anon bool, src netip.Addr) (*Session, refusal) {
	sh := &r.shards[maphash.Bytes(r.seed, id)%uint64(len(r.shards))]
	sh.mu.RLock()
	s := sh.m[string(id)]
	sh.mu.RUnlock()
	if s != nil {
		return s, refusedNone
	}
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if s = sh.m[string(id)]; s != nil {
		return s, refusedNone
	}
	if anon {
		if max := r.maxAnon.Load(); max > 0 && r.anonCount.Load() >= max {
			return nil, refusedAnonymous
		}
	} else if max := r.max.Load(); max > 0 && r.count.Load()-r.anonCount.Load() >= max {
		return nil, refusedDevices
	}
	prefix := sourcePrefix(src)
	if perSource := r.perSource.Load(); prefix.IsValid() && perSource > 0 {
		r.srcMu.Lock()
		n := r.sources[prefix]
		if n >= perSource {
			r.srcMu.Unlock()
			return nil, refusedSource
		}
		r.sources[prefix] = n + 1
		r.srcMu.Unlock()
	}
	s = &Session{ID: string(id), anon: anon, source: prefix}
	sh.m[s.ID] = s
	r.count.Add(1)
	if anon {
		r.anonCount.Add(1)
	}
	return s, refusedNone
}

// lookup returns the session of id or nil, without creating it.
func (r *registry) lookup(id string) *Session {
	sh := &r.shards[maphash.String(r.seed, id)%uint64(len(r.shards))]
	sh.mu.RLock()
	defer sh.mu.RUnlock()
	return sh.m[id]
}

// each calls fn for every session, without holding a shard's lock: fn
// takes the session's lock, and a shard's lock comes after a session's
// (remove is called with one held). Holding the shard's read lock
// around fn deadlocked Stats against a connection leaving the anonymous
// session it opened (leaveOpened: the session's lock, then in remove the
// shard's write lock, which waits for the read lock). fn may see a
// session removed a moment before.
func (r *registry) each(fn func(*Session)) {
	var batch []*Session
	for i := range r.shards {
		sh := &r.shards[i]
		sh.mu.RLock()
		batch = batch[:0]
		for _, s := range sh.m {
			batch = append(batch, s)
		}
		sh.mu.RUnlock()
		for _, s := range batch {
			fn(s)
		}
	}
}

// evictIdle looks at the next n shards and evicts the anonymous sessions
// there that have been silent for longer than idle and are not on an open
// connection. Called once a second by the sweeper, so every session is
// looked at every len(shards)/n seconds.
func (r *registry) evictIdle(n int, idle time.Duration, now int64) {
	for range n {
		sh := &r.shards[(r.sweepAt.Add(1)-1)%uint32(len(r.shards))]
		sh.mu.Lock()
		for id, s := range sh.m {
			if !s.anon {
				continue
			}
			// TryLock: an ingester holding it is using the device (and
			// may wait for this shard's lock: never wait for it here).
			if !s.mu.TryLock() {
				continue
			}
			l := s.link.Load()
			evict := now-s.lastSeen > int64(idle) && (l == nil || l.transport == UDP)
			if evict {
				s.gone.Store(true)
				r.retire(s)
			}
			s.mu.Unlock()
			if evict {
				delete(sh.m, id)
				r.count.Add(-1)
				r.anonCount.Add(-1)
				r.release(s.source)
			}
		}
		sh.mu.Unlock()
	}
}

// remove takes s out of the registry at once: an anonymous session its
// connection opened and left without a frame. Call with s.mu held (the
// registry's shard lock comes after a session's, as in get).
func (r *registry) remove(s *Session) {
	sh := &r.shards[maphash.String(r.seed, s.ID)%uint64(len(r.shards))]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sh.m[s.ID] != s {
		return
	}
	delete(sh.m, s.ID)
	s.gone.Store(true)
	r.count.Add(-1)
	if s.anon {
		r.anonCount.Add(-1)
	}
	r.release(s.source)
}

// retire keeps an evicted session's counts. Call with s.mu held.
func (r *registry) retire(s *Session) {
	r.retiredMu.Lock()
	defer r.retiredMu.Unlock()
	rc := &r.retired
	rc.sessions++
	lost := s.lostReadings()
	rc.lost, rc.dups, rc.reordered = rc.lost+lost, rc.dups+s.dups, rc.reordered+s.reordered
	t := &rc.byTransport[s.transport]
	t.lost, t.dups, t.reordered = t.lost+lost, t.dups+s.dups, t.reordered+s.reordered
}

func (r *registry) release(p netip.Prefix) {
	if !p.IsValid() || r.perSource.Load() <= 0 {
		return
	}
	r.srcMu.Lock()
	if n := r.sources[p] - 1; n > 0 {
		r.sources[p] = n
	} else {
		delete(r.sources, p)
	}
	r.srcMu.Unlock()
}

// retiredCounts returns the counts of every session evicted so far.
func (r *registry) retiredTotals() retiredCounts {
	r.retiredMu.Lock()
	defer r.retiredMu.Unlock()
	return r.retired
}
