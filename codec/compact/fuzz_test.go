package compact

import (
	"encoding/binary"
	"math"
	"testing"

	"github.com/fleetwire/fleetwire/codec"
)

// fuzzSeeds are frames worth starting from: the encoder's own output for
// the shapes the format has paths for.
func fuzzSeeds() []codec.Frame {
	d := func(m int64, s uint8) codec.Value { return codec.Decimal(m, s) }
	neg0 := codec.Value{Scale: 2, Flags: codec.FlagNegZero}
	return []codec.Frame{
		{Device: []byte("1"), Seq: 1, Flags: codec.HasSeq, Channels: 2, Times: make([]int64, 3),
			Values: []codec.Value{d(4382, 2), d(3021, 2), d(4379, 2), d(302, 1), d(4379, 2), d(3019, 2)}},
		{Device: []byte("mote-3"), Seq: 42, Flags: codec.HasSeq | codec.HasTime, Channels: 1,
			Times: []int64{1700000000000, 1700000005000, 1700000010000, 1700000014999}, Values: []codec.Value{d(2150, 2), d(2160, 2), d(2160, 2), d(2180, 2)}},
		{Channels: 2, Flags: codec.HasTime, Times: []int64{math.MaxInt64, math.MinInt64},
			Values: []codec.Value{codec.Float(1e300), neg0, codec.Float(-2.5), d(0, 0)}},
		{Device: []byte("abcdefghij"), Seq: math.MaxUint64, Flags: codec.HasSeq, Channels: 1, Times: make([]int64, 3),
			Values: []codec.Value{d(215, 1), d(2150, 2), d(21, 0)}},
		{Channels: 1, Times: make([]int64, 5), Values: []codec.Value{d(math.MaxInt64, 0), d(5, 1), d(math.MinInt64, 0), d(0, 0), d(7, 18)}},
	}
}

// FuzzDecode feeds arbitrary bytes to Decode. It must not panic, errors
// must be typed and leave the batch as it was, and a frame that decodes
// must encode and decode to the same frame.
func FuzzDecode(f *testing.F) {
	for _, fr := range fuzzSeeds() {
		f.Add(Append(nil, &fr))
	}
	f.Add([]byte{codec.MagicCompact, 0})
	f.Add([]byte{codec.MagicCompact, 3, 0x20, 0x80, 0})
	lim := codec.Limits{MaxFrame: 1 << 16, MaxDecoded: 1 << 20, MaxChannels: 64, MaxSamples: 4096}
	var b codec.Batch
	f.Fuzz(func(t *testing.T, data []byte) {
		b.Reset()
		err := Decode(&b, data, &lim)
		if err != nil {
			if codec.ReasonOf(err) == codec.ReasonNone {
				t.Fatalf("untyped error %v", err)
			}
			if len(b.Frames) != 0 || b.Readings() != 0 || len(b.Frames) != 0 {
				t.Fatalf("failed decode left %d frames", len(b.Frames))
			}
			return
		}
		fr := &b.Frames[0]
		if fr.WireBytes != len(data) || fr.Readings() != fr.Samples()*fr.Channels || fr.Channels > lim.MaxChannels || fr.Samples() > lim.MaxSamples {
			t.Fatalf("inconsistent frame: %d samples, %d channels, %d readings, %d wire bytes of %d", fr.Samples(), fr.Channels, fr.Readings(), fr.WireBytes, len(data))
		}
		checkReencode(t, fr)
	})
}

// fuzzReader hands out fuzz input bytes; past the end it returns zeros.
type fuzzReader struct{ b []byte }

func (r *fuzzReader) byte() byte {
	if len(r.b) == 0 {
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

func (r *fuzzReader) u64() uint64 {
	var buf [8]byte
	for i := range buf {
		buf[i] = r.byte()
	}
	return binary.LittleEndian.Uint64(buf[:])
}

// value makes a valid Value of one of the shapes devices print, near prev.
func (r *fuzzReader) value(prev codec.Value) codec.Value {
	k := r.byte()
	switch k % 10 {
	case 0, 1, 2: // small step at the previous scale
		if prev.IsFloat() {
			prev = codec.Value{}
		}
		return codec.Decimal(prev.Mant+int64(int8(r.byte())), prev.Scale)
	case 3:
		return codec.Decimal(int64(r.u64()), r.byte()%(codec.MaxScale+1))
	case 4:
		f := math.Float64frombits(r.u64())
		if math.IsNaN(f) || math.IsInf(f, 0) {
			f = float64(int8(k))
		}
		return codec.Float(f)
	case 5:
		return codec.Value{Scale: r.byte() % (codec.MaxScale + 1), Flags: codec.FlagNegZero}
	case 6: // trimmed: trailing zeros dropped
		m, s := int64(int16(r.u64())), r.byte()%4
		for s > 0 && m%10 == 0 {
			m /= 10
			s--
		}
		return codec.Decimal(m, s)
	case 7:
		return prev
	case 8:
		return codec.Decimal(int64(int16(r.byte())<<8|int16(r.byte())), r.byte()%3)
	}
	return codec.Decimal(0, r.byte()%3)
}

const idChars = "abcXYZ019._-"

// frame builds a frame from the input: a header, then samples until the
// input runs out (at most 300).
func (r *fuzzReader) frame() codec.Frame {
	var f codec.Frame
	h := r.byte()
	f.Channels = int(h % 9)
	if h >= 0xF0 {
		f.Channels = 64
	}
	fl := r.byte()
	if fl&1 != 0 {
		f.Flags |= codec.HasSeq
		f.Seq = r.u64()
	}
	if fl&2 != 0 {
		f.Flags |= codec.HasTime
	}
	if n := int(fl>>2) % 20; n > 0 {
		if n > 12 {
			n = 64
		}
		for range n {
			f.Device = append(f.Device, idChars[int(r.byte())%len(idChars)])
		}
	}
	t := int64(r.u64())
	step := int64(int16(r.u64()))
	prev := make([]codec.Value, f.Channels)
	for len(r.b) > 0 && len(f.Times) < 300 {
		switch r.byte() % 4 {
		case 0:
			t += step
		case 1:
			t += step + int64(int8(r.byte()))
		case 2:
			t = int64(r.u64())
		case 3:
			step = int64(int16(r.u64()))
		}
		f.Times = append(f.Times, t)
		for c := range f.Channels {
			prev[c] = r.value(prev[c])
			f.Values = append(f.Values, prev[c])
		}
	}
	return f
}

// FuzzRoundTrip builds frames from fuzz input; every one must come back
// exactly.
func FuzzRoundTrip(f *testing.F) {
	f.Add([]byte{2, 1, 0, 0, 0, 0, 0, 0, 0, 42, 1, 2, 3, 4, 5, 6, 7, 8, 10, 0, 0, 0, 1, 0, 2, 5, 3, 1})
	f.Add([]byte{1, 2, 0x88, 0x13, 0, 0, 0, 0, 0, 0, 0xE8, 3, 0, 0, 0, 0, 0, 0, 0, 4, 1, 7, 7, 0, 3, 9, 9, 9})
	f.Add([]byte{0xF3, 0x7F, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20})
	f.Add([]byte{3, 3, 255, 255, 255, 255, 255, 255, 255, 255, 1, 0, 0, 0, 0, 0, 0, 0x80, 4, 4, 5, 6, 5, 3, 6, 200, 1, 3})
	var b codec.Batch
	var buf []byte
	lim := codec.Limits{MaxFrame: 1 << 24, MaxDecoded: 1 << 24}
	f.Fuzz(func(t *testing.T, data []byte) {
		r := fuzzReader{b: data}
		want := r.frame()
		if want.Samples() == 0 || want.Channels == 0 {
			return // not a frame: every format refuses frames without readings
		}
		buf = Append(buf[:0], &want)
		b.Reset()
		if err := Decode(&b, buf, &lim); err != nil {
			t.Fatalf("decode: %v\nframe % x", err, buf)
		}
		if d := sameFrame(&b.Frames[0], &want); d != "" {
			t.Fatalf("%s\nframe % x", d, buf)
		}
	})
}
