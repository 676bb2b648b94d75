package binary

import (
	"bytes"
	encbin "encoding/binary"
	"math"
	"testing"

	"github.com/fleetwire/fleetwire/codec"
)

// FuzzDecode feeds arbitrary bytes to Decode: it must not panic, must
// return a typed error and leave the batch as it was, or accept a frame
// whose re-encoding decodes to the same frame.
func FuzzDecode(f *testing.F) {
	for _, fr := range testFrames(f) {
		f.Add(Append(nil, fr))
	}
	for _, s := range []string{
		"", "\xb1", "\xb1\x80", "\xb1\x00", "\xb2\x01\x00", "mote-1;1;;43.82",
		"\xb1\x09\x00\x00\x01\x00\x01\x21\x00\x07\x80",
		"\xb1\x10\x00\x00\x01\x00\x01\x24\x00\x00\x00\x00\x00\x00\x00\xf0\x3f\x40",
		"\xb1\x0f\x00\x00\x01\x00\x01\x08\x00\x01\x00\x00\x00\x00\x00\xf8\x7f",
		"\xb1\x19\x0a\x00\x00\x00\x00\x00\x00\x00\x00\x00\x03\x00\x01\x01\x00\x05\x00\x00\x00\x06\x00\x00\x00\x07\x08\x09",
	} {
		f.Add([]byte(s))
	}
	good := Append(nil, mk(f, "g", 1, codec.HasSeq, nil, 1, "7"))
	f.Fuzz(func(t *testing.T, data []byte) {
		var dst codec.Batch
		if err := Decode(&dst, good, nil); err != nil {
			t.Fatal(err)
		}
		err := Decode(&dst, data, &wideLimits)
		if err != nil {
			e, ok := err.(*codec.Error)
			switch {
			case !ok:
				t.Fatalf("error %T %v, want *codec.Error", err, err)
			case e.Format != codec.FormatBinary || e.Reason == codec.ReasonNone || e.Reason >= codec.NumReasons:
				t.Fatalf("bad error %+v", e)
			case e.Offset < 0 || e.Offset > len(data):
				t.Fatalf("offset %d outside the %d-byte frame", e.Offset, len(data))
			case len(dst.Frames) != 1 || dst.Readings() != 1:
				t.Fatalf("batch not rolled back: %d frames, %d readings", len(dst.Frames), dst.Readings())
			}
			return
		}
		if len(dst.Frames) != 2 {
			t.Fatalf("%d frames, want 2", len(dst.Frames))
		}
		got := &dst.Frames[1]
		if got.WireBytes != len(data) || got.Format != codec.FormatBinary {
			t.Fatalf("WireBytes %d Format %s, want %d binary", got.WireBytes, got.Format, len(data))
		}
		if _, n := encbin.Uvarint(data[1:]); len(got.Device) > 0 && &got.Device[0] != &data[1+n+2] {
			t.Fatalf("Device does not alias the frame")
		}
		checkReencode(t, got)
	})
}

// FuzzRoundTrip builds a valid frame from the fuzz input, encodes it and
// checks that decoding gives it back exactly, and that the encoder is
// deterministic.
func FuzzRoundTrip(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{1, 1, 3, 2, 'a', 'b', 5, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3})
	f.Add(bytes.Repeat([]byte{0xff}, 64))
	f.Add(bytes.Repeat([]byte{0x80, 0x01, 0x7f, 0x12}, 40))
	f.Add([]byte("\x03\x0a\x03\x06mote-1\x01\x00\x00\x00\x00\x00\x00\x00\x10\x20\x30\x40\x50\x60\x70\x80\x90"))
	f.Fuzz(func(t *testing.T, data []byte) {
		fr := fuzzFrame(data)
		wire := Append(nil, fr)
		if n := Size(fr); n != len(wire) {
			t.Fatalf("Size %d, Append wrote %d", n, len(wire))
		}
		var dst codec.Batch
		if err := Decode(&dst, wire, &wideLimits); err != nil {
			t.Fatalf("Decode(Append(f)): %v\n% x", err, head(wire))
		}
		if d := diffFrame(&dst.Frames[0], fr); d != "" {
			t.Fatalf("round trip: %s\n% x", d, head(wire))
		}
		if again := Append(nil, &dst.Frames[0]); !bytes.Equal(again, wire) {
			t.Fatalf("re-encoding differs:\n% x\n% x", head(again), head(wire))
		}
	})
}

// fuzzReader hands out fuzz bytes, then zeros.
type fuzzReader []byte

func (r *fuzzReader) byte() byte {
	if len(*r) == 0 {
		return 0
	}
	b := (*r)[0]
	*r = (*r)[1:]
	return b
}

func (r *fuzzReader) u64() uint64 {
	var b [8]byte
	for i := range b {
		b[i] = r.byte()
	}
	return encbin.LittleEndian.Uint64(b[:])
}

// fuzzFrame builds a valid frame, steering towards the encoder's choices:
// each channel has a style that makes fixed, trimmed, per-value, wide or
// float encodings likely.
func fuzzFrame(data []byte) *codec.Frame {
	r := fuzzReader(data)
	nc := 1 + int(r.byte()%4)
	if nc == 4 {
		nc = 1 + int(r.byte()) // up to 256, capped below
	}
	nc = min(nc, wireMaxChannels)
	n := 1 + int(r.byte()%16)
	if n == 16 {
		n = 1 + int(r.byte())*int(r.byte())%wireMaxSamples
	}
	n = min(n, 1<<16/nc) // keep each run fast
	fr := &codec.Frame{Channels: nc, Flags: codec.FrameFlags(r.byte() & 3)}
	const idChars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-"
	if idLen := int(r.byte() % 66); idLen > 0 && idLen <= codec.MaxIDLen {
		for range idLen {
			fr.Device = append(fr.Device, idChars[int(r.byte())%len(idChars)])
		}
	}
	if fr.Flags&codec.HasSeq != 0 {
		fr.Seq = r.u64() >> (r.byte() % 64)
	}
	fr.Times = make([]int64, n)
	if fr.Flags&codec.HasTime != 0 {
		t := int64(r.u64())
		step := int64(int8(r.byte())) * 1000
		for i := range fr.Times {
			switch k := r.byte(); {
			case k < 200: // the same step
			case k < 240:
				step = int64(int16(uint16(k)<<8 | uint16(r.byte())))
			default:
				step = int64(r.u64())
			}
			if i > 0 {
				t += step
			}
			fr.Times[i] = t
		}
	}
	styles := make([]byte, nc)
	scales := make([]uint8, nc)
	for c := range styles {
		styles[c], scales[c] = r.byte()%6, r.byte()%(codec.MaxScale+1)
	}
	for range n {
		for c := range nc {
			fr.Values = append(fr.Values, fuzzValue(&r, styles[c], scales[c]))
		}
	}
	return fr
}

func fuzzValue(r *fuzzReader, style byte, scale uint8) codec.Value {
	switch style {
	case 0: // fixed: small integers at the channel's scale
		return codec.Decimal(int64(int16(uint16(r.byte())<<8|uint16(r.byte()))), scale)
	case 1: // trimmed: like text with trailing zeros dropped
		v := codec.Decimal(int64(int16(uint16(r.byte())<<8|uint16(r.byte()))), r.byte()%(scale+1))
		for v.Scale > 0 && v.Mant%10 == 0 {
			v.Mant /= 10
			v.Scale--
		}
		return v
	case 2: // anything decimal, negative zeros included
		v := codec.Decimal(int64(r.u64())>>(r.byte()%64), r.byte()%(codec.MaxScale+1))
		if v.Mant == 0 && r.byte()&1 == 1 {
			v.Flags = codec.FlagNegZero
		}
		return v
	case 3: // floats
		return fuzzFloat(r)
	case 4: // mostly decimals, sometimes a float
		if r.byte() < 32 {
			return fuzzFloat(r)
		}
		return codec.Decimal(int64(int32(r.u64())), scale)
	}
	// wide: full int64 range at the channel's scale
	return codec.Decimal(int64(r.u64()), scale)
}

func fuzzFloat(r *fuzzReader) codec.Value {
	f := math.Float64frombits(r.u64())
	if math.IsNaN(f) || math.IsInf(f, 0) {
		f = 1.5
	}
	return codec.Float(f)
}
