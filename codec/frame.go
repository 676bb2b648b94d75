package codec

import "unsafe"

// Frame is one device's run of consecutive samples, as one frame carries
// them. It is what decoders produce and encoders consume.
//
// When a decoder fills a Frame, Device (and Control payloads) alias the
// frame bytes the decoder was given: they are valid only as long as those
// bytes are, which for a network server means inside the callback that
// received them. Copy what you keep. Values and Times alias the Batch and
// are valid until its next Reset.
type Frame struct {
	Device []byte // nil when the frame does not name its device
	Seq    uint64 // sequence number of the first sample; sample i has Seq+i
	Flags  FrameFlags
	Format Format // FormatText, FormatBinary or FormatCompact
	// Compression is how the frame arrived (CompressNone when bare).
	Compression Compression
	Channels    int
	Times       []int64 // device time of each sample, unix ms; 0 = unknown
	Values      []Value // Samples()*Channels values, sample-major
	// WireBytes is the frame's size as it arrived: envelope, END byte and,
	// for a compressed frame, its share of the compressed wrapper.
	WireBytes int
}

// FrameFlags say which optional header fields a frame carried.
type FrameFlags uint8

// Frame flags.
const (
	HasSeq  FrameFlags = 1 << iota // Seq was sent
	HasTime                        // Times were sent
)

// Samples returns the number of samples in f.
func (f *Frame) Samples() int { return len(f.Times) }

// Sample returns the values of sample i.
func (f *Frame) Sample(i int) []Value {
	return f.Values[i*f.Channels : (i+1)*f.Channels : (i+1)*f.Channels]
}

// Readings returns the number of readings (values) in f.
func (f *Frame) Readings() int { return len(f.Values) }

// ControlKind names a control frame.
type ControlKind uint8

// Control frame kinds, in the order of their wire codes.
const (
	ControlNone ControlKind = iota
	// ControlHello names the device a stream connection speaks for, so
	// later frames may omit it: "#hello mote-3".
	ControlHello
	// ControlEOS ends a device's stream: Seq is the sequence number its next
	// sample would have had, so the receiver can count loss at the tail.
	ControlEOS
	// ControlCommand is a downlink command from server to device.
	ControlCommand
	// ControlAck is a device's answer to a command.
	ControlAck
	// ControlStored is the server's storage acknowledgement to a device that
	// asked for it (Control.Ack on its hello): every sample with a sequence
	// number below Seq is durably stored, and so is each of Ranges.
	ControlStored
	// ControlGaveUp is a device's promise that it will never send again any
	// sample below Seq that the server has not acknowledged.
	ControlGaveUp
	numControlKinds
)

var controlNames = [numControlKinds]string{"none", "hello", "eos", "cmd", "ack", "stored", "gaveup"}

func (k ControlKind) String() string {
	if k < numControlKinds {
		return controlNames[k]
	}
	return "control(?)"
}

// AckStatus is a device's verdict on a command.
type AckStatus uint8

// Ack statuses.
const (
	AckOK      AckStatus = iota // done
	AckError                    // understood, failed
	AckUnknown                  // not understood
)

var ackNames = [...]string{"ok", "error", "unknown"}

func (s AckStatus) String() string {
	if int(s) < len(ackNames) {
		return ackNames[s]
	}
	return "status(?)"
}

// ParseAckStatus is the inverse of AckStatus.String.
func ParseAckStatus(b []byte) (AckStatus, bool) {
	for i, n := range ackNames {
		if string(b) == n {
			return AckStatus(i), true
		}
	}
	return 0, false
}

// SeqRange is a run of sequence numbers, Lo to Hi inclusive (Lo <= Hi).
// Inclusive because that is how #stored writes ranges; every range in
// fleetwire (codec/ack included) is inclusive, so Hi-Lo+1 is its length.
// Sample 2^64-1 never exists (a frame must end below it), so Hi+1 always
// fits a uint64.
type SeqRange struct{ Lo, Hi uint64 }

// Len returns the number of sequence numbers in r.
func (r SeqRange) Len() uint64 { return r.Hi - r.Lo + 1 }

// MaxStoredRanges is the most ranges a #stored may list, so that the
// frame stays small and a decoder's work for it bounded.
const MaxStoredRanges = 16

// MaxAckWindow is the largest window a device may announce in its hello.
const MaxAckWindow = 1_000_000

// Control is a decoded control frame. Device and Payload alias the input,
// like Frame.Device; Ranges alias the Batch, like Frame.Values.
type Control struct {
	Kind    ControlKind
	Device  []byte    // hello: the device; eos, gaveup, stored: the device, or nil for the one the link speaks for
	Seq     uint64    // eos, stored, gaveup: the next sequence number
	ID      uint64    // cmd, ack: command id
	Status  AckStatus // ack
	Payload []byte    // cmd: the command; ack: optional detail
	// Ranges are, for stored, the acknowledged runs above Seq: ascending,
	// neither overlapping nor adjacent, at most MaxStoredRanges.
	Ranges []SeqRange
	Window uint32 // hello with Ack: samples the device holds unacknowledged, 1 to MaxAckWindow
	Ack    bool   // hello: the device asks for #stored acknowledgements
	// Solo (hello with Ack): no other device shares the device's
	// connection or UDP socket, so a #stored for it may leave out its id.
	Solo   bool
	Binary bool // arrived as a binary control frame (MagicControl)
}

// Batch is a reusable destination for decoded frames. Decoders append to
// it; Reset empties it without freeing, so a warm Batch decodes without
// allocating.
type Batch struct {
	Frames   []Frame
	Controls []Control

	values         []Value
	times          []int64
	vstart, tstart int // where the frame being built starts in values, times
	ranges         []SeqRange

	// Scratch holds bytes a decoder had to materialise (decompressed
	// frames), which decoded frames may alias. Decoders append to it and
	// never truncate it; Reset does.
	Scratch []byte
}

// Reset empties b, keeping its memory.
func (b *Batch) Reset() {
	b.Frames = b.Frames[:0]
	b.Controls = b.Controls[:0]
	b.values = b.values[:0]
	b.times = b.times[:0]
	b.ranges = b.ranges[:0]
	b.Scratch = b.Scratch[:0]
}

// Readings returns the number of readings in all frames of b.
func (b *Batch) Readings() int { return len(b.values) }

// Mark is a point a decoder can roll back to.
type Mark struct{ frames, controls, values, times, ranges int }

// Mark returns the current end of b.
func (b *Batch) Mark() Mark {
	return Mark{len(b.Frames), len(b.Controls), len(b.values), len(b.times), len(b.ranges)}
}

// DecodedSince returns the Batch memory (DecodedSize) of the readings
// appended since m: what Limits.MaxDecoded bounds.
func (b *Batch) DecodedSince(m Mark) int {
	return DecodedSize(len(b.values)-m.values, len(b.times)-m.times)
}

// Shrink lets go of b's arrays when they hold more than maxBytes, so that
// one large frame does not pin its memory in a long-lived Batch. The next
// decode grows them again from zero. Call it on an empty Batch (after
// Reset): it keeps no content.
func (b *Batch) Shrink(maxBytes int) {
	if DecodedSize(cap(b.values), cap(b.times)) > maxBytes {
		b.values, b.times = nil, nil
	}
	if cap(b.Scratch) > maxBytes {
		b.Scratch = nil
	}
	if cap(b.Frames)*int(unsafe.Sizeof(Frame{})) > maxBytes {
		b.Frames = nil
	}
	if cap(b.Controls)*int(unsafe.Sizeof(Control{})) > maxBytes {
		b.Controls = nil
	}
	if cap(b.ranges)*int(unsafe.Sizeof(SeqRange{})) > maxBytes {
		b.ranges = nil
	}
}

// Rollback drops everything appended since m, so a frame that fails half
// way leaves no trace (frames are all-or-nothing).
func (b *Batch) Rollback(m Mark) {
	b.Frames = b.Frames[:m.frames]
	b.Controls = b.Controls[:m.controls]
	b.values = b.values[:m.values]
	b.times = b.times[:m.times]
	b.ranges = b.ranges[:m.ranges]
}

// BeginFrame starts a frame and returns it for the decoder to fill in its
// header fields. Values and times follow with AddValue and AddTime, then
// EndFrame. The pointer is valid until the next BeginFrame.
func (b *Batch) BeginFrame() *Frame {
	b.vstart, b.tstart = len(b.values), len(b.times)
	if len(b.Frames) < cap(b.Frames) {
		b.Frames = b.Frames[:len(b.Frames)+1]
		f := &b.Frames[len(b.Frames)-1]
		*f = Frame{}
		return f
	}
	b.Frames = append(b.Frames, Frame{})
	return &b.Frames[len(b.Frames)-1]
}

// AddValue appends one value to the frame being built.
func (b *Batch) AddValue(v Value) { b.values = append(b.values, v) }

// AddTime appends the time of one sample to the frame being built.
func (b *Batch) AddTime(ms int64) { b.times = append(b.times, ms) }

// OpenValues returns the values added to the frame being built so far, for
// decoders that compute a value from its predecessors.
func (b *Batch) OpenValues() []Value { return b.values[b.vstart:] }

// OpenTimes returns the times added to the frame being built so far.
func (b *Batch) OpenTimes() []int64 { return b.times[b.tstart:] }

// EndFrame closes the frame being built: its Values and Times become
// capped sub-slices of the batch, so appending to one cannot overwrite the
// next frame's.
func (b *Batch) EndFrame() *Frame {
	f := &b.Frames[len(b.Frames)-1]
	f.Values = b.values[b.vstart:len(b.values):len(b.values)]
	f.Times = b.times[b.tstart:len(b.times):len(b.times)]
	return f
}

// AddControl appends a decoded control frame.
func (b *Batch) AddControl(c Control) { b.Controls = append(b.Controls, c) }

// AddRange appends a range of the control being decoded (a #stored) to
// b's range arena.
func (b *Batch) AddRange(r SeqRange) { b.ranges = append(b.ranges, r) }

// RangesSince returns the ranges added since m, capped so that appending
// to them cannot overwrite the next control's. They are valid until the
// next Reset or Rollback past m.
func (b *Batch) RangesSince(m Mark) []SeqRange {
	if len(b.ranges) == m.ranges {
		return nil
	}
	return b.ranges[m.ranges:len(b.ranges):len(b.ranges)]
}
