// Package control encodes and decodes fleetwire's control frames: the
// hello that names a stream's device (and may ask for storage
// acknowledgements), the end-of-stream that reveals loss at the tail,
// downlink commands and their acknowledgements, and the two frames of
// acknowledged delivery, #stored and #gaveup. Each has a text form, a '#'
// line typable in telnet, and a binary form (magic 0xA1) for devices that
// speak the binary formats. Both sides of the wire agree on these rules
// here, once.
//
//	#hello <device> [ack <window>]
//	#eos [<device>] <next_seq>
//	#cmd <id> <payload>
//	#ack <id> ok|error|unknown [<detail>]
//	#stored <device> <next> [<lo>-<hi> ...]
//	#gaveup [<device>] <next>
//
// Decoding allocates nothing once the Batch is warm: Device and Payload
// alias the frame, Ranges alias the Batch (codec's rules: copy what you
// keep). The functions keep no state between calls and are safe for
// concurrent use with distinct Batches and buffers.
package control

import (
	"github.com/fleetwire/fleetwire/codec"
)

// MaxPayload is the largest command payload or ack detail, in bytes.
const MaxPayload = 512

func fail(off int, detail string) error {
	return codec.Errorf(codec.FormatControl, off, codec.ReasonBadControl, detail)
}

// Decode decodes one control frame, text (a '#' line without its END byte)
// or binary (a whole 0xA1 envelope), and appends it to dst.Controls, its
// ranges (#stored) to dst's range arena. Device and Payload alias frame.
// A frame that fails leaves dst as it was.
func Decode(dst *codec.Batch, frame []byte) error {
	m := dst.Mark()
	var err error
	if len(frame) > 0 && frame[0] == codec.MagicControl {
		err = decodeBinary(dst, frame)
	} else {
		err = decodeText(dst, frame)
	}
	if err != nil {
		dst.Rollback(m)
		// A missing field is reported where it should have started,
		// which for the last field is the end of the frame.
		if e, ok := err.(*codec.Error); ok && e.Offset > len(frame) {
			e.Offset = len(frame)
		}
	}
	return err
}

// ranges checks the ranges of a #stored as they are decoded, one rule set
// for both forms: each starts above the end of the previous one (next for
// the first), so they ascend, neither overlap nor touch, and lie above
// next; and each ends below 2^64-1, so that hi+1 is a number.
type ranges struct {
	end uint64 // next, then the previous range's hi+1
	n   int
}

// add checks [lo, hi] and appends it to dst; it returns a detail for
// bad_control, or "".
func (r *ranges) add(dst *codec.Batch, lo, hi uint64) string {
	switch {
	case r.n == codec.MaxStoredRanges:
		return "stored lists at most 16 ranges"
	case lo <= r.end:
		return "stored ranges must ascend above next, apart from each other"
	case hi < lo || hi == 1<<64-1:
		return "stored range must have lo <= hi < 2^64-1"
	}
	dst.AddRange(codec.SeqRange{Lo: lo, Hi: hi})
	r.end, r.n = hi+1, r.n+1
	return ""
}
