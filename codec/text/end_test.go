package text

import (
	"bytes"
	"strconv"
	"strings"
	"testing"

	"github.com/fleetwire/fleetwire/codec"
	"github.com/fleetwire/fleetwire/codec/framing"
)

func TestEndAllowed(t *testing.T) {
	f := func(end byte, ok bool) {
		t.Helper()
		if err := EndAllowed(end); (err == nil) != ok {
			t.Fatalf("EndAllowed(%q) = %v, want allowed %v", end, err, ok)
		}
	}
	f('\n', true)
	f(0, true) // stands for '\n'
	f(',', true)
	f('\r', true)
	f('\t', true)
	f('|', true)
	f('!', true)
	f('~', true)
	f('/', true)
	f(0x01, true)
	f(0x7f, true)
	f(';', false)
	f(':', false)
	f('@', false)
	f('#', false)
	f(' ', false)
	f('0', false)
	f('9', false)
	f('.', false)
	f('-', false)
	f('+', false)
	f('_', false)
	f('e', false)
	f('F', false)
	f('z', false)
	f(0x80, false)
	f(0xff, false)
}

// TestEndAllowed_RoundTrip proves the rule from both sides, for every
// byte: with an allowed END, a stream of what Append writes (all header
// fields, channels, steps, signs, exponents, every letter in a device id),
// a control line and a blank frame splits and decodes to the readings it
// was made from; with a refused END, something in it does not.
func TestEndAllowed_RoundTrip(t *testing.T) {
	frames := []codec.Frame{
		{Device: []byte("mote_3.a-B"), Seq: 42, Flags: codec.HasSeq | codec.HasTime, Channels: 2,
			Times: []int64{1700000000000, 1700000005000, 1700000010000, 1700000008000},
			Values: []codec.Value{codec.Decimal(215, 1), codec.Decimal(-40, 0), codec.Decimal(216, 1), {Scale: 2, Flags: codec.FlagNegZero},
				codec.Float(1e300), codec.Decimal(7, 0), codec.Decimal(1, 0), codec.Decimal(2, 0)}},
		{Channels: 1, Times: make([]int64, 3), Values: []codec.Value{codec.Decimal(512, 0), codec.Decimal(4095, 0), codec.Decimal(1234567890, 0)}},
		{Device: []byte("abcdefghijklmnopqrstuvwxyz"), Channels: 2, Times: make([]int64, 2),
			Values: []codec.Value{codec.Decimal(1, 0), codec.Decimal(2, 0), codec.Decimal(3, 0), codec.Decimal(4, 0)}},
		{Device: []byte("ABCDEFGHIJKLMNOPQRSTUVWXYZ"), Seq: 9, Flags: codec.HasSeq, Channels: 1, Times: make([]int64, 2),
			Values: []codec.Value{codec.Decimal(1, 0), codec.Decimal(2, 0)}},
	}
	const control = "#hello mote_3.a-B"
	var want []string
	for i := range frames {
		want = appendSamples(want, &frames[i])
	}
	for e := 1; e < 256; e++ {
		end := byte(e)
		stream := []byte{end} // a blank frame
		for i := range frames {
			stream = Append(stream, &frames[i], end)
		}
		stream = append(append(stream, control...), end)

		var got []string
		var b codec.Batch
		ok := true
		split := framing.NewSplitter(end, 0)
		for off := 0; off < len(stream) && ok; {
			adv, fr, err := split.Split(stream[off:], true)
			off += adv
			switch {
			case err != nil || adv == 0:
				ok = false
			case fr == nil:
			case fr[0] == '#':
				got = append(got, string(fr))
			default:
				b.Reset()
				if Decode(&b, fr, &lim) != nil {
					ok = false
					break
				}
				got = appendSamples(got, &b.Frames[0])
			}
		}
		same := ok && strings.Join(got, "\n") == strings.Join(append(want, control), "\n")
		if allowed := EndAllowed(end) == nil; same != allowed {
			t.Errorf("END %q: allowed %v, but the stream round-trips %v:\n%q\n got  %q", end, allowed, same, stream, got)
		}
	}
}

// appendSamples renders each sample of f on its own: device, sequence
// number, time, values. Frames cut differently (END ',') compare equal
// when they carry the same readings.
func appendSamples(dst []string, f *codec.Frame) []string {
	for i := 0; i < f.Samples(); i++ {
		s := string(f.Device) + " seq="
		if f.Flags&codec.HasSeq != 0 {
			s += strconv.FormatUint(f.Seq+uint64(i), 10)
		}
		s += " t="
		if f.Flags&codec.HasTime != 0 {
			s += strconv.FormatInt(f.Times[i], 10)
		}
		var vs [][]byte
		for _, v := range f.Sample(i) {
			vs = append(vs, codec.AppendValue(nil, v))
		}
		dst = append(dst, s+" "+string(bytes.Join(vs, []byte(":"))))
	}
	return dst
}

// TestAppend_EndComma: with END ',' a frame is one sample, so a frame with
// a header is written as one frame per sample, each with its own header.
func TestAppend_EndComma(t *testing.T) {
	f := func(fr codec.Frame, want string) {
		t.Helper()
		if got := string(Append(nil, &fr, ',')); got != want {
			t.Fatalf("Append(..., ',') = %q, want %q", got, want)
		}
	}
	two := []codec.Value{codec.Decimal(215, 1), codec.Decimal(40, 0), codec.Decimal(216, 1), codec.Decimal(41, 0)}
	f(codec.Frame{Channels: 2, Times: make([]int64, 2), Values: two}, "21.5:40,21.6:41,")
	f(codec.Frame{Device: []byte("mote-3"), Seq: 42, Flags: codec.HasSeq, Channels: 2, Times: make([]int64, 2), Values: two},
		"mote-3;42;21.5:40,mote-3;43;21.6:41,")
	f(codec.Frame{Seq: 7, Flags: codec.HasSeq | codec.HasTime, Channels: 2, Times: []int64{1000, 6000}, Values: two},
		";7;1000;21.5:40,;8;6000;21.6:41,")
	f(codec.Frame{Device: []byte("m"), Channels: 1, Times: make([]int64, 1), Values: two[:1]}, "m;21.5,")
}

// TestEndComma_Typed: the bytes PROTOCOL.md shows typed into nc for a
// server with END ',' (Enter adds "\n", whitespace there).
func TestEndComma_Typed(t *testing.T) {
	stream := []byte("#hello pot-1,\n512,513,4095,0,\nmote-3;42;21.5:40,mote-3;43;21.6:41,\n")
	want := []string{"#hello pot-1", " seq= t= 512", " seq= t= 513", " seq= t= 4095", " seq= t= 0",
		"mote-3 seq=42 t= 21.5:40", "mote-3 seq=43 t= 21.6:41"}
	var got []string
	split := framing.NewSplitter(',', 0)
	for off := 0; off < len(stream); {
		adv, fr, err := split.Split(stream[off:], false)
		if err != nil || adv == 0 {
			t.Fatalf("at byte %d: advance %d, %v", off, adv, err)
		}
		off += adv
		switch {
		case fr == nil:
		case fr[0] == '#':
			got = append(got, string(fr))
		default:
			var b codec.Batch
			if err := Decode(&b, fr, &lim); err != nil {
				t.Fatalf("%q: %v", fr, err)
			}
			got = appendSamples(got, &b.Frames[0])
		}
	}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("got  %q\nwant %q", got, want)
	}
}
