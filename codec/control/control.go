// Package control encodes and decodes fleetwire's control frames: the
// hello that names a stream's device, the end-of-stream that reveals loss at
// the tail, downlink commands and their acknowledgements. Each has a text
// form, a '#' line typable in telnet, and a binary form (magic 0xA1) for
// devices that speak the binary formats. Both sides of the wire agree on
// these rules here, once.
//
//	#hello <device>
//	#eos [<device>] <next_seq>
//	#cmd <id> <payload>
//	#ack <id> ok|error|unknown [<detail>]
package control

import (
	"bytes"
	"encoding/binary"
	"strconv"

	"github.com/fleetwire/fleetwire/codec"
)

// MaxPayload is the largest command payload or ack detail, in bytes.
const MaxPayload = 512

func fail(off int, detail string) error {
	return codec.Errorf(codec.FormatControl, off, codec.ReasonBadControl, detail)
}

var words = [...][]byte{
	codec.ControlHello:   []byte("#hello"),
	codec.ControlEOS:     []byte("#eos"),
	codec.ControlCommand: []byte("#cmd"),
	codec.ControlAck:     []byte("#ack"),
}

// Decode decodes one control frame, text (a '#' line without its END byte)
// or binary (a whole 0xA1 envelope), and appends it to dst.Controls.
// Device and Payload alias frame.
func Decode(dst *codec.Batch, frame []byte) error {
	if len(frame) > 0 && frame[0] == codec.MagicControl {
		return decodeBinary(dst, frame)
	}
	return decodeText(dst, frame)
}

func decodeText(dst *codec.Batch, line []byte) error {
	word, rest, _ := bytes.Cut(line, []byte{' '})
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
		if !codec.ValidID(rest) {
			return codec.Errorf(codec.FormatControl, off, codec.ReasonBadID, "hello needs a device id of 1-64 bytes of [A-Za-z0-9._-]")
		}
		c.Device = rest
	case codec.ControlEOS:
		a, b, two := bytes.Cut(rest, []byte{' '})
		seqField := a
		if two {
			if !codec.ValidID(a) {
				return codec.Errorf(codec.FormatControl, off, codec.ReasonBadID, "eos device id")
			}
			c.Device, seqField = a, b
			off += len(a) + 1
		}
		seq, ok := codec.ParseUint(seqField)
		if !ok {
			return fail(off, "eos needs the next sequence number")
		}
		c.Seq = seq
	case codec.ControlCommand:
		id, payload, cut := bytes.Cut(rest, []byte{' '})
		n, ok := codec.ParseUint(id)
		if !cut || !ok || len(payload) == 0 || len(payload) > MaxPayload {
			return fail(off, "cmd needs an id and a payload of 1-512 bytes")
		}
		c.ID, c.Payload = n, payload
	case codec.ControlAck:
		id, tail, _ := bytes.Cut(rest, []byte{' '})
		status, detail, _ := bytes.Cut(tail, []byte{' '})
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
	default:
		return fail(0, "unknown control word: want #hello, #eos, #cmd or #ack")
	}
	dst.AddControl(c)
	return nil
}

// AppendText appends c as a text control line ended by end. Command
// payloads and ack details must not contain end (ValidTextPayload).
func AppendText(dst []byte, c *codec.Control, end byte) []byte {
	dst = append(dst, words[c.Kind]...)
	dst = append(dst, ' ')
	switch c.Kind {
	case codec.ControlHello:
		dst = append(dst, c.Device...)
	case codec.ControlEOS:
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

// Binary form: MagicControl, uvarint length of the rest, then
//
//	kind u8
//	hello: idlen u8, id
//	eos:   idlen u8, id (may be empty), next_seq u64 little-endian
//	cmd:   id u64 little-endian, payload (the rest, 1-512 bytes)
//	ack:   id u64 little-endian, status u8, detail (the rest, 0-512 bytes)

// AppendBinary appends c as a binary control frame.
func AppendBinary(dst []byte, c *codec.Control) []byte {
	var body [1 + 1 + codec.MaxIDLen + 8 + 1]byte
	b := body[:0]
	b = append(b, byte(c.Kind))
	var tail []byte
	switch c.Kind {
	case codec.ControlHello:
		b = append(b, byte(len(c.Device)))
		b = append(b, c.Device...)
	case codec.ControlEOS:
		b = append(b, byte(len(c.Device)))
		b = append(b, c.Device...)
		b = binary.LittleEndian.AppendUint64(b, c.Seq)
	case codec.ControlCommand:
		b = binary.LittleEndian.AppendUint64(b, c.ID)
		tail = c.Payload
	case codec.ControlAck:
		b = binary.LittleEndian.AppendUint64(b, c.ID)
		b = append(b, byte(c.Status))
		tail = c.Payload
	}
	dst = append(dst, codec.MagicControl)
	dst = binary.AppendUvarint(dst, uint64(len(b)+len(tail)))
	dst = append(dst, b...)
	return append(dst, tail...)
}

func decodeBinary(dst *codec.Batch, frame []byte) error {
	length, n := binary.Uvarint(frame[1:])
	if n <= 0 || uint64(len(frame)-1-n) != length {
		return codec.Errorf(codec.FormatControl, 1, codec.ReasonBadLength, "length field disagrees with the frame")
	}
	b := frame[1+n:]
	base := 1 + n
	if len(b) < 1 {
		return codec.Errorf(codec.FormatControl, base, codec.ReasonTruncated, "")
	}
	c := codec.Control{Kind: codec.ControlKind(b[0]), Binary: true}
	b = b[1:]
	switch c.Kind {
	case codec.ControlHello, codec.ControlEOS:
		if len(b) < 1 || len(b) < 1+int(b[0]) {
			return codec.Errorf(codec.FormatControl, base+1, codec.ReasonTruncated, "")
		}
		id := b[1 : 1+int(b[0]) : 1+int(b[0])]
		b = b[1+len(id):]
		if c.Kind == codec.ControlHello || len(id) > 0 {
			if !codec.ValidID(id) {
				return codec.Errorf(codec.FormatControl, base+2, codec.ReasonBadID, "")
			}
			c.Device = id
		}
		want := 0
		if c.Kind == codec.ControlEOS {
			want = 8
		}
		if len(b) != want {
			return codec.Errorf(codec.FormatControl, base, codec.ReasonBadLength, "")
		}
		if want == 8 {
			c.Seq = binary.LittleEndian.Uint64(b)
		}
	case codec.ControlCommand, codec.ControlAck:
		fixed := 8
		if c.Kind == codec.ControlAck {
			fixed = 9
		}
		if len(b) < fixed {
			return codec.Errorf(codec.FormatControl, base+1, codec.ReasonTruncated, "")
		}
		c.ID = binary.LittleEndian.Uint64(b)
		if c.Kind == codec.ControlAck {
			if b[8] > byte(codec.AckUnknown) {
				return fail(base+9, "unknown ack status")
			}
			c.Status = codec.AckStatus(b[8])
		}
		c.Payload = b[fixed:len(b):len(b)]
		if len(c.Payload) > MaxPayload || (c.Kind == codec.ControlCommand && len(c.Payload) == 0) {
			return fail(base+1+fixed, "payload must be 1-512 bytes (ack detail 0-512)")
		}
		if len(c.Payload) == 0 {
			c.Payload = nil
		}
	default:
		return fail(base, "unknown control kind")
	}
	dst.AddControl(c)
	return nil
}
