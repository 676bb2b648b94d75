package server

import (
	"net/netip"
	"sync"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/fleetwire/fleetwire/codec"
	"github.com/fleetwire/fleetwire/codec/ack"
	"github.com/fleetwire/fleetwire/codec/framing"
	"github.com/fleetwire/fleetwire/server/sink"
)

// maxBadRun is how many bad frames in a row a stream may send before it
// is closed: enough to resync after line noise, few enough that a stream
// of garbage does not burn a core.
const maxBadRun = 64

// What one connection may make the server decode, beyond the codec's
// per-frame limits (see Config.MaxAmplification and docs on memory):
//
//   - feedDecoded caps the decoded bytes of one gnet wake-up, so one
//     connection of highly compressible frames cannot hold its loop for
//     long: the rest waits for the next wake-up.
//   - keepBatch is what an ingester's batch may keep between feeds; after
//     a larger frame its arrays are let go, so memory returns to its idle
//     size once the traffic stops.
const (
	feedDecoded = 16 << 20
	keepBatch   = 256 << 10
)

// chunkReadings and chunkAge bound how long decoded readings wait in an
// ingester before they go to the sink: large chunks for throughput, a
// short age so a quiet connection's readings are not held back.
const (
	chunkReadings = 4096
	chunkAge      = 50 * time.Millisecond
)

// shard is a unit of statistics one or a few ingesters write: counters
// and a latency histogram. gnet loops and UDP readers own one each;
// standard-library connections share a few.
type shard struct {
	ctr   counters
	latMu sync.Mutex
	lat   *hdrhistogram.Histogram // ms from device send time to receive
}

// Latency histogram range: 0 to 1 hour in ms, 3 significant digits.
const maxLatencyMs = 3600_000

func newShard() *shard {
	return &shard{lat: hdrhistogram.New(0, maxLatencyMs, 3)}
}

// stream is one TCP or TLS connection's state as the ingest path sees it.
// Kept small: the server may hold a hundred thousand.
type stream struct {
	ln        *listener
	transport Transport
	split     framing.Splitter
	peer      netip.AddrPort // the device is this address when nothing names it
	hello     []byte         // device named by #hello, owned copy
	opened    *Session       // the session it opened at connect (openStream)
	cred      []byte         // device named by the client certificate (TLS): the stream may speak only for it and its gateway's devices
	session   *Session       // cache: the session of the last frame
	link      *downlink
	lastRx    int64 // unix ns of the last bytes received
	partial   int64 // unix ns since a partial frame has been waiting, 0 if none
	credit    int64 // decoded bytes the stream may still spend (amplification bucket)
	badRun    int32
}

// earn adds what wire bytes of input entitle the stream to decode, up to
// the bucket's size: one frame's limit. A new stream starts full.
func (st *stream) earn(wire int, amp int64, burst int64) {
	st.credit = min(st.credit+int64(wire)*amp, burst)
}

// ingester runs the shared path for one event loop, UDP reader or
// standard-library connection. It is never used by two goroutines at once.
type ingester struct {
	srv   *Server
	sh    *shard
	batch codec.Batch

	chunk     *sink.Chunk
	chunkBorn int64

	locked *Session // session whose lock this ingester holds during a feed

	// Per-feed accumulators, published once per feed call.
	acc struct {
		touched  uint32
		frames   [numCodecs]uint64
		readings [numCodecs]uint64
		bytes    [numCodecs]uint64
	}
	// Latencies of this feed, ms, run-length coded (bulk loads see the
	// same few values frame after frame), flushed under latMu.
	lats [64]latRun
	nlat int

	receipt *ackReceipt // of the chunk, once it holds an acking device's samples
	// fresh is what storeFresh's callback (freshFn, g.onFresh bound once
	// so that passing it allocates nothing) needs about the frame.
	fresh struct {
		s   *Session
		f   *codec.Frame
		id  []byte
		tr  Transport
		now int64
	}
	freshFn func(lo, hi uint64)
	decoded int // decoded bytes of the current feed (readings, or what compressed frames decompressed to)

	// lazyShrink: the ingester serves many connections or sources (a gnet
	// loop, a UDP reader), so it keeps a grown batch until it has had no
	// large feed for chunkAge: shrinking after every large datagram made
	// a stream of them reallocate a frame's arrays each time. A
	// connection's own ingester (std engine) shrinks at once.
	lazyShrink bool
	lastBig    int64                          // unix ns of the last feed above keepBatch
	unshrunk   bool                           // the batch is still grown: call finish again after chunkAge
	idBuf      []byte                         // scratch for device ids derived from addresses
	ln         *listener                      // a UDP reader's listener; streams carry their own
	udpLink    func(netip.AddrPort) *downlink // how to answer a UDP source, for readers
}

// newIngester returns an ingester of srv; ln is the listener whose
// datagrams it reads (nil for streams, which carry their listener).
func newIngester(srv *Server, sh *shard, ln *listener) *ingester {
	g := &ingester{srv: srv, sh: sh, ln: ln, idBuf: make([]byte, 0, 64)}
	g.freshFn = g.onFresh
	return g
}

// feedStream processes the whole frames at the front of data, which came
// from stream st. It returns how many bytes to consume; the rest (a
// partial frame, or frames left for later) stays in the caller's buffer.
// more reports that it stopped early, having decoded maxDecoded bytes of
// readings (0: no such cap), while whole frames remain. closeWhy != 0
// means close the stream.
func (g *ingester) feedStream(st *stream, data []byte, atEOF bool, now int64, maxDecoded int) (consumed int, more bool, closeWhy ErrReason) {
	st.lastRx = now
	g.batch.Reset()
	g.decoded = 0
	// A run of bad frames, split errors and frames that fail to decode
	// alike, closes the stream: enough to resync after line noise, few
	// enough that a stream of garbage does not burn a core.
	bad := func() bool {
		if st.badRun++; st.badRun > maxBadRun {
			closeWhy = ErrTooManyErrors
			return false
		}
		return true
	}
	consumed, err := st.split.Scan(data, atEOF, func(frame []byte, size int, err error) bool {
		if err != nil {
			g.countError(st.transport, st.session, ErrReason(codec.ReasonOf(err)), err, now)
			return bad()
		}
		st.earn(size, g.srv.live.amp.Load(), g.srv.burst)
		ok, spent := g.decode(st, st.transport, frame, size, st.credit, netip.AddrPort{}, now)
		st.credit -= int64(spent)
		if !ok {
			return bad()
		}
		st.badRun = 0
		return maxDecoded == 0 || g.decoded < maxDecoded
	})
	if err != nil {
		g.countError(st.transport, st.session, ErrReason(codec.ReasonOf(err)), err, now)
		closeWhy = ErrUnresyncable
	}
	more = closeWhy == 0 && maxDecoded > 0 && g.decoded >= maxDecoded && consumed < len(data)
	// Inside a frame: bytes of one wait, or the splitter is discarding
	// the rest of an over-long line (every byte consumed, the line not
	// over): either way the slow-client timeout runs.
	if (consumed < len(data) && !more || st.split.Skipping()) && closeWhy == 0 {
		if st.partial == 0 {
			st.partial = now
		}
	} else {
		st.partial = 0
	}
	g.finish(st.transport, now)
	return consumed, more, closeWhy
}

// closeStream accounts the bytes left when a stream ends. When the peer
// ended it cleanly, a final text line without END is a frame (what nc
// sends without a trailing newline). When the server closed it during a
// partial frame (timeout, shutdown), the rest is a frame cut off: counted
// as truncated, never decoded, because a cut number still parses. When it
// closed it for bad input, that input was counted already.
func (g *ingester) closeStream(st *stream, rest []byte, peerEOF bool, now int64) {
	if peerEOF {
		consumed, _, _ := g.feedStream(st, rest, true, now, 0)
		rest = rest[consumed:]
	} else if st.partial == 0 {
		return
	}
	if len(rest) > 0 {
		g.countError(st.transport, st.session, ErrReason(codec.ReasonTruncated), nil, now)
		g.finish(st.transport, now)
	}
}

// feedDatagram processes one UDP datagram from src: one or more whole
// frames, which together may decode to amplification times the
// datagram's size (and each frame to the codec's limit). The caller calls
// finish after a batch of datagrams.
func (g *ingester) feedDatagram(data []byte, src netip.AddrPort, now int64) {
	g.sh.ctr.datagrams.Add(1)
	g.sh.ctr.rxBytes[UDP].Add(uint64(len(data)))
	var split framing.Splitter
	split.End, split.MaxFrame, split.TextOnly = g.ln.dec.End(), g.srv.limits.MaxFrame, g.ln.cfg.TextOnly
	credit := min(int64(len(data))*g.srv.live.amp.Load(), g.srv.burst)
	_, _ = split.Scan(data, true, func(frame []byte, size int, err error) bool {
		if err != nil {
			// A datagram is whole: the splitter skips what it cannot
			// resync past, so there is no fatal error here.
			g.countError(UDP, nil, ErrReason(codec.ReasonOf(err)), err, now)
			return true
		}
		_, spent := g.decode(nil, UDP, frame, size, credit, src, now)
		credit -= int64(spent)
		return true
	})
}

// feedRecord processes one DTLS record's plaintext from session st: whole
// frames, as a UDP datagram holds (a device writes one datagram's worth
// per record; a record lost on the way must not cut a frame of the next
// in two), spoken for with the session's credential as on a TLS stream.
// Like a datagram, a record may decode to amplification times its size.
func (g *ingester) feedRecord(st *stream, data []byte, now int64) {
	st.lastRx = now
	g.decoded = 0
	var split framing.Splitter
	split.End, split.MaxFrame, split.TextOnly = st.ln.dec.End(), g.srv.limits.MaxFrame, st.ln.cfg.TextOnly
	credit := min(int64(len(data))*g.srv.live.amp.Load(), g.srv.burst)
	_, _ = split.Scan(data, true, func(frame []byte, size int, err error) bool {
		if err != nil {
			g.countError(st.transport, st.session, ErrReason(codec.ReasonOf(err)), err, now)
			return true
		}
		_, spent := g.decode(st, st.transport, frame, size, credit, netip.AddrPort{}, now)
		credit -= int64(spent)
		return true
	})
	g.finish(st.transport, now)
}

// decode decodes one frame, within credit bytes of decoded readings, and
// applies what it holds in arrival order. It returns whether the frame
// was good and the decoded bytes it cost. The batch is empty again when
// it returns: what the frame held is in the sessions and the chunk.
func (g *ingester) decode(st *stream, tr Transport, frame []byte, wire int, credit int64, src netip.AddrPort, now int64) (ok bool, spent int) {
	// The batch holds one frame at a time: empty it of the last one here
	// (finish empties it at the end of a feed, dropping references into
	// the network buffer).
	b := &g.batch
	b.Reset()
	if credit <= 0 {
		credit = 1 // nothing left: any frame with readings is refused
	}
	ln := g.ln
	if st != nil {
		ln = st.ln
	}
	if err := ln.dec.DecodeBudget(b, frame, int(min(credit, 1<<62))); err != nil {
		var s *Session
		if st != nil {
			s = st.session
		}
		r := ErrReason(codec.ReasonOf(err))
		if r == ErrReason(codec.ReasonTooLarge) && credit < g.srv.burst {
			// Within the codec's limits, but more than this connection's
			// input entitles it to decode.
			r = ErrAmplification
		}
		g.countError(tr, s, r, err, now)
		// What was decompressed was decoding work, whether or not the
		// frame then decoded: the amplification bucket pays for it.
		spent = len(b.Scratch)
		g.decoded += spent
		return false, spent
	}
	// A compressed frame costs what it decompressed to, or what its
	// readings take, whichever is more: 1 MiB of blank lines holds no
	// reading and was as much work as 1 MiB of them.
	spent = max(b.DecodedSince(codec.Mark{}), len(b.Scratch))
	g.decoded += spent
	for i := range b.Controls {
		g.control(st, tr, &b.Controls[i], src, now)
	}
	for i := range b.Frames {
		f := &b.Frames[i]
		if f.Format == codec.FormatText && f.Compression == codec.CompressNone {
			f.WireBytes = wire // the splitter knows the END byte and any \r
		}
		g.frame(st, tr, f, src, now)
	}
	return true, spent
}

// deviceOf resolves which device a frame is from: its own id, else the
// stream's hello, else the stream's credential, else what the listener
// calls devices that do not name themselves (anon: after an address).
func (g *ingester) deviceOf(st *stream, f *codec.Frame, src netip.AddrPort, now int64) (id []byte, anon bool) {
	switch {
	case f.Device != nil:
		return f.Device, false
	case st != nil && st.hello != nil:
		return st.hello, false
	case st != nil && st.cred != nil:
		return st.cred, false
	case st != nil:
		g.idBuf, anon = st.ln.anonID(g.idBuf[:0], st.peer)
		return g.idBuf, anon
	}
	if id := g.ln.hellos.lookup(src, now); id != nil {
		// The address said hello for a device: copy, as the map may
		// change once this frame's session lock is let go.
		g.idBuf = append(g.idBuf[:0], id...)
		return g.idBuf, false
	}
	g.idBuf, anon = g.ln.anonID(g.idBuf[:0], src)
	return g.idBuf, anon
}

// openStream gives a new connection its device's session at once, so a
// device that connects and says nothing (an LED that only reads) is
// listed, online and can be commanded: the session of its certificate's
// id, else what the listener calls a device that does not name itself.
// A limit that refuses it is counted; the connection stays, and may
// still name a device with #hello.
func (g *ingester) openStream(st *stream, now int64) {
	var f codec.Frame
	id, anon := g.deviceOf(st, &f, netip.AddrPort{}, now)
	s, why := g.session(st, st.transport, id, anon, netip.AddrPort{}, now)
	if s == nil {
		g.refuse(st.transport, why, 0, now)
	} else {
		s.transport = st.transport
		s.streams++
		st.opened = s
		g.linkSession(s, st, st.transport, netip.AddrPort{}, false)
	}
	g.release()
}

// leaveOpened lets go of the session a stream opened at connect, once
// the stream speaks for another device (#hello) or closes: an anonymous
// session that never had a frame, a queued command or another open
// connection goes at once, rather than waiting to idle out.
func (g *ingester) leaveOpened(st *stream) {
	o := st.opened
	if o == nil {
		return
	}
	st.opened = nil
	g.lock(o)
	o.streams--
	o.link.CompareAndSwap(st.link, nil)
	if o.anon && o.frames == 0 && o.streams == 0 && o.pendingCmds.Load() == 0 {
		g.srv.reg.remove(o)
	}
	g.release()
}

// lock takes s's lock for this ingester, letting go of the one it holds.
func (g *ingester) lock(s *Session) {
	if g.locked == s {
		return
	}
	if g.locked != nil {
		g.locked.mu.Unlock()
	}
	s.mu.Lock()
	g.locked = s
}

// release lets go of the session lock the ingester holds.
func (g *ingester) release() {
	if g.locked != nil {
		g.locked.mu.Unlock()
		g.locked = nil
	}
}

// session returns the locked session of id, switching locks when the
// device changes, after checking that this path may speak for it (see
// Policy). Within one feed, frames of one device take its lock once. It
// returns 0 and a session, or the reason there is none to use; a refused
// device's readings are never stored.
func (g *ingester) session(st *stream, tr Transport, id []byte, anon bool, src netip.AddrPort, now int64) (*Session, ErrReason) {
	if st != nil && st.cred != nil && !credentialCovers(st.cred, id) {
		return nil, ErrCredentialMismatch
	}
	s := g.locked
	if s == nil || s.ID != string(id) {
		if st != nil && st.session != nil && st.session.ID == string(id) && !st.session.gone.Load() {
			s = st.session
		} else {
			var why refusal
			if s, why = g.srv.reg.get(id, anon, peerIP(st, src)); s == nil {
				return nil, [...]ErrReason{refusedDevices: ErrDeviceLimit, refusedAnonymous: ErrAnonymousLimit,
					refusedSource: ErrSourceLimit}[why]
			}
		}
		g.lock(s)
		if st != nil {
			st.session = s
		}
	}
	if why := g.admit(s, st, tr, src, now); why != 0 {
		return nil, why
	}
	return s, 0
}

// admit applies the listener's policy to a frame for s from this path.
// Call with s.mu held.
func (g *ingester) admit(s *Session, st *stream, tr Transport, src netip.AddrPort, now int64) ErrReason {
	if st != nil && st.cred != nil {
		return 0 // the certificate was checked against the id
	}
	ln := g.ln
	if st != nil {
		ln = st.ln
	}
	switch ln.policy {
	case PolicyOpen:
		return 0
	case PolicyAuthenticated:
		return ErrUnauthenticated
	}
	ip := peerIP(st, src)
	if s.bound == ip {
		return 0 // Fast path: the device's own address.
	}
	if s.bound.IsValid() && now-s.lastSeen <= g.srv.live.bindTTL.Load() {
		return ErrBoundElsewhere
	}
	if l := s.link.Load(); l != nil && l.transport != UDP && l.addr.Addr().Unmap() == s.bound {
		return ErrBoundElsewhere // its bound connection is still open
	}
	s.bound = ip
	return 0
}

// refuse counts a frame whose device got no session, and its readings as
// dropped when a limit (not the policy) refused it.
func (g *ingester) refuse(tr Transport, why ErrReason, readings uint64, now int64) {
	g.countError(tr, nil, why, nil, now)
	switch why {
	case ErrDeviceLimit:
		g.sh.ctr.dropped[tr][DropDeviceLimit].Add(readings)
	case ErrAnonymousLimit:
		g.sh.ctr.dropped[tr][DropAnonymousLimit].Add(readings)
	case ErrSourceLimit:
		g.sh.ctr.dropped[tr][DropSourceLimit].Add(readings)
	}
}

func (g *ingester) frame(st *stream, tr Transport, f *codec.Frame, src netip.AddrPort, now int64) {
	id, anon := g.deviceOf(st, f, src, now)
	if st != nil && st.opened != nil && st.opened.ID != string(id) {
		g.leaveOpened(st) // the connection speaks for named devices, not its address
	}
	readings := uint64(f.Readings())
	if seqOverflows(f) {
		g.countError(tr, nil, ErrBadSequence, nil, now)
		return
	}
	s, why := g.session(st, tr, id, anon, src, now)
	if s == nil {
		g.refuse(tr, why, readings, now)
		return
	}
	if s.ack == nil && tr == UDP && !s.ackLooked && f.Flags&codec.HasSeq != 0 {
		g.resumeAck(tr, s) // before Extend32: it may set where the count stands
	}
	if f.Flags&codec.HasSeq != 0 && s.started {
		f.Seq = ack.Extend32(s.next, f.Seq) // a 32-bit counter that wrapped goes on counting
		if seqOverflows(f) {
			g.countError(tr, s, ErrBadSequence, nil, now)
			return
		}
	}
	acked := s.ack != nil && f.Flags&codec.HasSeq != 0 && f.Samples() > 0
	switch {
	case !acked:
		if s.apply(f, now) {
			g.countError(tr, s, ErrBadSequence, nil, now)
		}
	case s.ack.seeding:
		// Not known yet what another node stored of it: the device
		// keeps the frame and sends it again.
		g.countError(tr, s, ErrAckSeeding, nil, now)
		return
	case !g.storeFresh(tr, s, f, id, now):
		// Storing it would open one hole too many in what the device
		// is acknowledged: it keeps the frame and sends it again.
		g.countError(tr, s, ErrAckHoles, nil, now)
		return
	default:
		s.note(f, now)
	}
	s.transport = tr
	g.linkSession(s, st, tr, src, f.Format != codec.FormatText)

	ci := codecIndex(f.Format, f.Compression)
	g.acc.touched |= 1 << ci
	g.acc.frames[ci]++
	g.acc.readings[ci] += readings
	g.acc.bytes[ci] += uint64(f.WireBytes)

	if n := f.Samples(); n > 0 && f.Flags&codec.HasTime != 0 {
		lat := max(now/1e6-f.Times[n-1], 0)
		switch {
		case g.nlat > 0 && g.lats[g.nlat-1].ms == lat:
			g.lats[g.nlat-1].n++
		default:
			if g.nlat == len(g.lats) {
				g.flushLatencies()
			}
			g.lats[g.nlat] = latRun{ms: lat, n: 1}
			g.nlat++
		}
	}
	if !acked {
		g.store(tr, f, id, now, nil)
	}
}

// store hands the frame's readings to the sink, copying them out of the
// network buffer into a pooled chunk. e, when set, are the samples of an
// acking device: the chunk's receipt will tell the acker whether they
// became durable.
func (g *ingester) store(tr Transport, f *codec.Frame, id []byte, now int64, e *ackEntry) {
	if !g.srv.storing {
		if e != nil {
			// The none sink keeps nothing; for benchmarks, acks go as if
			// it had stored everything (sink.None settles the same way),
			// once per feed (finish).
			if g.receipt == nil {
				g.receipt = g.srv.acker.receipt()
			}
			g.receipt.entries = append(g.receipt.entries, *e)
		}
		return
	}
	if g.chunk == nil {
		g.chunk = sink.GetChunk()
		g.chunkBorn = now
	}
	if e != nil {
		g.chunk.AddAcked(f, id) // a sink may keep an acking device's runs apart (NATS)
	} else {
		g.chunk.Add(f, id)
	}
	if e != nil {
		if g.receipt == nil {
			g.receipt = g.srv.acker.receipt()
			g.chunk.SetReceipt(g.receipt)
		}
		g.receipt.entries = append(g.receipt.entries, *e)
	}
	if g.chunk.Readings() >= chunkReadings {
		g.flushChunk(tr)
	}
}

// storeAcked stores samples [lo, hi] of an acking device s, frame f.
func (g *ingester) storeAcked(tr Transport, s *Session, f *codec.Frame, id []byte, lo, hi uint64, now int64) {
	s.readings += uint64(f.Readings())
	g.store(tr, f, id, now, &ackEntry{s: s, lo: lo, hi: hi})
}

// flushChunk submits the pending chunk; a full sink is a counted drop,
// never a blocked event loop.
func (g *ingester) flushChunk(tr Transport) {
	c := g.chunk
	if c == nil {
		return
	}
	g.chunk, g.receipt = nil, nil
	n := uint64(c.Readings())
	if g.srv.sink.Submit(c) {
		return // the sink counts it (Stats.Sink.Accepted) and what becomes of it
	}
	why := DropSinkFull
	if g.srv.closing.Load() {
		why = DropSinkClosed
	}
	g.sh.ctr.dropped[tr][why].Add(n)
	if r := c.Receipt(); r != nil {
		r.Settled(false) // refused: the sink never settles it
	}
	c.Release()
}

func (g *ingester) control(st *stream, tr Transport, c *codec.Control, src netip.AddrPort, now int64) {
	g.sh.ctr.controls[tr].Add(1)
	switch c.Kind {
	case codec.ControlHello:
		if st != nil {
			st.hello = append(st.hello[:0], c.Device...)
			st.session = nil
			if st.opened != nil && st.opened.ID != string(c.Device) {
				g.leaveOpened(st)
			}
		}
		s, why := g.session(st, tr, c.Device, false, src, now)
		if s == nil {
			g.refuse(tr, why, 0, now)
			return
		}
		if st == nil {
			// Bare datagrams from this address are the device's now.
			g.ln.hellos.bind(src, c.Device, now)
		}
		s.transport = tr
		s.lastSeen = now
		if c.Ack {
			s.optIn(c.Window, g.srv)
			s.ack.solo = c.Solo
			if s.ack.dirty && !s.ack.queued {
				g.srv.acker.flushSoon(s)
			}
		}
		g.linkSession(s, st, tr, src, c.Binary)
		if c.Ack {
			s.ack.soloLink = nil
			if l := s.link.Load(); c.Solo && cameOver(l, st, src) {
				s.ack.soloLink = l // where the device vouched that it is alone
			}
		}
	case codec.ControlEOS:
		var f codec.Frame
		f.Device = c.Device
		id, anon := g.deviceOf(st, &f, src, now)
		s, why := g.session(st, tr, id, anon, src, now)
		if s == nil {
			g.refuse(tr, why, 0, now)
			return
		}
		g.resumeAck(tr, s)
		g.linkSession(s, st, tr, src, c.Binary) // its #stored go where it waits now
		if !s.endOfStream(c.Seq, now) {
			g.countError(tr, s, ErrBadSequence, nil, now)
		}
		if s.ack != nil {
			g.srv.acker.drain(s)
		}
	case codec.ControlGaveUp:
		var f codec.Frame
		f.Device = c.Device
		id, anon := g.deviceOf(st, &f, src, now)
		s, why := g.session(st, tr, id, anon, src, now)
		if s == nil {
			g.refuse(tr, why, 0, now)
			return
		}
		g.resumeAck(tr, s)
		g.linkSession(s, st, tr, src, c.Binary)
		if !s.gaveUp(c.Seq, now) {
			g.countError(tr, s, ErrBadSequence, nil, now)
		}
		if s.ack != nil {
			g.srv.acker.flushSoon(s)
		}
	case codec.ControlStored:
		// The server sends these; a device does not.
		g.countError(tr, nil, ErrReason(codec.ReasonBadControl), nil, now)
	case codec.ControlAck:
		if !g.srv.cmds.acked(c.ID, c.Status, c.Payload, now, pathOf(st, src)) {
			g.countError(tr, nil, ErrBadAck, nil, now)
		}
	case codec.ControlCommand:
		// Devices do not command the server: count it as a bad control.
		g.countError(tr, nil, ErrReason(codec.ReasonBadControl), nil, now)
	}
}

// cameOver reports whether l is the path a frame came over: stream st's
// link, or for a datagram the downlink to its source address.
func cameOver(l *downlink, st *stream, src netip.AddrPort) bool {
	if l == nil {
		return false
	}
	if st != nil {
		return l == st.link
	}
	return l.transport == UDP && l.addr == src
}

// finish ends a feed: releases the session lock, publishes counters and
// latencies, and sends the chunk on if it is old enough.
func (g *ingester) finish(tr Transport, now int64) {
	g.release()
	if r := g.receipt; r != nil && !g.srv.storing {
		g.receipt = nil
		r.Settled(true)
	}
	for t := g.acc.touched; t != 0; t &= t - 1 {
		ci := trailingZeros(t)
		g.sh.ctr.frames[tr][ci].Add(g.acc.frames[ci])
		g.sh.ctr.readings[tr][ci].Add(g.acc.readings[ci])
		g.sh.ctr.payloadBytes[tr][ci].Add(g.acc.bytes[ci])
		g.acc.frames[ci], g.acc.readings[ci], g.acc.bytes[ci] = 0, 0, 0
	}
	g.acc.touched = 0
	g.flushLatencies()
	if g.chunk != nil && (now-g.chunkBorn >= int64(chunkAge) || g.srv.closing.Load()) {
		g.flushChunk(tr)
	}
	g.batch.Reset() // drop references into the network buffer
	if g.lazyShrink {
		if g.decoded > keepBatch {
			g.lastBig = now
		}
		g.decoded = 0
		if g.unshrunk = now-g.lastBig < int64(chunkAge); g.unshrunk {
			return
		}
	}
	g.batch.Shrink(keepBatch)
}

// latRun is n frames whose latency was ms.
type latRun struct{ ms, n int64 }

func (g *ingester) flushLatencies() {
	if g.nlat == 0 {
		return
	}
	g.sh.latMu.Lock()
	for _, l := range g.lats[:g.nlat] {
		_ = g.sh.lat.RecordValues(min(l.ms, maxLatencyMs), l.n)
	}
	g.sh.latMu.Unlock()
	g.nlat = 0
}

// countError counts an error by reason, and keeps it on the page of s
// (the device it concerns, or the one its connection opened) when known.
func (g *ingester) countError(tr Transport, s *Session, r ErrReason, err error, now int64) {
	g.sh.ctr.errors[tr][r].Add(1)
	if s != nil && !s.gone.Load() {
		g.lock(s)
		if s.errors == nil {
			s.errors = new(errorRing)
		}
		s.errors.add(now, r, offsetOf(err))
	}
}

func offsetOf(err error) int {
	if e, ok := err.(*codec.Error); ok {
		return e.Offset
	}
	return -1
}

func trailingZeros(x uint32) int {
	n := 0
	for x&1 == 0 {
		x >>= 1
		n++
	}
	return n
}
