package sink

import (
	"fmt"
	"sync"
	"unsafe"

	"github.com/fleetwire/fleetwire/codec"
)

// Chunk is an owned copy of decoded frames, handed from an event loop to a
// Sink. The event loop's codec.Batch aliases network buffers and is reused
// on the next read; a Chunk copies what the sink needs so the event loop can
// hand it over and forget it.
//
// A Chunk belongs to one goroutine at a time: the event loop fills it, and
// a successful Sink.Submit transfers it to the sink, which releases it.
type Chunk struct {
	// Frames are the copied frames. Device, Values and Times point into
	// the chunk's own arrays, never into the caller's buffers.
	Frames []codec.Frame

	values  []codec.Value
	times   []int64
	ids     []byte
	acked   []uint64 // bit i: Frames[i] came through AddAcked
	receipt Receipt
}

// GetChunk returns an empty Chunk from the pool.
func GetChunk() *Chunk {
	c := chunkPool.p.Get().(*Chunk)
	c.reset()
	return c
}

// Release empties c (its receipt too) and puts it back in the pool. c
// must not be used after.
func (c *Chunk) Release() { chunkPool.put(c) }

// SetReceipt makes r learn the fate of c's readings (see Receipt). A
// chunk carries at most one receipt: setting a second one panics, since
// the first would never be settled. SetReceipt(nil) removes it. A chunk
// without a receipt costs the sink nothing more.
func (c *Chunk) SetReceipt(r Receipt) {
	if c.receipt != nil && r != nil {
		panic("sink: a second receipt for one chunk")
	}
	c.receipt = r
}

// Receipt returns c's receipt, nil if none.
func (c *Chunk) Receipt() Receipt { return c.receipt }

// Readings returns the number of readings (values) in c.
func (c *Chunk) Readings() int { return len(c.values) }

// memBytes is the memory c holds, which the sink's queue bound counts.
func (c *Chunk) memBytes() int64 {
	return int64(cap(c.values))*int64(unsafe.Sizeof(codec.Value{})) +
		int64(cap(c.times))*8 + int64(cap(c.ids)) + int64(cap(c.acked))*8 +
		int64(cap(c.Frames))*int64(unsafe.Sizeof(codec.Frame{}))
}

func (c *Chunk) reset() {
	c.Frames = c.Frames[:0]
	c.values = c.values[:0]
	c.times = c.times[:0]
	c.ids = c.ids[:0]
	c.acked = c.acked[:0]
	c.receipt = nil
}

// Add appends a copy of f. device names the device when f names none (a
// connection's hello, or its peer address); f.Device wins otherwise.
// Frames without readings are skipped: a segment row is a sample, and a
// sample with no channels has nothing to store.
//
// Bytes of the device id that would break a CSV row (',', '"', CR, LF) are
// stored as '_'. Decoded ids never contain them (codec.ValidID), but a peer
// address used as an id might one day.
//
// Add panics if f is inconsistent (len(Values) != len(Times)*Channels):
// decoders never produce such a frame, so it is a bug in the caller, and
// storing it would corrupt the segment's rows.
//
// Once c's arrays have grown to the sizes a caller uses, Add allocates
// nothing.
func (c *Chunk) Add(f *codec.Frame, device []byte) {
	if f.Channels <= 0 || len(f.Values) == 0 {
		return
	}
	if len(f.Values) != len(f.Times)*f.Channels {
		panic(fmt.Sprintf("sink: inconsistent frame: %d values, %d samples of %d channels", len(f.Values), len(f.Times), f.Channels))
	}
	if f.Device != nil {
		device = f.Device
	}
	oldV, oldT, oldI := c.values, c.times, c.ids
	v0, t0, i0 := len(c.values), len(c.times), len(c.ids)
	c.values = append(c.values, f.Values...)
	c.times = append(c.times, f.Times...)
	for _, b := range device {
		if b == ',' || b == '"' || b == '\n' || b == '\r' {
			b = '_'
		}
		c.ids = append(c.ids, b)
	}
	c.Frames = append(c.Frames, codec.Frame{
		Seq:         f.Seq,
		Flags:       f.Flags,
		Format:      f.Format,
		Compression: f.Compression,
		Channels:    f.Channels,
		WireBytes:   f.WireBytes,
	})
	if grown(oldV, c.values) || grown(oldT, c.times) || grown(oldI, c.ids) {
		// An append moved an array: point every earlier frame at the new
		// one, so that a Chunk never keeps (or hands out) a stale array.
		c.rebase()
		return
	}
	nf := &c.Frames[len(c.Frames)-1]
	nf.Values = c.values[v0:len(c.values):len(c.values)]
	nf.Times = c.times[t0:len(c.times):len(c.times)]
	nf.Device = c.ids[i0:len(c.ids):len(c.ids)]
}

// AddAcked is Add for a frame of a device that acknowledges delivery
// (PROTOCOL.md, "Acknowledged delivery"), which the server must be able
// to tell apart from its other frames when the device moves to another
// node: the NATS sink publishes each contiguous run of such frames' sequence
// numbers as a message of its own, named by device and run, so that a
// resend of the same run through any node is recognised. A sink that
// needs nothing of the kind (FileSink) stores the frame as Add does.
//
// A frame without a sequence number is added as by Add: it cannot be
// acknowledged. Acked tells which frames were marked; like Add, AddAcked
// allocates nothing once c's arrays have grown.
func (c *Chunk) AddAcked(f *codec.Frame, device []byte) {
	i := len(c.Frames)
	c.Add(f, device)
	if len(c.Frames) == i || f.Flags&codec.HasSeq == 0 {
		return // skipped (no readings), or not acknowledgeable
	}
	for len(c.acked) <= i/64 {
		c.acked = append(c.acked, 0)
	}
	c.acked[i/64] |= 1 << (i % 64)
}

// Acked reports whether Frames[i] was added with AddAcked (and carries a
// sequence number).
func (c *Chunk) Acked(i int) bool {
	return i/64 < len(c.acked) && c.acked[i/64]&(1<<(i%64)) != 0
}

// grown reports whether append moved old's backing array.
func grown[T any](old, cur []T) bool {
	return unsafe.SliceData(old) != unsafe.SliceData(cur)
}

// rebase recomputes every frame's slices from the frames' sizes, which are
// laid out one after another in the arrays.
func (c *Chunk) rebase() {
	var v, t, i int
	for k := range c.Frames {
		f := &c.Frames[k]
		nv, nt, ni := len(f.Values), len(f.Times), len(f.Device)
		if k == len(c.Frames)-1 {
			nv, nt, ni = len(c.values)-v, len(c.times)-t, len(c.ids)-i
		}
		f.Values = c.values[v : v+nv : v+nv]
		f.Times = c.times[t : t+nt : t+nt]
		f.Device = c.ids[i : i+ni : i+ni]
		v, t, i = v+nv, t+nt, i+ni
	}
}

// chunkPool is a sync.Pool that, like bytebufferpool, learns which sizes
// callers use and drops arrays above that on Release, so one burst of huge
// frames cannot pin its memory in the pool for the life of the process.
var chunkPool = &calibratedPool{p: sync.Pool{New: func() any { return new(Chunk) }}}

type calibratedPool struct {
	p   sync.Pool
	cal calibrator
}

func (p *calibratedPool) put(c *Chunk) {
	keep := p.cal.observe(len(c.values))
	if cap(c.values) > keep || cap(c.times) > keep || cap(c.Frames) > keep || cap(c.ids) > keep*codec.MaxIDLen || cap(c.acked) > keep/64+1 {
		*c = Chunk{}
	}
	c.reset()
	p.p.Put(c)
}
