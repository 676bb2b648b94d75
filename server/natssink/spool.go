package natssink

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
)

// The spool is the sink's write-ahead log: every batch is appended to it
// before it is published, and it is read back from the oldest batch
// JetStream has not acknowledged. doc.go has the format.
const (
	spoolMagic   = "FWSPOOL1"
	recHeader    = 8 // u32 length, u32 CRC-32C of the body
	maxRecord    = 16 << 20
	readAhead    = 256 << 10
	segSuffix    = ".spool"
	cursorName   = "cursor"
	lockFileName = ".lock"
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// pos is a place in the spool: a segment and a byte offset in it.
type pos struct {
	seg uint64
	off int64
}

func (p pos) less(q pos) bool { return p.seg < q.seg || p.seg == q.seg && p.off < q.off }

type segInfo struct {
	n    uint64
	size int64 // committed bytes
}

type spool struct {
	dir      string
	lock     *os.File
	segBytes int64
	log      *slog.Logger

	segs []segInfo // live segments, oldest first; the last is being written

	w     *os.File
	wbuf  []byte
	dirty bool // written since the last fsync

	r      *os.File
	rpos   pos
	rbuf   []byte
	rbufAt int64 // offset in r's segment of rbuf[0]

	ack       pos // everything before is acknowledged
	savedAck  pos
	recovered pos // end of what an earlier run left; records before it are recovered ones

	// What recovery found, for Stats.
	recRecords, recReadings, tornBytes, corrupt uint64
}

func segName(n uint64) string { return fmt.Sprintf("%016d%s", n, segSuffix) }

// openSpool locks dir, recovers what an earlier run left in it (cutting a
// torn record off the end of a segment) and starts a new segment.
func openSpool(dir string, segBytes int64, log *slog.Logger) (*spool, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	lock, err := os.OpenFile(filepath.Join(dir, lockFileName), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		lock.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("spool %s is in use by another fleetwire process (give each node its own --node or --data)", dir)
		}
		return nil, fmt.Errorf("lock spool %s: %w", dir, err)
	}
	sp := &spool{dir: dir, lock: lock, segBytes: segBytes, log: log}
	if err := sp.recover(); err != nil {
		lock.Close()
		return nil, err
	}
	if err := sp.rotate(); err != nil {
		lock.Close()
		return nil, err
	}
	return sp, nil
}

func (sp *spool) path(n uint64) string { return filepath.Join(sp.dir, segName(n)) }

func (sp *spool) recover() error {
	ents, err := os.ReadDir(sp.dir)
	if err != nil {
		return err
	}
	var ns []uint64
	for _, e := range ents {
		name, ok := strings.CutSuffix(e.Name(), segSuffix)
		if !ok {
			continue
		}
		if n, err := strconv.ParseUint(name, 10, 64); err == nil {
			ns = append(ns, n)
		}
	}
	slices.Sort(ns)
	cur, haveCur := sp.readCursor()
	for _, n := range ns {
		if haveCur && n < cur.seg {
			// Acknowledged before the last run ended.
			if err := os.Remove(sp.path(n)); err != nil {
				return err
			}
			continue
		}
		from := int64(len(spoolMagic))
		if haveCur && n == cur.seg {
			from = max(cur.off, from)
		}
		size, err := sp.scan(n, from)
		if err != nil {
			return err
		}
		sp.segs = append(sp.segs, segInfo{n: n, size: size})
		if len(sp.segs) == 1 {
			sp.ack = pos{n, from}
		}
	}
	if len(sp.segs) == 0 {
		return nil
	}
	last := sp.segs[len(sp.segs)-1]
	sp.recovered = pos{last.n, last.size}
	sp.rpos, sp.savedAck = sp.ack, sp.ack
	if sp.recRecords > 0 || sp.tornBytes > 0 {
		sp.log.Info("natssink: spool holds batches of an earlier run; publishing them first",
			"dir", sp.dir, "batches", sp.recRecords, "readings", sp.recReadings, "torn_bytes", sp.tornBytes)
	}
	return syncDir(sp.dir)
}

// scan checks the records of segment n from offset from, counts them as
// recovered, and cuts the segment after its last whole record. It
// returns the segment's size.
func (sp *spool) scan(n uint64, from int64) (int64, error) {
	f, err := os.OpenFile(sp.path(n), os.O_RDWR, 0)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return 0, err
	}
	size := st.Size()
	var magic [len(spoolMagic)]byte
	if _, err := f.ReadAt(magic[:], 0); err != nil || string(magic[:]) != spoolMagic {
		// Not even a header: a segment created as the process died.
		sp.tornBytes += uint64(size)
		if err := f.Truncate(0); err != nil {
			return 0, err
		}
		if _, err := f.WriteAt([]byte(spoolMagic), 0); err != nil {
			return 0, err
		}
		return int64(len(spoolMagic)), f.Sync()
	}
	off := min(from, size)
	var hdr [recHeader]byte
	var body []byte
	for off < size {
		if size-off < recHeader {
			break
		}
		if _, err := f.ReadAt(hdr[:], off); err != nil {
			return 0, err
		}
		l := int64(binary.LittleEndian.Uint32(hdr[:4]))
		if l > maxRecord || off+recHeader+l > size {
			break
		}
		body = slices.Grow(body[:0], int(l))[:l]
		if _, err := f.ReadAt(body, off+recHeader); err != nil {
			return 0, err
		}
		var rec record
		if crc32.Checksum(body, crcTable) != binary.LittleEndian.Uint32(hdr[4:]) || !parseRecord(&rec, body) {
			sp.corrupt++
		} else {
			sp.recRecords++
			sp.recReadings += rec.readings
		}
		off += recHeader + l
	}
	if off < size {
		sp.tornBytes += uint64(size - off)
		if err := f.Truncate(off); err != nil {
			return 0, err
		}
		if err := f.Sync(); err != nil {
			return 0, err
		}
	}
	return off, nil
}

func (sp *spool) readCursor() (pos, bool) {
	b, err := os.ReadFile(filepath.Join(sp.dir, cursorName))
	if err != nil {
		return pos{}, false
	}
	var p pos
	if _, err := fmt.Sscanf(string(b), "v1 %d %d\n", &p.seg, &p.off); err != nil {
		sp.log.Warn("natssink: unreadable spool cursor: replaying the whole spool (JetStream drops the batches it has within its duplicate window)", "err", err)
		return pos{}, false
	}
	return p, true
}

// saveCursor records the acknowledged position, so that a restart does
// not republish what JetStream has: a stale cursor costs duplicates only
// past the duplicate window, never loss.
func (sp *spool) saveCursor(sync bool) error {
	if sp.ack == sp.savedAck {
		return nil
	}
	tmp := filepath.Join(sp.dir, cursorName+".tmp")
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(f, "v1 %d %d\n", sp.ack.seg, sp.ack.off)
	if err == nil && sync {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, filepath.Join(sp.dir, cursorName))
	}
	if err != nil {
		return fmt.Errorf("save spool cursor: %w", err)
	}
	sp.savedAck = sp.ack
	return nil
}

// rotate seals the segment being written (fsync) and starts the next.
func (sp *spool) rotate() error {
	if err := sp.commit(); err != nil {
		return err
	}
	var n uint64 = 1
	if k := len(sp.segs); k > 0 {
		n = sp.segs[k-1].n + 1
	}
	if sp.w != nil {
		if err := sp.w.Sync(); err != nil {
			return err
		}
		sp.dirty = false
		if err := sp.w.Close(); err != nil {
			return err
		}
		sp.w = nil
	}
	f, err := os.OpenFile(sp.path(n), os.O_WRONLY|os.O_CREATE|os.O_EXCL|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write([]byte(spoolMagic)); err != nil {
		f.Close()
		os.Remove(f.Name())
		return err
	}
	sp.w = f
	sp.segs = append(sp.segs, segInfo{n: n, size: int64(len(spoolMagic))})
	if len(sp.segs) == 1 {
		sp.ack = pos{n, int64(len(spoolMagic))}
		sp.rpos, sp.savedAck = sp.ack, pos{}
	}
	return syncDir(sp.dir)
}

// rotateDue reports whether the next append rotates first, which writes
// the buffer.
func (sp *spool) rotateDue() bool {
	last := &sp.segs[len(sp.segs)-1]
	return last.size+int64(len(sp.wbuf)) >= sp.segBytes
}

// append buffers r as one record; commit writes it. It rotates first when
// the segment is full, so that records never straddle segments. It
// returns where the record ends once committed.
func (sp *spool) append(r *record) (pos, error) {
	if sp.rotateDue() {
		if err := sp.rotate(); err != nil {
			return pos{}, err
		}
	}
	start := len(sp.wbuf)
	sp.wbuf = append(sp.wbuf, make([]byte, recHeader)...)
	sp.wbuf = binary.AppendUvarint(sp.wbuf, uint64(len(r.id)))
	sp.wbuf = append(sp.wbuf, r.id...)
	sp.wbuf = binary.AppendUvarint(sp.wbuf, uint64(len(r.subject)))
	sp.wbuf = append(sp.wbuf, r.subject...)
	sp.wbuf = binary.AppendUvarint(sp.wbuf, r.readings)
	sp.wbuf = binary.AppendUvarint(sp.wbuf, r.frames)
	sp.wbuf = append(sp.wbuf, r.payload...)
	body := sp.wbuf[start+recHeader:]
	binary.LittleEndian.PutUint32(sp.wbuf[start:], uint32(len(body)))
	binary.LittleEndian.PutUint32(sp.wbuf[start+4:], crc32.Checksum(body, crcTable))
	last := sp.segs[len(sp.segs)-1]
	return pos{last.n, last.size + int64(len(sp.wbuf))}, nil
}

// commit writes the buffered records with one write(2): from then on they
// survive a crash of the process (and after the next fsync, of the host).
// On error nothing of the buffer counts as written, and the segment is
// cut back to its last whole record.
func (sp *spool) commit() error {
	if len(sp.wbuf) == 0 {
		return nil
	}
	last := &sp.segs[len(sp.segs)-1]
	n, err := sp.w.Write(sp.wbuf)
	if err != nil {
		if n > 0 {
			if terr := sp.w.Truncate(last.size); terr != nil {
				err = fmt.Errorf("%w (and cutting the short write: %v)", err, terr)
			}
		}
		sp.wbuf = sp.wbuf[:0]
		return err
	}
	last.size += int64(n)
	sp.wbuf = sp.wbuf[:0]
	sp.dirty = true
	return nil
}

func (sp *spool) sync() error {
	if !sp.dirty || sp.w == nil {
		return nil
	}
	sp.dirty = false
	return sp.w.Sync()
}

// end is the position after the last committed record.
func (sp *spool) end() pos {
	last := sp.segs[len(sp.segs)-1]
	return pos{last.n, last.size}
}

// unacked is the bytes of committed records JetStream has not
// acknowledged.
func (sp *spool) unacked() int64 {
	var n int64
	for _, s := range sp.segs {
		switch {
		case s.n < sp.ack.seg:
		case s.n == sp.ack.seg:
			n += s.size - sp.ack.off
		default:
			n += s.size - int64(len(spoolMagic))
		}
	}
	return n
}

// seek moves the read position back to p (a record start), to republish
// from there.
func (sp *spool) seek(p pos) {
	if p.seg != sp.rpos.seg {
		sp.closeReader()
	}
	sp.rpos = p
}

func (sp *spool) closeReader() {
	if sp.r != nil {
		sp.r.Close()
		sp.r = nil
	}
	sp.rbuf = sp.rbuf[:0]
}

// next reads the record at the read position into r, whose slices alias
// the read buffer until the next call, and returns its start and end.
// ok is false when every committed record has been read. Records that
// fail their checksum are skipped and counted.
func (sp *spool) next(r *record) (start, end pos, ok bool, err error) {
	for {
		segEnd := int64(-1)
		for i, s := range sp.segs {
			if s.n == sp.rpos.seg {
				segEnd = s.size
				if sp.rpos.off >= s.size {
					if i == len(sp.segs)-1 {
						return pos{}, pos{}, false, nil
					}
					sp.closeReader()
					sp.rpos = pos{sp.segs[i+1].n, int64(len(spoolMagic))}
					segEnd = -2
				}
				break
			}
		}
		if segEnd == -2 {
			continue
		}
		if segEnd < 0 {
			return pos{}, pos{}, false, fmt.Errorf("spool: read position in segment %d, which is gone", sp.rpos.seg)
		}
		hdr, err := sp.readAt(sp.rpos.off, recHeader, segEnd)
		if err != nil {
			return pos{}, pos{}, false, err
		}
		l := int64(binary.LittleEndian.Uint32(hdr))
		sum := binary.LittleEndian.Uint32(hdr[4:])
		if l > maxRecord || sp.rpos.off+recHeader+l > segEnd {
			// Cannot happen with what commit and scan leave; give up on
			// the segment rather than loop.
			sp.corrupt++
			sp.rpos.off = segEnd
			continue
		}
		body, err := sp.readAt(sp.rpos.off+recHeader, int(l), segEnd)
		if err != nil {
			return pos{}, pos{}, false, err
		}
		start = sp.rpos
		sp.rpos.off += recHeader + l
		if crc32.Checksum(body, crcTable) != sum || !parseRecord(r, body) {
			sp.corrupt++
			sp.log.Error("natssink: corrupt spool record skipped", "segment", segName(start.seg), "offset", start.off)
			continue
		}
		return start, sp.rpos, true, nil
	}
}

// readAt returns n bytes at off of the read segment, from the read-ahead
// buffer, refilling it with one pread of up to readAhead bytes.
func (sp *spool) readAt(off int64, n int, segEnd int64) ([]byte, error) {
	if off >= sp.rbufAt && off+int64(n) <= sp.rbufAt+int64(len(sp.rbuf)) {
		i := off - sp.rbufAt
		return sp.rbuf[i : i+int64(n)], nil
	}
	if sp.r == nil {
		f, err := os.Open(sp.path(sp.rpos.seg))
		if err != nil {
			return nil, err
		}
		sp.r = f
	}
	want := int(min(max(int64(n), readAhead), segEnd-off))
	sp.rbuf = slices.Grow(sp.rbuf[:0], want)[:want]
	m, err := sp.r.ReadAt(sp.rbuf, off)
	if m < n {
		if err == nil || err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		sp.rbuf = sp.rbuf[:0]
		return nil, fmt.Errorf("spool: read %s at %d: %w", segName(sp.rpos.seg), off, err)
	}
	sp.rbuf, sp.rbufAt = sp.rbuf[:m], off
	return sp.rbuf[:n], nil
}

func parseRecord(r *record, b []byte) bool {
	field := func() ([]byte, bool) {
		l, n := binary.Uvarint(b)
		if n <= 0 || l > uint64(len(b)-n) {
			return nil, false
		}
		f := b[n : n+int(l)]
		b = b[n+int(l):]
		return f, true
	}
	num := func() (uint64, bool) {
		v, n := binary.Uvarint(b)
		if n <= 0 {
			return 0, false
		}
		b = b[n:]
		return v, true
	}
	var ok1, ok2, ok3, ok4 bool
	r.id, ok1 = field()
	r.subject, ok2 = field()
	r.readings, ok3 = num()
	r.frames, ok4 = num()
	r.payload = b
	return ok1 && ok2 && ok3 && ok4 && len(r.id) > 0 && len(r.subject) > 0
}

// acked moves the acknowledged position to p and deletes the segments
// wholly before it.
func (sp *spool) acked(p pos) error {
	sp.ack = p
	var err error
	for len(sp.segs) > 1 && sp.segs[0].n < p.seg {
		if rerr := os.Remove(sp.path(sp.segs[0].n)); rerr != nil && err == nil {
			err = rerr
		}
		sp.segs = sp.segs[1:]
	}
	return err
}

// close writes what is buffered, fsyncs, saves the cursor and unlocks.
func (sp *spool) close() error {
	err := sp.commit()
	if serr := sp.sync(); err == nil {
		err = serr
	}
	if sp.w != nil {
		if cerr := sp.w.Close(); err == nil {
			err = cerr
		}
	}
	sp.closeReader()
	if cerr := sp.saveCursor(true); err == nil {
		err = cerr
	}
	if cerr := sp.lock.Close(); err == nil {
		err = cerr
	}
	return err
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
