// Package csvio reads and writes samples as CSV: the interchange schema of
// fleetwire's command line tools, and the foreign CSVs users bring.
//
// The interchange schema is one header row, then one sample per row:
//
//	device,seq,unix_ms,<channel names...>
//	mote-3,42,1700000000000,21.5,40
//	mote-3,43,,21.6,41
//
// An empty device names no device, an empty seq means no sequence number
// and an empty unix_ms an unknown time. Values are decimal numbers as the
// device printed them: they are parsed with codec.ParseValue and written
// with codec.AppendValue, so "30.20" stays "30.20".
//
// Reader maps the columns of any CSV onto that schema (Mapping), Writer
// writes frames as rows, and Framer groups rows into codec.Frames. None of
// them allocates per row once warm. PROTOCOL.md ("CSV interchange schema")
// specifies the schema.
//
// Contracts: a Reader, Writer or Framer belongs to one goroutine. A Row
// and its slices alias the Reader's buffers and are valid until the next
// call to Next; the *codec.Frame a Framer gives its emit function, and its
// slices, are valid only during that call. Copy what you keep.
package csvio

import (
	"strconv"

	"github.com/fleetwire/fleetwire/codec"
)

// Interchange column names.
const (
	ColDevice = "device"
	ColSeq    = "seq"
	ColTime   = "unix_ms"
)

// None as a column name in a Mapping says that the CSV has no such column,
// even if a column of the interchange name exists.
const None = "-"

// Mapping says which columns of a CSV hold what. The zero Mapping reads
// the interchange schema.
//
// DeviceCol, SeqCol and TimeCol name a column of the header. Empty means
// the interchange name ("device", "seq", "unix_ms") if the header has it
// and no such column otherwise; None means no such column. A name that is
// given but missing from the header is an error, so a typo never silently
// drops a field.
type Mapping struct {
	DeviceCol string
	SeqCol    string
	TimeCol   string
	// Columns are the channel columns, in channel order. Empty means every
	// column that is not the device, seq or time column, in header order.
	Columns []string
	// Device names the device of rows that have no device column or an
	// empty device field.
	Device string
}

// Row is one sample. Device and Values alias the Reader's buffers and are
// valid until the next call to Next.
type Row struct {
	Line    int    // 1-based line number in the input
	Device  []byte // nil when the row names no device
	Seq     uint64 // valid when HasSeq
	Time    int64  // unix ms, valid when HasTime
	HasSeq  bool
	HasTime bool
	Values  []codec.Value
}

// ParseError is a row or header the Reader rejects. It says where (line,
// column) and why, with the offending field.
type ParseError struct {
	Line   int
	Column string // header name of the column at fault; "" for the whole row
	Field  string // the offending text, cut to 64 bytes
	Reason codec.Reason
	Msg    string
}

func (e *ParseError) Error() string {
	s := "csv line " + strconv.Itoa(e.Line)
	if e.Column != "" {
		s += ", column " + strconv.Quote(e.Column)
	}
	s += ": " + e.Msg
	if e.Field != "" {
		s += ": " + strconv.Quote(e.Field)
	}
	return s
}

// Unwrap lets errors.Is(err, codec.ErrBadNumber) and friends match by
// reason, like the wire decoders' errors.
func (e *ParseError) Unwrap() error {
	if e.Reason == codec.ReasonNone {
		return nil
	}
	return &codec.Error{Reason: e.Reason}
}

func parseErr(line int, col string, field []byte, r codec.Reason, msg string) error {
	if len(field) > 64 {
		field = field[:64]
	}
	return &ParseError{Line: line, Column: col, Field: string(field), Reason: r, Msg: msg}
}
