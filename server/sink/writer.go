package sink

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/fleetwire/fleetwire/codec"
	"github.com/klauspost/compress/zstd"
)

// writer is the state of the writer goroutine. Nothing else touches it.
type writer struct {
	s       *FileSink
	enc     *zstd.Encoder // one for the life of the sink: EncodeAll reuses its tables
	counter uint64        // of the last segment created
	k       int           // value columns of the rows in buf and of seg

	buf          []byte // CSV rows not yet written: the next zstd frame
	zbuf         []byte
	commas       []byte // k commas, to pad short rows
	bufReadings  uint64
	bufFrames    uint64
	seg          *openSeg
	rc           receipts
	ckbuf        *bufio.Writer // of the checkpoints, made at the first
	adding       bool          // inside add: a full segment is sealed at the chunk's end
	rotate       bool          // the open segment is full: seal it at the chunk's end
	lastErrLog   time.Time
	suppressLogs int
}

// openSeg is the segment being appended to.
type openSeg struct {
	f         *os.File
	name      string // sealed name; the file is name+".partial" until sealed
	opened    time.Time
	size      int64  // bytes of whole frames written
	raw       int64  // CSV bytes in it
	unsynced  uint64 // readings written since the last fsync
	dirSynced bool
}

func (s *FileSink) run() {
	defer close(s.done)
	w := &s.w
	t := time.NewTicker(s.cfg.FlushInterval)
	defer t.Stop()
	// A ticker of its own, not a check on the flush ticks, so that fsyncs
	// keep their interval whatever FlushInterval is.
	var syncC <-chan time.Time
	if iv := s.cfg.FsyncInterval; iv > 0 {
		st := time.NewTicker(iv)
		defer st.Stop()
		syncC = st.C
	}
	for {
		select {
		case c, ok := <-s.queue:
			if !ok {
				w.finish()
				return
			}
			s.c.queueBytes.Add(-c.memBytes())
			w.add(c)
			c.Release()
		case now := <-t.C:
			w.tick(now)
		case <-syncC:
			w.sync()
		}
	}
}

// finish writes what is buffered and seals the open segment.
func (w *writer) finish() {
	w.flush()
	w.seal()
}

func (w *writer) add(c *Chunk) {
	flushAt := w.s.cfg.FlushBytes
	w.rc.begin(c.receipt)
	w.adding = true
	for i := range c.Frames {
		f := &c.Frames[i]
		if f.Channels > w.k {
			// Rows of a segment all have its header's width: a wider
			// device starts a wider segment.
			w.flush()
			w.seal()
			w.k = f.Channels
		}
		if len(w.commas) != w.k {
			w.commas = []byte(strings.Repeat(",", w.k))
		}
		w.buf = appendRows(w.buf, f, w.commas)
		w.bufReadings += uint64(len(f.Values))
		w.bufFrames++
		if len(w.buf) >= flushAt {
			w.flush()
		}
	}
	w.adding = false
	w.rc.end(len(w.buf) == 0, w.seg != nil)
	if w.rotate {
		// A segment full by size is sealed at the end of a chunk, not in
		// its middle, so that a chunk's rows are in one segment (a wider
		// device aside) and the checkpoint after the seal covers whole
		// chunks. The segment grows past SegmentBytes by at most a chunk.
		w.flush()
		w.seal()
	}
	if w.rc.waiting() >= w.s.cfg.QueueChunks {
		// Bound the receipts waiting (and the wait of the devices behind
		// them): fsync now rather than at the next FsyncInterval, or with
		// FsyncOnSeal the next seal.
		w.flush()
		w.sync()
	}
}

// appendRows appends one CSV row per sample of f: device, seq, unix_ms,
// then the values, padded with empty cells to len(commas) value columns.
// seq and unix_ms are empty when the frame did not carry them.
func appendRows(dst []byte, f *codec.Frame, commas []byte) []byte {
	ch := f.Channels
	pad := commas[:len(commas)-ch]
	hasSeq, hasTime := f.Flags&codec.HasSeq != 0, f.Flags&codec.HasTime != 0
	for i, t := range f.Times {
		dst = append(dst, f.Device...)
		dst = append(dst, ',')
		if hasSeq {
			dst = strconv.AppendUint(dst, f.Seq+uint64(i), 10)
		}
		dst = append(dst, ',')
		if hasTime {
			dst = strconv.AppendInt(dst, t, 10)
		}
		for _, v := range f.Values[i*ch : (i+1)*ch] {
			dst = append(dst, ',')
			dst = codec.AppendValue(dst, v)
		}
		dst = append(dst, pad...)
		dst = append(dst, '\n')
	}
	return dst
}

// header is a segment's first zstd frame, alone, so a reader learns the
// width of every segment without reading its rows.
func header(k int) []byte {
	b := []byte("device,seq,unix_ms")
	for i := 1; i <= k; i++ {
		b = append(b, ",ch"...)
		b = strconv.AppendInt(b, int64(i), 10)
	}
	return append(b, '\n')
}

// flush writes the buffered rows to the open segment (creating one if
// needed) as one zstd frame. If that fails the rows are counted as dropped
// for write_error: they are not retried, so a full disk costs a bounded
// amount of memory, not an unbounded backlog.
func (w *writer) flush() {
	if len(w.buf) == 0 {
		return
	}
	readings, frames, raw := w.bufReadings, w.bufFrames, len(w.buf)
	w.bufReadings, w.bufFrames = 0, 0
	defer func() { w.buf = w.buf[:0] }()
	if w.seg == nil {
		if err := w.open(time.Now()); err != nil {
			w.fail("create segment", err)
			w.s.c.dropped[DropWriteError].Add(readings)
			w.rc.lostBuffer(false)
			return
		}
	}
	w.zbuf = w.enc.EncodeAll(w.buf, w.zbuf[:0])
	if err := w.write(w.zbuf); err != nil {
		w.fail("write "+w.seg.name, err)
		w.s.c.dropped[DropWriteError].Add(readings)
		w.rc.lostBuffer(true)
		// Start afresh in a new segment rather than append behind a
		// frame that may be torn.
		w.seal()
		return
	}
	c := &w.s.c
	c.stored.Add(readings)
	c.frames.Add(frames)
	c.rawBytes.Add(uint64(raw))
	w.seg.raw += int64(raw)
	w.seg.unsynced += readings
	w.rc.wrote()
	if w.seg.raw >= w.s.cfg.SegmentBytes {
		if w.adding {
			w.rotate = true
		} else {
			w.seal()
		}
	}
}

// write appends one whole zstd frame to the open segment. A short write is
// undone, so the segment stays a sequence of whole frames.
func (w *writer) write(b []byte) error {
	n, err := w.seg.f.Write(b)
	if err != nil {
		if n > 0 {
			if terr := w.seg.f.Truncate(w.seg.size); terr != nil {
				err = fmt.Errorf("%w (and undoing the short write: %v)", err, terr)
			}
		}
		return err
	}
	w.seg.size += int64(n)
	w.s.c.bytes.Add(uint64(n))
	return nil
}

func (w *writer) open(now time.Time) error {
	for {
		w.counter++
		name := segName(now, w.s.cfg.Node, w.counter)
		f, err := os.OpenFile(filepath.Join(w.s.dir, name+partialSuffix), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if os.IsExist(err) {
			continue
		}
		if err != nil {
			return err
		}
		w.seg = &openSeg{f: f, name: name, opened: now}
		if err := w.write(w.enc.EncodeAll(header(w.k), nil)); err != nil {
			// A segment without its header is no segment: take it back.
			w.seg = nil
			f.Close()
			os.Remove(f.Name())
			return err
		}
		w.s.c.segs.Add(1)
		return nil
	}
}

// seal fsyncs and closes the open segment and renames it to its final
// name, then fsyncs the directory so that the name survives a power loss.
// It settles the receipts of the rows in the segment and writes a
// checkpoint.
func (w *writer) seal() {
	seg := w.seg
	if seg == nil {
		return
	}
	w.seg, w.rotate = nil, false
	durable := true
	if err := seg.f.Sync(); err != nil {
		w.fail("fsync "+seg.name, err)
		durable = false
	} else {
		w.s.c.synced.Add(seg.unsynced)
	}
	if err := seg.f.Close(); err != nil {
		w.fail("close "+seg.name, err)
	}
	sealed := true
	if err := os.Rename(filepath.Join(w.s.dir, seg.name+partialSuffix), filepath.Join(w.s.dir, seg.name)); err != nil {
		w.fail("seal "+seg.name, err)
		sealed = false
	} else if err := syncDir(w.s.dir); err != nil {
		w.fail("fsync "+w.s.dir, err)
		sealed = false
	}
	// The rows are durable once a name of their file is: the sealed one
	// if the directory was fsynced after the rename, else the .partial
	// one if it was fsynced before (a power cut leaves one of the two,
	// and the next start seals a .partial).
	durable = durable && (sealed || seg.dirSynced)
	whole := w.rc.sealed(durable)
	// A checkpoint covers this segment: only once it is durable, and
	// only when the receipts of all its rows are settled. A chunk being
	// added with rows in it (a wider device, or a failed write, in its
	// middle) is not, so its checkpoint waits for the next seal.
	if sealed && durable && whole && w.s.checkpointFn() != nil {
		w.checkpoint(seg.name)
	}
}

func (w *writer) tick(now time.Time) {
	w.flush()
	if seg := w.seg; seg != nil && now.Sub(seg.opened) >= w.s.cfg.SegmentAge {
		w.seal()
	}
}

// sync fsyncs the open segment if anything was written since the last
// fsync, and settles the receipts of what was written. Rows still in buf
// are not written yet: they wait for the next flush and the fsync after
// it.
func (w *writer) sync() {
	seg := w.seg
	if seg == nil || seg.unsynced == 0 && w.rc.written == 0 {
		return
	}
	if seg.unsynced > 0 {
		if err := seg.f.Sync(); err != nil {
			// These readings stay Stored but never count as Synced, and
			// their receipts are settled false: after a failed fsync
			// Linux may have dropped their dirty pages, so a later
			// successful fsync would not cover them.
			w.fail("fsync "+seg.name, err)
			seg.unsynced = 0
			w.rc.synced(false)
			return
		}
		w.s.c.synced.Add(seg.unsynced)
		seg.unsynced = 0
	}
	if !seg.dirSynced {
		// The .partial's own name must be durable too; until it is, the
		// receipts wait (for the next fsync or the seal).
		if err := syncDir(w.s.dir); err != nil {
			w.fail("fsync "+w.s.dir, err)
			return
		}
		seg.dirSynced = true
	}
	w.rc.synced(true)
}

// fail records a write error: the first one is what Close returns.
func (w *writer) fail(op string, err error) {
	w.s.c.writeErrors.Add(1)
	if w.s.err == nil {
		w.s.err = fmt.Errorf("sink: %s: %w", op, err)
	}
	w.logError("sink: write failed", op, err)
}

// logError logs at most one line a second, so that a full disk cannot
// flood the log.
func (w *writer) logError(msg, op string, err error) {
	if now := time.Now(); now.Sub(w.lastErrLog) >= time.Second {
		w.s.cfg.Logger.Error(msg, "op", op, "err", err, "suppressed", w.suppressLogs)
		w.lastErrLog, w.suppressLogs = now, 0
	} else {
		w.suppressLogs++
	}
}
