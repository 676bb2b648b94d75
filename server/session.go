package server

import (
	"hash/maphash"
	"net/netip"
	"sync"
	"sync/atomic"

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
	eos       bool
	started   bool
	next      uint64 // highest sequence number seen + 1
	window    [windowWords]uint64
	channels  int
	lastSeen  int64 // unix ns, receive time
	lastTime  int64 // unix ms, device time of the last sample
	lastVals  []codec.Value
	addr      netip.AddrPort // last source address (UDP downlink goes there)
	errors    *errorRing     // allocated at the device's first error: most never have one

	// link is how to reach the device now (its TCP/TLS connection or its
	// UDP address); nil when offline. Read by the command sender.
	link atomic.Pointer[downlink]
	// speaksBinary: the device's last frame was not text, so commands go
	// to it as binary control frames.
	speaksBinary atomic.Bool
	// pendingCmds lets the hot path skip the command queue's lock when the
	// device has nothing queued, which is almost always.
	pendingCmds atomic.Int32
}

// apply accounts one frame of n samples starting at seq. Call with mu held.
func (s *Session) apply(f *codec.Frame, now int64) {
	n := uint64(f.Samples())
	ch := uint64(f.Channels)
	s.frames++
	s.readings += n * ch
	s.bytes += uint64(f.WireBytes)
	if s.format != f.Format {
		s.speaksBinary.Store(f.Format != codec.FormatText)
	}
	s.format, s.compress = f.Format, f.Compression
	s.channels = f.Channels
	s.lastSeen = now
	if n > 0 {
		s.lastTime = f.Times[n-1]
		last := f.Sample(int(n - 1))
		s.lastVals = append(s.lastVals[:0], last...)
	}
	if f.Flags&codec.HasSeq == 0 || n == 0 {
		return
	}
	s.account(f.Seq, n, ch)
}

// account updates loss, duplicate and reorder counts for samples
// [seq, seq+n) of ch channels, the way iperf3 does (a gap counts as lost
// when seen; a late sample that fills it turns lost into reordered), with
// a bitmap of the last seqWindow samples to recognise duplicates.
func (s *Session) account(seq, n, ch uint64) {
	if !s.started {
		s.started = true
		s.next = seq
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
		return
	}
	// New part: a gap before it is lost (for now).
	from := max(seq, s.next)
	if from > s.next {
		s.lost += (from - s.next) * ch
	}
	s.advance(from, end)
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
// that never arrived are lost.
func (s *Session) endOfStream(next uint64, now int64) {
	s.eos = true
	s.lastSeen = now
	if !s.started {
		s.started = true
		s.next = next
		return
	}
	if next > s.next {
		ch := uint64(max(s.channels, 1))
		s.lost += (next - s.next) * ch
		s.advance(next, next)
	}
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
type registry struct {
	seed   maphash.Seed
	shards [64]struct {
		mu sync.RWMutex
		m  map[string]*Session
		_  [40]byte // keep shards on separate cache lines
	}
	count atomic.Int64
	max   int64
}

func newRegistry(maxDevices int) *registry {
	r := &registry{seed: maphash.MakeSeed(), max: int64(maxDevices)}
	for i := range r.shards {
		r.shards[i].m = make(map[string]*Session)
	}
	return r
}

// get returns the session of id, creating it; nil when the device limit
// is reached.
func (r *registry) get(id []byte) *Session {
	sh := &r.shards[maphash.Bytes(r.seed, id)%uint64(len(r.shards))]
	sh.mu.RLock()
	s := sh.m[string(id)]
	sh.mu.RUnlock()
	if s != nil {
		return s
	}
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if s = sh.m[string(id)]; s != nil {
		return s
	}
	if r.max > 0 && r.count.Load() >= r.max {
		return nil
	}
	s = &Session{ID: string(id)}
	sh.m[s.ID] = s
	r.count.Add(1)
	return s
}

// lookup returns the session of id or nil, without creating it.
func (r *registry) lookup(id string) *Session {
	sh := &r.shards[maphash.String(r.seed, id)%uint64(len(r.shards))]
	sh.mu.RLock()
	defer sh.mu.RUnlock()
	return sh.m[id]
}

// each calls fn for every session; fn must not call back into r.
func (r *registry) each(fn func(*Session)) {
	for i := range r.shards {
		sh := &r.shards[i]
		sh.mu.RLock()
		for _, s := range sh.m {
			fn(s)
		}
		sh.mu.RUnlock()
	}
}
