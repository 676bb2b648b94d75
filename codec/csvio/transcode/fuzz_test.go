package transcode_test

import (
	"bytes"
	"testing"

	"github.com/fleetwire/fleetwire/codec"
	"github.com/fleetwire/fleetwire/codec/csvio/transcode"
	"github.com/fleetwire/fleetwire/codec/wire"
)

// FuzzDecode: any byte stream decodes to CSV or fails with an error; it
// never panics, and what decodes is CSV that reads, encodes and decodes
// again. (Not byte for byte: a decoder may accept a value no device prints,
// such as a decimal of mantissa -2^63, which prints back as a float.)
func FuzzDecode(f *testing.F) {
	for _, name := range []string{"text", "binary", "compact+zstd", "compact+s2", "binary+zstd-dict"} {
		c, _ := codec.ParseCodec(name)
		var b bytes.Buffer
		csv := "device,seq,unix_ms,a,b\nm1,1,1700000000000,21.5,-0.00\nm1,2,1699999999000,21.50,1e+30\n,,,1,2\n"
		if _, err := transcode.Encode(&b, bytes.NewReader([]byte(csv)), wire.NewEncoder(c, 0, nil), transcode.EncodeOptions{Batch: 10}); err != nil {
			f.Fatal(err)
		}
		f.Add(b.Bytes())
	}
	f.Add([]byte("#hello m1\n21.5,21.6\n#eos m1 3\n"))
	f.Add([]byte("m1;1;2\n\xb1\x05"))
	dec := wire.NewDecoder(codec.Limits{}, 0, nil)
	text := wire.NewEncoder(codec.Codec{Format: codec.FormatText}, 0, nil)
	f.Fuzz(func(t *testing.T, stream []byte) {
		var csv bytes.Buffer
		if _, err := transcode.Decode(&csv, bytes.NewReader(stream), dec, transcode.DecodeOptions{}); err != nil {
			return
		}
		var frames, again bytes.Buffer
		if _, err := transcode.Encode(&frames, bytes.NewReader(csv.Bytes()), text, transcode.EncodeOptions{Batch: 4096}); err != nil {
			t.Fatalf("decoded CSV does not encode: %v\n%q", err, csv.Bytes())
		}
		if _, err := transcode.Decode(&again, &frames, dec, transcode.DecodeOptions{}); err != nil {
			t.Fatalf("re-encoded frames do not decode: %v", err)
		}
		if bytes.Count(csv.Bytes(), []byte{'\n'}) != bytes.Count(again.Bytes(), []byte{'\n'}) {
			t.Fatalf("rows lost:\n%q\n%q", csv.Bytes(), again.Bytes())
		}
	})
}
