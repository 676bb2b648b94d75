package sink

import (
	"errors"
	"fmt"
)

// DamageError is a part of a segment the Reader could not read. Damage is
// reported and skipped, never fatal: a torn last frame (ErrTorn) is what a
// crash leaves, and every row before it is still read; after a damaged
// frame the Reader goes on with the next frame.
type DamageError struct {
	Segment string // file name
	Offset  int64  // byte offset in the file of the frame concerned
	Row     int    // 1-based row in that frame's CSV, 0 for frame damage
	Bytes   int64  // frame damage: bytes skipped from Offset (to the next frame or the end)
	Err     error
}

func (e *DamageError) Error() string {
	if e.Row > 0 {
		return fmt.Sprintf("%s: frame at byte %d, row %d: %v", e.Segment, e.Offset, e.Row, e.Err)
	}
	return fmt.Sprintf("%s: byte %d: %v (%d bytes skipped)", e.Segment, e.Offset, e.Err, e.Bytes)
}

func (e *DamageError) Unwrap() error { return e.Err }

// SegmentStats is what a Reader found in one segment so far. Unlike
// Damage, which keeps the first maxDamage reports, the counts are exact.
type SegmentStats struct {
	Name    string // file name as listed, ".partial" included
	Partial bool   // not sealed: being written, or left by a crash not yet recovered
	Width   int    // value columns; -1 when neither the header nor a row frame told
	Frames  int    // frames read intact (checksum verified), the header included
	Rows    int    // rows read
	// BadFrames are frames skipped because they were not zstd frames or
	// failed to decode or their content checksum; BadBytes their bytes.
	BadFrames int
	BadBytes  int64
	BadRows   int  // rows skipped because they did not fit the header
	Torn      bool // the segment ends inside a frame
	// HeaderLost: the header frame was damaged and Width comes from the
	// first row frame that decoded.
	HeaderLost bool
}

// Damaged reports whether anything was lost besides a torn end of a
// .partial segment, which is what a crash or a live writer leaves.
func (s *SegmentStats) Damaged() bool {
	return s.BadFrames > 0 || s.BadRows > 0 || s.HeaderLost || (s.Torn && !s.Partial)
}

// report records damage at off in the open segment: a row when row > 0,
// else a frame of bad bytes (the torn end of the segment when err is
// ErrTorn).
func (r *Reader) report(off int64, row int, err error, bad int64) {
	if r.quiet {
		return
	}
	st := &r.stats[r.cur]
	switch {
	case row > 0:
		st.BadRows++
	case errors.Is(err, ErrTorn):
		st.Torn = true
	default:
		st.BadFrames++
		st.BadBytes += bad
	}
	if len(r.damage) >= maxDamage {
		return
	}
	r.damage = append(r.damage, &DamageError{Segment: r.segs[r.cur].name, Offset: off, Row: row, Bytes: bad, Err: err})
}

// maxDamage bounds the damage a Reader remembers, so a file of garbage
// rows cannot grow the list without bound.
const maxDamage = 1000
