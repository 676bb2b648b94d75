package csvio_test

import (
	"bytes"
	"io"
	"testing"

	"github.com/fleetwire/fleetwire/codec"
	"github.com/fleetwire/fleetwire/codec/csvio"
	"github.com/fleetwire/fleetwire/codec/csvio/csvtest"
)

// benchCSV is the multihop recording when it is there, else a synthetic
// one of the same shape.
func benchCSV(b *testing.B) csvtest.Recording {
	if rec, ok, err := csvtest.Multihop(); err != nil {
		b.Fatal(err)
	} else if ok {
		return rec
	}
	return csvtest.Synthetic(1)[4] // interleaved, two channels
}

func countRows(csv []byte) int { return bytes.Count(csv, []byte{'\n'}) - 1 }

func BenchmarkReader(b *testing.B) {
	rec := benchCSV(b)
	rows := countRows(rec.CSV)
	src := bytes.NewReader(rec.CSV)
	b.SetBytes(int64(len(rec.CSV)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		src.Reset(rec.CSV)
		r := csvio.NewReader(src, csvio.Mapping{})
		n := 0
		for r.Next() {
			n++
		}
		if r.Err() != nil || n != rows {
			b.Fatalf("%d rows, %v", n, r.Err())
		}
	}
	reportPerRow(b, rows)
}

// BenchmarkReader_Warm measures the per-row cost without a Reader's setup:
// 0 allocs/op is the claim that rows do not allocate.
func BenchmarkReader_Warm(b *testing.B) {
	rec := benchCSV(b)
	body := rec.CSV[bytes.IndexByte(rec.CSV, '\n')+1:]
	rows := countRows(rec.CSV)
	src := &loop{header: rec.CSV[:bytes.IndexByte(rec.CSV, '\n')+1], body: body}
	r := csvio.NewReader(src, csvio.Mapping{})
	for i := 0; i < rows; i++ { // warm up
		if !r.Next() {
			b.Fatal(r.Err())
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if !r.Next() {
			b.Fatal(r.Err())
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/row")
}

// loop serves a header once, then the body again and again.
type loop struct {
	header, body []byte
	off          int
}

func (l *loop) Read(p []byte) (int, error) {
	if len(l.header) > 0 {
		n := copy(p, l.header)
		l.header = l.header[n:]
		return n, nil
	}
	n := copy(p, l.body[l.off:])
	l.off = (l.off + n) % len(l.body)
	return n, nil
}

func BenchmarkWriter(b *testing.B) {
	rec := benchCSV(b)
	// Decode the recording into frames of 60 once; the benchmark writes them.
	var frames []codec.Frame
	r := csvio.NewReader(bytes.NewReader(rec.CSV), csvio.Mapping{})
	fr := csvio.NewFramer(60, false, func(f *codec.Frame) error {
		c := *f
		c.Device = bytes.Clone(f.Device)
		c.Values = append([]codec.Value(nil), f.Values...)
		c.Times = append([]int64(nil), f.Times...)
		frames = append(frames, c)
		return nil
	})
	for r.Next() {
		if err := fr.Add(r.Row()); err != nil {
			b.Fatal(err)
		}
	}
	if err := fr.Flush(); err != nil {
		b.Fatal(err)
	}
	rows := countRows(rec.CSV)
	w := csvio.NewWriter(io.Discard, r.Channels())
	b.SetBytes(int64(len(rec.CSV)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for j := range frames {
			if err := w.WriteFrame(&frames[j]); err != nil {
				b.Fatal(err)
			}
		}
	}
	reportPerRow(b, rows)
}

func BenchmarkFramer(b *testing.B) {
	rec := benchCSV(b)
	var rows []csvio.Row
	r := csvio.NewReader(bytes.NewReader(rec.CSV), csvio.Mapping{})
	for r.Next() {
		row := *r.Row()
		row.Device = bytes.Clone(row.Device)
		row.Values = append([]codec.Value(nil), row.Values...)
		rows = append(rows, row)
	}
	for _, perDevice := range []bool{false, true} {
		name := "order"
		if perDevice {
			name = "per-device"
		}
		b.Run(name, func(b *testing.B) {
			n := 0
			fr := csvio.NewFramer(60, perDevice, func(f *codec.Frame) error { n += f.Samples(); return nil })
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				for j := range rows {
					if err := fr.Add(&rows[j]); err != nil {
						b.Fatal(err)
					}
				}
				if err := fr.Flush(); err != nil {
					b.Fatal(err)
				}
			}
			if n != b.N*len(rows) {
				b.Fatalf("%d samples framed, want %d", n, b.N*len(rows))
			}
			reportPerRow(b, len(rows))
		})
	}
}

func reportPerRow(b *testing.B, rows int) {
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(rows), "ns/row")
}
