package binary

import (
	"encoding/hex"
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/fleetwire/fleetwire/codec"
	"github.com/fleetwire/fleetwire/codec/text"
)

func TestRoundTrip_Success(t *testing.T) {
	f := func(fr *codec.Frame) {
		t.Helper()
		roundTrip(t, fr)
	}
	const seqTime = codec.HasSeq | codec.HasTime
	t0 := int64(1700000000000)

	// Single channel, and nothing optional: no seq, no time, no device.
	f(mk(t, "", 0, 0, nil, 1, "21.5"))
	f(mk(t, "", 0, 0, nil, 1, "21.5", "21.7", "21.9", "22.04"))
	f(mk(t, "mote-3", 0, 0, nil, 1, "7"))
	f(mk(t, "", 42, codec.HasSeq, nil, 1, "7"))
	f(mk(t, "", 0, codec.HasTime, []int64{t0}, 1, "7"))
	// Fixed decimals keep their written zeros; mixed scales in a channel.
	f(mk(t, "d", 1, codec.HasSeq, nil, 1, "21.50", "21.55", "21.60", "-3.00"))
	f(mk(t, "d", 1, codec.HasSeq, nil, 1, "30", "30.2", "30.25"))
	f(mk(t, "d", 1, codec.HasSeq, nil, 1, "30", "30.20", "30.25", "30.0"))
	f(mk(t, "d", 1, codec.HasSeq, nil, 2, "0", "0.0", "0.00", "100", "-100", "100.000"))
	// Negative zero, alone and among other values.
	f(mk(t, "d", 1, codec.HasSeq, nil, 1, "-0.00"))
	f(mk(t, "d", 1, codec.HasSeq, nil, 1, "-0", "0", "-0.0", "0.1", "-0.1"))
	// 14 to 19 significant digits, at the edges of int64.
	f(mk(t, "d", 1, codec.HasSeq, nil, 1, "12345678901.234", "123456789012.34", "-99999999999999.9999"))
	f(mk(t, "d", 1, codec.HasSeq, nil, 1, "999999999999999999", "-0.123456789012345678", "0.000000000000000001"))
	f(mk(t, "d", 1, codec.HasSeq, nil, 1, "9223372036854775807", "-9223372036854775807", "0.5"))
	f(mk(t, "d", 1, codec.HasSeq, nil, 1, "922337203685477580.7", "-92233720368547758.07"))
	f(mk(t, "d", 1, codec.HasSeq, nil, 2, "1", "0.000000000000000001", "-1", "0.000000000000000009"))
	// Floats: exponents, more than 19 digits, -0 as a float, mixed with decimals.
	f(mk(t, "d", 1, codec.HasSeq, nil, 1, "1e-05", "6.02e23", "-1.5E+300", "12345678901234567890123", "-0e0"))
	f(mk(t, "d", 1, codec.HasSeq, nil, 1, "0.5", "1e-05", "30.20", "-0.0", "1234567"))
	f(mk(t, "d", 1, codec.HasSeq, nil, 3, "1e-05", "21.5", "-0", "2.5e-308", "21.50", "1"))
	// Times: regular, irregular, backwards, beyond i32, wrapping int64.
	f(mk(t, "d", 9, seqTime, []int64{t0, t0 + 5000, t0 + 10000}, 1, "1", "2", "3"))
	f(mk(t, "d", 9, seqTime, []int64{t0, t0 + 5000, t0 + 4000}, 1, "1", "2", "3"))
	f(mk(t, "d", 9, seqTime, []int64{t0, t0 - 1000, t0 - 2000}, 1, "1", "2", "3"))
	f(mk(t, "d", 9, seqTime, []int64{t0, t0 + 5000, t0 + 5000, t0 + 9000000}, 1, "1", "2", "3", "4"))
	f(mk(t, "d", 9, seqTime, []int64{t0, t0 + 40*86400000, t0 + 80*86400000}, 1, "1", "2", "3"))
	f(mk(t, "d", 9, seqTime, []int64{0, t0, -5}, 1, "1", "2", "3"))
	f(mk(t, "d", 9, seqTime, []int64{math.MinInt64, math.MaxInt64, 0, math.MinInt64}, 1, "1", "2", "3", "4"))
	f(mk(t, "d", 9, seqTime, []int64{math.MaxInt64, math.MinInt64}, 1, "1", "2"))
	// Sequence numbers around 2^32.
	f(mk(t, "d", math.MaxUint32, codec.HasSeq, nil, 1, "1", "2"))
	f(mk(t, "d", math.MaxUint32+1, codec.HasSeq, nil, 1, "1"))
	f(mk(t, "d", math.MaxUint64, codec.HasSeq, nil, 1, "1"))
	// The longest id, many channels, many samples.
	f(mk(t, strings.Repeat("a", 64), 0, 0, nil, 1, "1"))
	many := make([]string, 255)
	for i := range many {
		many[i] = codec.Decimal(int64(i*1000-i), uint8(i%19)).String()
	}
	f(mk(t, "d", 0, 0, nil, 255, many...))
	long := make([]string, 4096)
	times := make([]int64, 2048)
	for i := range long {
		long[i] = codec.Decimal(int64(i*i), 2).String()
	}
	for i := range times {
		times[i] = t0 + int64(i*i)
	}
	f(mk(t, "d", 0, codec.HasTime, times, 2, long...))
}

func TestRoundTrip_Multihop(t *testing.T) {
	for _, batch := range []int{1, 10, 60, 600} {
		frames := multihopFrames(t, batch)
		readings := 0
		for _, fr := range frames {
			roundTrip(t, fr)
			readings += fr.Readings()
		}
		if readings != 4*4690*2 {
			t.Fatalf("batch %d: %d readings, want %d", batch, readings, 4*4690*2)
		}
	}
}

// TestMultihopSize logs bytes per reading on the real data, beside the
// text format's for the same frames; run with -v.
func TestMultihopSize(t *testing.T) {
	prev := math.Inf(1)
	var line []byte
	for _, batch := range []int{1, 10, 60, 600} {
		wire, txt, readings, frames := 0, 0, 0, multihopFrames(t, batch)
		for _, fr := range frames {
			wire += Size(fr)
			line = text.Append(line[:0], fr, '\n')
			txt += len(line)
			readings += fr.Readings()
		}
		bpr := float64(wire) / float64(readings)
		t.Logf("multihop batch %4d: %5d frames, %d readings: binary %7d bytes %.3f B/reading; text %7d bytes %.3f B/reading",
			batch, len(frames), readings, wire, bpr, txt, float64(txt)/float64(readings))
		if bpr >= prev {
			t.Errorf("batch %d: %.3f B/reading, not below the smaller batch's %.3f", batch, bpr, prev)
		}
		prev = bpr
	}
}

// TestChannelChoice pins the encoder's choice of width and mode: the
// narrowest exact one.
func TestChannelChoice(t *testing.T) {
	f := func(vals []string, wantType, wantScale byte, wantValueBytes int) {
		t.Helper()
		fr := mk(t, "", 0, 0, nil, 1, vals...)
		wire := roundTrip(t, fr)
		// envelope (2 bytes for these), flags, idlen, samples, channels, table
		if typ, scale := wire[7], wire[8]; typ != wantType || scale != wantScale {
			t.Fatalf("%q: type %#02x scale %d, want %#02x %d", vals, typ, scale, wantType, wantScale)
		}
		if got := len(wire) - 9; got != wantValueBytes {
			t.Fatalf("%q: %d value bytes, want %d", vals, got, wantValueBytes)
		}
	}
	f([]string{"1", "-128", "127"}, 0x01, 0, 3)
	f([]string{"128"}, 0x02, 0, 2)
	f([]string{"-32769"}, 0x03, 0, 4)
	f([]string{"2147483648"}, 0x04, 0, 8)
	f([]string{"21.50", "21.55"}, 0x02, 2, 4)              // fixed
	f([]string{"0.01", "-1.27"}, 0x01, 2, 2)               // fixed int8
	f([]string{"30", "30.2", "30.25"}, 0x12, 2, 6)         // trimmed
	f([]string{"43.82", "30.2"}, 0x12, 2, 4)               // trimmed
	f([]string{"30", "30.20"}, 0x22, 0, 6)                 // per-value: "30.20" is not trimmed
	f([]string{"-0.0", "1"}, 0x21, 0, 4)                   // per-value: negative zero
	f([]string{"1", "0.000000000000000001"}, 0x21, 0, 4)   // per-value is smaller than trimmed int64
	f([]string{"1234567890123456789", "0.5"}, 0x24, 0, 18) // trimmed would overflow
	f([]string{"1e-05", "2.5e3"}, 0x08, 0, 16)             // all floats
	f([]string{"1e-05", "2.5", "30.20"}, 0x24, 0, 27)      // floats among decimals
	f([]string{"0"}, 0x01, 0, 1)
}

func TestDecode_Failure(t *testing.T) {
	var dst codec.Batch
	good := mustHex(t, "b1 0e 01 02 6d 31 05 00 00 00 01 00 01 01 00 07")
	f := func(name string, frame []byte, lim *codec.Limits, reason codec.Reason, off int) {
		t.Helper()
		for range 2 { // twice on the same batch, which holds a good frame
			dst.Reset()
			if err := Decode(&dst, good, nil); err != nil {
				t.Fatalf("%s: good frame: %v", name, err)
			}
			err := Decode(&dst, frame, lim)
			var e *codec.Error
			if !errors.As(err, &e) {
				t.Fatalf("%s: error %v, want a *codec.Error", name, err)
			}
			if e.Reason != reason || e.Offset != off || e.Format != codec.FormatBinary {
				t.Fatalf("%s: %v; want %s at byte %d", name, err, reason, off)
			}
			if len(dst.Frames) != 1 || dst.Readings() != 1 || dst.Frames[0].Values[0].Mant != 7 {
				t.Fatalf("%s: batch not rolled back: %d frames, %d readings", name, len(dst.Frames), dst.Readings())
			}
		}
	}
	x := func(s string) []byte { return mustHex(t, s) }
	small := &codec.Limits{MaxFrame: 15, MaxSamples: 2, MaxChannels: 2}

	// Envelope.
	f("empty", nil, nil, codec.ReasonTruncated, 0)
	f("text", []byte("mote-1;1;;43.82:30.21"), nil, codec.ReasonUnknownFormat, 0)
	f("compact magic", x("c1 00"), nil, codec.ReasonUnknownFormat, 0)
	f("garbage", x("ff fe fd"), nil, codec.ReasonUnknownFormat, 0)
	f("binary v2", x("b2 0e 01 02 6d 31 05 00 00 00 01 00 01 01 00 07"), nil, codec.ReasonBadVersion, 0)
	f("magic only", x("b1"), nil, codec.ReasonTruncated, 1)
	f("varint cut", x("b1 80"), nil, codec.ReasonTruncated, 2)
	f("varint 6 bytes", x("b1 80 80 80 80 80 00"), nil, codec.ReasonBadLength, 1)
	f("varint 6 bytes cut", x("b1 80 80 80 80 80 80"), nil, codec.ReasonBadLength, 1)
	f("varint 5 bytes cut", x("b1 80 80 80 80 80"), nil, codec.ReasonTruncated, 6)
	f("length too big", x("b1 0f 01 02 6d 31 05 00 00 00 01 00 01 01 00 07"), nil, codec.ReasonTruncated, 16)
	f("length too small", x("b1 0d 01 02 6d 31 05 00 00 00 01 00 01 01 00 07"), nil, codec.ReasonBadLength, 1)
	f("huge length", x("b1 ff ff ff ff 0f 01"), nil, codec.ReasonTruncated, 7)
	f("over MaxFrame", good, small, codec.ReasonTooLong, 0)
	// Header.
	f("no header", x("b1 01 00"), nil, codec.ReasonTruncated, 2)
	f("unknown flag bit", x("b1 08 20 00 01 00 01 01 00 07"), nil, codec.ReasonBadVersion, 2)
	f("flag bit 7", x("b1 08 80 00 01 00 01 01 00 07"), nil, codec.ReasonBadVersion, 2)
	f("Seq64 without seq", x("b1 08 04 00 01 00 01 01 00 07"), nil, codec.ReasonBadVersion, 2)
	f("Irregular without time", x("b1 08 08 00 01 00 01 01 00 07"), nil, codec.ReasonBadVersion, 2)
	f("WideTime without time", x("b1 08 10 00 01 00 01 01 00 07"), nil, codec.ReasonBadVersion, 2)
	f("id too long", x("b1 08 00 41 01 00 01 01 00 07"), nil, codec.ReasonBadID, 3)
	f("id bad byte", x("b1 0a 00 02 6d 2f 01 00 01 01 00 07"), nil, codec.ReasonBadID, 4)
	f("id space", x("b1 0a 00 02 6d 20 01 00 01 01 00 07"), nil, codec.ReasonBadID, 4)
	f("id cut", x("b1 04 00 05 6d 31"), nil, codec.ReasonTruncated, 4)
	f("seq cut", x("b1 05 01 00 01 00 00"), nil, codec.ReasonTruncated, 4)
	f("seq64 cut", x("b1 08 05 00 01 00 00 00 00 00"), nil, codec.ReasonTruncated, 4)
	f("t0 cut", x("b1 06 02 00 00 00 00 00"), nil, codec.ReasonTruncated, 4)
	f("counts cut", x("b1 04 00 00 01 00"), nil, codec.ReasonTruncated, 4)
	f("no samples", x("b1 08 00 00 00 00 01 01 00 07"), nil, codec.ReasonBadSyntax, 4)
	f("no channels", x("b1 06 00 00 01 00 00 07"), nil, codec.ReasonBadSyntax, 6)
	f("too many samples", x("b1 0a 00 00 03 00 01 01 00 07 08 09"), small, codec.ReasonTooManySamples, 4)
	f("too many channels", x("b1 0c 00 00 01 00 03 01 00 01 00 01 00 07"), small, codec.ReasonTooManyChannels, 6)
	f("table cut", x("b1 08 00 00 01 00 02 01 00 01"), nil, codec.ReasonTruncated, 7)
	// Channel types.
	f("width code 5", x("b1 08 00 00 01 00 01 05 00 07"), nil, codec.ReasonBadVersion, 7)
	f("width code 0", x("b1 08 00 00 01 00 01 00 00 07"), nil, codec.ReasonBadVersion, 7)
	f("mode 3", x("b1 08 00 00 01 00 01 31 00 07"), nil, codec.ReasonBadVersion, 7)
	f("float64 trimmed", x("b1 0f 00 00 01 00 01 18 00 00 00 00 00 00 00 f0 3f"), nil, codec.ReasonBadVersion, 7)
	f("float64 scale", x("b1 0f 00 00 01 00 01 08 01 00 00 00 00 00 00 f0 3f"), nil, codec.ReasonBadNumber, 8)
	f("scale 19", x("b1 08 00 00 01 00 01 01 13 07"), nil, codec.ReasonBadNumber, 8)
	f("per-value scale", x("b1 09 00 00 01 00 01 21 01 07 00"), nil, codec.ReasonBadNumber, 8)
	// Values.
	f("NaN", x("b1 0f 00 00 01 00 01 08 00 01 00 00 00 00 00 f8 7f"), nil, codec.ReasonNonFinite, 9)
	f("+Inf", x("b1 0f 00 00 01 00 01 08 00 00 00 00 00 00 00 f0 7f"), nil, codec.ReasonNonFinite, 9)
	f("tag reserved bit", x("b1 09 00 00 01 00 01 21 00 07 20"), nil, codec.ReasonBadNumber, 10)
	f("tag scale 19", x("b1 09 00 00 01 00 01 21 00 07 13"), nil, codec.ReasonBadNumber, 10)
	f("tag -0 not zero", x("b1 09 00 00 01 00 01 21 00 07 80"), nil, codec.ReasonBadNumber, 10)
	f("tag float on int8", x("b1 09 00 00 01 00 01 21 00 07 40"), nil, codec.ReasonBadNumber, 10)
	f("tag float and -0", x("b1 10 00 00 01 00 01 24 00 00 00 00 00 00 00 00 00 c0"), nil, codec.ReasonBadNumber, 17)
	f("tag float scale", x("b1 10 00 00 01 00 01 24 00 00 00 00 00 00 00 f0 3f 41"), nil, codec.ReasonBadNumber, 17)
	f("tag float -Inf", x("b1 10 00 00 01 00 01 24 00 00 00 00 00 00 00 f0 ff 40"), nil, codec.ReasonNonFinite, 17)
	f("second tag bad", x("b1 0b 00 00 02 00 01 21 00 07 00 07 21"), nil, codec.ReasonBadNumber, 12)
	f("values cut", x("b1 0a 00 00 03 00 01 02 00 07 00 08"), nil, codec.ReasonTruncated, 11)
	f("values after", x("b1 09 00 00 01 00 01 01 00 07 08"), nil, codec.ReasonBadLength, 10)
	f("times cut", x("b1 11 02 00 00 00 00 00 00 00 00 00 02 00 01 01 00 07 08"), nil, codec.ReasonTruncated, 17)
	f("deltas cut", x("b1 19 0a 00 00 00 00 00 00 00 00 00 03 00 01 01 00 05 00 00 00 06 00 00 00 07 08"), nil, codec.ReasonTruncated, 27)
}

func mustHex(tb testing.TB, s string) []byte {
	tb.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		tb.Fatal(err)
	}
	return b
}
