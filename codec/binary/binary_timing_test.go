package binary

import (
	"strconv"
	"testing"

	"github.com/fleetwire/fleetwire/codec"
)

// multihopBatches are the batch sizes benchmarked: one sample per frame
// (a device that sends every reading), and typical buffering.
var multihopBatches = []int{1, 10, 60, 600}

// One op decodes (or encodes) every multihop frame at the batch size:
// 4 motes x 4690 samples x 2 channels = 37520 readings.

func BenchmarkDecode(b *testing.B) {
	for _, batch := range multihopBatches {
		b.Run("multihop/batch="+strconv.Itoa(batch), func(b *testing.B) {
			frames := multihopFrames(b, batch)
			wires := make([][]byte, len(frames))
			size, readings := 0, 0
			for i, f := range frames {
				wires[i] = Append(nil, f)
				size += len(wires[i])
				readings += f.Readings()
			}
			var dst codec.Batch
			decode := func() {
				dst.Reset()
				for _, w := range wires {
					if err := Decode(&dst, w, nil); err != nil {
						b.Fatal(err)
					}
				}
			}
			decode() // warm the batch
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				decode()
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(readings), "ns/reading")
			b.ReportMetric(float64(size)/float64(readings), "B/reading")
		})
	}
}

func BenchmarkAppend(b *testing.B) {
	for _, batch := range multihopBatches {
		b.Run("multihop/batch="+strconv.Itoa(batch), func(b *testing.B) {
			frames := multihopFrames(b, batch)
			size, readings := 0, 0
			for _, f := range frames {
				size += Size(f)
				readings += f.Readings()
			}
			buf := make([]byte, 0, size)
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				buf = buf[:0]
				for _, f := range frames {
					buf = Append(buf, f)
				}
			}
			if len(buf) != size {
				b.Fatalf("wrote %d bytes, Size says %d", len(buf), size)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(readings), "ns/reading")
			b.ReportMetric(float64(size)/float64(readings), "B/reading")
		})
	}
}
