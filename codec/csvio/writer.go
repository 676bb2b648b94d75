package csvio

import (
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/fleetwire/fleetwire/codec"
)

// flushAt is the buffer size at which Writer hands its rows to the
// underlying writer: large enough that a pipe sees few writes.
const flushAt = 64 << 10

// Writer writes samples as interchange CSV rows. It appends each row to
// its own buffer, so writing allocates nothing once warm. Call Flush at
// the end.
type Writer struct {
	out      io.Writer
	buf      []byte
	names    []string
	fallback []byte
	header   bool
	channels int // of every row; set by the header
	err      error
}

// NewWriter returns a Writer to w. names are the channel column names;
// nil means ch1..chN, with N taken from the first row.
func NewWriter(w io.Writer, names []string) *Writer {
	return &Writer{out: w, names: names, buf: make([]byte, 0, flushAt+4<<10)}
}

// SetFallbackDevice names the device of frames that name none (a receiver
// knows it from the connection). Empty leaves their device field empty.
func (w *Writer) SetFallbackDevice(id string) { w.fallback = []byte(id) }

// DefaultNames returns ch1..chN.
func DefaultNames(n int) []string {
	names := make([]string, n)
	for i := range names {
		names[i] = "ch" + strconv.Itoa(i+1)
	}
	return names
}

func (w *Writer) writeHeader(channels int) error {
	if w.names == nil && channels > 0 {
		w.names = DefaultNames(channels)
	}
	w.header = true
	w.channels = len(w.names)
	w.buf = append(w.buf, ColDevice+","+ColSeq+","+ColTime...)
	for _, n := range w.names {
		if !validName(n) {
			return fmt.Errorf("csv: channel name %q: want a non-empty name without ',', '\"', line breaks or surrounding spaces", n)
		}
		w.buf = append(w.buf, ',')
		w.buf = append(w.buf, n...)
	}
	w.buf = append(w.buf, '\n')
	return nil
}

func (w *Writer) start(channels int) error {
	if w.err != nil {
		return w.err
	}
	if channels < 1 {
		w.err = fmt.Errorf("csv: a sample without channels cannot be a row")
		return w.err
	}
	if !w.header {
		if w.err = w.writeHeader(channels); w.err != nil {
			return w.err
		}
	}
	if channels != w.channels {
		w.err = fmt.Errorf("csv: a frame with %d channels, the header has %d (%s)", channels, w.channels, strings.Join(w.names, ","))
	}
	return w.err
}

// WriteFrame writes the samples of f as rows: device (or the fallback),
// seq (Seq+i when f has HasSeq), unix_ms (when f has HasTime), values.
func (w *Writer) WriteFrame(f *codec.Frame) error {
	if err := w.start(f.Channels); err != nil {
		return err
	}
	dev := f.Device
	if dev == nil {
		dev = w.fallback
	}
	hasSeq, hasTime := f.Flags&codec.HasSeq != 0, f.Flags&codec.HasTime != 0
	for i, n := 0, f.Samples(); i < n; i++ {
		b := append(w.buf, dev...)
		b = append(b, ',')
		if hasSeq {
			b = strconv.AppendUint(b, f.Seq+uint64(i), 10)
		}
		b = append(b, ',')
		if hasTime {
			b = strconv.AppendInt(b, f.Times[i], 10)
		}
		for _, v := range f.Sample(i) {
			b = append(b, ',')
			b = codec.AppendValue(b, v)
		}
		w.buf = append(b, '\n')
		if len(w.buf) >= flushAt {
			if err := w.flushBuf(); err != nil {
				return err
			}
		}
	}
	return nil
}

// WriteRow writes one row as read by a Reader: a foreign CSV converted to
// the interchange schema.
func (w *Writer) WriteRow(r *Row) error {
	if err := w.start(len(r.Values)); err != nil {
		return err
	}
	dev := r.Device
	if dev == nil {
		dev = w.fallback
	}
	b := append(w.buf, dev...)
	b = append(b, ',')
	if r.HasSeq {
		b = strconv.AppendUint(b, r.Seq, 10)
	}
	b = append(b, ',')
	if r.HasTime {
		b = strconv.AppendInt(b, r.Time, 10)
	}
	for _, v := range r.Values {
		b = append(b, ',')
		b = codec.AppendValue(b, v)
	}
	w.buf = append(b, '\n')
	if len(w.buf) >= flushAt {
		return w.flushBuf()
	}
	return nil
}

func (w *Writer) flushBuf() error {
	if _, err := w.out.Write(w.buf); err != nil {
		w.err = fmt.Errorf("csv: write: %w", err)
		return w.err
	}
	w.buf = w.buf[:0]
	return nil
}

// Flush writes what is buffered. A Writer that saw no rows writes the
// header alone (with its names, or no channel columns when it has none).
func (w *Writer) Flush() error {
	if w.err != nil {
		return w.err
	}
	if !w.header {
		if w.err = w.writeHeader(0); w.err != nil {
			return w.err
		}
	}
	return w.flushBuf()
}

// validName reports whether a channel name reads back as itself.
func validName(n string) bool {
	return n != "" && !strings.ContainsAny(n, ",\"\r\n") && strings.TrimSpace(n) == n
}
