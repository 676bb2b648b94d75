package compact

import (
	"bufio"
	"bytes"
	"os"
	"strconv"
	"testing"

	"github.com/fleetwire/fleetwire/codec"
)

// multihopPath is the shared copy of the Suthaharan et al. multi-hop WSN
// data (ISSNIP 2010; ODC-BY 1.0 / CC BY 4.0); FLEETWIRE_MULTIHOP overrides.
func multihopPath() string {
	if p := os.Getenv("FLEETWIRE_MULTIHOP"); p != "" {
		return p
	}
	return "/work/shared/data/multihop.csv"
}

// mote is one mote's readings: seq from the reading column, two channels
// (humidity, temperature) sample-major, exactly as printed.
type mote struct {
	id     []byte
	seq    []uint64
	values []codec.Value
}

// loadMultihop reads the data set, skipping the test when it is absent.
func loadMultihop(tb testing.TB) []mote {
	tb.Helper()
	data, err := os.ReadFile(multihopPath())
	if err != nil {
		tb.Skipf("multihop data not available: %v", err)
	}
	var motes []mote
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Scan() // header
	for sc.Scan() {
		f := bytes.Split(sc.Bytes(), []byte(","))
		if len(f) != 6 {
			tb.Fatalf("bad multihop line %q", sc.Text())
		}
		if len(motes) == 0 || !bytes.Equal(motes[len(motes)-1].id, f[1]) {
			motes = append(motes, mote{id: bytes.Clone(f[1])})
		}
		m := &motes[len(motes)-1]
		seq, err := strconv.ParseUint(string(f[0]), 10, 64)
		if err != nil {
			tb.Fatalf("bad reading %q: %v", f[0], err)
		}
		m.seq = append(m.seq, seq)
		for _, s := range f[3:5] {
			v, r := codec.ParseValue(s)
			if r != codec.ReasonNone {
				tb.Fatalf("bad value %q: %v", s, r)
			}
			m.values = append(m.values, v)
		}
	}
	return motes
}

// multihopFrames cuts every mote into frames of batch samples (the last
// one shorter), as a device sending every batch readings would.
func multihopFrames(tb testing.TB, batch int) []codec.Frame {
	var frames []codec.Frame
	for _, m := range loadMultihop(tb) {
		for i := 0; i < len(m.seq); i += batch {
			j := min(i+batch, len(m.seq))
			frames = append(frames, codec.Frame{
				Device:   m.id,
				Seq:      m.seq[i],
				Flags:    codec.HasSeq,
				Channels: 2,
				Times:    make([]int64, j-i),
				Values:   m.values[2*i : 2*j : 2*j],
			})
		}
	}
	return frames
}

// sameFrame reports how got differs from want, "" when it carries exactly
// what want does on the wire.
func sameFrame(got, want *codec.Frame) string {
	switch {
	case !bytes.Equal(got.Device, want.Device) || (got.Device == nil) != (len(want.Device) == 0):
		return "device " + strconv.Quote(string(got.Device)) + " want " + strconv.Quote(string(want.Device))
	case got.Flags != want.Flags:
		return "flags " + strconv.Itoa(int(got.Flags)) + " want " + strconv.Itoa(int(want.Flags))
	case want.Flags&codec.HasSeq != 0 && got.Seq != want.Seq, want.Flags&codec.HasSeq == 0 && got.Seq != 0:
		return "seq " + strconv.FormatUint(got.Seq, 10)
	case got.Channels != want.Channels:
		return "channels " + strconv.Itoa(got.Channels) + " want " + strconv.Itoa(want.Channels)
	case got.Format != codec.FormatCompact:
		return "format " + got.Format.String()
	case len(got.Times) != len(want.Times):
		return "samples " + strconv.Itoa(len(got.Times)) + " want " + strconv.Itoa(len(want.Times))
	case len(got.Values) != len(want.Values):
		return "values " + strconv.Itoa(len(got.Values)) + " want " + strconv.Itoa(len(want.Values))
	}
	for i, t := range got.Times {
		w := want.Times[i]
		if want.Flags&codec.HasTime == 0 {
			w = 0
		}
		if t != w {
			return "time " + strconv.Itoa(i) + ": " + strconv.FormatInt(t, 10) + " want " + strconv.FormatInt(w, 10)
		}
	}
	for i, v := range got.Values {
		if v != want.Values[i] {
			return "value " + strconv.Itoa(i) + ": " + fmtValue(v) + " want " + fmtValue(want.Values[i])
		}
	}
	return ""
}

func fmtValue(v codec.Value) string {
	return v.String() + "{" + strconv.FormatInt(v.Mant, 10) + "," + strconv.Itoa(int(v.Scale)) + "," + strconv.Itoa(int(v.Flags)) + "}"
}
