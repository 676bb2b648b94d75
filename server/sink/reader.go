package sink

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"

	"github.com/fleetwire/fleetwire/codec"
	"github.com/klauspost/compress/zstd"
)

// Row is one stored sample.
type Row struct {
	Device  []byte
	Seq     uint64
	HasSeq  bool
	Time    int64 // unix ms, device time
	HasTime bool
	Values  []codec.Value // the sample's channels; trailing empty cells are not channels
}

// DamageError is a part of a segment the Reader could not read. Damage is
// reported and skipped, never fatal: a torn last frame (ErrTorn) is what a
// crash leaves, and every row before it is still read.
type DamageError struct {
	Segment string // file name
	Offset  int64  // byte offset in the file of the frame concerned
	Row     int    // 1-based row in that frame's CSV, 0 for frame damage
	Err     error
}

func (e *DamageError) Error() string {
	if e.Row > 0 {
		return fmt.Sprintf("%s: frame at byte %d, row %d: %v", e.Segment, e.Offset, e.Row, e.Err)
	}
	return fmt.Sprintf("%s: byte %d: %v", e.Segment, e.Offset, e.Err)
}

func (e *DamageError) Unwrap() error { return e.Err }

// Reader reads the rows of every segment in a data directory, segment by
// segment in time order and each in the order its rows were written (for
// one device: the order its frames were submitted in). It reads the
// segments that existed when it was opened, .partial ones included, so it
// can run beside a live server; a segment still being written then ends in
// a torn frame, reported as damage.
//
// Its use is bufio.Scanner's: for r.Next() { row := r.Row() }, then
// r.Err(). Memory is bounded by one frame (MaxFrameBytes).
type Reader struct {
	dir    string
	segs   []segFile
	widths []int // value columns per segment, -1 if its header is unreadable
	k      int
	dec    *zstd.Decoder

	cur      int // segment being read, index in segs
	f        *os.File
	fr       frameReader
	frameOff int64
	frameRow int
	zbuf     []byte
	text     []byte
	pos      int

	row    Row
	vals   []codec.Value
	damage []*DamageError
	err    error
}

// OpenReader lists the segments under dataDir/readings and reads their
// headers. A missing directory is an error; an empty one is not.
func OpenReader(dataDir string) (*Reader, error) {
	dir := filepath.Join(dataDir, ReadingsDir)
	segs, err := listSegments(dir)
	if err != nil {
		return nil, fmt.Errorf("sink: %w", err)
	}
	dec, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(MaxFrameBytes))
	if err != nil {
		return nil, fmt.Errorf("sink: zstd: %w", err)
	}
	r := &Reader{dir: dir, segs: segs, widths: make([]int, len(segs)), dec: dec, cur: -1}
	for i := range segs {
		r.widths[i] = -1
		if err := r.open(i); err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				continue // removed since listed
			}
			r.Close()
			return nil, err
		}
		if w, ok := r.readHeader(); ok {
			r.widths[i] = w
			r.k = max(r.k, w)
		}
		r.closeSeg()
	}
	r.cur = -1
	return r, nil
}

// Segments returns the names of the segments the Reader reads, in order.
func (r *Reader) Segments() []string {
	names := make([]string, len(r.segs))
	for i, s := range r.segs {
		names[i] = s.name
	}
	return names
}

// Channels returns the widest segment's number of value columns.
func (r *Reader) Channels() int { return r.k }

// Next advances to the next row and reports whether there is one.
func (r *Reader) Next() bool {
	for r.err == nil {
		if r.pos < len(r.text) {
			end := bytes.IndexByte(r.text[r.pos:], '\n')
			if end < 0 {
				end = len(r.text) - r.pos
			}
			line := r.text[r.pos : r.pos+end]
			r.pos += end + 1
			r.frameRow++
			if err := r.parse(line, r.widths[r.cur]); err != nil {
				r.report(r.frameOff, r.frameRow, err)
				continue
			}
			return true
		}
		if r.f == nil && !r.nextSeg() {
			return false
		}
		r.frameOff = r.fr.off
		var err error
		r.zbuf, _, err = r.fr.next(r.zbuf)
		if err != nil {
			if !errors.Is(err, io.EOF) {
				r.reportFrame(err)
			}
			r.closeSeg()
			continue
		}
		r.text, err = r.dec.DecodeAll(r.zbuf, r.text[:0])
		if err != nil {
			// The frame's extent is known, so the next one can be read.
			r.report(r.frameOff, 0, fmt.Errorf("%w: %v", ErrCorrupt, err))
			r.text = r.text[:0]
		}
		r.pos, r.frameRow = 0, 0
	}
	return false
}

// Row returns the current row. It is valid until the next call to Next.
func (r *Reader) Row() *Row { return &r.row }

// Damage returns what the Reader skipped so far, in the order met.
func (r *Reader) Damage() []*DamageError { return r.damage }

// Err returns the I/O error that stopped the Reader, if any. Damage is
// not an error here: see Damage.
func (r *Reader) Err() error { return r.err }

// Close releases the Reader's file and decoder.
func (r *Reader) Close() error {
	r.closeSeg()
	r.dec.Close()
	return nil
}

// nextSeg opens the next readable segment past its header.
func (r *Reader) nextSeg() bool {
	for r.cur+1 < len(r.segs) {
		r.cur++
		if r.widths[r.cur] < 0 {
			continue // damage already reported by OpenReader
		}
		if err := r.open(r.cur); err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				continue
			}
			r.err = err
			return false
		}
		if _, ok := r.readHeader(); ok {
			return true
		}
		r.closeSeg()
	}
	return false
}

// open opens segment i. A .partial that was sealed since it was listed is
// found under its sealed name.
func (r *Reader) open(i int) error {
	r.cur = i
	s := r.segs[i]
	f, err := os.Open(filepath.Join(r.dir, s.name))
	if err != nil && s.partial && errors.Is(err, fs.ErrNotExist) {
		f, err = os.Open(filepath.Join(r.dir, s.base()))
	}
	if err != nil {
		return fmt.Errorf("sink: %w", err)
	}
	r.f = f
	br := r.fr.br
	if br == nil {
		br = bufio.NewReaderSize(f, 256<<10)
	} else {
		br.Reset(f)
	}
	r.fr = frameReader{br: br, max: MaxFrameBytes}
	return nil
}

func (r *Reader) closeSeg() {
	if r.f != nil {
		r.f.Close()
		r.f = nil
	}
	r.text, r.pos = r.text[:0], 0
}

// readHeader reads the header frame of the open segment and returns its
// number of value columns.
func (r *Reader) readHeader() (int, bool) {
	var err error
	r.zbuf, _, err = r.fr.next(r.zbuf)
	if err != nil {
		if errors.Is(err, io.EOF) {
			err = ErrTorn // created, but not even the header made it
		}
		r.reportFrame(err)
		return 0, false
	}
	r.text, err = r.dec.DecodeAll(r.zbuf, r.text[:0])
	if err != nil {
		r.report(0, 0, fmt.Errorf("%w: header: %v", ErrCorrupt, err))
		return 0, false
	}
	k, ok := parseHeader(r.text)
	if !ok {
		r.report(0, 0, fmt.Errorf("%w: first frame is not a header: %.40q", ErrCorrupt, r.text))
		return 0, false
	}
	r.text = r.text[:0]
	return k, true
}

// parseHeader checks "device,seq,unix_ms,ch1,...,chK\n" and returns K.
func parseHeader(b []byte) (int, bool) {
	const fixed = "device,seq,unix_ms"
	if !bytes.HasPrefix(b, []byte(fixed)) || len(b) == 0 || b[len(b)-1] != '\n' {
		return 0, false
	}
	rest := b[len(fixed) : len(b)-1]
	k := 0
	for len(rest) > 0 {
		k++
		col := ",ch" + strconv.Itoa(k)
		if !bytes.HasPrefix(rest, []byte(col)) {
			return 0, false
		}
		rest = rest[len(col):]
	}
	return k, true
}

func (r *Reader) reportFrame(err error) {
	var fe *frameError
	if errors.As(err, &fe) {
		r.report(fe.Offset, 0, fe.Err)
		return
	}
	r.report(r.fr.off, 0, err)
}

func (r *Reader) report(off int64, row int, err error) {
	if len(r.damage) >= maxDamage {
		return
	}
	r.damage = append(r.damage, &DamageError{Segment: r.segs[r.cur].name, Offset: off, Row: row, Err: err})
}

// maxDamage bounds the damage a Reader remembers, so a file of garbage
// rows cannot grow the list without bound.
const maxDamage = 1000

// errBadRow is a row that does not fit its segment's header.
var errBadRow = errors.New("malformed row")

// parse fills r.row from a CSV row of a segment with k value columns.
func (r *Reader) parse(line []byte, k int) error {
	row := &r.row
	*row = Row{}
	r.vals = r.vals[:0]
	field := func() ([]byte, bool) {
		if line == nil {
			return nil, false
		}
		i := bytes.IndexByte(line, ',')
		if i < 0 {
			f := line
			line = nil
			return f, true
		}
		f := line[:i]
		line = line[i+1:] // non-nil even when empty: one more (empty) field
		return f, true
	}
	dev, ok := field()
	if !ok || len(dev) == 0 {
		return fmt.Errorf("%w: no device", errBadRow)
	}
	if bytes.ContainsAny(dev, "\"\r") {
		// The writer never stores these (Chunk.Add); passing them on
		// would make the export's CSV ambiguous.
		return fmt.Errorf("%w: quote or CR in device", errBadRow)
	}
	row.Device = dev
	seq, ok := field()
	if !ok {
		return fmt.Errorf("%w: no seq column", errBadRow)
	}
	if len(seq) > 0 {
		v, ok := codec.ParseUint(seq)
		if !ok {
			return fmt.Errorf("%w: seq %q", errBadRow, seq)
		}
		row.Seq, row.HasSeq = v, true
	}
	ts, ok := field()
	if !ok {
		return fmt.Errorf("%w: no unix_ms column", errBadRow)
	}
	if len(ts) > 0 {
		v, ok := codec.ParseInt(ts)
		if !ok {
			return fmt.Errorf("%w: unix_ms %q", errBadRow, ts)
		}
		row.Time, row.HasTime = v, true
	}
	for c := 0; c < k; c++ {
		cell, ok := field()
		if !ok {
			return fmt.Errorf("%w: %d value columns, want %d", errBadRow, c, k)
		}
		if len(cell) == 0 {
			continue
		}
		if c > len(r.vals) {
			return fmt.Errorf("%w: empty cell before ch%d", errBadRow, c+1)
		}
		v, reason := codec.ParseValue(cell)
		if reason != codec.ReasonNone {
			return fmt.Errorf("%w: ch%d: %s", errBadRow, c+1, reason)
		}
		r.vals = append(r.vals, v)
	}
	if line != nil {
		return fmt.Errorf("%w: more than %d value columns", errBadRow, k)
	}
	if len(r.vals) == 0 {
		return fmt.Errorf("%w: no values", errBadRow)
	}
	row.Values = r.vals
	return nil
}
