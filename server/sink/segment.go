package sink

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Segment files: seg-<UTC time of the first write>-[<node>-]<counter>.csv.zst,
// with ".partial" appended while the writer still appends to it. The
// fixed-width time sorts segments chronologically by name; the node (when
// the server has a name) lets several server processes share one data
// directory; the counter keeps names unique within a millisecond and
// across restarts (it continues from the node's highest one).
const (
	segPrefix     = "seg-"
	segSuffix     = ".csv.zst"
	partialSuffix = ".partial"
	segTimeLayout = "20060102T150405.000Z"
	lockName      = ".lock"
	// ReadingsDir is the directory under the data directory that holds
	// the segments.
	ReadingsDir = "readings"
)

func segName(t time.Time, node string, n uint64) string {
	if node != "" {
		node += "-"
	}
	return fmt.Sprintf("%s%s-%s%06d%s", segPrefix, t.UTC().Format(segTimeLayout), node, n, segSuffix)
}

// segFile is a segment found in a directory.
type segFile struct {
	name    string // file name as found, ".partial" included
	partial bool
	node    string
	counter uint64
}

// base is the sealed name, which orders segments.
func (s segFile) base() string { return strings.TrimSuffix(s.name, partialSuffix) }

// parseSegName parses a segment file name; ok is false for other files.
func parseSegName(name string) (s segFile, ok bool) {
	s = segFile{name: name, partial: strings.HasSuffix(name, partialSuffix)}
	b, found := strings.CutSuffix(s.base(), segSuffix)
	if !found || !strings.HasPrefix(b, segPrefix) {
		return s, false
	}
	b = b[len(segPrefix):]
	if len(b) < len(segTimeLayout)+2 || b[len(segTimeLayout)] != '-' {
		return s, false
	}
	if _, err := time.Parse(segTimeLayout, b[:len(segTimeLayout)]); err != nil {
		return s, false
	}
	rest := b[len(segTimeLayout)+1:]
	i := strings.LastIndexByte(rest, '-')
	if i >= 0 {
		s.node = rest[:i]
	}
	n, err := strconv.ParseUint(rest[i+1:], 10, 64)
	if err != nil {
		return s, false
	}
	s.counter = n
	return s, true
}

// listSegments returns the segments in dir in time order (by name).
func listSegments(dir string) ([]segFile, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var segs []segFile
	for _, e := range ents {
		if !e.Type().IsRegular() {
			continue
		}
		if s, ok := parseSegName(e.Name()); ok {
			segs = append(segs, s)
		}
	}
	slices.SortFunc(segs, func(a, b segFile) int { return strings.Compare(a.base(), b.base()) })
	return segs, nil
}

// lockDir takes an exclusive lock on dir for this node, so that two
// servers never write (or recover) the same segments: processes that share
// ports with --reuseport need their own --data or their own node name.
func lockDir(dir, node string) (*os.File, error) {
	name := lockName
	if node != "" {
		name += "-" + node
	}
	f, err := os.OpenFile(filepath.Join(dir, name), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("%s is in use by another fleetwire process with node name %q (give each process its own --data or node name)", dir, node)
		}
		return nil, fmt.Errorf("lock %s: %w", dir, err)
	}
	return f, nil
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

// zerosFrom reports whether f holds only zero bytes from off to its end.
func zerosFrom(f io.ReaderAt, off int64) (bool, error) {
	buf := make([]byte, 64<<10)
	for {
		n, err := f.ReadAt(buf, off)
		for _, b := range buf[:n] {
			if b != 0 {
				return false, nil
			}
		}
		off += int64(n)
		if errors.Is(err, io.EOF) {
			return true, nil
		}
		if err != nil {
			return false, err
		}
	}
}

// recoverPartial seals a segment a crashed run left behind: a torn last
// frame (the write the crash interrupted, or zeros where a power cut lost
// the data of a write) is cut off so the segment is a clean sequence of
// frames again, then the file is fsynced and renamed.
// Anything else wrong with it is left in place for Reader to report.
// It returns how many bytes it cut.
func recoverPartial(dir string, s segFile, maxFrame int, log *slog.Logger) (int64, error) {
	path := filepath.Join(dir, s.name)
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return 0, err
	}
	fr := frameReader{br: bufio.NewReaderSize(f, 64<<10), max: maxFrame}
	var buf []byte
	good := int64(0)
	for {
		buf, _, err = fr.next(buf)
		if err != nil {
			break
		}
		good = fr.off
	}
	var cut int64
	if errors.Is(err, ErrTorn) {
		// Cut short, or only its length fields damaged? A frame after it
		// means the latter, and cutting would throw that frame away.
		next, merr := nextMagic(f, good+1)
		if merr != nil {
			return 0, merr
		}
		if next >= 0 {
			err = fmt.Errorf("%w: frame at byte %d is damaged, not torn: a frame starts at byte %d", ErrCorrupt, good, next)
		}
	} else if errors.Is(err, ErrCorrupt) {
		// A power cut can leave a file's end as zeros: its new size
		// reached the disk, its last data did not (XFS can; ext4's
		// data=ordered does not). Zeros to the end are a tear too.
		zeros, zerr := zerosFrom(f, good)
		if zerr != nil {
			return 0, zerr
		}
		if zeros {
			err = ErrTorn
		}
	}
	switch {
	case errors.Is(err, io.EOF):
	case errors.Is(err, ErrTorn):
		cut = st.Size() - good
		if err := f.Truncate(good); err != nil {
			return 0, fmt.Errorf("cut torn frame: %w", err)
		}
		log.Warn("sink: cut the torn last frame of a segment left by an earlier run",
			"segment", s.name, "offset", good, "bytes", cut)
	default:
		log.Warn("sink: segment left by an earlier run is damaged; sealing it as it is, readers will report it",
			"segment", s.name, "err", err)
	}
	if err := f.Sync(); err != nil {
		return cut, err
	}
	if good == 0 && (cut > 0 || st.Size() == 0) {
		// Not even the header was written whole: there is nothing to keep.
		return cut, os.Remove(path)
	}
	return cut, os.Rename(path, filepath.Join(dir, s.base()))
}
