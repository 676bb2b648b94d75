package server

import (
	"net/netip"
	"sync"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/fleetwire/fleetwire/codec"
	"github.com/fleetwire/fleetwire/codec/framing"
	"github.com/fleetwire/fleetwire/server/sink"
)

// maxBadRun is how many bad frames in a row a stream may send before it
// is closed: enough to resync after line noise, few enough that a stream
// of garbage does not burn a core.
const maxBadRun = 64

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
	transport Transport
	split     framing.Splitter
	peer      netip.AddrPort // the device is this address when nothing names it
	hello     []byte         // device named by #hello, owned copy
	session   *Session       // cache: the session of the last frame
	link      *downlink
	lastRx    int64 // unix ns of the last bytes received
	partial   int64 // unix ns since a partial frame has been waiting, 0 if none
	badRun    int32
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
	lats    [64]latRun
	nlat    int
	idBuf   []byte                         // scratch for device ids derived from addresses
	udpLink func(netip.AddrPort) *downlink // how to answer a UDP source, for readers
}

func newIngester(srv *Server, sh *shard) *ingester {
	return &ingester{srv: srv, sh: sh, idBuf: make([]byte, 0, 64)}
}

// feedStream processes the whole frames at the front of data, which came
// from stream st. It returns how many bytes to consume; the rest (a
// partial frame) stays in the caller's buffer. closeWhy != 0 means close
// the stream.
func (g *ingester) feedStream(st *stream, data []byte, atEOF bool, now int64) (consumed int, closeWhy ErrReason) {
	st.lastRx = now
	g.batch.Reset()
	for consumed < len(data) {
		adv, frame, err := st.split.Split(data[consumed:], atEOF)
		if err != nil {
			g.countError(st.transport, st.session, ErrReason(codec.ReasonOf(err)), err, now)
			if adv == 0 {
				closeWhy = ErrUnresyncable
				break
			}
			if st.badRun++; st.badRun > maxBadRun {
				closeWhy = ErrTooManyErrors
				consumed += adv
				break
			}
		}
		if adv == 0 {
			break // need more bytes
		}
		consumed += adv
		if frame == nil {
			continue
		}
		if !g.decode(st, st.transport, frame, adv, netip.AddrPort{}, now) {
			if st.badRun++; st.badRun > maxBadRun {
				closeWhy = ErrTooManyErrors
				break
			}
			continue
		}
		st.badRun = 0
	}
	if consumed < len(data) && closeWhy == 0 {
		if st.partial == 0 {
			st.partial = now
		}
	} else {
		st.partial = 0
	}
	g.finish(st.transport, now)
	return consumed, closeWhy
}

// closeStream accounts the bytes left when a stream ends. When the peer
// ended it cleanly, a final text line without END is a frame (what nc
// sends without a trailing newline). When the server closed it during a
// partial frame (timeout, shutdown), the rest is a frame cut off: counted
// as truncated, never decoded, because a cut number still parses. When it
// closed it for bad input, that input was counted already.
func (g *ingester) closeStream(st *stream, rest []byte, peerEOF bool, now int64) {
	if peerEOF {
		consumed, _ := g.feedStream(st, rest, true, now)
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
// frames. The caller calls finish after a batch of datagrams.
func (g *ingester) feedDatagram(data []byte, src netip.AddrPort, now int64) {
	g.sh.ctr.datagrams.Add(1)
	g.sh.ctr.rxBytes[UDP].Add(uint64(len(data)))
	var split framing.Splitter
	split.End, split.MaxFrame = g.srv.dec.End(), g.srv.dec.Limits().MaxFrame
	for off := 0; off < len(data); {
		adv, frame, err := split.Split(data[off:], true)
		if err != nil {
			g.countError(UDP, nil, ErrReason(codec.ReasonOf(err)), err, now)
		}
		if adv == 0 {
			break
		}
		off += adv
		if frame != nil {
			g.decode(nil, UDP, frame, adv, src, now)
		}
	}
}

// decode decodes one frame and applies what it holds in arrival order.
func (g *ingester) decode(st *stream, tr Transport, frame []byte, wire int, src netip.AddrPort, now int64) bool {
	nf, nc := len(g.batch.Frames), len(g.batch.Controls)
	if err := g.srv.dec.Decode(&g.batch, frame); err != nil {
		var s *Session
		if st != nil {
			s = st.session
		}
		g.countError(tr, s, ErrReason(codec.ReasonOf(err)), err, now)
		return false
	}
	for i := nc; i < len(g.batch.Controls); i++ {
		g.control(st, tr, &g.batch.Controls[i], src, now)
	}
	for i := nf; i < len(g.batch.Frames); i++ {
		f := &g.batch.Frames[i]
		if f.Format == codec.FormatText && f.Compression == codec.CompressNone {
			f.WireBytes = wire // the splitter knows the END byte and any \r
		}
		g.frame(st, tr, f, src, now)
	}
	return true
}

// deviceOf resolves which device a frame is from: its own id, else the
// stream's hello, else the peer address.
func (g *ingester) deviceOf(st *stream, f *codec.Frame, src netip.AddrPort) []byte {
	switch {
	case f.Device != nil:
		return f.Device
	case st != nil && st.hello != nil:
		return st.hello
	case st != nil:
		g.idBuf = appendAddrID(g.idBuf[:0], st.peer)
		return g.idBuf
	}
	g.idBuf = appendAddrID(g.idBuf[:0], src)
	return g.idBuf
}

// appendAddrID turns an address into a device id: "127.0.0.1_40000".
func appendAddrID(dst []byte, a netip.AddrPort) []byte {
	dst = a.Addr().Unmap().AppendTo(dst)
	for i, c := range dst {
		if c == ':' { // IPv6: ':' is not an id byte
			dst[i] = '.'
		}
	}
	dst = append(dst, '_')
	return appendUint(dst, uint64(a.Port()))
}

func appendUint(dst []byte, n uint64) []byte {
	var b [20]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
		if n == 0 {
			break
		}
	}
	return append(dst, b[i:]...)
}

// session returns the locked session of id, switching locks when the
// device changes. Within one feed, frames of one device take its lock once.
func (g *ingester) session(st *stream, id []byte) *Session {
	if s := g.locked; s != nil && s.ID == string(id) {
		return s
	}
	var s *Session
	if st != nil && st.session != nil && st.session.ID == string(id) {
		s = st.session
	} else {
		s = g.srv.reg.get(id)
		if s == nil {
			return nil
		}
	}
	if g.locked != nil {
		g.locked.mu.Unlock()
	}
	s.mu.Lock()
	g.locked = s
	if st != nil {
		st.session = s
	}
	return s
}

func (g *ingester) frame(st *stream, tr Transport, f *codec.Frame, src netip.AddrPort, now int64) {
	id := g.deviceOf(st, f, src)
	readings := uint64(f.Readings())
	s := g.session(st, id)
	if s == nil {
		g.countError(tr, nil, ErrDeviceLimit, nil, now)
		g.sh.ctr.dropped[tr][DropDeviceLimit].Add(readings)
		return
	}
	s.apply(f, now)
	s.transport = tr
	g.linkSession(s, st, tr, src)

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
	g.store(tr, f, id, readings, now)
}

// store hands the frame's readings to the sink, copying them out of the
// network buffer into a pooled chunk.
func (g *ingester) store(tr Transport, f *codec.Frame, id []byte, readings uint64, now int64) {
	if !g.srv.storing {
		return
	}
	if g.chunk == nil {
		g.chunk = sink.GetChunk()
		g.chunkBorn = now
	}
	g.chunk.Add(f, id)
	if g.chunk.Readings() >= chunkReadings {
		g.flushChunk(tr)
	}
}

// flushChunk submits the pending chunk; a full sink is a counted drop,
// never a blocked event loop.
func (g *ingester) flushChunk(tr Transport) {
	c := g.chunk
	if c == nil {
		return
	}
	g.chunk = nil
	n := uint64(c.Readings())
	if g.srv.sink.Submit(c) {
		return // the sink counts it (Stats.Sink.Accepted) and what becomes of it
	}
	why := DropSinkFull
	if g.srv.closing.Load() {
		why = DropSinkClosed
	}
	g.sh.ctr.dropped[tr][why].Add(n)
	c.Release()
}

func (g *ingester) control(st *stream, tr Transport, c *codec.Control, src netip.AddrPort, now int64) {
	g.sh.ctr.controls[tr].Add(1)
	switch c.Kind {
	case codec.ControlHello:
		if st != nil {
			st.hello = append(st.hello[:0], c.Device...)
			st.session = nil
		}
		if s := g.session(st, c.Device); s != nil {
			s.transport = tr
			s.lastSeen = now
			s.speaksBinary.Store(c.Binary)
			g.linkSession(s, st, tr, src)
		}
	case codec.ControlEOS:
		var f codec.Frame
		f.Device = c.Device
		id := g.deviceOf(st, &f, src)
		if s := g.session(st, id); s != nil {
			s.endOfStream(c.Seq, now)
		}
	case codec.ControlAck:
		g.srv.cmds.acked(c.ID, c.Status, c.Payload, now)
	case codec.ControlCommand:
		// Devices do not command the server: count it as a bad control.
		g.countError(tr, nil, ErrReason(codec.ReasonBadControl), nil, now)
	}
}

// finish ends a feed: releases the session lock, publishes counters and
// latencies, and sends the chunk on if it is old enough.
func (g *ingester) finish(tr Transport, now int64) {
	if g.locked != nil {
		g.locked.mu.Unlock()
		g.locked = nil
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

func (g *ingester) countError(tr Transport, s *Session, r ErrReason, err error, now int64) {
	g.sh.ctr.errors[tr][r].Add(1)
	if s != nil && s == g.locked {
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
