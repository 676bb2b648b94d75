package csvio

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"

	"github.com/fleetwire/fleetwire/codec"
)

// MaxLine is the longest CSV line the Reader accepts. A sample row is far
// shorter (64 channels of 24 bytes); a longer line is garbage, not data.
const MaxLine = 1 << 20

// Reader reads samples from a CSV. The format is the common subset that
// sensor loggers, spreadsheets and pandas write: ',' separates fields,
// lines end in "\n" or "\r\n", blank lines are skipped, spaces around a
// field and one pair of quotes around it are dropped. Quoted fields that
// contain ',' or a line break are not supported (numbers and device ids
// never need them).
//
// The first line is the header. Every row must have as many fields as the
// header and a number in every channel column.
type Reader struct {
	sc      *bufio.Scanner
	m       Mapping
	maxCh   int
	line    int
	started bool
	err     error

	header             []string
	names              []string
	devCol, seqCol, tc int // -1: no such column
	chCols             []int
	constDev           []byte

	fields [][]byte
	row    Row
}

// NewReader returns a Reader of r that maps columns as m says and accepts
// at most codec.DefaultMaxChannels channels.
func NewReader(r io.Reader, m Mapping) *Reader {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), MaxLine)
	return &Reader{sc: sc, m: m, maxCh: codec.DefaultMaxChannels}
}

// SetMaxChannels changes the channel limit (codec.Limits.MaxChannels of
// the receiver the samples are meant for).
func (r *Reader) SetMaxChannels(n int) { r.maxCh = n }

// Channels returns the channel names, after the header has been read
// (by ReadHeader or the first Next).
func (r *Reader) Channels() []string { return r.names }

// Header returns every column name of the header.
func (r *Reader) Header() []string { return r.header }

// ReadHeader reads and maps the header line if that has not happened yet.
// Next calls it; call it first to learn Channels before the first row.
func (r *Reader) ReadHeader() error {
	if r.started {
		return r.err
	}
	r.started = true
	line, ok := r.nextLine()
	if !ok {
		if r.err == nil {
			r.err = errors.New("csv: empty input, want a header line")
		}
		return r.err
	}
	line = bytes.TrimPrefix(line, []byte("\xef\xbb\xbf")) // spreadsheets write a UTF-8 BOM
	r.fields = splitFields(r.fields[:0], line)
	for _, f := range r.fields {
		r.header = append(r.header, string(f))
	}
	r.err = r.mapHeader()
	return r.err
}

func (r *Reader) mapHeader() error {
	var err error
	if r.devCol, err = r.column(r.m.DeviceCol, ColDevice, "device"); err != nil {
		return err
	}
	if r.seqCol, err = r.column(r.m.SeqCol, ColSeq, "seq"); err != nil {
		return err
	}
	if r.tc, err = r.column(r.m.TimeCol, ColTime, "time"); err != nil {
		return err
	}
	if r.m.Device != "" {
		if !codec.ValidID([]byte(r.m.Device)) {
			return fmt.Errorf("csv: device %q: want 1-64 bytes of [A-Za-z0-9._-]", r.m.Device)
		}
		r.constDev = []byte(r.m.Device)
	}
	if len(r.m.Columns) > 0 {
		for _, name := range r.m.Columns {
			i, err := r.find(name)
			if err != nil {
				return err
			}
			if i < 0 {
				return fmt.Errorf("csv line 1: no channel column %q in header %q", name, r.header)
			}
			r.chCols = append(r.chCols, i)
		}
	} else {
		for i := range r.header {
			if i != r.devCol && i != r.seqCol && i != r.tc {
				r.chCols = append(r.chCols, i)
			}
		}
	}
	if len(r.chCols) > r.maxCh {
		return fmt.Errorf("csv line 1: %d channel columns, at most %d allowed", len(r.chCols), r.maxCh)
	}
	for _, i := range r.chCols {
		if r.header[i] == "" {
			return fmt.Errorf("csv line 1: column %d has no name; name the channel columns with a Mapping (--columns)", i+1)
		}
		r.names = append(r.names, r.header[i])
	}
	r.row.Values = make([]codec.Value, len(r.chCols))
	return nil
}

// column resolves a Mapping field: name, or def when name is empty and
// the header has def, or -1.
func (r *Reader) column(name, def, what string) (int, error) {
	switch name {
	case None:
		return -1, nil
	case "":
		return r.find(def)
	}
	i, err := r.find(name)
	if err == nil && i < 0 {
		err = fmt.Errorf("csv line 1: no %s column %q in header %q", what, name, r.header)
	}
	return i, err
}

func (r *Reader) find(name string) (int, error) {
	at := -1
	for i, h := range r.header {
		if h == name {
			if at >= 0 {
				return -1, fmt.Errorf("csv line 1: column %q appears twice in the header", name)
			}
			at = i
		}
	}
	return at, nil
}

// nextLine returns the next non-blank line without its line end.
func (r *Reader) nextLine() ([]byte, bool) {
	for r.sc.Scan() {
		r.line++
		line := r.sc.Bytes()
		if n := len(line); n > 0 && line[n-1] == '\r' {
			line = line[:n-1]
		}
		if len(bytes.TrimSpace(line)) > 0 {
			return line, true
		}
	}
	if err := r.sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			r.err = fmt.Errorf("csv line %d: longer than %d bytes", r.line+1, MaxLine)
		} else {
			r.err = fmt.Errorf("csv: read after line %d: %w", r.line, err)
		}
	}
	return nil, false
}

// Next reads the next row. It returns false at the end of the input or on
// the first error, which Err returns.
func (r *Reader) Next() bool {
	if !r.started {
		if r.ReadHeader() != nil {
			return false
		}
	}
	if r.err != nil {
		return false
	}
	line, ok := r.nextLine()
	if !ok {
		return false
	}
	if len(r.chCols) == 0 {
		// A header without channels is an empty recording (what decode
		// writes for a stream without samples); a row needs channels.
		r.err = fmt.Errorf("csv line %d: a row, but no channel columns in header %q", r.line, r.header)
		return false
	}
	if r.err = r.parse(line); r.err != nil {
		return false
	}
	return true
}

// Row returns the row Next read. It and its slices are valid until the
// next call to Next.
func (r *Reader) Row() *Row { return &r.row }

// Err returns the first error, or nil at a clean end of input.
func (r *Reader) Err() error { return r.err }

// Line returns the number of the line read last.
func (r *Reader) Line() int { return r.line }

func (r *Reader) parse(line []byte) error {
	r.fields = splitFields(r.fields[:0], line)
	if len(r.fields) != len(r.header) {
		return parseErr(r.line, "", nil, codec.ReasonBadSyntax,
			strconv.Itoa(len(r.fields))+" fields, the header has "+strconv.Itoa(len(r.header)))
	}
	row := &r.row
	row.Line = r.line
	row.Device = r.constDev
	if r.devCol >= 0 {
		if d := r.fields[r.devCol]; len(d) > 0 {
			if !codec.ValidID(d) {
				return parseErr(r.line, r.header[r.devCol], d, codec.ReasonBadID, "device id must be 1-64 bytes of [A-Za-z0-9._-]")
			}
			row.Device = d
		}
	}
	row.HasSeq, row.Seq = false, 0
	if r.seqCol >= 0 {
		if s := r.fields[r.seqCol]; len(s) > 0 {
			n, ok := codec.ParseUint(s)
			if !ok {
				return parseErr(r.line, r.header[r.seqCol], s, codec.ReasonBadNumber, "seq must be an unsigned integer")
			}
			row.Seq, row.HasSeq = n, true
		}
	}
	row.HasTime, row.Time = false, 0
	if r.tc >= 0 {
		if s := r.fields[r.tc]; len(s) > 0 {
			n, ok := codec.ParseInt(s)
			if !ok {
				return parseErr(r.line, r.header[r.tc], s, codec.ReasonBadNumber, "unix_ms must be an integer number of milliseconds")
			}
			row.Time, row.HasTime = n, true
		}
	}
	for c, i := range r.chCols {
		s := r.fields[i]
		if len(s) == 0 {
			return parseErr(r.line, r.header[i], nil, codec.ReasonBadNumber, "empty value")
		}
		v, reason := codec.ParseValue(s)
		if reason != codec.ReasonNone {
			return parseErr(r.line, r.header[i], s, reason, "not a finite decimal number")
		}
		row.Values[c] = v
	}
	return nil
}

// splitFields appends the fields of line to dst, trimmed of surrounding
// spaces and one pair of quotes. The fields alias line.
func splitFields(dst [][]byte, line []byte) [][]byte {
	for {
		i := bytes.IndexByte(line, ',')
		if i < 0 {
			return append(dst, trimField(line))
		}
		dst = append(dst, trimField(line[:i]))
		line = line[i+1:]
	}
}

func trimField(f []byte) []byte {
	for len(f) > 0 && (f[0] == ' ' || f[0] == '\t') {
		f = f[1:]
	}
	for len(f) > 0 && (f[len(f)-1] == ' ' || f[len(f)-1] == '\t') {
		f = f[:len(f)-1]
	}
	if len(f) >= 2 && f[0] == '"' && f[len(f)-1] == '"' {
		f = f[1 : len(f)-1]
	}
	return f
}
