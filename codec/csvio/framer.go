package csvio

import (
	"bytes"

	"github.com/fleetwire/fleetwire/codec"
)

// Framer groups rows into codec.Frames of up to Batch samples, the way a
// device batches its readings before sending.
//
// A frame holds samples that one frame can carry: one device, one channel
// count, the same seq and time presence, and seq numbers that count up by
// one. A row that breaks any of these starts a new frame.
//
// In order mode (NewFramer with perDevice false) a frame holds consecutive
// rows of the input and ends when the next row belongs elsewhere, so the
// frames, written back as rows, reproduce the input row for row: what
// `fleetwire encode` needs. In per-device mode every device fills its own
// frame, so interleaved rows of several devices batch as each device would
// batch its own: what `fleetwire cost` needs.
//
// The *codec.Frame given to emit, and its slices, are valid only during
// the call: the Framer reuses them.
type Framer struct {
	batch     int
	perDevice bool
	emit      func(*codec.Frame) error

	cur   *pending            // order mode
	byDev map[string]*pending // per-device mode; device "" holds rows without one
	order []*pending          // devices in order of first appearance, for Flush
}

// pending is a frame being filled.
type pending struct {
	f      codec.Frame
	dev    []byte
	hasDev bool
	values []codec.Value
	times  []int64
}

// NewFramer returns a Framer that calls emit for every full frame. batch
// below 1 means 1.
func NewFramer(batch int, perDevice bool, emit func(*codec.Frame) error) *Framer {
	if batch < 1 {
		batch = 1
	}
	fr := &Framer{batch: batch, perDevice: perDevice, emit: emit}
	if perDevice {
		fr.byDev = make(map[string]*pending)
	} else {
		fr.cur = new(pending)
	}
	return fr
}

// Add adds one row; it emits the frame the row ends, or the frame it fills.
func (fr *Framer) Add(r *Row) error {
	p := fr.cur
	if fr.perDevice {
		p = fr.byDev[string(r.Device)] // no allocation for a lookup
		if p == nil {
			p = new(pending)
			fr.byDev[string(r.Device)] = p
			fr.order = append(fr.order, p)
		}
	}
	if n := len(p.times); n > 0 && !p.fits(r) {
		if err := fr.send(p); err != nil {
			return err
		}
	}
	if len(p.times) == 0 {
		p.start(r)
	}
	p.values = append(p.values, r.Values...)
	t := int64(0)
	if r.HasTime {
		t = r.Time
	}
	p.times = append(p.times, t)
	if len(p.times) >= fr.batch {
		return fr.send(p)
	}
	return nil
}

// fits reports whether r continues p's frame.
func (p *pending) fits(r *Row) bool {
	f := &p.f
	if r.HasSeq != (f.Flags&codec.HasSeq != 0) || r.HasTime != (f.Flags&codec.HasTime != 0) ||
		len(r.Values) != f.Channels || (r.Device != nil) != p.hasDev || !bytes.Equal(r.Device, p.dev) {
		return false
	}
	return !r.HasSeq || r.Seq == f.Seq+uint64(len(p.times))
}

func (p *pending) start(r *Row) {
	p.f = codec.Frame{Channels: len(r.Values)}
	p.hasDev = r.Device != nil
	p.dev = append(p.dev[:0], r.Device...)
	if r.HasSeq {
		p.f.Flags |= codec.HasSeq
		p.f.Seq = r.Seq
	}
	if r.HasTime {
		p.f.Flags |= codec.HasTime
	}
}

func (fr *Framer) send(p *pending) error {
	f := &p.f
	if p.hasDev {
		f.Device = p.dev
	} else {
		f.Device = nil
	}
	f.Values, f.Times = p.values, p.times
	err := fr.emit(f)
	p.values, p.times = p.values[:0], p.times[:0]
	return err
}

// Flush emits the frames that are not full yet: in order mode the last
// one, in per-device mode one per device, in order of first appearance.
func (fr *Framer) Flush() error {
	if !fr.perDevice {
		if len(fr.cur.times) > 0 {
			return fr.send(fr.cur)
		}
		return nil
	}
	for _, p := range fr.order {
		if len(p.times) > 0 {
			if err := fr.send(p); err != nil {
				return err
			}
		}
	}
	return nil
}
