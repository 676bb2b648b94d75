package natssink

import (
	"bytes"
	"strconv"

	"github.com/fleetwire/fleetwire/codec"
	"github.com/fleetwire/fleetwire/codec/compact"
	"github.com/fleetwire/fleetwire/codec/compress"
	"github.com/fleetwire/fleetwire/server/sink"
)

// Batch bounds. A message must decode with codec.DefaultLimits, so that
// `fleetwire decode` and any consumer with default limits read it: every
// compact frame inside stays under MaxFrame and MaxSamples, the whole
// under MaxDecoded, and the message far under NATS's 1 MB max_payload.
const (
	maxRunSamples    = codec.DefaultMaxSamples
	maxRunValues     = 16 << 10
	maxCompactFrame  = codec.DefaultMaxFrame
	maxInner         = 256 << 10
	maxBatchReadings = 32 << 10
)

// builder collects one device's frames until its batch is closed. Frames
// that continue each other (same channels and flags, consecutive seq) are
// merged into one run and coded as one compact frame, which is where the
// compact format's deltas pay off.
type builder struct {
	key      []byte // the device as the frames name it: the batcher's map key
	device   []byte // valid id (idBytes)
	inner    []byte // compact frames coded so far
	run      codec.Frame
	runV     []codec.Value
	runT     []int64
	open     bool // run holds samples
	readings int
	frames   int
	firstSeq uint64
	hasSeq   bool
	enc      compact.Encoder

	// acked: the batch holds one contiguous run of an acking device's
	// samples (sink.Chunk.AddAcked), firstSeq to nextSeq-1.
	acked   bool
	nextSeq uint64
	rids    []uint64 // receipts referenced, ascending
}

func (b *builder) reset(device []byte, acked bool) {
	b.key = append(b.key[:0], device...)
	b.device = idBytes(b.device[:0], device)
	b.inner = b.inner[:0]
	b.open = false
	b.readings, b.frames = 0, 0
	b.hasSeq = false
	b.acked = acked
	b.rids = b.rids[:0]
}

// add appends f (a frame of b's device) and reports whether the batch is
// full and should be closed now.
func (b *builder) add(f *codec.Frame) bool {
	if b.frames == 0 {
		b.hasSeq, b.firstSeq = f.Flags&codec.HasSeq != 0, f.Seq
	}
	if b.open && !b.continues(f) {
		b.closeRun()
	}
	if !b.open {
		b.run = codec.Frame{Device: b.device, Seq: f.Seq, Flags: f.Flags, Format: codec.FormatCompact, Channels: f.Channels}
		b.runV, b.runT = b.runV[:0], b.runT[:0]
		b.open = true
	}
	b.runV = append(b.runV, f.Values...)
	b.runT = append(b.runT, f.Times...)
	b.readings += len(f.Values)
	b.frames++
	b.nextSeq = f.Seq + uint64(f.Samples())
	if len(b.runT) >= maxRunSamples || len(b.runV) >= maxRunValues {
		b.closeRun()
	}
	// The next run may add up to maxRunValues values at a few bytes each
	// in the worst case; stop well before the inner limit.
	return b.readings >= maxBatchReadings || len(b.inner) >= maxInner/2
}

func (b *builder) continues(f *codec.Frame) bool {
	if f.Channels != b.run.Channels || f.Flags != b.run.Flags {
		return false
	}
	n := len(b.runT)
	if n+f.Samples() > maxRunSamples || len(b.runV)+len(f.Values) > maxRunValues {
		return false
	}
	return f.Flags&codec.HasSeq == 0 || f.Seq == b.run.Seq+uint64(n)
}

// closeRun codes the open run as compact frames into inner.
func (b *builder) closeRun() {
	if !b.open {
		return
	}
	b.open = false
	b.run.Values, b.run.Times = b.runV, b.runT
	b.inner = b.appendRun(b.inner, &b.run)
}

// appendRun codes f, halving it until each compact frame fits the
// consumers' limits: a frame of more samples than they take (a server
// with larger limits), or values that vary so wildly that they cost more
// bytes than the bounds above assume.
func (b *builder) appendRun(dst []byte, f *codec.Frame) []byte {
	n := f.Samples()
	if n <= maxRunSamples && len(f.Values) <= maxRunValues || n < 2 {
		start := len(dst)
		dst = b.enc.Append(dst, f)
		if len(dst)-start <= maxCompactFrame || n < 2 {
			return dst
		}
		dst = dst[:start]
	}
	h := n / 2
	ch := f.Channels
	first, second := *f, *f
	first.Times, first.Values = f.Times[:h], f.Values[:h*ch]
	second.Times, second.Values = f.Times[h:], f.Values[h*ch:]
	second.Seq = f.Seq + uint64(h)
	dst = b.appendRun(dst, &first)
	return b.appendRun(dst, &second)
}

// record is a closed batch, as the spool stores it and JetStream gets it.
type record struct {
	id       []byte // Nats-Msg-Id
	subject  []byte
	readings uint64
	frames   uint64
	payload  []byte   // compact+zstd envelope
	rids     []uint64 // receipts the batch references (not spooled)
}

// batcher turns chunks into records: one builder per device with frames
// waiting, closed when full or at the next linger tick. An acking
// device's frames (sink.Chunk.AddAcked) have builders of their own, each
// closed as soon as a frame does not continue its run of sequence
// numbers: one contiguous run per message, named by device and run.
type batcher struct {
	node      string
	subject   string // prefix
	runID     string // this run's unique part of the message ids
	batchNo   uint64
	comp      *compress.Compressor
	open      map[string]*builder
	openAcked map[string]*builder
	free      []*builder
	rq        *receiptQ
	rec       record
	emit      func(*record) // spool append; rec's slices are reused after it returns
	idBuf     []byte
	subjBuf   []byte
	zbuf      []byte
	devBuf    []byte
	openRead  uint64 // readings in open builders
}

func newBatcher(node, subject string, runID string, comp *compress.Compressor, rq *receiptQ, emit func(*record)) *batcher {
	return &batcher{node: node, subject: subject, runID: runID, comp: comp, rq: rq, emit: emit,
		open: map[string]*builder{}, openAcked: map[string]*builder{}}
}

// add files the frames of chunk c under their devices. rid, when hasRid,
// is the id of c's receipt: each batch that takes readings of c holds a
// reference to it.
func (bt *batcher) add(c *sink.Chunk, rid uint64, hasRid bool) {
	for i := range c.Frames {
		f := &c.Frames[i]
		if f.Channels <= 0 || len(f.Values) == 0 {
			continue
		}
		acked := c.Acked(i)
		m := bt.open
		if acked {
			m = bt.openAcked
		}
		b := m[string(f.Device)]
		if b != nil && acked && f.Seq != b.nextSeq {
			// Not the run's continuation: the run ends here.
			bt.close(b)
			b = nil
		}
		if b == nil {
			if n := len(bt.free); n > 0 {
				b, bt.free = bt.free[n-1], bt.free[:n-1]
			} else {
				b = new(builder)
			}
			b.reset(f.Device, acked)
			m[string(f.Device)] = b
		}
		if hasRid && (len(b.rids) == 0 || b.rids[len(b.rids)-1] != rid) {
			b.rids = append(b.rids, rid)
			bt.rq.ref(rid)
		}
		bt.openRead += uint64(len(f.Values))
		if b.add(f) {
			bt.close(b)
		}
	}
}

// flush closes every open batch.
func (bt *batcher) flush() {
	for _, b := range bt.open {
		bt.close(b)
	}
	for _, b := range bt.openAcked {
		bt.close(b)
	}
}

func (bt *batcher) close(b *builder) {
	if b.acked {
		delete(bt.openAcked, string(b.key))
	} else {
		delete(bt.open, string(b.key))
	}
	bt.free = append(bt.free, b)
	b.closeRun()
	if b.readings == 0 {
		return
	}
	bt.openRead -= uint64(b.readings)
	bt.batchNo++
	var id []byte
	if b.acked {
		// device/lo-hi: an acking device never reuses a sequence number,
		// so the run alone names the samples, whichever node publishes
		// them: JetStream drops the same run published again by any node
		// within its duplicate window.
		id = appendRunID(bt.idBuf[:0], b.device, b.firstSeq, b.nextSeq-1)
	} else {
		// node/device/first-seq names the batch; the run id and batch
		// number make it unique when a device restarts its count or
		// sends no seq, so JetStream never discards a new batch as a
		// duplicate of an old one. The id is stored with the batch, so a
		// republished batch keeps it and JetStream drops the copy.
		id = append(bt.idBuf[:0], bt.node...)
		id = append(id, '/')
		id = append(id, b.device...)
		id = append(id, '/')
		if b.hasSeq {
			id = strconv.AppendUint(id, b.firstSeq, 10)
		} else {
			id = append(id, '-')
		}
		id = append(id, '/')
		id = append(id, bt.runID...)
		id = append(id, '.')
		id = strconv.AppendUint(id, bt.batchNo, 36)
	}
	bt.idBuf = id

	subj := append(bt.subjBuf[:0], bt.subject...)
	subj = append(subj, '.')
	subj = SubjectToken(subj, b.device)
	bt.subjBuf = subj

	bt.zbuf = bt.comp.Append(bt.zbuf[:0], codec.CompressZstd, b.inner)
	bt.rec = record{id: id, subject: subj, readings: uint64(b.readings), frames: uint64(b.frames), payload: bt.zbuf, rids: b.rids}
	bt.emit(&bt.rec)
}

// appendRunID appends the message id of an acking device's run: the
// device, '/', and the run "lo-hi". Neither ids nor node names hold '/',
// so one '/' tells it from a batch id (node/device/seq/run.batch).
func appendRunID(dst, device []byte, lo, hi uint64) []byte {
	dst = append(dst, device...)
	dst = append(dst, '/')
	dst = strconv.AppendUint(dst, lo, 10)
	dst = append(dst, '-')
	return strconv.AppendUint(dst, hi, 10)
}

// parseRunID returns the device and run of an acking device's message id;
// ok is false for any other id.
func parseRunID(id []byte) (device []byte, lo, hi uint64, ok bool) {
	slash := bytes.IndexByte(id, '/')
	if slash <= 0 || bytes.IndexByte(id[slash+1:], '/') >= 0 {
		return nil, 0, 0, false
	}
	lo, rest, ok1 := cutUint(id[slash+1:])
	if !ok1 || len(rest) < 2 || rest[0] != '-' {
		return nil, 0, 0, false
	}
	hi, rest, ok2 := cutUint(rest[1:])
	if !ok2 || len(rest) != 0 || hi < lo {
		return nil, 0, 0, false
	}
	return id[:slash], lo, hi, true
}

// cutUint parses the decimal number at the start of b, without
// allocating.
func cutUint(b []byte) (v uint64, rest []byte, ok bool) {
	i := 0
	for ; i < len(b) && b[i] >= '0' && b[i] <= '9'; i++ {
		d := uint64(b[i] - '0')
		if v > (1<<64-1-d)/10 {
			return 0, nil, false
		}
		v = v*10 + d
	}
	return v, b[i:], i > 0
}
