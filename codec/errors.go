package codec

import (
	"errors"
	"strconv"
)

// Reason says why input was rejected. Reasons are few and fixed so that a
// server can count them in an array, and their names are the label values
// of its metrics; they never change once released.
type Reason uint8

// Reasons, in the order of the counters that use them.
const (
	ReasonNone            Reason = iota
	ReasonUnknownFormat          // first byte names no format
	ReasonTooLong                // frame longer than Limits.MaxFrame
	ReasonTruncated              // frame ends before its fields do
	ReasonBadLength              // a length field disagrees with what arrived
	ReasonBadSyntax              // bytes where a separator or field was expected
	ReasonBadNumber              // a value that starts like a number and is not one ("21.5x", "1e")
	ReasonNonFinite              // a spelling of NaN or Inf, or out of float64 range
	ReasonBadID                  // device id empty, too long or with forbidden bytes
	ReasonTooManyChannels        // more than Limits.MaxChannels
	ReasonTooManySamples         // more than Limits.MaxSamples in one frame
	ReasonChannelMismatch        // samples of one frame with different channel counts
	ReasonBadVersion             // known magic, unknown version or flags
	ReasonBadCompression         // compressed payload does not decompress
	ReasonTooLarge               // decompressed size above Limits.MaxDecoded (a bomb)
	ReasonNested                 // compressed frame inside a compressed frame
	ReasonUnknownDict            // zstd dictionary id the decoder was not given
	ReasonBadControl             // malformed control frame (#hello, #eos, #cmd, #ack, #stored, #gaveup)
	ReasonNotAReading            // a text frame that holds no number: words, a greeting
	NumReasons                   // number of reasons; not a reason
)

var reasonNames = [NumReasons]string{
	ReasonNone:            "none",
	ReasonUnknownFormat:   "unknown_format",
	ReasonTooLong:         "too_long",
	ReasonTruncated:       "truncated",
	ReasonBadLength:       "bad_length",
	ReasonBadSyntax:       "bad_syntax",
	ReasonBadNumber:       "bad_number",
	ReasonNonFinite:       "non_finite",
	ReasonBadID:           "bad_id",
	ReasonTooManyChannels: "too_many_channels",
	ReasonTooManySamples:  "too_many_samples",
	ReasonChannelMismatch: "channel_mismatch",
	ReasonBadVersion:      "bad_version",
	ReasonBadCompression:  "bad_compression",
	ReasonTooLarge:        "too_large",
	ReasonNested:          "nested_compression",
	ReasonUnknownDict:     "unknown_dictionary",
	ReasonBadControl:      "bad_control",
	ReasonNotAReading:     "not_a_reading",
}

// String returns the reason's stable snake_case name.
func (r Reason) String() string {
	if r < NumReasons {
		return reasonNames[r]
	}
	return "reason(" + strconv.Itoa(int(r)) + ")"
}

// Error is what every decoder and splitter returns for bad input: which
// format, where in the frame (byte offset from the frame's first byte), and
// why. It never carries the input itself, so it holds no borrowed memory.
type Error struct {
	Format Format
	Offset int
	Reason Reason
	Detail string // optional, a constant string: never built per error
}

func (e *Error) Error() string {
	s := "fleetwire/codec: " + e.Format.String() + " frame: " + e.Reason.String() + " at byte " + strconv.Itoa(e.Offset)
	if e.Detail != "" {
		s += ": " + e.Detail
	}
	return s
}

// Is lets errors.Is(err, ErrTruncated) and friends match by reason.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Format == 0 && t.Offset == 0 && t.Reason == e.Reason
}

// Errorf builds an *Error; detail must be a constant string.
func Errorf(f Format, off int, r Reason, detail string) error {
	return &Error{Format: f, Offset: off, Reason: r, Detail: detail}
}

// Sentinels for errors.Is; an *Error matches the sentinel of its Reason.
var (
	ErrUnknownFormat = &Error{Reason: ReasonUnknownFormat}
	ErrTooLong       = &Error{Reason: ReasonTooLong}
	ErrTruncated     = &Error{Reason: ReasonTruncated}
	ErrBadLength     = &Error{Reason: ReasonBadLength}
	ErrBadNumber     = &Error{Reason: ReasonBadNumber}
	ErrTooLarge      = &Error{Reason: ReasonTooLarge}
)

// ReasonOf returns the Reason of err, or ReasonNone when err is not an
// *Error (or nil).
func ReasonOf(err error) Reason {
	var e *Error
	if errors.As(err, &e) {
		return e.Reason
	}
	return ReasonNone
}
