package framing

import (
	"bytes"
	"testing"
)

// BenchmarkSplit cuts a 64 KiB block of tcp-bulk/text lines, and of
// potentiometer readings with END ',', the way a server's read loop does.
func BenchmarkSplit(b *testing.B) {
	for _, bc := range []struct {
		name  string
		end   byte
		frame string
	}{
		{"lf_bulk", '\n', "dev-000042;123456;1764081234567;21.53:40.1,21.61:40.2\n"},
		{"comma_pot", ',', "4095,"},
		{"comma_pot_crlf", ',', "4095,\r\n"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			block := bytes.Repeat([]byte(bc.frame), 64<<10/len(bc.frame))
			s := NewSplitter(bc.end, 0)
			b.SetBytes(int64(len(block)))
			b.ReportAllocs()
			for b.Loop() {
				for data := block; len(data) > 0; {
					adv, _, err := s.Split(data, false)
					if err != nil || adv == 0 {
						b.Fatal(adv, err)
					}
					data = data[adv:]
				}
			}
		})
	}
}
