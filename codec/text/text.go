// Package text is fleetwire's delimiter text format: one frame per line,
// typable with nc or telnet, CSV-compatible.
//
//	frame   = [device ";" [seq ";" [unix_ms ";"]]] samples
//	samples = sample *("," sample) [","]
//	sample  = value *(":" value) ["@" step_ms]
//
// "21.5,21.7,21.9" is three one-channel samples of the device the
// connection speaks for; "mote-3;42;1700000000000;21.5:40,21.6:41@5000" is
// two two-channel samples of mote-3, sequence numbers 42 and 43, the second
// 5 s after the first. A sample's time is the previous sample's time plus
// the step; a step holds until the next "@", so a regular series states
// its period once. The END byte (see package framing) is not part of the
// frame given to Decode; EndAllowed says which bytes may be END. With END
// ',' a frame holds one sample. PROTOCOL.md has the byte-level
// specification.
//
// Contracts: Decode appends one frame to a codec.Batch, whole or not at
// all; the frame's Device aliases the line, its values and times live in
// the Batch (codec's rules). Decode and Append keep no state between
// calls, so they are safe for concurrent use with distinct Batches and
// buffers; Append only appends to dst.
package text

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math/bits"
	"strconv"

	"github.com/fleetwire/fleetwire/codec"
)

func fail(off int, r codec.Reason, detail string) error {
	return codec.Errorf(codec.FormatText, off, r, detail)
}

// Options are what a receiver decides about text frames that a frame does
// not say itself. The zero Options are the format's defaults.
type Options struct {
	// Radix is the base sample values are written in: 0 or 10 for the
	// decimals of the grammar, or 2, 8 or 16 for devices that print
	// integers so (Serial.print(v, BIN), printf("%x")): "111111111111",
	// "7777" and "fff" are each 4095 (see codec.ParseRadix). Header
	// fields and steps stay decimal: they are the protocol's, not the
	// device's readings.
	Radix int
}

// CheckRadix reports whether base can be Options.Radix: 0, 2, 8, 10 or
// 16, the bases devices print in. Check a flag with it before building a
// decoder.
func CheckRadix(base int) error {
	switch base {
	case 0, 2, 8, 10, 16:
		return nil
	}
	return errors.New("text: radix " + strconv.Itoa(base) + ": want 2, 8, 10 or 16")
}

// Decode parses one text frame (without its END byte) and appends it to
// dst as one codec.Frame. On error dst is left as it was: a frame is
// accepted whole or not at all. Device aliases line.
func Decode(dst *codec.Batch, line []byte, lim *codec.Limits) error {
	return DecodeWith(dst, line, lim, Options{})
}

// DecodeWith is Decode with options. It panics when CheckRadix refuses
// o.Radix.
func DecodeWith(dst *codec.Batch, line []byte, lim *codec.Limits, o Options) error {
	radix := o.Radix
	switch radix {
	case 0:
		radix = 10
	case 2, 8, 10, 16:
	default:
		panic(CheckRadix(radix)) // a configuration error, not bad input
	}
	m := dst.Mark()
	if err := decode(dst, line, lim, radix); err != nil {
		dst.Rollback(m)
		return err
	}
	// A text reading takes at least 2 bytes ("1,") and decodes to 16 (24
	// with its sample's time), so the check can wait for the end: the
	// work done is bounded by the line's length.
	if dst.DecodedSince(m) > lim.MaxDecoded {
		dst.Rollback(m)
		return fail(0, codec.ReasonTooLarge, "frame decodes to more than the decoded-size limit")
	}
	return nil
}

func decode(dst *codec.Batch, line []byte, lim *codec.Limits, radix int) error {
	f := dst.BeginFrame()
	f.Format = codec.FormatText
	f.WireBytes = len(line) + 1

	// Header: up to three ';'-terminated fields; samples never contain
	// ';'. The numeric fields are parsed in the pass that finds their 	// a run of digits followed by ';' is a header field, anything else
	// starts the samples.
	p := 0
	var start int64
	fields := 0
	// The device id is checked in the pass that looks for its ';': the
	// first byte that cannot be in an id is either that ';' or a sign that
	// there is no valid id (or no header at all).
	id := line[:min(len(line), codec.MaxIDLen+1)]
	i := 0
	for i < len(id) && idByte[id[i]] {
		i++
	}
	if i >= len(line) || line[i] != ';' || i > codec.MaxIDLen {
		if bytes.IndexByte(line[i:], ';') >= 0 {
			return fail(0, codec.ReasonBadID, "device id must be 1-64 bytes of [A-Za-z0-9._-]")
		}
		i = -1 // no header: the samples start at 0
	}
	if i >= 0 {
		fields = 1
		if i > 0 {
			f.Device = line[:i:i]
		}
		p = i + 1
		if n, neg, q, ok := headerNumber(line, p); ok {
			if q > p {
				if neg {
					return fail(p, codec.ReasonBadNumber, "sequence number must be an unsigned integer")
				}
				f.Seq = n
				f.Flags |= codec.HasSeq
			}
			p = q + 1
			fields = 2
			if n, neg, q, ok := headerNumber(line, p); ok {
				if q > p {
					if n > 1<<63 || (!neg && n == 1<<63) {
						return fail(p, codec.ReasonBadNumber, "unix_ms must be an integer")
					}
					start = int64(n)
					if neg {
						start = -start
					}
					f.Flags |= codec.HasTime
				}
				p = q + 1
				fields = 3
			}
		}
	}
	if p >= len(line) {
		return fail(p, codec.ReasonBadSyntax, "no samples")
	}

	// Samples. Fast path: scan to the next separator and parse the value
	// in place.
	channels, ch, samples := 0, 0, 0
	t, step := start, int64(0)
	maxCh, maxSamples := lim.MaxChannels, lim.MaxSamples
	for p < len(line) {
		// Fast path: a plain decimal followed by a separator or the end.
		v, n := codec.ScanValue(line[p:])
		q := p + n
		if n == 0 || (q < len(line) && !isSep(line[q])) || radix != 10 {
			// Slow path: cut the token and let the careful parser judge
			// it. Other bases always come here: "101" scans as a decimal.
			for q = p; q < len(line) && !isSep(line[q]); q++ {
			}
			var r codec.Reason
			if radix == 10 {
				v, r = codec.ParseValue(line[p:q])
			} else {
				v, r = codec.ParseRadix(line[p:q], radix)
			}
			if r != codec.ReasonNone {
				// A ';' among the samples is a header field that is not a
				// number, or a fourth one: say so rather than "bad number".
				if k := bytes.IndexByte(line[p:q], ';'); k >= 0 && samples == 0 && ch == 0 {
					if fields < 3 {
						return fail(p, codec.ReasonBadNumber, "sequence number and unix_ms must be integers")
					}
					return fail(p+k, codec.ReasonBadSyntax, "more than three header fields")
				}
				if r == codec.ReasonNotAReading && (fields > 0 || samples > 0 || ch > 0) {
					// A word after a header or a reading: the sender
					// speaks the format and one of its values is bad.
					// not_a_reading is kept for frames in which nothing is
					// fleetwire: a greeting, an HTTP request.
					r = codec.ReasonBadNumber
				}
				return fail(p, r, "")
			}
		}
		dst.AddValue(v)
		ch++
		if ch > maxCh {
			return fail(p, codec.ReasonTooManyChannels, "")
		}
		if q < len(line) && line[q] == ':' {
			p = q + 1
			if p == len(line) {
				return fail(p, codec.ReasonBadSyntax, "missing value after ':'")
			}
			continue
		}
		// End of a sample: its optional step, then ',' or the end.
		if q < len(line) && line[q] == '@' {
			if f.Flags&codec.HasTime == 0 {
				return fail(q, codec.ReasonBadSyntax, "'@' step without a header time")
			}
			e := q + 1
			for e < len(line) && line[e] != ',' {
				e++
			}
			s, ok := codec.ParseInt(line[q+1 : e])
			if !ok {
				return fail(q+1, codec.ReasonBadNumber, "step must be an integer number of ms")
			}
			step = s
			q = e
		}
		if samples == 0 {
			channels = ch
		} else if ch != channels {
			return fail(p, codec.ReasonChannelMismatch, "every sample of a frame has the same channels")
		}
		t += step // step is 0 until an '@' sets it
		dst.AddTime(t)
		samples++
		if samples > maxSamples {
			return fail(p, codec.ReasonTooManySamples, "")
		}
		ch = 0
		p = q + 1 // past ',' (or past the end)
		if q < len(line) && p == len(line) {
			break // trailing ','
		}
		if p < len(line) && line[p] == ',' {
			return fail(p, codec.ReasonBadSyntax, "empty sample")
		}
	}
	f.Channels = channels
	dst.EndFrame()
	return nil
}

// idByte is codec.ValidID's byte set as a table, derived from it so the
// two cannot drift apart.
var idByte = func() (t [256]bool) {
	for c := range t {
		t[c] = codec.ValidID([]byte{byte(c)})
	}
	return t
}()

func isSep(c byte) bool { return c == ',' || c == ':' || c == '@' }

// headerNumber parses a numeric header field at p: an optional '-', then
// digits, then ';' at semi. It parses the digits in the pass that finds
// the field's end. ok is false when no such field starts at p (the samples
// start there, or the field is not a number: the samples' parser then
// rejects it with its offset) or when it overflows uint64.
func headerNumber(line []byte, p int) (n uint64, neg bool, semi int, ok bool) {
	q := p
	if q < len(line) && line[q] == '-' {
		neg = true
		q++
	}
	digits := q
	// Fast path: eight bytes at a time (SWAR). A header number is
	// followed by ';' and the samples, so the window almost always fits:
	// the 13-digit unix_ms takes two steps, a 6-digit seq one.
	for len(line)-q >= 8 {
		x := binary.LittleEndian.Uint64(line[q:])
		nd := nonDigits(x)
		if nd == 0 {
			n = n*1e8 + eightDigits(x) // wraps past 19 digits: checked below
			q += 8
			continue
		}
		k := uint(bits.TrailingZeros64(nd)) >> 3 // leading digits in the window
		// Shift the k digits to the top; the zero bytes below read as
		// leading zeros. Two shifts, as k == 0 shifts by 64.
		n = n*pow10[k&7] + eightDigits(x<<8<<((56-8*k)&63))
		q += int(k)
		break // line[q] is not a digit: the loop below stops at once
	}
	// Slow path: the last few bytes of the line.
	for q < len(line) {
		d := line[q] - '0'
		if d > 9 {
			break
		}
		n = n*10 + uint64(d) // wraps past 19 digits: checked below
		q++
	}
	if q >= len(line) || line[q] != ';' || (neg && q == digits) {
		return 0, false, 0, false
	}
	if q-digits > 19 { // may have overflowed: the careful parser decides
		v, good := codec.ParseUint(line[digits:q])
		return v, neg, q, good
	}
	return n, neg, q, true
}

var pow10 = [9]uint64{1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8}

// nonDigits returns x (eight bytes, first in the low byte) with the high
// bit of every byte that is not an ASCII digit set, and no other bits.
// Masking the high bits first keeps the additions from carrying into the
// next byte.
func nonDigits(x uint64) uint64 {
	const lo7, hi = 0x7f7f7f7f7f7f7f7f, 0x8080808080808080
	t := x & lo7
	above := t + 0x4646464646464646 // high bit set for bytes >= '9'+1
	below := t + 0x5050505050505050 // high bit clear for bytes < '0'
	return (above | ^below | x) & hi
}

// eightDigits returns the number eight ASCII digits spell, the first in
// the low byte (Lemire, "Fast parsing of 8-digit integers"). Zero bytes
// count as '0'.
func eightDigits(x uint64) uint64 {
	x = (x & 0x0f0f0f0f0f0f0f0f) * (10<<8 + 1) >> 8
	x = (x & 0x00ff00ff00ff00ff) * (100<<16 + 1) >> 16
	return (x & 0x0000ffff0000ffff) * (10000<<32 + 1) >> 32
}

// Append appends f as one text frame followed by end. It writes the
// shortest header that carries what f has: nothing for a bare frame of the
// connection's device, up to "device;seq;unix_ms;".
//
// With end ',' a frame holds one sample and a header names only its own
// frame, so a frame of several samples with a header is written as one
// frame per sample, each with the header of that sample (seq+i, its
// time): what the receiver decodes is the same readings. A bare frame
// needs no such care: "1,2,3," is three bare frames of the same readings.
func Append(dst []byte, f *codec.Frame, end byte) []byte {
	hasSeq, hasTime := f.Flags&codec.HasSeq != 0, f.Flags&codec.HasTime != 0
	header := f.Device != nil || hasSeq || hasTime
	n := f.Samples()
	if end == ',' && n > 1 && header {
		for i := 0; i < n; i++ {
			// f.Seq+i wraps past 2^64-1. Such a frame is refused in any
			// form (a server counts it bad_sequence); wrapped, the later
			// samples would read as a device restart instead.
			dst = appendHeader(dst, f, f.Seq+uint64(i), i)
			dst = appendSample(dst, f, i)
			dst = append(dst, end)
		}
		return dst
	}
	if header {
		dst = appendHeader(dst, f, f.Seq, 0)
	}
	step := int64(0)
	for i := 0; i < n; i++ {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendSample(dst, f, i)
		if hasTime && i > 0 {
			if s := f.Times[i] - f.Times[i-1]; s != step {
				step = s
				dst = append(dst, '@')
				dst = strconv.AppendInt(dst, s, 10)
			}
		}
	}
	return append(dst, end)
}

// appendHeader writes the header of f with sequence number seq and the
// time of sample i.
func appendHeader(dst []byte, f *codec.Frame, seq uint64, i int) []byte {
	hasSeq, hasTime := f.Flags&codec.HasSeq != 0, f.Flags&codec.HasTime != 0
	dst = append(dst, f.Device...)
	dst = append(dst, ';')
	if hasSeq || hasTime {
		if hasSeq {
			dst = strconv.AppendUint(dst, seq, 10)
		}
		dst = append(dst, ';')
	}
	if hasTime && i < f.Samples() {
		dst = strconv.AppendInt(dst, f.Times[i], 10)
		dst = append(dst, ';')
	}
	return dst
}

// appendSample writes the values of sample i, ':' between channels.
func appendSample(dst []byte, f *codec.Frame, i int) []byte {
	for c, v := range f.Sample(i) {
		if c > 0 {
			dst = append(dst, ':')
		}
		dst = codec.AppendValue(dst, v)
	}
	return dst
}
