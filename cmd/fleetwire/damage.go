package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/fleetwire/fleetwire/server/sink"
)

// damageSummary adds up what a sink.Reader found, for export and verify.
type damageSummary struct {
	segments, partial  int // segments read; of them not sealed
	frames, rows       int // intact frames (headers included); rows read
	damaged            int // segments with damage beyond a torn .partial end
	badFrames, badRows int
	badBytes           int64
	torn               int      // .partial segments ending in a torn frame
	where, tornWhere   []string // segment@offset of skipped frames; of torn ends
}

// maxWhere bounds the places a summary line names.
const maxWhere = 5

func summarize(r *sink.Reader) damageSummary {
	var s damageSummary
	for _, st := range r.Segments() {
		s.segments++
		s.frames += st.Frames
		s.rows += st.Rows
		s.badFrames += st.BadFrames
		s.badBytes += st.BadBytes
		s.badRows += st.BadRows
		if st.Partial {
			s.partial++
		}
		if st.Damaged() {
			s.damaged++
		}
		switch {
		case st.Torn && st.Partial:
			s.torn++
		case st.Torn:
			s.badFrames++ // a sealed segment cut short after it was sealed
		}
	}
	for _, d := range r.Damage() {
		if d.Row > 0 {
			continue
		}
		at := fmt.Sprintf("%s@%d", d.Segment, d.Offset)
		if errors.Is(d, sink.ErrTorn) && strings.HasSuffix(d.Segment, ".partial") {
			s.tornWhere = append(s.tornWhere, at)
		} else {
			s.where = append(s.where, at)
		}
	}
	return s
}

// String is the one-line summary: counts, then where frames were skipped.
func (s damageSummary) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d segments (%d not sealed), %d damaged; %d frames skipped", s.segments, s.partial, s.damaged, s.badFrames)
	if s.badFrames > 0 {
		fmt.Fprintf(&b, " (%d bytes: %s)", s.badBytes, list(s.where))
	}
	fmt.Fprintf(&b, ", %d rows skipped", s.badRows)
	if s.torn > 0 {
		fmt.Fprintf(&b, ", %d torn ends of .partial segments (%s)", s.torn, list(s.tornWhere))
	}
	return b.String()
}

func list(where []string) string {
	if len(where) <= maxWhere {
		return strings.Join(where, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(where[:maxWhere], ", "), len(where)-maxWhere)
}
