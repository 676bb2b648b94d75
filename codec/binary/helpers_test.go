package binary

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/fleetwire/fleetwire/codec"
)

// mk builds a frame from text values, sample-major; times nil means zero
// times (a frame without HasTime).
func mk(tb testing.TB, dev string, seq uint64, flags codec.FrameFlags, times []int64, nc int, vals ...string) *codec.Frame {
	tb.Helper()
	f := &codec.Frame{Seq: seq, Flags: flags, Channels: nc, Times: times}
	if dev != "" {
		f.Device = []byte(dev)
	}
	if times == nil {
		f.Times = make([]int64, len(vals)/nc)
	}
	for _, s := range vals {
		v, r := codec.ParseValue([]byte(s))
		if r != codec.ReasonNone {
			tb.Fatalf("bad test value %q: %s", s, r)
		}
		f.Values = append(f.Values, v)
	}
	return f
}

// diffFrame describes the first difference between two frames, field by
// field, or returns "" when they are equal. Format and WireBytes are the
// caller's business.
func diffFrame(got, want *codec.Frame) string {
	switch {
	case !bytes.Equal(got.Device, want.Device) || (got.Device == nil) != (want.Device == nil):
		return fmt.Sprintf("Device %q, want %q", got.Device, want.Device)
	case got.Seq != want.Seq:
		return fmt.Sprintf("Seq %d, want %d", got.Seq, want.Seq)
	case got.Flags != want.Flags:
		return fmt.Sprintf("Flags %b, want %b", got.Flags, want.Flags)
	case got.Channels != want.Channels:
		return fmt.Sprintf("Channels %d, want %d", got.Channels, want.Channels)
	case len(got.Times) != len(want.Times):
		return fmt.Sprintf("%d samples, want %d", len(got.Times), len(want.Times))
	case len(got.Values) != len(want.Values):
		return fmt.Sprintf("%d values, want %d", len(got.Values), len(want.Values))
	}
	for i := range got.Times {
		if got.Times[i] != want.Times[i] {
			return fmt.Sprintf("Times[%d] %d, want %d", i, got.Times[i], want.Times[i])
		}
	}
	for i, g := range got.Values {
		if w := want.Values[i]; g != w {
			return fmt.Sprintf("Values[%d] = {%d %d %b} %q, want {%d %d %b} %q",
				i, g.Mant, g.Scale, g.Flags, g.String(), w.Mant, w.Scale, w.Flags, w.String())
		}
	}
	return ""
}

// wideLimits admit every frame the wire can carry.
var wideLimits = codec.Limits{MaxFrame: 1 << 30, MaxDecoded: 1 << 30, MaxChannels: wireMaxChannels, MaxSamples: wireMaxSamples}

// head shortens a frame for an error message.
func head(b []byte) []byte { return b[:min(len(b), 96)] }

// roundTrip encodes f, decodes it into a warm batch and compares.
func roundTrip(tb testing.TB, f *codec.Frame) []byte {
	tb.Helper()
	wire := Append(nil, f)
	if n := Size(f); n != len(wire) {
		tb.Fatalf("Size = %d, Append wrote %d", n, len(wire))
	}
	var dst codec.Batch
	for range 2 { // the second time on a used batch
		dst.Reset()
		if err := Decode(&dst, wire, &wideLimits); err != nil {
			tb.Fatalf("Decode(Append(f)): %v\nwire % x", err, head(wire))
		}
		if len(dst.Frames) != 1 {
			tb.Fatalf("%d frames, want 1", len(dst.Frames))
		}
		got := &dst.Frames[0]
		if d := diffFrame(got, f); d != "" {
			tb.Fatalf("round trip: %s\nwire % x", d, head(wire))
		}
		if got.Format != codec.FormatBinary || got.WireBytes != len(wire) || got.Compression != codec.CompressNone {
			tb.Fatalf("Format %s WireBytes %d Compression %d, want binary %d 0", got.Format, got.WireBytes, len(wire), got.Compression)
		}
	}
	return wire
}

// multihopRow is one row of multihop.csv.
type multihopRow struct {
	reading  uint64
	hum, tmp codec.Value
}

var multihop = sync.OnceValues(func() ([][]multihopRow, error) {
	file, err := os.Open("/work/shared/data/multihop.csv")
	if err != nil {
		return nil, err
	}
	defer file.Close()
	byMote := map[string]int{}
	var motes [][]multihopRow
	sc := bufio.NewScanner(file)
	sc.Scan() // header
	for line := 2; sc.Scan(); line++ {
		fs := strings.Split(sc.Text(), ",")
		if len(fs) != 6 {
			return nil, fmt.Errorf("multihop.csv line %d: %d fields, want 6", line, len(fs))
		}
		r, err := strconv.ParseUint(fs[0], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("multihop.csv line %d: reading: %w", line, err)
		}
		h, r1 := codec.ParseValue([]byte(fs[3]))
		t, r2 := codec.ParseValue([]byte(fs[4]))
		if r1 != codec.ReasonNone || r2 != codec.ReasonNone {
			return nil, fmt.Errorf("multihop.csv line %d: bad humidity or temperature", line)
		}
		m, ok := byMote[fs[1]]
		if !ok {
			m = len(motes)
			byMote[fs[1]] = m
			motes = append(motes, nil)
		}
		motes[m] = append(motes[m], multihopRow{r, h, t})
	}
	return motes, sc.Err()
})

// multihopFrames cuts each mote's rows into frames of up to batch samples
// (humidity, temperature; seq = reading), starting a new frame where the
// readings are not consecutive.
func multihopFrames(tb testing.TB, batch int) []*codec.Frame {
	tb.Helper()
	motes, err := multihop()
	if err != nil {
		tb.Fatal(err)
	}
	var frames []*codec.Frame
	for m, rows := range motes {
		var f *codec.Frame
		for _, r := range rows {
			if f == nil || f.Samples() == batch || f.Seq+uint64(f.Samples()) != r.reading {
				f = &codec.Frame{Device: fmt.Appendf(nil, "mote-%d", m+1), Seq: r.reading, Flags: codec.HasSeq, Channels: 2}
				frames = append(frames, f)
			}
			f.Times = append(f.Times, 0)
			f.Values = append(f.Values, r.hum, r.tmp)
		}
	}
	return frames
}
