package loadgen

import (
	"github.com/fleetwire/fleetwire/codec"
)

// framer encodes frames and control frames of one device at a time into
// out, with a mark per frame: the scratch buffers of an event loop, or of
// one TLS device. Nothing in it is allocated per frame once warm.
type framer struct {
	r      *runner
	s      *sched
	enc    encoder
	format codec.Format
	t0     int64 // start of the send phase (run clock): resent samples get their times back from the schedule

	// The frame and control live here: through the encoder interface a
	// local one would escape, one allocation per frame.
	frame codec.Frame
	ctrl  codec.Control
	out   []byte
	marks []mark
	vals  []codec.Value
	times []int64
	walk  []int64 // regeneration scratch, one value per channel
}

func newFramer(r *runner) framer {
	c := r.cfg
	n := max(c.Batch, r.ackMaxBatch())
	return framer{
		r: r, s: &r.sched, enc: newEncoder(c.Codec, c.End), format: c.Codec.Format,
		vals:  make([]codec.Value, 0, n*r.sched.channels),
		times: make([]int64, n),
		walk:  make([]int64, r.sched.channels),
	}
}

func (f *framer) reset() { f.out, f.marks = f.out[:0], f.marks[:0] }

// appendFrame encodes d's next frame of n samples, due at due, into out.
// The last sample carries the due time: a receiver measures latency from
// when the frame should have left, not from when a late generator got to it.
func (f *framer) appendFrame(d *device, n int, due int64) {
	f.vals = f.s.fill(f.vals[:0], d, n)
	times := f.growTimes(n)
	last := f.r.wallMs(due)
	for j := range times {
		times[j] = last - int64(n-1-j)*f.s.stepMs
	}
	f.encode(d, d.seq, times, markData, due)
	d.k++
	d.seq += uint64(n)
}

// appendResend encodes samples lo..hi (inclusive) of d again, as one
// frame: values regenerated from the signal (see sched.regen, ck and
// ckSeq its checkpoint), times recomputed from the schedule, so that the
// receiver gets exactly what the first transmission carried.
func (f *framer) appendResend(d *device, ck []int64, ckSeq, lo, hi uint64) {
	n := int(hi - lo + 1)
	f.vals = f.s.regen(f.vals[:0], f.walk, d, ck, ckSeq, lo, n)
	times := f.growTimes(n)
	batch := uint64(f.s.batch)
	for i := 0; i < n; {
		s := lo + uint64(i)
		k := s / batch
		nk := f.s.frameSamples(k)
		last := f.r.wallMs(f.t0 + f.s.due(d, k))
		for j := int(s - k*batch); j < nk && i < n; j, i = j+1, i+1 {
			times[i] = last - int64(nk-1-j)*f.s.stepMs
		}
	}
	f.encode(d, lo, times, markResend, 0)
}

func (f *framer) growTimes(n int) []int64 {
	if cap(f.times) < n {
		f.times = make([]int64, n)
	}
	return f.times[:n]
}

func (f *framer) encode(d *device, seq uint64, times []int64, kind markKind, due int64) {
	fr := &f.frame
	*fr = codec.Frame{
		Device: d.id, Seq: seq, Flags: codec.HasSeq | codec.HasTime, Format: f.format,
		Channels: f.s.channels, Times: times, Values: f.vals,
	}
	start := len(f.out)
	f.out = f.enc.Append(f.out, fr)
	f.marks = append(f.marks, mark{end: len(f.out), size: int32(len(f.out) - start), due: due, samples: int32(len(times)), kind: kind})
}

func (f *framer) appendControl(c codec.Control, kind markKind) {
	start := len(f.out)
	f.ctrl = c
	f.out = f.enc.AppendControl(f.out, &f.ctrl)
	f.marks = append(f.marks, mark{end: len(f.out), size: int32(len(f.out) - start), kind: kind})
}

// joinPrefix makes the bytes from start up to the last mark's own start
// (a hello put in front of a UDP datagram) part of that mark: they leave
// in the same datagram and are counted as one control frame.
func (f *framer) joinPrefix(start int) {
	m := &f.marks[len(f.marks)-1]
	pre := m.end - int(m.size) - start
	m.size += int32(pre)
	m.pre = int32(pre)
}

// appendPrefix appends control c without a mark of its own and returns
// where it starts: joinPrefix then makes it part of the next mark.
func (f *framer) appendPrefix(c codec.Control) int {
	start := len(f.out)
	f.ctrl = c
	f.out = f.enc.AppendControl(f.out, &f.ctrl)
	return start
}
