package sink

import (
	"bufio"
	"io"
	"strconv"

	"github.com/fleetwire/fleetwire/codec"
)

// Filter selects the rows Export writes. The zero Filter selects all.
type Filter struct {
	// Devices, when not empty, keeps only rows of these devices.
	Devices []string
	// Since, when HasSince, keeps only rows whose device time is at or
	// after it (unix ms). Rows without a time are left out then: nothing
	// says they are recent.
	Since    int64
	HasSince bool
}

// Match reports whether f selects row.
func (f *Filter) Match(row *Row) bool {
	if f.HasSince && (!row.HasTime || row.Time < f.Since) {
		return false
	}
	if len(f.Devices) == 0 {
		return true
	}
	for _, d := range f.Devices {
		if string(row.Device) == d {
			return true
		}
	}
	return false
}

// Export writes the rows of r that f selects to w as CSV in the
// interchange schema, "device,seq,unix_ms,ch1,...,chK", K being the widest
// segment's width (r.Channels()); rows with fewer channels end in empty
// cells, as in the segments. Values are printed as the devices sent them
// (codec.AppendValue). It returns the number of rows written; damage is in
// r.Damage(), not an error.
func Export(w io.Writer, r *Reader, f Filter) (int, error) {
	bw := bufio.NewWriterSize(w, 64<<10)
	k := r.Channels()
	if _, err := bw.Write(header(k)); err != nil {
		return 0, err
	}
	var line []byte
	n := 0
	for r.Next() {
		row := r.Row()
		if !f.Match(row) {
			continue
		}
		line = appendRow(line[:0], row, k)
		if _, err := bw.Write(line); err != nil {
			return n, err
		}
		n++
	}
	if err := r.Err(); err != nil {
		return n, err
	}
	return n, bw.Flush()
}

// appendRow formats row with k value columns, as appendRows does.
func appendRow(dst []byte, row *Row, k int) []byte {
	dst = append(dst, row.Device...)
	dst = append(dst, ',')
	if row.HasSeq {
		dst = strconv.AppendUint(dst, row.Seq, 10)
	}
	dst = append(dst, ',')
	if row.HasTime {
		dst = strconv.AppendInt(dst, row.Time, 10)
	}
	for _, v := range row.Values {
		dst = append(dst, ',')
		dst = codec.AppendValue(dst, v)
	}
	for i := len(row.Values); i < k; i++ {
		dst = append(dst, ',')
	}
	return append(dst, '\n')
}
