package control

import (
	"encoding/binary"

	"github.com/fleetwire/fleetwire/codec"
)

// Binary form: MagicControl, uvarint length of the rest, then
//
//	kind u8
//	hello:  idlen u8, id, then optionally flags u8 (bit 0: ack; bit 1:
//	        solo, only with bit 0; the other bits 0) and, with bit 0,
//	        window uvarint (1-1000000)
//	eos:    idlen u8, id (may be empty), next_seq u64 little-endian
//	cmd:    id u64 little-endian, payload (the rest, 1-512 bytes)
//	ack:    id u64 little-endian, status u8, detail (the rest, 0-512 bytes)
//	stored: idlen u8, id (0-64 bytes; empty: the device the link speaks
//	        for, to a device whose hello said solo), next uvarint, nranges u8 (0-16),
//	        then per range gap uvarint (lo minus the previous range's
//	        hi+1, or minus next for the first; >= 1) and len uvarint
//	        (hi-lo+1, >= 1)
//	gaveup: as eos
//
// Every uvarint is in its shortest form, so a control has one encoding.

// Hello flags: helloAck asks for #stored acknowledgements; helloSolo
// (with helloAck) says no other device shares the link, so a #stored may
// leave out the device's id.
const (
	helloAck  = 1
	helloSolo = 2
)

// maxBody is the longest body AppendBinary builds on the stack: a #stored
// of MaxStoredRanges ranges of two 10-byte uvarints each.
const maxBody = 1 + 1 + codec.MaxIDLen + binary.MaxVarintLen64 + 1 + codec.MaxStoredRanges*2*binary.MaxVarintLen64

// AppendBinary appends c as a binary control frame. Like AppendText, it
// writes c as given.
func AppendBinary(dst []byte, c *codec.Control) []byte {
	var body [maxBody]byte
	b := body[:0]
	b = append(b, byte(c.Kind))
	var tail []byte
	switch c.Kind {
	case codec.ControlHello:
		b = append(b, byte(len(c.Device)))
		b = append(b, c.Device...)
		if c.Ack {
			flags := byte(helloAck)
			if c.Solo {
				flags |= helloSolo
			}
			b = append(b, flags)
			b = binary.AppendUvarint(b, uint64(c.Window))
		}
	case codec.ControlEOS, codec.ControlGaveUp:
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
	case codec.ControlStored:
		b = append(b, byte(len(c.Device)))
		b = append(b, c.Device...)
		b = binary.AppendUvarint(b, c.Seq)
		b = append(b, byte(len(c.Ranges)))
		end := c.Seq
		for _, r := range c.Ranges {
			b = binary.AppendUvarint(b, r.Lo-end)
			b = binary.AppendUvarint(b, r.Hi-r.Lo+1)
			end = r.Hi + 1
		}
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
	base++
	switch c.Kind {
	case codec.ControlHello, codec.ControlEOS, codec.ControlGaveUp:
		id, rest, err := cutID(b, base, c.Kind == codec.ControlHello)
		if err != nil {
			return err
		}
		c.Device = id
		off := base + 1 + len(id)
		if c.Kind == codec.ControlHello {
			if err := decodeHelloOptions(&c, rest, off); err != nil {
				return err
			}
			break
		}
		if len(rest) != 8 {
			return codec.Errorf(codec.FormatControl, off, codec.ReasonBadLength, "")
		}
		c.Seq = binary.LittleEndian.Uint64(rest)
	case codec.ControlCommand, codec.ControlAck:
		fixed := 8
		if c.Kind == codec.ControlAck {
			fixed = 9
		}
		if len(b) < fixed {
			return codec.Errorf(codec.FormatControl, base, codec.ReasonTruncated, "")
		}
		c.ID = binary.LittleEndian.Uint64(b)
		if c.Kind == codec.ControlAck {
			if b[8] > byte(codec.AckUnknown) {
				return fail(base+8, "unknown ack status")
			}
			c.Status = codec.AckStatus(b[8])
		}
		c.Payload = b[fixed:len(b):len(b)]
		if len(c.Payload) > MaxPayload || (c.Kind == codec.ControlCommand && len(c.Payload) == 0) {
			return fail(base+fixed, "payload must be 1-512 bytes (ack detail 0-512)")
		}
		if len(c.Payload) == 0 {
			c.Payload = nil
		}
	case codec.ControlStored:
		if err := decodeStoredBinary(dst, &c, b, base); err != nil {
			return err
		}
	default:
		return fail(base-1, "unknown control kind")
	}
	dst.AddControl(c)
	return nil
}

// cutID cuts "idlen u8, id" off b, which starts at byte off of the frame.
// An empty id is nil, and allowed only when the id is optional.
func cutID(b []byte, off int, required bool) (id, rest []byte, err error) {
	if len(b) < 1 || len(b) < 1+int(b[0]) {
		return nil, nil, codec.Errorf(codec.FormatControl, off, codec.ReasonTruncated, "")
	}
	n := int(b[0])
	if n == 0 && !required {
		return nil, b[1:], nil
	}
	id = b[1 : 1+n : 1+n]
	if !codec.ValidID(id) {
		return nil, nil, codec.Errorf(codec.FormatControl, off+1, codec.ReasonBadID, "")
	}
	return id, b[1+n:], nil
}

// decodeHelloOptions decodes what may follow a hello's id: nothing, or
// flags u8 and, with the ack flag, window uvarint.
func decodeHelloOptions(c *codec.Control, b []byte, off int) error {
	if len(b) == 0 {
		return nil
	}
	flags := b[0]
	if flags&^(helloAck|helloSolo) != 0 || flags == helloSolo {
		return fail(off, "unknown hello flags (solo needs ack)")
	}
	b = b[1:]
	if flags&helloAck == 0 {
		if len(b) != 0 {
			return codec.Errorf(codec.FormatControl, off+1, codec.ReasonBadLength, "")
		}
		return nil
	}
	w, n := uvarint(b)
	switch {
	case n == 0:
		return codec.Errorf(codec.FormatControl, off+1, codec.ReasonTruncated, "")
	case n < 0 || w < 1 || w > codec.MaxAckWindow:
		return fail(off+1, "ack window must be 1-1000000 samples")
	case n != len(b):
		return codec.Errorf(codec.FormatControl, off+1+n, codec.ReasonBadLength, "")
	}
	c.Ack, c.Window, c.Solo = true, uint32(w), flags&helloSolo != 0
	return nil
}

// decodeStoredBinary decodes a #stored body after its kind; b starts at
// byte off of the frame.
func decodeStoredBinary(dst *codec.Batch, c *codec.Control, b []byte, off int) error {
	m := dst.Mark()
	id, b, err := cutID(b, off, false)
	if err != nil {
		return err
	}
	off += 1 + len(id)
	next, n := uvarint(b)
	if err := varintErr(n, off); err != nil {
		return err
	}
	b, off = b[n:], off+n
	if len(b) < 1 {
		return codec.Errorf(codec.FormatControl, off, codec.ReasonTruncated, "")
	}
	count := int(b[0])
	if count > codec.MaxStoredRanges {
		return fail(off, "stored lists at most 16 ranges")
	}
	b, off = b[1:], off+1
	rs := ranges{end: next}
	for range count {
		gap, n := uvarint(b)
		if err := varintErr(n, off); err != nil {
			return err
		}
		size, k := uvarint(b[n:])
		if err := varintErr(k, off+n); err != nil {
			return err
		}
		lo := rs.end + gap
		hi := lo + size - 1
		if gap == 0 || size == 0 || lo < rs.end || hi < lo || hi == 1<<64-1 {
			return fail(off, "stored range gap and length must be >= 1 and end below 2^64-1")
		}
		if why := rs.add(dst, lo, hi); why != "" {
			return fail(off, why)
		}
		b, off = b[n+k:], off+n+k
	}
	if len(b) != 0 {
		return codec.Errorf(codec.FormatControl, off, codec.ReasonBadLength, "")
	}
	c.Device, c.Seq, c.Ranges = id, next, dst.RangesSince(m)
	return nil
}

// uvarint reads a uvarint in its shortest form: n == 0 when b ends inside
// it, n < 0 when it passes 2^64 or is longer than it needs to be (which
// would give one control two encodings).
func uvarint(b []byte) (uint64, int) {
	v, n := binary.Uvarint(b)
	if n > 1 && b[n-1] == 0 {
		return 0, -n
	}
	return v, n
}

// varintErr turns the n of a uvarint read at off into its error, or nil.
func varintErr(n, off int) error {
	switch {
	case n == 0:
		return codec.Errorf(codec.FormatControl, off, codec.ReasonTruncated, "")
	case n < 0:
		return fail(off, "uvarint above 2^64 or not in its shortest form")
	}
	return nil
}
