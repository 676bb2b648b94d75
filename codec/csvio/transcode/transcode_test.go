package transcode_test

import (
	"bytes"
	"errors"
	"io"
	"strconv"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/fleetwire/fleetwire/codec"
	"github.com/fleetwire/fleetwire/codec/csvio"
	"github.com/fleetwire/fleetwire/codec/csvio/csvtest"
	"github.com/fleetwire/fleetwire/codec/csvio/transcode"
	"github.com/fleetwire/fleetwire/codec/wire"
)

var batches = []int{1, 10, 60, 600}

func recordings(t *testing.T) []csvtest.Recording {
	t.Helper()
	recs := csvtest.Synthetic(7)
	mh, ok, err := csvtest.Multihop()
	if err != nil {
		t.Fatal(err)
	}
	if ok {
		recs = append([]csvtest.Recording{mh}, recs...)
	} else {
		t.Log("multihop.csv not found: synthetic recordings only")
	}
	return recs
}

func encode(t *testing.T, csv []byte, c codec.Codec, batch int, lim codec.Limits) ([]byte, transcode.Stats) {
	t.Helper()
	var frames bytes.Buffer
	st, err := transcode.Encode(&frames, bytes.NewReader(csv), wire.NewEncoder(c, 0, nil),
		transcode.EncodeOptions{Batch: batch, Limits: lim})
	if err != nil {
		t.Fatalf("encode %s batch %d: %v", c, batch, err)
	}
	if st.Bytes != int64(frames.Len()) {
		t.Fatalf("encode: %d bytes counted, %d written", st.Bytes, frames.Len())
	}
	return frames.Bytes(), st
}

// TestRoundTrip: decode(encode(x)) == x byte for byte, for every codec and
// batch size, on multihop.csv converted to the interchange schema and on
// the synthetic recordings (long decimals, time stepping backwards, gaps,
// one channel, interleaved devices, missing fields, extremes).
func TestRoundTrip(t *testing.T) {
	dec := wire.NewDecoder(codec.Limits{}, 0, nil)
	for _, rec := range recordings(t) {
		rows := bytes.Count(rec.CSV, []byte{'\n'}) - 1
		for _, c := range codec.Codecs() {
			for _, batch := range batches {
				frames, est := encode(t, rec.CSV, c, batch, codec.Limits{})
				if est.Rows != rows {
					t.Fatalf("%s %s batch %d: %d rows encoded, want %d", rec.Name, c, batch, est.Rows, rows)
				}
				var out bytes.Buffer
				expect := c
				dst, err := transcode.Decode(&out, bytes.NewReader(frames), dec,
					transcode.DecodeOptions{Columns: rec.Channels, Expect: &expect})
				if err != nil {
					t.Fatalf("%s %s batch %d: decode: %v", rec.Name, c, batch, err)
				}
				if !bytes.Equal(out.Bytes(), rec.CSV) {
					i := diffAt(out.Bytes(), rec.CSV)
					t.Fatalf("%s %s batch %d: differs at byte %d:\n got  %q\n want %q", rec.Name, c, batch, i,
						window(out.Bytes(), i), window(rec.CSV, i))
				}
				if dst.Rows != rows || dst.Frames != est.Frames || dst.Bytes != est.Bytes {
					t.Fatalf("%s %s batch %d: decode stats %+v, encode stats %+v", rec.Name, c, batch, dst, est)
				}
			}
		}
	}
}

// TestRoundTrip_SmallFrames: with a frame limit far below a batch, frames
// are split until they fit, and the round trip stays exact.
func TestRoundTrip_SmallFrames(t *testing.T) {
	rec := csvtest.Synthetic(7)[0] // long decimals: the widest values
	lim := codec.Limits{MaxFrame: 300}
	dec := wire.NewDecoder(lim, 0, nil)
	for _, c := range codec.Codecs() {
		frames, st := encode(t, rec.CSV, c, 600, lim)
		if st.Frames < 10 {
			t.Fatalf("%s: %d frames: the limit did not split", c, st.Frames)
		}
		var out bytes.Buffer
		if _, err := transcode.Decode(&out, bytes.NewReader(frames), dec, transcode.DecodeOptions{Columns: rec.Channels}); err != nil {
			t.Fatalf("%s: %v", c, err)
		}
		if !bytes.Equal(out.Bytes(), rec.CSV) {
			t.Fatalf("%s: round trip differs at byte %d", c, diffAt(out.Bytes(), rec.CSV))
		}
	}
	// One sample that cannot fit is an error, not a frame the receiver drops.
	c := codec.Codec{Format: codec.FormatText}
	_, err := transcode.Encode(&bytes.Buffer{}, bytes.NewReader(rec.CSV), wire.NewEncoder(c, 0, nil),
		transcode.EncodeOptions{Batch: 1, Limits: codec.Limits{MaxFrame: 20}})
	if err == nil || !strings.Contains(err.Error(), "does not fit the frame limit of 20 bytes") {
		t.Fatalf("got %v", err)
	}
}

// TestDecode_Streaming: the decoder gets the stream in any chunking, and
// codecs may be mixed in one stream.
func TestDecode_Streaming(t *testing.T) {
	rec := csvtest.Synthetic(7)[4] // interleaved
	var mixed []byte
	var want bytes.Buffer
	w := csvio.NewWriter(&want, rec.Channels)
	for i, c := range codec.Codecs() {
		// Each codec encodes a slice of the rows; the concatenated streams
		// decode to the concatenated rows.
		lines := strings.SplitAfter(string(rec.CSV), "\n")
		part := "device,seq,unix_ms," + strings.Join(rec.Channels, ",") + "\n" + strings.Join(lines[1+i*40:1+(i+1)*40], "")
		frames, _ := encode(t, []byte(part), c, 10, codec.Limits{})
		mixed = append(mixed, frames...)
		r := csvio.NewReader(strings.NewReader(part), csvio.Mapping{})
		for r.Next() {
			if err := w.WriteRow(r.Row()); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	dec := wire.NewDecoder(codec.Limits{}, 0, nil)
	readers := map[string]func() io.Reader{
		"whole":    func() io.Reader { return bytes.NewReader(mixed) },
		"one-byte": func() io.Reader { return iotest.OneByteReader(bytes.NewReader(mixed)) },
		"half":     func() io.Reader { return iotest.HalfReader(bytes.NewReader(mixed)) },
		"data-err": func() io.Reader { return iotest.DataErrReader(bytes.NewReader(mixed)) },
	}
	for name, r := range readers {
		var out bytes.Buffer
		if _, err := transcode.Decode(&out, r(), dec, transcode.DecodeOptions{Columns: rec.Channels}); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !bytes.Equal(out.Bytes(), want.Bytes()) {
			t.Fatalf("%s: differs at byte %d", name, diffAt(out.Bytes(), want.Bytes()))
		}
	}
}

func TestDecode_Failure(t *testing.T) {
	dec := wire.NewDecoder(codec.Limits{}, 0, nil)
	f := func(stream []byte, o transcode.DecodeOptions, want string) string {
		t.Helper()
		var out bytes.Buffer
		_, err := transcode.Decode(&out, bytes.NewReader(stream), dec, o)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("decode %q: got %v, want %q", stream, err, want)
		}
		return out.String()
	}
	good := []byte("m1;1;21.5\n")
	out := f(append(good, "m1;2;x\n"...), transcode.DecodeOptions{}, "frame at byte 10: fleetwire/codec: text frame: bad_number at byte 5")
	if out != "device,seq,unix_ms,ch1\nm1,1,,21.5\n" {
		t.Fatalf("the rows before a bad frame must be written, got %q", out)
	}
	f(append(good, 0xff, '\n'), transcode.DecodeOptions{}, "frame at byte 10: fleetwire/codec: unknown frame: unknown_format")
	f(append(good, 0xB1, 0x20, 0x00), transcode.DecodeOptions{}, "frame at byte 10: fleetwire/codec: binary frame: truncated")
	binary := codec.Codec{Format: codec.FormatBinary}
	f(good, transcode.DecodeOptions{Expect: &binary}, "frame at byte 0: a text frame in a stream said to be binary")
	var zstdFrames bytes.Buffer
	if _, err := transcode.Encode(&zstdFrames, strings.NewReader("v\n1\n"), wire.NewEncoder(codec.Codec{Format: codec.FormatText, Compression: codec.CompressZstd}, 0, nil), transcode.EncodeOptions{}); err != nil {
		t.Fatal(err)
	}
	s2 := codec.Codec{Format: codec.FormatText, Compression: codec.CompressS2}
	f(zstdFrames.Bytes(), transcode.DecodeOptions{Expect: &s2}, "frame at byte 0: a text+zstd frame in a stream said to be text+s2")
	f(good, transcode.DecodeOptions{Columns: []string{"a", "b"}}, "frame at byte 0: csv: a frame with 1 channels, the header has 2 (a,b)")
	_, err := transcode.Decode(&bytes.Buffer{}, iotest.ErrReader(errors.New("cable cut")), dec, transcode.DecodeOptions{})
	if err == nil || !strings.Contains(err.Error(), "read frames: cable cut") {
		t.Fatalf("got %v", err)
	}
}

func TestEncode_Failure(t *testing.T) {
	enc := wire.NewEncoder(codec.Codec{Format: codec.FormatText}, 0, nil)
	f := func(csv, want string) {
		t.Helper()
		_, err := transcode.Encode(&bytes.Buffer{}, strings.NewReader(csv), enc, transcode.EncodeOptions{Batch: 10})
		if err == nil || err.Error() != want {
			t.Fatalf("encode %q: got %v, want %q", csv, err, want)
		}
	}
	f("device,seq,unix_ms,v\nm1,1,,2\nm1,2,,\n", `csv line 3, column "v": empty value`)
	f("", "csv: empty input, want a header line")
	f("device,seq,unix_ms,"+strings.Repeat("c,", 64)+"c\n", "csv line 1: 65 channel columns, at most 64 allowed")
}

func diffAt(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

func window(b []byte, i int) string {
	lo, hi := max(i-60, 0), min(i+60, len(b))
	return string(b[lo:hi]) + " [len " + strconv.Itoa(len(b)) + "]"
}
