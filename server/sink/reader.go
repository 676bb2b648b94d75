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
	"slices"
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

// Reader reads the rows of every segment in a data directory, segment by
// segment in time order and each in the order its rows were written (for
// one device: the order its frames were submitted in). It reads the
// segments that existed when it was opened, .partial ones included, so it
// can run beside a live server; a segment still being written then ends in
// a torn frame, reported as damage.
//
// Every frame's content checksum is verified (zstd.Decoder.DecodeAll). A
// frame that fails is reported and skipped, and reading goes on at the
// next zstd magic number after its start: the damage may have hit the
// frame's own headers, so its length is not trusted.
//
// Its use is bufio.Scanner's: for r.Next() { row := r.Row() }, then
// r.Err(), r.Damage() and r.Segments(). Memory is bounded by one frame
// (MaxFrameBytes).
type Reader struct {
	dir   string
	segs  []segFile
	stats []SegmentStats
	start []int64 // offset of each segment's first row frame
	k     int
	dec   *zstd.Decoder

	cur      int // segment being read, index in segs
	f        *os.File
	fr       frameReader
	frameOff int64
	frameRow int
	zbuf     []byte
	text     []byte
	pos      int
	quiet    bool // looking ahead for a width: report nothing

	row    Row
	vals   []codec.Value
	damage []*DamageError
	err    error
}

// OpenReader lists the segments under dataDir/readings and reads their
// headers. A missing directory is an error; an empty one is not.
func OpenReader(dataDir string) (*Reader, error) {
	return openReader(filepath.Join(dataDir, ReadingsDir), nil)
}

// openReader reads the segments in dir that keep selects, all when keep
// is nil.
func openReader(dir string, keep func(segFile) bool) (*Reader, error) {
	segs, err := listSegments(dir)
	if err != nil {
		return nil, fmt.Errorf("sink: %w", err)
	}
	if keep != nil {
		segs = slices.DeleteFunc(segs, func(s segFile) bool { return !keep(s) })
	}
	dec, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(MaxFrameBytes))
	if err != nil {
		return nil, fmt.Errorf("sink: zstd: %w", err)
	}
	r := &Reader{dir: dir, segs: segs, stats: make([]SegmentStats, len(segs)), start: make([]int64, len(segs)), dec: dec, cur: -1}
	for i, s := range segs {
		r.stats[i] = SegmentStats{Name: s.name, Partial: s.partial, Width: -1}
		if err := r.open(i, 0); err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				continue // removed since listed
			}
			r.Close()
			return nil, err
		}
		k, ok := r.readHeader()
		if !ok && r.f != nil {
			k, ok = r.inferWidth()
			r.stats[i].HeaderLost = true
		}
		if ok {
			r.stats[i].Width = k
			r.start[i] = r.fr.off
			r.k = max(r.k, k)
		}
		r.closeSeg()
	}
	if r.err != nil {
		r.Close()
		return nil, r.err
	}
	r.cur = -1
	return r, nil
}

// Segments returns what the Reader found in each segment so far, in
// order; after Next returned false, in the whole of each.
func (r *Reader) Segments() []SegmentStats { return r.stats }

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
			if err := r.parse(line, r.stats[r.cur].Width); err != nil {
				r.report(r.frameOff, r.frameRow, err, 0)
				continue
			}
			r.stats[r.cur].Rows++
			return true
		}
		if r.f == nil && !r.nextSeg() {
			return false
		}
		if r.readFrame() {
			r.stats[r.cur].Frames++
			r.pos, r.frameRow = 0, 0
		}
	}
	return false
}

// Row returns the current row. It is valid until the next call to Next.
func (r *Reader) Row() *Row { return &r.row }

// Damage returns what the Reader skipped so far, in the order met (the
// first maxDamage; Segments has the exact counts).
func (r *Reader) Damage() []*DamageError { return r.damage }

// Err returns the I/O error that stopped the Reader, if any. Damage is
// not an error here: see Damage and Segments.
func (r *Reader) Err() error { return r.err }

// Close releases the Reader's file and decoder.
func (r *Reader) Close() error {
	r.closeSeg()
	r.dec.Close()
	return nil
}

// readFrame reads and decodes the next frame of the open segment into
// r.text. On damage it reports it and moves past it, and on the end of
// the segment it closes it; both return false.
func (r *Reader) readFrame() bool {
	r.text, r.pos = r.text[:0], 0
	r.frameOff = r.fr.off
	var err error
	r.zbuf, _, err = r.fr.next(r.zbuf)
	if err != nil {
		if errors.Is(err, io.EOF) {
			r.closeSeg()
		} else {
			r.skipDamage(r.frameOff, err)
		}
		return false
	}
	r.text, err = r.dec.DecodeAll(r.zbuf, r.text[:0])
	if err != nil {
		r.text = r.text[:0]
		r.skipDamage(r.frameOff, fmt.Errorf("%w: %v", ErrCorrupt, err))
		return false
	}
	return true
}

// skipDamage reports the frame at off, which could not be read, and goes
// on at the next zstd magic number after off. Without one the rest of the
// segment is the damage and the segment is closed: a torn last frame if
// it was cut short (what a crash leaves), else corrupt. A frame cut short
// with another frame after it had its headers damaged: corrupt.
func (r *Reader) skipDamage(off int64, err error) {
	var fe *frameError
	if errors.As(err, &fe) {
		err = fe.Err
	}
	if !errors.Is(err, ErrTorn) && !errors.Is(err, ErrCorrupt) {
		r.err = fmt.Errorf("sink: %s: %w", r.segs[r.cur].name, err) // I/O
		r.closeSeg()
		return
	}
	next, serr := nextMagic(r.f, off+1)
	if serr != nil {
		r.err = fmt.Errorf("sink: %s: %w", r.segs[r.cur].name, serr)
		r.closeSeg()
		return
	}
	if next < 0 {
		end := off
		if st, err := r.f.Stat(); err == nil {
			end = st.Size()
		}
		r.report(off, 0, err, end-off)
		r.closeSeg()
		return
	}
	if errors.Is(err, ErrTorn) {
		err = fmt.Errorf("%w: frame headers damaged (%v)", ErrCorrupt, err)
	}
	r.report(off, 0, err, next-off)
	r.seek(next)
}

// nextSeg opens the next segment that has rows to read, at its first row
// frame.
func (r *Reader) nextSeg() bool {
	for r.cur+1 < len(r.segs) {
		i := r.cur + 1
		if r.stats[i].Width < 0 {
			r.cur = i
			continue // damage already reported by OpenReader
		}
		if err := r.open(i, r.start[i]); err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				continue
			}
			r.err = err
			return false
		}
		return true
	}
	return false
}

// open opens segment i at byte at. A .partial that was sealed since it
// was listed is found under its sealed name.
func (r *Reader) open(i int, at int64) error {
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
	if r.fr.br == nil {
		r.fr.br = bufio.NewReaderSize(f, 256<<10)
	}
	r.fr.max = MaxFrameBytes
	return r.seek(at)
}

// seek moves the open segment's frame reader to byte at.
func (r *Reader) seek(at int64) error {
	if _, err := r.f.Seek(at, io.SeekStart); err != nil {
		r.err = fmt.Errorf("sink: %s: %w", r.segs[r.cur].name, err)
		r.closeSeg()
		return r.err
	}
	r.fr.br.Reset(r.f)
	r.fr.off = at
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
// number of value columns. Damage is reported and skipped as in Next.
func (r *Reader) readHeader() (int, bool) {
	if !r.readFrame() {
		if st := &r.stats[r.cur]; r.f == nil && !st.Torn && st.BadFrames == 0 {
			// An empty file: created, but not even the header made it.
			r.report(0, 0, ErrTorn, 0)
		}
		return 0, false
	}
	k, ok := parseHeader(r.text)
	if !ok {
		r.report(r.frameOff, 0, fmt.Errorf("%w: first frame is not a header: %.40q", ErrCorrupt, r.text), r.fr.off-r.frameOff)
		r.text = r.text[:0]
		return 0, false
	}
	r.stats[r.cur].Frames++
	r.text = r.text[:0]
	return k, true
}

// inferWidth finds the width of a segment whose header was lost from its
// first row frame that decodes: every row of a segment has the same
// number of cells. It reports nothing and leaves the reader where it
// found it, so Next reads (and reports) those frames again.
func (r *Reader) inferWidth() (int, bool) {
	at := r.fr.off
	r.quiet = true
	defer func() { r.quiet = false }()
	for r.f != nil {
		if !r.readFrame() {
			continue
		}
		line, _, _ := bytes.Cut(r.text, []byte{'\n'})
		r.text = r.text[:0]
		if cells := bytes.Count(line, []byte{','}) + 1; cells > 3 {
			return cells - 3, r.seek(at) == nil
		}
	}
	return 0, false
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
