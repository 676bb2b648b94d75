package control

import (
	"bytes"
	"strconv"

	"github.com/fleetwire/fleetwire/codec"
)

var words = [...][]byte{
	codec.ControlHello:   []byte("#hello"),
	codec.ControlEOS:     []byte("#eos"),
	codec.ControlCommand: []byte("#cmd"),
	codec.ControlAck:     []byte("#ack"),
	codec.ControlStored:  []byte("#stored"),
	codec.ControlGaveUp:  []byte("#gaveup"),
}

var (
	space   = []byte{' '}
	ackOpt  = []byte("ack")
	soloOpt = []byte("solo")
)

func decodeText(dst *codec.Batch, line []byte) error {
	word, rest, _ := bytes.Cut(line, space)
	kind := codec.ControlNone
	for k, w := range words {
		if w != nil && bytes.Equal(word, w) {
			kind = codec.ControlKind(k)
		}
	}
	off := len(word) + 1
	c := codec.Control{Kind: kind}
	switch kind {
	case codec.ControlHello:
		id, opt, hasOpt := bytes.Cut(rest, space)
		if !codec.ValidID(id) {
			return codec.Errorf(codec.FormatControl, off, codec.ReasonBadID, "hello needs a device id of 1-64 bytes of [A-Za-z0-9._-]")
		}
		c.Device = id
		if hasOpt {
			off += len(id) + 1
			name, win, _ := bytes.Cut(opt, space)
			if !bytes.Equal(name, ackOpt) {
				return fail(off, "the only hello option is 'ack <window> [solo]'")
			}
			win, solo, hasSolo := bytes.Cut(win, space)
			w, ok := codec.ParseUint(win)
			if !ok || w < 1 || w > codec.MaxAckWindow {
				return fail(off+len(name)+1, "ack window must be 1-1000000 samples")
			}
			if hasSolo && !bytes.Equal(solo, soloOpt) {
				return fail(off+len(name)+len(win)+2, "after the ack window, only 'solo'")
			}
			c.Ack, c.Window, c.Solo = true, uint32(w), hasSolo
		}
	case codec.ControlEOS, codec.ControlGaveUp:
		a, b, two := bytes.Cut(rest, space)
		seqField := a
		if two {
			if !codec.ValidID(a) {
				return codec.Errorf(codec.FormatControl, off, codec.ReasonBadID, "eos, gaveup device id")
			}
			c.Device, seqField = a, b
			off += len(a) + 1
		}
		seq, ok := codec.ParseUint(seqField)
		if !ok {
			return fail(off, "eos, gaveup need the next sequence number")
		}
		c.Seq = seq
	case codec.ControlCommand:
		id, payload, cut := bytes.Cut(rest, space)
		n, ok := codec.ParseUint(id)
		if !cut || !ok || len(payload) == 0 || len(payload) > MaxPayload {
			return fail(off, "cmd needs an id and a payload of 1-512 bytes")
		}
		c.ID, c.Payload = n, payload
	case codec.ControlAck:
		id, tail, _ := bytes.Cut(rest, space)
		status, detail, _ := bytes.Cut(tail, space)
		n, ok := codec.ParseUint(id)
		if !ok {
			return fail(off, "ack needs a command id")
		}
		st, ok := codec.ParseAckStatus(status)
		if !ok {
			return fail(off+len(id)+1, "ack status must be ok, error or unknown")
		}
		if len(detail) > MaxPayload {
			return fail(off+len(id)+len(status)+2, "ack detail above 512 bytes")
		}
		c.ID, c.Status, c.Payload = n, st, detail
	case codec.ControlStored:
		if err := decodeStoredText(dst, &c, rest, off); err != nil {
			return err
		}
	default:
		return fail(0, "unknown control word: want #hello, #eos, #cmd, #ack, #stored or #gaveup")
	}
	dst.AddControl(c)
	return nil
}

// decodeStoredText decodes "[<device>] <next> [<lo>-<hi> ...]"; rest
// starts at byte off of the line. The device is there when a second field
// follows the first and is not a range: "#stored 7" and "#stored 7 9-12"
// leave it out, "#stored 7 9" is device 7's.
func decodeStoredText(dst *codec.Batch, c *codec.Control, rest []byte, off int) error {
	m := dst.Mark()
	var id []byte
	if first, after, two := bytes.Cut(rest, space); two && bytes.IndexByte(cutField(after), '-') < 0 {
		if !codec.ValidID(first) {
			return codec.Errorf(codec.FormatControl, off, codec.ReasonBadID, "stored device id")
		}
		id, rest = first, after
		off += len(id) + 1
	}
	field, rest, more := bytes.Cut(rest, space)
	next, ok := codec.ParseUint(field)
	if !ok {
		return fail(off, "stored needs the next sequence number")
	}
	rs := ranges{end: next}
	for more {
		off += len(field) + 1
		field, rest, more = bytes.Cut(rest, space)
		a, b, dash := bytes.Cut(field, []byte{'-'})
		lo, okLo := codec.ParseUint(a)
		hi, okHi := codec.ParseUint(b)
		if !dash || !okLo || !okHi {
			return fail(off, "stored range must be <lo>-<hi>")
		}
		if why := rs.add(dst, lo, hi); why != "" {
			return fail(off, why)
		}
	}
	c.Device, c.Seq, c.Ranges = id, next, dst.RangesSince(m)
	return nil
}

// cutField returns b up to its first space.
func cutField(b []byte) []byte {
	f, _, _ := bytes.Cut(b, space)
	return f
}

// AppendText appends c as a text control line ended by end. Command
// payloads and ack details must not contain end (ValidTextPayload). c is
// written as given: a #stored whose ranges break the rules (more than
// codec.MaxStoredRanges, out of order) is written, and refused by the
// receiver.
func AppendText(dst []byte, c *codec.Control, end byte) []byte {
	dst = append(dst, words[c.Kind]...)
	dst = append(dst, ' ')
	switch c.Kind {
	case codec.ControlHello:
		dst = append(dst, c.Device...)
		if c.Ack {
			dst = append(dst, " ack "...)
			dst = strconv.AppendUint(dst, uint64(c.Window), 10)
			if c.Solo {
				dst = append(dst, " solo"...)
			}
		}
	case codec.ControlEOS, codec.ControlGaveUp:
		if len(c.Device) > 0 {
			dst = append(dst, c.Device...)
			dst = append(dst, ' ')
		}
		dst = strconv.AppendUint(dst, c.Seq, 10)
	case codec.ControlCommand:
		dst = strconv.AppendUint(dst, c.ID, 10)
		dst = append(dst, ' ')
		dst = append(dst, c.Payload...)
	case codec.ControlAck:
		dst = strconv.AppendUint(dst, c.ID, 10)
		dst = append(dst, ' ')
		dst = append(dst, c.Status.String()...)
		if len(c.Payload) > 0 {
			dst = append(dst, ' ')
			dst = append(dst, c.Payload...)
		}
	case codec.ControlStored:
		if len(c.Device) > 0 {
			dst = append(dst, c.Device...)
			dst = append(dst, ' ')
		}
		dst = strconv.AppendUint(dst, c.Seq, 10)
		for _, r := range c.Ranges {
			dst = append(dst, ' ')
			dst = strconv.AppendUint(dst, r.Lo, 10)
			dst = append(dst, '-')
			dst = strconv.AppendUint(dst, r.Hi, 10)
		}
	}
	return append(dst, end)
}

// ValidTextPayload reports whether p can travel in a text control line:
// 1-512 bytes of printable ASCII (space included).
func ValidTextPayload(p []byte) bool {
	if len(p) == 0 || len(p) > MaxPayload {
		return false
	}
	for _, c := range p {
		if c < 0x20 || c > 0x7e {
			return false
		}
	}
	return true
}
