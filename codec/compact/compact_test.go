package compact

import (
	"bytes"
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/fleetwire/fleetwire/codec"
)

// vals parses values as a device prints them, "" separated by spaces.
func vals(t testing.TB, s string) []codec.Value {
	t.Helper()
	var out []codec.Value
	for _, w := range strings.Fields(s) {
		v, r := codec.ParseValue([]byte(w))
		if r != codec.ReasonNone {
			t.Fatalf("bad test value %q: %v", w, r)
		}
		out = append(out, v)
	}
	return out
}

// frame builds a frame of len(vs)/channels samples; times may be nil.
func frame(device string, seq uint64, flags codec.FrameFlags, channels int, times []int64, vs []codec.Value) codec.Frame {
	n := 0
	if channels > 0 {
		n = len(vs) / channels
	}
	if times == nil {
		times = make([]int64, n)
	}
	f := codec.Frame{Seq: seq, Flags: flags, Channels: channels, Times: times, Values: vs}
	if device != "" {
		f.Device = []byte(device)
	}
	return f
}

// roundTrip encodes want, decodes it into a Batch that already holds a
// frame, and checks every field. It returns the encoded frame.
func roundTrip(t *testing.T, want *codec.Frame) []byte {
	t.Helper()
	prefix := []byte("prefix")
	buf := Append(prefix, want)
	if !bytes.Equal(buf[:len(prefix)], prefix) {
		t.Fatalf("Append overwrote dst")
	}
	enc := buf[len(prefix):]
	var b codec.Batch
	if err := Decode(&b, Append(nil, &codec.Frame{Channels: 1, Times: []int64{0}, Values: []codec.Value{{Mant: 7}}}), nil); err != nil {
		t.Fatalf("decode first frame: %v", err)
	}
	if err := Decode(&b, enc, nil); err != nil {
		t.Fatalf("decode: %v\nframe % x", err, enc)
	}
	if len(b.Frames) != 2 {
		t.Fatalf("got %d frames, want 2", len(b.Frames))
	}
	got := &b.Frames[1]
	if d := sameFrame(got, want); d != "" {
		t.Fatalf("%s\nframe % x", d, enc)
	}
	if got.WireBytes != len(enc) {
		t.Fatalf("WireBytes %d, want %d", got.WireBytes, len(enc))
	}
	if len(got.Device) > 0 && &got.Device[0] != &enc[bytes.Index(enc, got.Device)] {
		t.Fatalf("Device does not alias the frame")
	}
	if b.Frames[0].Values[0].Mant != 7 || len(b.Frames[0].Values) != 1 {
		t.Fatalf("first frame clobbered")
	}
	return enc
}

func TestRoundTrip_Success(t *testing.T) {
	f := func(name string, fr codec.Frame) {
		t.Helper()
		t.Run(name, func(t *testing.T) { roundTrip(t, &fr) })
	}
	hs := codec.HasSeq
	ht := codec.HasTime
	both := hs | ht

	f("one sample", frame("mote-3", 42, hs, 2, nil, vals(t, "21.5 40")))
	f("no seq, time or device", frame("", 0, 0, 1, nil, vals(t, "21.5 21.7 21.9")))
	f("seq near 2^64", frame("a", math.MaxUint64, hs, 1, nil, vals(t, "1 2")))
	f("seq 2^64-3 with times", frame("a", math.MaxUint64-3, both, 1, []int64{1, 2, 3}, vals(t, "1 2 3")))
	f("device of 6 bytes", frame("abcdef", 1, hs, 1, nil, vals(t, "1")))
	f("device of 7 bytes", frame("abcdefg", 1, hs, 1, nil, vals(t, "1")))
	f("device of 64 bytes", frame(strings.Repeat("x.-_9", 12)+"abcd", 1, hs, 1, nil, vals(t, "1")))
	f("14-18 significant digits", frame("d", 0, 0, 3, nil, vals(t,
		"12345678901234 123456789012345.678 999999999999999999 "+
			"12345678901235 123456789012345.679 -999999999999999999 "+
			"-12345678901234 0.000000000000000001 100000000000000000 "+
			"9223372036854775807 -9223372036854775.807 0.123456789012345678")))
	f("floats", frame("d", 0, 0, 2, nil, []codec.Value{
		codec.Float(1e300), codec.Float(math.SmallestNonzeroFloat64),
		codec.Float(-1e300), codec.Float(math.MaxFloat64),
		codec.Float(1.5e-300), codec.Float(-math.MaxFloat64),
	}))
	f("floats mixed with decimals", frame("d", 0, 0, 1, nil, append(vals(t, "21.5 -0.0 21.75"),
		codec.Float(1e30), codec.Decimal(0, 0), codec.Float(math.Copysign(0, -1)))))
	f("negative zero", frame("d", 0, 0, 3, nil, vals(t, "-0.00 -0 0.5 0.00 0 -0.5 -0.00 -0 0.1 -0.00 0 -0.0")))
	f("negative zero, trimmed", frame("d", 0, 0, 1, nil, vals(t, "-0 0.1 0 -0 -0.2 -0.25")))
	f("mixed scales", frame("d", 0, 0, 1, nil, vals(t, "21.5 21.50 21 21.500 -21.5 0.001 7")))
	f("trimmed (multihop style)", frame("1", 1, hs, 2, nil, vals(t, "43.82 30.21 43.79 30.2 43.79 30.19 43.8 30 43.81 30")))
	f("fixed decimal 21.50", frame("d", 0, 0, 1, nil, vals(t, "21.50 21.60 21.60 21.80 21.50 21.40 22.00 21.90")))
	f("fixed decimal, constant", frame("d", 0, 0, 2, nil, vals(t, strings.Repeat("21.50 7 ", 100))))
	f("rescale overflow goes raw", frame("d", 0, 0, 1, nil, vals(t, "9223372036854775807 0.5 -9223372036854775807")))
	f("extreme mantissas", frame("d", 0, 0, 1, nil, []codec.Value{
		codec.Decimal(math.MinInt64, 0), codec.Decimal(math.MaxInt64, 18), codec.Decimal(math.MinInt64, 18),
		codec.Decimal(0, 18), codec.Decimal(math.MaxInt64, 0), codec.Decimal(math.MinInt64, 0)}))
	f("times regular", frame("d", 7, both, 1, []int64{1700000000000, 1700000005000, 1700000010000, 1700000015000}, vals(t, "1 2 3 4")))
	f("times irregular", frame("d", 7, both, 1, []int64{1700000000000, 1700000005003, 1700000009999, 1700000015000, 1700000020017}, vals(t, "1 2 3 4 5")))
	f("times stepping backwards", frame("d", 7, both, 1, []int64{1700000010000, 1700000005000, 1700000000000, 1699999999999}, vals(t, "1 2 3 4")))
	f("times with gaps", frame("d", 7, both, 1, []int64{1000, 2000, 3000, 3600000, 3601000, 3602000, 86400000}, vals(t, "1 2 3 4 5 6 7")))
	f("times with huge jumps", frame("d", 7, both, 1, []int64{math.MinInt64, math.MaxInt64, 0, math.MinInt64, -1, math.MaxInt64}, vals(t, "1 2 3 4 5 6")))
	f("times all zero", frame("d", 7, both, 1, []int64{0, 0, 0}, vals(t, "1 2 3")))
	f("one time", frame("d", 7, both, 2, []int64{-5}, vals(t, "1 2")))
	f("two times", frame("d", 7, both, 2, []int64{5, 4}, vals(t, "1 2 3 4")))
	f("times ignored without HasTime", frame("d", 7, hs, 1, []int64{5, 6}, vals(t, "1 2")))
	f("single channel ramp", frame("d", 0, 0, 1, nil, vals(t, "1 3 5 7 9 11 13 15 17 19 21")))
	f("noise around zero", frame("d", 0, 0, 1, nil, vals(t, "3 -2 1 0 -3 2 -1 3 0 -2 1 -1")))
	f("7 and 8 channels", frame("d", 0, 0, 8, nil, vals(t, strings.Repeat("1 2 3 4 5 6 7 8.5 ", 3))))
	var wide []codec.Value
	for i := range 64 * 20 {
		wide = append(wide, codec.Decimal(int64(i%64*100+i/64), uint8(i%64%4)))
	}
	f("64 channels", frame("d", 0, hs, 64, nil, wide))
}

func TestRoundTrip_Multihop(t *testing.T) {
	for _, batch := range []int{1, 10, 60, 600} {
		frames := multihopFrames(t, batch)
		var b codec.Batch
		var buf []byte
		for i := range frames {
			buf = Append(buf[:0], &frames[i])
			b.Reset()
			if err := Decode(&b, buf, nil); err != nil {
				t.Fatalf("batch %d frame %d: %v", batch, i, err)
			}
			if d := sameFrame(&b.Frames[0], &frames[i]); d != "" {
				t.Fatalf("batch %d frame %d: %s", batch, i, d)
			}
		}
	}
}

// wantErr checks that err is a compact *codec.Error with reason want and
// an offset inside the frame.
func wantErr(t *testing.T, err error, want codec.Reason, frameLen int) {
	t.Helper()
	var e *codec.Error
	switch {
	case err == nil:
		t.Fatalf("no error, want %v", want)
	case !errors.As(err, &e):
		t.Fatalf("error %T %v is not *codec.Error", err, err)
	case e.Reason != want:
		t.Fatalf("reason %v, want %v (%v)", e.Reason, want, err)
	case e.Format != codec.FormatCompact:
		t.Fatalf("format %v in %v", e.Format, err)
	case e.Offset < 0 || e.Offset > frameLen:
		t.Fatalf("offset %d outside a frame of %d bytes", e.Offset, frameLen)
	}
}

// decodeFails decodes frame twice into one Batch holding a good frame:
// both must fail with want and leave the Batch as it was.
func decodeFails(t *testing.T, frame []byte, lim *codec.Limits, want codec.Reason) {
	t.Helper()
	var b codec.Batch
	good := Append(nil, &codec.Frame{Device: []byte("g"), Channels: 1, Times: []int64{0, 0}, Values: []codec.Value{{Mant: 1}, {Mant: 2}}})
	if err := Decode(&b, good, nil); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		wantErr(t, Decode(&b, frame, lim), want, len(frame))
		if len(b.Frames) != 1 || b.Readings() != 2 || len(b.Frames[0].Times) != 2 || string(b.Frames[0].Device) != "g" {
			t.Fatalf("batch changed by a failed decode: %d frames, %d readings", len(b.Frames), b.Readings())
		}
	}
	if err := Decode(&b, good, nil); err != nil || len(b.Frames) != 2 || b.Readings() != 4 {
		t.Fatalf("batch unusable after failures: %v", err)
	}
}

// craft builds a frame from a flags byte, an id and a coded body.
func craft(flags byte, id string, body func(e *rangeEncoder)) []byte {
	var e rangeEncoder
	e.init(nil)
	body(&e)
	rest := append([]byte{flags}, id...)
	rest = append(rest, e.finish()...)
	return withLength(rest)
}

func withLength(rest []byte) []byte {
	out := []byte{codec.MagicCompact}
	out = appendUvarint(out, uint64(len(rest)))
	return append(out, rest...)
}

func appendUvarint(b []byte, x uint64) []byte {
	for x >= 0x80 {
		b = append(b, byte(x)|0x80)
		x >>= 7
	}
	return append(b, byte(x))
}

func TestDecode_Failure(t *testing.T) {
	f := func(name string, frame []byte, lim *codec.Limits, want codec.Reason) {
		t.Helper()
		t.Run(name, func(t *testing.T) { decodeFails(t, frame, lim, want) })
	}
	good := Append(nil, &codec.Frame{Device: []byte("1"), Seq: 9, Flags: codec.HasSeq, Channels: 2,
		Times: make([]int64, 3), Values: vals(t, "43.82 30.21 43.79 30.2 43.79 30.19")})
	bigConst := func(n, c int) []byte {
		fr := codec.Frame{Channels: c, Times: make([]int64, n), Values: make([]codec.Value, n*c)}
		return Append(nil, &fr)
	}
	small := &codec.Limits{MaxFrame: 64, MaxSamples: 4, MaxChannels: 3, MaxDecoded: 1 << 20}

	f("empty", nil, nil, codec.ReasonTruncated)
	f("text", []byte("1;2;3.5"), nil, codec.ReasonUnknownFormat)
	f("binary magic", []byte{codec.MagicBinary, 1, 0}, nil, codec.ReasonUnknownFormat)
	f("version 0", []byte{0xC0, 1, 0}, nil, codec.ReasonBadVersion)
	f("version 2", append([]byte{0xC2}, good[1:]...), nil, codec.ReasonBadVersion)
	f("version 15", []byte{0xCF}, nil, codec.ReasonBadVersion)
	f("magic only", []byte{codec.MagicCompact}, nil, codec.ReasonTruncated)
	f("length cut", []byte{codec.MagicCompact, 0x80}, nil, codec.ReasonTruncated)
	f("length of 6 bytes", []byte{codec.MagicCompact, 0x80, 0x80, 0x80, 0x80, 0x80, 0}, nil, codec.ReasonBadLength)
	f("length past the end", append([]byte{codec.MagicCompact, good[1] + 1}, good[2:]...), nil, codec.ReasonTruncated)
	f("length short of the end", append([]byte{codec.MagicCompact, good[1] - 1}, good[2:]...), nil, codec.ReasonBadLength)
	f("length 2^64", append([]byte{codec.MagicCompact, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 1}, good[2:]...), nil, codec.ReasonBadLength)
	f("no flags byte", []byte{codec.MagicCompact, 0}, nil, codec.ReasonTruncated)
	f("frame above MaxFrame", append([]byte{codec.MagicCompact, 100}, make([]byte, 100)...), small, codec.ReasonTooLong)
	f("id cut", withLength([]byte{5, 'a', 'b'}), nil, codec.ReasonTruncated)
	f("id length byte missing", withLength([]byte{7}), nil, codec.ReasonTruncated)
	f("id length byte 3", withLength([]byte{7, 3, 'a', 'b', 'c', 0x80, 0, 0}), nil, codec.ReasonBadID)
	f("id length byte 65", withLength(append([]byte{7, 65}, bytes.Repeat([]byte{'a'}, 65)...)), nil, codec.ReasonBadID)
	f("id with a space", craft(3, "a b", func(e *rangeEncoder) { e.putUint(0) }), nil, codec.ReasonBadID)
	f("id with a byte >= 0x80", craft(1, "\xff", func(e *rangeEncoder) { e.putUint(0) }), nil, codec.ReasonBadID)
	f("zero body: samples code too long", withLength([]byte{0, 0, 0, 0, 0}), nil, codec.ReasonBadNumber)
	f("seq code too long", withLength([]byte{flagSeq, 0, 0, 0, 0}), nil, codec.ReasonBadNumber)
	f("samples above MaxSamples", craft(1<<channelsShift, "", func(e *rangeEncoder) { e.putUint(5) }), small, codec.ReasonTooManySamples)
	f("samples 2^64-1", craft(1<<channelsShift, "", func(e *rangeEncoder) { e.putUint(math.MaxUint64) }), nil, codec.ReasonTooManySamples)
	f("channels above MaxChannels", craft(0, "", func(e *rangeEncoder) { e.putUint(1); e.putUint(65) }), nil, codec.ReasonTooManyChannels)
	f("channels 1-7 in the body", craft(0, "", func(e *rangeEncoder) { e.putUint(1); e.putUint(2) }), nil, codec.ReasonBadNumber)
	f("zero samples", craft(1<<channelsShift, "", func(e *rangeEncoder) { e.putUint(0) }), nil, codec.ReasonBadSyntax)
	f("zero channels", craft(0, "", func(e *rangeEncoder) { e.putUint(3); e.putUint(0) }), nil, codec.ReasonBadSyntax)
	f("bomb: 4096 x 64 constant readings", bigConst(4096, 64), nil, codec.ReasonTooLarge)
	f("bomb: over a small MaxDecoded", bigConst(100, 7), &codec.Limits{MaxDecoded: 100 * 7 * 16}, codec.ReasonTooLarge)
	f("bomb: claims 4096 x 64, body empty", craft(flagTime, "", func(e *rangeEncoder) { e.putUint(4096); e.putUint(64) }), nil, codec.ReasonTooLarge)
	f("claims 4096 x 64 under a big MaxDecoded, body empty", craft(flagTime, "", func(e *rangeEncoder) { e.putUint(4096); e.putUint(64) }),
		&codec.Limits{MaxDecoded: 8 << 20}, codec.ReasonTruncated)
	f("claims 4096 x 1, body empty", craft(1<<channelsShift|flagTime, "", func(e *rangeEncoder) { e.putUint(4096) }), nil, codec.ReasonBadNumber)
	f("scale 19", craft(1<<channelsShift, "", func(e *rangeEncoder) {
		e.putUint(1)
		e.direct(modeFixed, 2)
		e.putUint(19)
	}), nil, codec.ReasonBadNumber)
	f("first value code too long", craft(1<<channelsShift, "", func(e *rangeEncoder) {
		e.putUint(1)
		e.direct(modeFixed, 2)
		e.putUint(2)
		e.direct(0, 1)
		for range 7 {
			e.direct(0, 1)
		}
	}), nil, codec.ReasonBadNumber)
	f("quantum 2^63+1", craft(1<<channelsShift, "", func(e *rangeEncoder) {
		e.putUint(3)
		e.direct(modeFixed, 2)
		e.putUint(0)
		e.direct(0, 1)
		e.putInt(5)
		e.direct(1, 1) // order 1
		e.direct(0, 1) // q != 1
		e.putUint(1 << 63)
	}), nil, codec.ReasonBadNumber)
	f("per-value scale that does not divide", craft(1<<channelsShift, "", func(e *rangeEncoder) {
		e.putUint(1)
		e.direct(modePerValue, 2)
		e.putUint(2)
		e.direct(0, 1)
		e.putInt(1234) // 12.34 cannot be written with scale 1
		var sm sideModel
		e.putSmall(sm.scale[:], 1, 2)
	}), nil, codec.ReasonBadNumber)
	f("NaN", Append(nil, &codec.Frame{Channels: 1, Times: []int64{0}, Values: []codec.Value{codec.Float(math.NaN())}}), nil, codec.ReasonNonFinite)
	f("+Inf among decimals", Append(nil, &codec.Frame{Channels: 1, Times: make([]int64, 3), Values: []codec.Value{{Mant: 1}, codec.Float(math.Inf(1)), {Mant: 2}}}), nil, codec.ReasonNonFinite)
	trailing := append(bytes.Clone(good[2:]), 0x55)
	f("byte after the coded body", withLength(trailing), nil, codec.ReasonBadLength)
	f("two bytes after the coded body", withLength(append(trailing, 0)), nil, codec.ReasonBadLength)
	f("body cut short", withLength(craftCut(t)), nil, codec.ReasonTruncated)
}

// craftCut returns the rest of a frame whose coded body lost its last
// bytes, so that the decoder runs more than 4 bytes past the end.
func craftCut(t *testing.T) []byte {
	var vs []codec.Value
	for i := range 200 {
		vs = append(vs, codec.Decimal(int64(i*i*7919%1000003), 0))
	}
	enc := Append(nil, &codec.Frame{Channels: 1, Times: make([]int64, 200), Values: vs})
	_, n := uvarint(enc[1:])
	rest := enc[1+n:]
	return rest[:len(rest)-8]
}

func uvarint(b []byte) (uint64, int) {
	var x uint64
	for i, c := range b {
		x |= uint64(c&0x7f) << (7 * i)
		if c < 0x80 {
			return x, i + 1
		}
	}
	return 0, 0
}

// TestTruncation cuts frames at every byte: each prefix must fail (its
// length field disagrees), and cutting the body while fixing the length
// must never panic.
func TestTruncation(t *testing.T) {
	frames := []codec.Frame{
		frame("mote-3", 42, codec.HasSeq|codec.HasTime, 2, []int64{1700000000000, 1700000005000, 1700000010007}, vals(t, "21.5 40 21.6 41 -0.0 42.125")),
		frame("1", 1, codec.HasSeq, 2, nil, vals(t, "43.82 30.21 43.79 30.2 43.79 30.19")),
		frame("", 0, 0, 1, nil, append(vals(t, "1 2.5 -0"), codec.Float(1e300))),
		frame(strings.Repeat("z", 40), math.MaxUint64, codec.HasSeq, 3, nil, vals(t, "999999999999999999 0.000000000000000001 -5 1 2 3")),
	}
	frames = append(frames, multihopFrames(t, 60)[:3]...)
	var b codec.Batch
	for i := range frames {
		enc := Append(nil, &frames[i])
		for cut := range len(enc) {
			b.Reset()
			if err := Decode(&b, enc[:cut], nil); err == nil {
				t.Fatalf("frame %d cut at %d of %d decoded", i, cut, len(enc))
			} else if codec.ReasonOf(err) == codec.ReasonNone {
				t.Fatalf("frame %d cut at %d: untyped error %v", i, cut, err)
			}
			if len(b.Frames) != 0 || b.Readings() != 0 {
				t.Fatalf("frame %d cut at %d: batch not rolled back", i, cut)
			}
		}
		_, n := uvarint(enc[1:])
		rest := enc[1+n:]
		for cut := range len(rest) {
			b.Reset()
			if err := Decode(&b, withLength(rest[:cut]), nil); err != nil && codec.ReasonOf(err) == codec.ReasonNone {
				t.Fatalf("frame %d body cut at %d: untyped error %v", i, cut, err)
			}
		}
	}
}

// TestGarbage feeds random bodies behind a valid envelope: errors must be
// typed, and what decodes must encode and decode to the same values.
func TestGarbage(t *testing.T) {
	seed := uint64(0x9E3779B97F4A7C15)
	rnd := func() uint64 {
		seed ^= seed << 13
		seed ^= seed >> 7
		seed ^= seed << 17
		return seed
	}
	var b codec.Batch
	ok := 0
	for i := range 20000 {
		rest := make([]byte, 1+int(rnd()%40))
		for j := range rest {
			rest[j] = byte(rnd())
		}
		rest[0] &^= flagIDLen // mostly without a device, or the id check rejects nearly all
		if i%4 == 0 {
			rest[0] = rest[0]&^flagIDLen | 1
			rest = append(rest[:1], append([]byte{'x'}, rest[1:]...)...)
		}
		b.Reset()
		err := Decode(&b, withLength(rest), nil)
		if err != nil {
			if codec.ReasonOf(err) == codec.ReasonNone {
				t.Fatalf("untyped error %v", err)
			}
			continue
		}
		ok++
		checkReencode(t, &b.Frames[0])
	}
	t.Logf("%d of 20000 random bodies decoded", ok)
}

// checkReencode encodes a decoded frame and decodes it again: same frame.
func checkReencode(t testing.TB, got *codec.Frame) {
	t.Helper()
	enc := Append(nil, got)
	var b2 codec.Batch
	if err := Decode(&b2, enc, nil); err != nil {
		t.Fatalf("re-encoded frame does not decode: %v\n% x", err, enc)
	}
	if d := sameFrame(&b2.Frames[0], got); d != "" {
		t.Fatalf("re-encoded frame differs: %s", d)
	}
}

func TestAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not meaningful under -race (sync.Pool drops items on purpose)")
	}
	frames := multihopFrames(t, 60)
	var encs [][]byte
	for i := range frames[:20] {
		encs = append(encs, Append(nil, &frames[i]))
	}
	var b codec.Batch
	for _, e := range encs {
		if err := Decode(&b, e, nil); err != nil {
			t.Fatal(err)
		}
	}
	if n := testing.AllocsPerRun(50, func() {
		b.Reset()
		for _, e := range encs {
			if err := Decode(&b, e, nil); err != nil {
				t.Fatal(err)
			}
		}
	}); n != 0 {
		t.Errorf("Decode: %v allocs per run, want 0", n)
	}
	buf := make([]byte, 0, 1<<16)
	var e Encoder
	if n := testing.AllocsPerRun(50, func() {
		for i := range frames[:20] {
			buf = e.Append(buf[:0], &frames[i])
		}
	}); n != 0 {
		t.Errorf("Encoder.Append: %v allocs per run, want 0", n)
	}
	if n := testing.AllocsPerRun(50, func() {
		for i := range frames[:20] {
			buf = Append(buf[:0], &frames[i])
		}
	}); n != 0 {
		t.Errorf("Append: %v allocs per run, want 0", n)
	}
}
