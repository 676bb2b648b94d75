package csvio_test

import (
	"bytes"
	"strconv"
	"strings"
	"testing"

	"github.com/fleetwire/fleetwire/codec"
	"github.com/fleetwire/fleetwire/codec/csvio"
	"github.com/fleetwire/fleetwire/codec/csvio/csvtest"
)

// frameString renders a frame as "dev seq=S t=T1/T2 | v:v v:v".
func frameString(f *codec.Frame) string {
	var sb strings.Builder
	if f.Device == nil {
		sb.WriteString("-")
	} else {
		sb.WriteString(string(f.Device))
	}
	if f.Flags&codec.HasSeq != 0 {
		sb.WriteString(" seq=" + strconv.FormatUint(f.Seq, 10))
	}
	if f.Flags&codec.HasTime != 0 {
		sb.WriteString(" t=")
		for i, t := range f.Times {
			if i > 0 {
				sb.WriteString("/")
			}
			sb.WriteString(strconv.FormatInt(t, 10))
		}
	}
	sb.WriteString(" |")
	for i := 0; i < f.Samples(); i++ {
		sb.WriteString(" ")
		for c, v := range f.Sample(i) {
			if c > 0 {
				sb.WriteString(":")
			}
			sb.WriteString(v.String())
		}
	}
	return sb.String()
}

func frames(t *testing.T, in string, batch int, perDevice bool) []string {
	t.Helper()
	var got []string
	fr := csvio.NewFramer(batch, perDevice, func(f *codec.Frame) error {
		if f.Samples() == 0 || len(f.Values) != f.Samples()*f.Channels {
			t.Fatalf("malformed frame %+v", f)
		}
		got = append(got, frameString(f))
		return nil
	})
	r := csvio.NewReader(strings.NewReader(in), csvio.Mapping{})
	for r.Next() {
		if err := fr.Add(r.Row()); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.Err(); err != nil {
		t.Fatal(err)
	}
	if err := fr.Flush(); err != nil {
		t.Fatal(err)
	}
	return got
}

func TestFramer(t *testing.T) {
	f := func(in string, batch int, perDevice bool, want ...string) {
		t.Helper()
		got := frames(t, "device,seq,unix_ms,a\n"+in, batch, perDevice)
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Fatalf("batch %d perDevice %v:\n got  %q\n want %q", batch, perDevice, got, want)
		}
	}
	// Full frames, then the rest.
	f("m,1,10,1\nm,2,20,2\nm,3,30,3\n", 2, false, "m seq=1 t=10/20 | 1 2", "m seq=3 t=30 | 3")
	// Every reason to end a frame early: device change, seq gap, seq
	// presence, time presence, no device.
	f("m,1,10,1\nn,2,20,2\nn,4,30,3\nn,,40,4\nn,,,5\n,,,6\nn,,,7\n", 10, false,
		"m seq=1 t=10 | 1", "n seq=2 t=20 | 2", "n seq=4 t=30 | 3", "n t=40 | 4", "n | 5", "- | 6", "n | 7")
	// Time may step backwards inside a frame; seq may not.
	f("m,5,10,1\nm,6,5,2\nm,5,6,3\n", 10, false, "m seq=5 t=10/5 | 1 2", "m seq=5 t=6 | 3")
	// Interleaved devices: in order, every row is its own frame; per
	// device, each device batches its own rows, flushed in order of first
	// appearance.
	in := "a,1,,1\nb,1,,2\na,2,,3\nb,2,,4\na,3,,5\n"
	f(in, 2, false, "a seq=1 | 1", "b seq=1 | 2", "a seq=2 | 3", "b seq=2 | 4", "a seq=3 | 5")
	f(in, 2, true, "a seq=1 | 1 3", "b seq=1 | 2 4", "a seq=3 | 5")
	f(in, 1, true, "a seq=1 | 1", "b seq=1 | 2", "a seq=2 | 3", "b seq=2 | 4", "a seq=3 | 5")
	// Batch below 1 is 1.
	f("m,1,,1\nm,2,,2\n", 0, false, "m seq=1 | 1", "m seq=2 | 2")
}

// TestFramerWriter_RoundTrip: rows framed in order and written back are
// the input, byte for byte, at every batch size.
func TestFramerWriter_RoundTrip(t *testing.T) {
	recs := csvtest.Synthetic(1)
	if mh, ok, err := csvtest.Multihop(); err != nil {
		t.Fatal(err)
	} else if ok {
		recs = append(recs, mh)
	}
	for _, rec := range recs {
		for _, batch := range []int{1, 10, 60, 600} {
			r := csvio.NewReader(bytes.NewReader(rec.CSV), csvio.Mapping{})
			if err := r.ReadHeader(); err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			w := csvio.NewWriter(&out, r.Channels())
			fr := csvio.NewFramer(batch, false, w.WriteFrame)
			for r.Next() {
				if err := fr.Add(r.Row()); err != nil {
					t.Fatal(err)
				}
			}
			if err := r.Err(); err != nil {
				t.Fatalf("%s: %v", rec.Name, err)
			}
			if err := fr.Flush(); err != nil {
				t.Fatal(err)
			}
			if err := w.Flush(); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(out.Bytes(), rec.CSV) {
				t.Fatalf("%s batch %d: round trip differs at byte %d", rec.Name, batch, diffAt(out.Bytes(), rec.CSV))
			}
		}
	}
}

func diffAt(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}
