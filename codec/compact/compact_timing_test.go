package compact

import (
	"fmt"
	"testing"

	"github.com/fleetwire/fleetwire/codec"
)

// Benchmarks on multihop, a frame per mote and batch of samples. Each op
// goes through the whole data set (18,760 samples, 37,520 readings).
// ns/reading and B/reading (wire bytes per reading, envelope included)
// are the figures to compare across formats.

var benchBatches = []int{1, 10, 60, 600}

func encodeAll(frames []codec.Frame) (bufs [][]byte, wire, readings int) {
	for i := range frames {
		b := Append(nil, &frames[i])
		bufs = append(bufs, b)
		wire += len(b)
		readings += frames[i].Readings()
	}
	return bufs, wire, readings
}

func BenchmarkDecode(b *testing.B) {
	for _, batch := range benchBatches {
		b.Run(fmt.Sprintf("multihop/batch=%d", batch), func(b *testing.B) {
			bufs, wire, readings := encodeAll(multihopFrames(b, batch))
			var dst codec.Batch
			lim := codec.DefaultLimits
			for _, buf := range bufs { // warm: grow dst once, outside the timing
				if err := Decode(&dst, buf, &lim); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportAllocs()
			b.SetBytes(int64(wire))
			b.ResetTimer()
			for b.Loop() {
				for _, buf := range bufs {
					dst.Reset()
					if err := Decode(&dst, buf, &lim); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(readings), "ns/reading")
			b.ReportMetric(float64(wire)/float64(readings), "B/reading")
		})
	}
}

func BenchmarkEncode(b *testing.B) {
	for _, batch := range benchBatches {
		b.Run(fmt.Sprintf("multihop/batch=%d", batch), func(b *testing.B) {
			frames := multihopFrames(b, batch)
			_, wire, readings := encodeAll(frames)
			var e Encoder
			buf := make([]byte, 0, 64<<10)
			for i := range frames { // warm: grow the scratch once, outside the timing
				buf = e.Append(buf[:0], &frames[i])
			}
			b.ReportAllocs()
			b.SetBytes(int64(wire))
			b.ResetTimer()
			for b.Loop() {
				for i := range frames {
					buf = e.Append(buf[:0], &frames[i])
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(readings), "ns/reading")
			b.ReportMetric(float64(wire)/float64(readings), "B/reading")
		})
	}
}

// BenchmarkAppend is the package-level Append, which borrows a pooled
// Encoder.
func BenchmarkAppend(b *testing.B) {
	frames := multihopFrames(b, 60)
	_, wire, readings := encodeAll(frames)
	buf := make([]byte, 0, 64<<10)
	for i := range frames {
		buf = Append(buf[:0], &frames[i])
	}
	b.ReportAllocs()
	b.SetBytes(int64(wire))
	for b.Loop() {
		for i := range frames {
			buf = Append(buf[:0], &frames[i])
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(readings), "ns/reading")
}
