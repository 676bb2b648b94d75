// Package framing finds where frames end in a byte stream or a datagram.
// It never looks inside a frame beyond what tells its length: decoding is
// the job of the format packages. It imports no I/O and no gnet.
//
// Contracts: a frame it returns or hands to Scan's callback aliases the
// caller's data (no copy) and is valid only as long as those bytes, and
// during the callback for Scan; bytes after the last whole frame are the
// caller's to keep for the next call. A Splitter holds a little state per
// stream (whether it is skipping an over-long line), so each stream or
// datagram reader has its own; it allocates nothing. An error it returns
// with a non-zero advance is recoverable (skip and count), one with zero
// advance is not (close the stream).
package framing

import (
	"bytes"
	"encoding/binary"

	"github.com/fleetwire/fleetwire/codec"
)

// Splitter cuts a stream into frames. Its Split method has the shape of
// bufio.SplitFunc. A Splitter carries a little state (whether it is
// skipping the rest of an over-long text line), so use one per stream.
//
// Text frames (first byte < 0x80) end at the End byte. With End '\n' a
// "\r" before it is dropped. With any other End, ASCII whitespace ("\r",
// "\n", "\t", " ") before and after a frame is not part of it: a device
// that ends each reading with ',' often prints "\r\n" or spaces too
// (Serial.println), and nothing in a frame ends or starts with those.
// With End '\n' a leading space stays in the frame. Every other frame is
// a length-prefixed envelope: magic byte, uvarint length of the rest, the
// rest.
type Splitter struct {
	End      byte // END byte of text frames; 0 means '\n'
	MaxFrame int  // bytes of one frame on the wire; 0 means codec.DefaultMaxFrame
	// TextOnly takes no length-prefixed envelope: a byte that would start
	// one (>= 0x80) starts no frame, as for a listener of plain text
	// devices, where such a byte is line noise and its "length" would
	// make the stream unresyncable.
	TextOnly bool

	skipping bool // discarding an over-long or garbage text line up to the next END
}

// NewSplitter returns a Splitter for the given END byte and frame limit.
func NewSplitter(end byte, maxFrame int) *Splitter {
	return &Splitter{End: end, MaxFrame: maxFrame}
}

// Reset forgets any line being skipped, for reuse on a new stream.
func (s *Splitter) Reset() { s.skipping = false }

// Skipping reports whether the splitter is discarding the rest of an
// over-long or garbage text line: the stream is then inside a frame even
// though every byte so far was consumed, which a server's slow-client
// timeout must see.
func (s *Splitter) Skipping() bool { return s.skipping }

func (s *Splitter) end() byte {
	if s.End == 0 {
		return '\n'
	}
	return s.End
}

func (s *Splitter) max() int {
	if s.MaxFrame <= 0 {
		return codec.DefaultMaxFrame
	}
	return s.MaxFrame
}

// Split returns the next frame at the front of data.
//
//   - (0, nil, nil): need more data.
//   - (n, frame, nil): a frame; consume n bytes (n can exceed len(frame)
//     by the END byte and the "\r" or, when END is not '\n', the
//     whitespace before it). For text, frame excludes the END byte.
//   - (n, nil, nil) with n > 0: bytes to skip (blank lines, the tail of a
//     line being skipped, and when END is not '\n' whitespace before a
//     frame, which is skipped on its own so that the frame's first byte
//     picks its format: "\r\n" may come before a binary envelope).
//   - (n, nil, err) with n > 0: bad input that the stream recovers from;
//     count err, consume n bytes and go on (an over-long text line is
//     skipped up to its END byte, a byte that starts no format up to the
//     next END byte).
//   - (0, nil, err): the stream cannot be resynchronised (a length-prefixed
//     frame whose length field is too large); close it.
//
// frame aliases data. With atEOF (the end of a stream, or a whole
// datagram), a final text line without END is a frame and a
// length-prefixed frame that ends early is ErrTruncated.
func (s *Splitter) Split(data []byte, atEOF bool) (advance int, frame []byte, err error) {
	if len(data) == 0 {
		return 0, nil, nil
	}
	end := s.end()
	if s.skipping {
		if i := bytes.IndexByte(data, end); i >= 0 {
			s.skipping = false
			return i + 1, nil, nil
		}
		if atEOF {
			s.skipping = false
		}
		return len(data), nil, nil
	}

	if end != '\n' {
		if n := leadingSpace(data); n > 0 {
			return n, nil, nil // whole, or the rest comes in the next call
		}
	}
	first := data[0]
	if codec.Delimited(first) {
		return s.splitLine(data, atEOF, end)
	}
	if s.TextOnly || codec.FormatOf(first) == codec.FormatUnknown {
		// A byte that starts no frame: skip to the next END byte, which
		// resynchronises text streams after line noise.
		s.skipping = true
		return 1, nil, codec.Errorf(codec.FormatUnknown, 0, codec.ReasonUnknownFormat, "first byte starts no format")
	}
	return s.splitEnvelope(data, atEOF)
}

// Scan drives s over data, as bufio.Scanner drives a SplitFunc, so that
// every reader of frames keeps one policy in one place. It calls fn, in
// order, with each whole frame (frame, its size on the wire, nil) and
// each error the stream recovers from (nil, the bytes skipped, err), and
// stops when data holds no whole frame, when fn returns false, or when
// the stream cannot be resynchronised, which it returns as err.
//
// consumed is how many bytes were dealt with, the item fn stopped at
// included; data[consumed:] (a partial frame, or what follows that item)
// is the caller's to keep for the next call. frame aliases data and is
// valid only during fn. Scan allocates nothing and keeps nothing of fn.
func (s *Splitter) Scan(data []byte, atEOF bool, fn func(frame []byte, size int, err error) bool) (consumed int, err error) {
	for consumed < len(data) {
		adv, frame, err := s.Split(data[consumed:], atEOF)
		if adv == 0 {
			return consumed, err // need more (nil), or unresyncable
		}
		consumed += adv
		if (frame != nil || err != nil) && !fn(frame, adv, err) {
			break
		}
	}
	return consumed, nil
}

func (s *Splitter) splitLine(data []byte, atEOF bool, end byte) (int, []byte, error) {
	max := s.max()
	window := data
	if len(window) > max {
		window = window[:max]
	}
	i := bytes.IndexByte(window, end)
	if i < 0 {
		if len(data) >= max {
			s.skipping = true
			return max, nil, codec.Errorf(codec.FormatText, 0, codec.ReasonTooLong, "no END byte within the frame limit")
		}
		if !atEOF {
			return 0, nil, nil
		}
		i = len(data) // the final line of a datagram or stream
		if line := trimEnd(data, end); len(line) > 0 {
			return i, line, nil
		}
		return i, nil, nil // a lone "\r": blank, as below
	}
	line := trimEnd(data[:i], end)
	if len(line) == 0 {
		return i + 1, nil, nil // blank line: someone pressed Enter in telnet
	}
	return i + 1, line, nil
}

// trimEnd drops what comes between a text frame and its END byte: a "\r"
// before '\n', any ASCII whitespace before another END.
func trimEnd(line []byte, end byte) []byte {
	n := len(line)
	if end == '\n' {
		if n > 0 && line[n-1] == '\r' {
			n--
		}
		return line[:n]
	}
	for n > 0 && isSpace(line[n-1]) {
		n--
	}
	return line[:n]
}

// leadingSpace returns how many bytes of ASCII whitespace start data.
func leadingSpace(data []byte) int {
	n := 0
	for n < len(data) && isSpace(data[n]) {
		n++
	}
	return n
}

// isSpace reports whether c is ' ', '\r', '\n' or '\t', in one compare
// and a bit test: it runs on both ends of every frame.
func isSpace(c byte) bool {
	const set = 1<<' ' | 1<<'\r' | 1<<'\n' | 1<<'\t'
	return c <= ' ' && uint64(1)<<c&set != 0
}

// EnvelopeHeader parses the magic byte and uvarint length at the front of
// a length-prefixed frame. It returns the total frame size (header
// included) and the header size; total 0 with a nil error means the header
// itself is incomplete.
func EnvelopeHeader(data []byte, maxFrame int) (total, header int, err error) {
	length, n := binary.Uvarint(data[1:])
	switch {
	case n == 0: // incomplete varint
		if len(data) > 1+binary.MaxVarintLen32 {
			return 0, 0, codec.Errorf(codec.FormatOf(data[0]), 1, codec.ReasonBadLength, "length field too long")
		}
		return 0, 0, nil
	case n < 0 || n > binary.MaxVarintLen32:
		return 0, 0, codec.Errorf(codec.FormatOf(data[0]), 1, codec.ReasonBadLength, "length field too long")
	}
	header = 1 + n
	if length > uint64(maxFrame) || int(length)+header > maxFrame {
		return 0, 0, codec.Errorf(codec.FormatOf(data[0]), 1, codec.ReasonTooLong, "length above the frame limit")
	}
	return header + int(length), header, nil
}

func (s *Splitter) splitEnvelope(data []byte, atEOF bool) (int, []byte, error) {
	total, _, err := EnvelopeHeader(data, s.max())
	if err != nil {
		if atEOF {
			// A datagram: drop the rest of it, the next one starts clean.
			return len(data), nil, err
		}
		return 0, nil, err
	}
	if total == 0 || len(data) < total {
		if atEOF {
			return len(data), nil, codec.Errorf(codec.FormatOf(data[0]), len(data), codec.ReasonTruncated, "frame ends before its length field says")
		}
		return 0, nil, nil
	}
	return total, data[:total:total], nil
}
