package compress

import (
	"fmt"
	"testing"

	"github.com/klauspost/compress/zstd"

	"github.com/fleetwire/fleetwire/codec"
)

// benchFrames are the held-out multihop text frames at one batch size,
// bare and wrapped.
type benchFrames struct {
	inner, env [][]byte
	innerBytes int
	wireBytes  int
	readings   int
}

func loadBenchFrames(b *testing.B, c *Compressor, kind codec.Compression, batch int) benchFrames {
	var bf benchFrames
	bf.inner, bf.readings = multihopWire(b, bareFormats[0], splitHeldOut, batch)
	for _, f := range bf.inner {
		e := c.Append(nil, kind, f)
		bf.env = append(bf.env, e)
		bf.innerBytes += len(f)
		bf.wireBytes += len(e)
	}
	return bf
}

// report sets the per-frame metrics: one op is one frame, cycling through
// all of them.
func (bf *benchFrames) report(b *testing.B) {
	n := float64(len(bf.inner))
	b.SetBytes(int64(float64(bf.innerBytes) / n))
	b.ReportMetric(float64(bf.wireBytes)/float64(bf.readings), "B/reading")
	perOp := float64(b.Elapsed().Nanoseconds()) / float64(b.N)
	b.ReportMetric(perOp*n/float64(bf.readings), "ns/reading")
}

func benchKinds(b *testing.B, fn func(b *testing.B, c *Compressor, kind codec.Compression, batch int)) {
	c := Default()
	for _, kind := range kinds {
		for _, batch := range []int{1, 10, 60} {
			b.Run(fmt.Sprintf("text%s/batch=%d", kindName[kind], batch), func(b *testing.B) {
				fn(b, c, kind, batch)
			})
		}
	}
}

func BenchmarkAppend(b *testing.B) {
	benchKinds(b, func(b *testing.B, c *Compressor, kind codec.Compression, batch int) {
		bf := loadBenchFrames(b, c, kind, batch)
		dst := make([]byte, 0, 64<<10)
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; b.Loop(); i++ {
			dst = c.Append(dst[:0], kind, bf.inner[i%len(bf.inner)])
		}
		bf.report(b)
	})
}

func BenchmarkAppendDecoded(b *testing.B) {
	benchKinds(b, func(b *testing.B, c *Compressor, kind codec.Compression, batch int) {
		bf := loadBenchFrames(b, c, kind, batch)
		dst := make([]byte, 0, 64<<10)
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; b.Loop(); i++ {
			var err error
			if dst, err = c.AppendDecoded(dst[:0], bf.env[i%len(bf.env)], codec.DefaultMaxDecoded); err != nil {
				b.Fatal(err)
			}
		}
		bf.report(b)
	})
}

// BenchmarkAppendDecodedParallel shows the shared decoder under load from
// every core, as a server's event loops use it.
func BenchmarkAppendDecodedParallel(b *testing.B) {
	c := Default()
	bf := loadBenchFrames(b, c, codec.CompressZstdDict, 10)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		dst := make([]byte, 0, 64<<10)
		for i := 0; pb.Next(); i++ {
			var err error
			if dst, err = c.AppendDecoded(dst[:0], bf.env[i%len(bf.env)], codec.DefaultMaxDecoded); err != nil {
				b.Error(err)
				return
			}
		}
	})
	bf.report(b)
}

// BenchmarkHeaderRestore prices the stripped zstd header: decoding our
// envelope (which copies the blocks behind a rebuilt header in a pooled
// buffer) against zstd.DecodeAll of the same frame as zstd makes it.
func BenchmarkHeaderRestore(b *testing.B) {
	c := Default()
	for _, batch := range []int{1, 60} {
		bf := loadBenchFrames(b, c, codec.CompressZstd, batch)
		std := make([][]byte, len(bf.inner))
		for i, f := range bf.inner {
			std[i] = c.plain.EncodeAll(f, nil)
		}
		b.Run(fmt.Sprintf("envelope/batch=%d", batch), func(b *testing.B) {
			dst := make([]byte, 0, 64<<10)
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				dst, _ = c.AppendDecoded(dst[:0], bf.env[i%len(bf.env)], codec.DefaultMaxDecoded)
			}
		})
		b.Run(fmt.Sprintf("zstd-frame/batch=%d", batch), func(b *testing.B) {
			dst := make([]byte, 0, 64<<10)
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				dst, _ = c.dec.DecodeAll(std[i%len(std)], dst[:0])
			}
		})
	}
}

// BenchmarkAppendFastest is the option for senders short of CPU.
func BenchmarkAppendFastest(b *testing.B) {
	c, err := New(Options{Level: zstd.SpeedFastest, Dicts: DefaultDicts()})
	if err != nil {
		b.Fatal(err)
	}
	for _, batch := range []int{1, 10, 60} {
		b.Run(fmt.Sprintf("text+zstd-dict/batch=%d", batch), func(b *testing.B) {
			bf := loadBenchFrames(b, c, codec.CompressZstdDict, batch)
			dst := make([]byte, 0, 64<<10)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				dst = c.Append(dst[:0], codec.CompressZstdDict, bf.inner[i%len(bf.inner)])
			}
			bf.report(b)
		})
	}
}
