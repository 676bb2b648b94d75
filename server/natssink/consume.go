package natssink

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/fleetwire/fleetwire/codec"
	"github.com/fleetwire/fleetwire/codec/csvio"
	"github.com/fleetwire/fleetwire/codec/wire"
)

// ReadOptions select what Read prints.
type ReadOptions struct {
	Stream  string   // default DefaultStream
	Subject string   // subject prefix; default DefaultSubject
	Devices []string // only these devices; none means all
	// Since, when HasSince, keeps rows whose device time is at or after
	// it (unix ms), as `fleetwire export --since` does; rows without a
	// time are left out then. Reading starts at the messages stored
	// SinceSlack before it, so a device clock that runs ahead of the
	// NATS server's by more than that can lose rows.
	Since      int64
	HasSince   bool
	SinceSlack time.Duration // default 1 minute
	// Follow keeps reading new messages until ctx ends. Without it Read
	// stops at the stream's last message as of the start.
	Follow bool
	// Channels is the number of value columns (default 8, the file
	// sink's segment width, so the output equals `fleetwire export`'s for
	// devices of up to 8 channels). A wider frame prints a new header
	// line of its width first, as a new segment does in zstdcat output.
	Channels int
	// Limits bound the decoding of a message; zero fields are generous
	// defaults (a message is at most NATS's max_payload).
	Limits codec.Limits
}

// ReadStats count what Read did.
type ReadStats struct {
	Messages uint64 // messages read
	Rows     uint64 // rows written
	Skipped  uint64 // messages that did not decode (reported to errs)
	// Devices had rows with sequence numbers. MissingRows counts, summed
	// over them, the sequence numbers between a device's lowest and
	// highest row that no row has: what a node held only in memory when
	// it died shows here, and nowhere else. MissingReadings weighs each
	// device's missing rows by its channels; GapDevices is how many
	// devices miss any. A gap before a device's first row or after its
	// last is invisible.
	Devices         int
	GapDevices      int
	MissingRows     uint64
	MissingReadings uint64
	// DuplicateRows counts rows whose device and sequence number an
	// earlier row had: a batch stored twice (republished past JetStream's
	// duplicate window), or an acking device's resend that another node
	// stored again (doc.go says when). DuplicateReadings weighs them by
	// channels; DupDevices is how many devices have any.
	DupDevices        int
	DuplicateRows     uint64
	DuplicateReadings uint64
}

// seqSpan is what Read saw of one device's sequence numbers: the
// distinct numbers as runs (one, unless rows are missing), and how many
// rows had them.
type seqSpan struct {
	runs     []codec.SeqRange // ascending, neither overlapping nor adjacent
	rows     uint64
	channels int
}

// add counts rows [lo, hi].
func (s *seqSpan) add(lo, hi uint64) {
	s.rows += hi - lo + 1
	n := len(s.runs)
	// Fast path: rows in order, continuing or past the last run.
	if n == 0 || lo > s.runs[n-1].Hi+1 {
		s.runs = append(s.runs, codec.SeqRange{Lo: lo, Hi: hi})
		return
	}
	if lo >= s.runs[n-1].Lo {
		s.runs[n-1].Hi = max(s.runs[n-1].Hi, hi)
		return
	}
	// Slow path: runs [i, j) overlap or touch [lo, hi]; merge them.
	i, _ := slices.BinarySearchFunc(s.runs, lo, func(r codec.SeqRange, q uint64) int {
		if r.Hi+1 < q {
			return -1
		}
		return 1
	})
	j := i
	for j < n && s.runs[j].Lo <= hi+1 {
		j++
	}
	m := codec.SeqRange{Lo: lo, Hi: hi}
	if i < j {
		m.Lo, m.Hi = min(lo, s.runs[i].Lo), max(hi, s.runs[j-1].Hi)
	}
	s.runs = slices.Replace(s.runs, i, j, m)
}

// gapCounter finds the rows missing from each device's sequence, and
// those it has twice. It keeps, per device, one run per stretch of rows
// between gaps.
type gapCounter map[string]*seqSpan

// add counts rows [lo, hi] of device dev.
func (g gapCounter) add(dev []byte, lo, hi uint64, channels int) {
	s := g[string(dev)]
	if s == nil {
		s = &seqSpan{}
		g[string(dev)] = s
	}
	s.channels = max(s.channels, channels)
	s.add(lo, hi)
}

// addFrame counts the rows of f that Read wrote: all of them, or those
// --since kept.
func (g gapCounter) addFrame(f *codec.Frame, since int64, hasSince bool) {
	n := uint64(f.Samples())
	if f.Flags&codec.HasSeq == 0 || f.Channels <= 0 || n == 0 {
		return
	}
	if !hasSince {
		g.add(f.Device, f.Seq, f.Seq+n-1, f.Channels)
		return
	}
	for i := range n {
		if f.Flags&codec.HasTime != 0 && f.Times[i] >= since {
			g.add(f.Device, f.Seq+i, f.Seq+i, f.Channels)
		}
	}
}

func (g gapCounter) count(st *ReadStats) {
	st.Devices, st.GapDevices, st.MissingRows, st.MissingReadings = len(g), 0, 0, 0
	st.DupDevices, st.DuplicateRows, st.DuplicateReadings = 0, 0, 0
	for _, s := range g {
		var distinct uint64
		for _, r := range s.runs {
			distinct += r.Hi - r.Lo + 1
		}
		if span := s.runs[len(s.runs)-1].Hi - s.runs[0].Lo + 1; distinct < span {
			st.GapDevices++
			st.MissingRows += span - distinct
			st.MissingReadings += (span - distinct) * uint64(s.channels)
		}
		if s.rows > distinct {
			st.DupDevices++
			st.DuplicateRows += s.rows - distinct
			st.DuplicateReadings += (s.rows - distinct) * uint64(s.channels)
		}
	}
}

// Read writes the readings of the stream to w as interchange CSV
// (device,seq,unix_ms,ch1..chK), in stream order, each batch decoded with
// the codec package. Messages that do not decode are skipped and handed
// to bad (which may be nil); their count is in the stats.
func Read(ctx context.Context, nc *nats.Conn, w io.Writer, o ReadOptions, bad func(seq uint64, err error)) (st ReadStats, err error) {
	gaps := gapCounter{}
	defer func() { gaps.count(&st) }()
	if o.Stream == "" {
		o.Stream = DefaultStream
	}
	if o.Subject == "" {
		o.Subject = DefaultSubject
	}
	if o.Channels <= 0 {
		o.Channels = 8
	}
	if o.SinceSlack <= 0 {
		o.SinceSlack = time.Minute
	}
	lim := o.Limits
	if lim.MaxFrame == 0 {
		lim.MaxFrame = 8 << 20
	}
	if lim.MaxDecoded == 0 {
		lim.MaxDecoded = 64 << 20
	}
	if lim.MaxSamples == 0 {
		lim.MaxSamples = 1 << 20
	}
	if lim.MaxChannels == 0 {
		lim.MaxChannels = 4096
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return st, err
	}
	stream, err := js.Stream(ctx, o.Stream)
	if err != nil {
		return st, fmt.Errorf("stream %s: %w", o.Stream, err)
	}
	last := stream.CachedInfo().State.LastSeq
	cc := jetstream.OrderedConsumerConfig{DeliverPolicy: jetstream.DeliverAllPolicy}
	var want map[string]bool
	if len(o.Devices) > 0 {
		want = map[string]bool{}
		for _, d := range o.Devices {
			want[d] = true
			subj := string(SubjectToken([]byte(o.Subject+"."), idBytes(nil, []byte(d))))
			cc.FilterSubjects = append(cc.FilterSubjects, subj)
		}
	}
	if o.HasSince {
		t := time.UnixMilli(o.Since).Add(-o.SinceSlack)
		cc.DeliverPolicy, cc.OptStartTime = jetstream.DeliverByStartTimePolicy, &t
	}
	cons, err := stream.OrderedConsumer(ctx, cc)
	if err != nil {
		return st, fmt.Errorf("consumer on %s: %w", o.Stream, err)
	}
	rw := rowWriter{w: bufio.NewWriterSize(w, 64<<10), k: o.Channels}
	if err := rw.header(o.Channels); err != nil {
		return st, err
	}
	if !o.Follow {
		info, err := cons.Info(ctx)
		if err != nil {
			return st, err
		}
		if last == 0 || info.NumPending == 0 {
			return st, rw.w.Flush()
		}
	}
	it, err := cons.Messages()
	if err != nil {
		return st, err
	}
	defer it.Stop()
	dec := wire.NewDecoder(lim, 0, nil)
	var batch codec.Batch
	for {
		m, err := it.Next(jetstream.NextContext(ctx))
		if err != nil {
			if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
				if o.Follow {
					err = nil
				}
			}
			if ferr := rw.w.Flush(); err == nil {
				err = ferr
			}
			return st, err
		}
		st.Messages++
		md, err := m.Metadata()
		if err != nil {
			return st, err
		}
		batch.Reset()
		if err := dec.Decode(&batch, m.Data()); err != nil {
			st.Skipped++
			if bad != nil {
				bad(md.Sequence.Stream, err)
			}
		}
		for i := range batch.Frames {
			f := &batch.Frames[i]
			if want != nil && !want[string(f.Device)] {
				continue
			}
			n, err := rw.frame(f, o.Since, o.HasSince)
			st.Rows += n
			gaps.addFrame(f, o.Since, o.HasSince)
			if err != nil {
				return st, err
			}
		}
		if o.Follow && md.NumPending == 0 {
			if err := rw.w.Flush(); err != nil {
				return st, err
			}
		}
		if !o.Follow && (md.Sequence.Stream >= last || md.NumPending == 0) {
			return st, rw.w.Flush()
		}
	}
}

// rowWriter writes rows the way `fleetwire export` does: K value
// columns, narrower rows padded with empty cells. csvio.Writer needs
// every row as wide as its header, which a stream of mixed devices is
// not.
type rowWriter struct {
	w    *bufio.Writer
	k    int
	line []byte
}

func (rw *rowWriter) header(k int) error {
	rw.k = k
	b := append(rw.line[:0], csvio.ColDevice+","+csvio.ColSeq+","+csvio.ColTime...)
	for _, n := range csvio.DefaultNames(k) {
		b = append(b, ',')
		b = append(b, n...)
	}
	rw.line = append(b, '\n')
	_, err := rw.w.Write(rw.line)
	return err
}

func (rw *rowWriter) frame(f *codec.Frame, since int64, hasSince bool) (uint64, error) {
	if f.Channels <= 0 {
		return 0, nil
	}
	if f.Channels > rw.k {
		if err := rw.header(f.Channels); err != nil {
			return 0, err
		}
	}
	hasSeq, hasTime := f.Flags&codec.HasSeq != 0, f.Flags&codec.HasTime != 0
	var n uint64
	for i := range f.Samples() {
		if hasSince && (!hasTime || f.Times[i] < since) {
			continue
		}
		b := append(rw.line[:0], f.Device...)
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
		for j := f.Channels; j < rw.k; j++ {
			b = append(b, ',')
		}
		rw.line = append(b, '\n')
		if _, err := rw.w.Write(rw.line); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}
