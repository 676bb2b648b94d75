package transcode_test

import (
	"bytes"
	"io"
	"testing"

	"github.com/fleetwire/fleetwire/codec"
	"github.com/fleetwire/fleetwire/codec/csvio/csvtest"
	"github.com/fleetwire/fleetwire/codec/csvio/transcode"
	"github.com/fleetwire/fleetwire/codec/wire"
)

func benchRecording(b testing.TB) csvtest.Recording {
	if rec, ok, err := csvtest.Multihop(); err != nil {
		b.Fatal(err)
	} else if ok {
		return rec
	}
	return csvtest.Synthetic(1)[4]
}

// TestAllocsPerRow: encoding and decoding a whole recording allocates a
// fixed set-up (reader, buffers), nothing per row.
func TestAllocsPerRow(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are meaningless under -race")
	}
	rec := benchRecording(t)
	rows := float64(bytes.Count(rec.CSV, []byte{'\n'}) - 1)
	for _, c := range []codec.Codec{{Format: codec.FormatText}, {Format: codec.FormatBinary}, {Format: codec.FormatCompact}} {
		enc := wire.NewEncoder(c, 0, nil)
		var frames bytes.Buffer
		encode := func() {
			frames.Reset()
			if _, err := transcode.Encode(&frames, bytes.NewReader(rec.CSV), enc, transcode.EncodeOptions{Batch: 60}); err != nil {
				t.Fatal(err)
			}
		}
		encode()
		if a := testing.AllocsPerRun(3, encode); a/rows > 0.01 {
			t.Errorf("%s encode: %.0f allocs for %.0f rows", c, a, rows)
		}
		dec := wire.NewDecoder(codec.Limits{}, 0, nil)
		stream := bytes.Clone(frames.Bytes())
		decode := func() {
			if _, err := transcode.Decode(io.Discard, bytes.NewReader(stream), dec, transcode.DecodeOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		if a := testing.AllocsPerRun(3, decode); a/rows > 0.01 {
			t.Errorf("%s decode: %.0f allocs for %.0f rows", c, a, rows)
		}
	}
}

func BenchmarkEncode(b *testing.B) {
	rec := benchRecording(b)
	rows := bytes.Count(rec.CSV, []byte{'\n'}) - 1
	for _, name := range []string{"text", "binary", "compact", "compact+zstd"} {
		c, _ := codec.ParseCodec(name)
		enc := wire.NewEncoder(c, 0, nil)
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				if _, err := transcode.Encode(io.Discard, bytes.NewReader(rec.CSV), enc, transcode.EncodeOptions{Batch: 60}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(rows), "ns/row")
		})
	}
}

func BenchmarkDecode(b *testing.B) {
	rec := benchRecording(b)
	rows := bytes.Count(rec.CSV, []byte{'\n'}) - 1
	dec := wire.NewDecoder(codec.Limits{}, 0, nil)
	for _, name := range []string{"text", "binary", "compact", "compact+zstd"} {
		c, _ := codec.ParseCodec(name)
		var frames bytes.Buffer
		if _, err := transcode.Encode(&frames, bytes.NewReader(rec.CSV), wire.NewEncoder(c, 0, nil), transcode.EncodeOptions{Batch: 60}); err != nil {
			b.Fatal(err)
		}
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				if _, err := transcode.Decode(io.Discard, bytes.NewReader(frames.Bytes()), dec, transcode.DecodeOptions{}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(rows), "ns/row")
		})
	}
}
