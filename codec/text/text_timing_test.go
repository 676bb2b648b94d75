package text

import (
	"testing"

	"github.com/fleetwire/fleetwire/codec"
)

func BenchmarkDecode(b *testing.B) {
	for _, bc := range []struct {
		name string
		line string
	}{
		{"bare4", "21.5,21.7,21.9,22.04"},
		{"header2ch", "mote-3;4242;1700000000000;43.82:30.21,43.79:30.2,43.79:30.19,43.79:30.19@5000"},
		// The server's tcp-bulk/text load: a full header and 2 samples of 2 channels.
		{"bulk2x2", "dev-000042;123456;1764081234567;21.53:40.1,21.61:40.2"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			var batch codec.Batch
			line := []byte(bc.line)
			if err := Decode(&batch, line, &lim); err != nil {
				b.Fatal(err)
			}
			readings := batch.Readings()
			b.SetBytes(int64(len(line) + 1))
			b.ReportAllocs()
			for b.Loop() {
				batch.Reset()
				if err := Decode(&batch, line, &lim); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*readings), "ns/reading")
			b.ReportMetric(float64(len(line)+1)/float64(readings), "B/reading")
		})
	}
}

func BenchmarkAppend(b *testing.B) {
	var batch codec.Batch
	line := []byte("mote-3;4242;1700000000000;43.82:30.21,43.79:30.2,43.79:30.19,43.79:30.19@5000")
	if err := Decode(&batch, line, &lim); err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, 0, 256)
	b.ReportAllocs()
	for b.Loop() {
		buf = Append(buf[:0], &batch.Frames[0], '\n')
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*batch.Readings()), "ns/reading")
}

// BenchmarkDecodeRadix: the other bases take the slow path (cut the
// token, then parse it), which BenchmarkDecode's decimals must not pay
// for.
func BenchmarkDecodeRadix(b *testing.B) {
	for _, bc := range []struct {
		name  string
		radix int
		line  string
	}{
		{"bin4", 2, "111111111111,1000000000,111111111,0"},
		{"hex4", 16, "fff,200,1ff,0"},
		{"header2ch_hex", 16, "mote-3;4242;1700000000000;ff:1e,fe:1e,fe:1d,fe:1d@5000"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			var batch codec.Batch
			line := []byte(bc.line)
			o := Options{Radix: bc.radix}
			if err := DecodeWith(&batch, line, &lim, o); err != nil {
				b.Fatal(err)
			}
			readings := batch.Readings()
			b.SetBytes(int64(len(line) + 1))
			b.ReportAllocs()
			for b.Loop() {
				batch.Reset()
				if err := DecodeWith(&batch, line, &lim, o); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*readings), "ns/reading")
		})
	}
}
