package binary

import (
	encbin "encoding/binary"
	"testing"

	"github.com/fleetwire/fleetwire/codec"
)

// testFrames are valid frames covering every field and mode.
func testFrames(tb testing.TB) []*codec.Frame {
	t0 := int64(1700000000000)
	return []*codec.Frame{
		multihopFrames(tb, 1)[0],
		multihopFrames(tb, 10)[3],
		mk(tb, "t1", 7, codec.HasSeq|codec.HasTime, []int64{t0, t0 + 5000, t0 + 4000}, 2, "21.50", "30", "21.55", "30.2", "21.60", "-0.0"),
		mk(tb, "", 1<<40, codec.HasSeq|codec.HasTime, []int64{t0, t0 + 40*86400000}, 1, "1e-05", "-3"),
		mk(tb, "x", 0, codec.HasTime, []int64{t0, t0 + 1, t0 + 2}, 3, "1", "2", "3", "4", "5", "6", "7", "8", "9.5"),
		mk(tb, "", 0, 0, nil, 2, "2.5e3", "1234567890123456789", "1e300", "0.5"),
	}
}

// rewrap puts body in a new envelope with a length field that agrees.
func rewrap(body []byte) []byte {
	b := []byte{codec.MagicBinary}
	b = encbin.AppendUvarint(b, uint64(len(body)))
	return append(b, body...)
}

func TestDecode_EveryTruncation(t *testing.T) {
	var dst codec.Batch
	check := func(what string, frame []byte, want codec.Reason, maxOff int) {
		t.Helper()
		for range 2 {
			dst.Reset()
			err := Decode(&dst, frame, nil)
			if codec.ReasonOf(err) != want {
				t.Fatalf("%s: %v, want %s", what, err, want)
			}
			if e := err.(*codec.Error); e.Offset < 0 || e.Offset > maxOff {
				t.Fatalf("%s: offset %d outside 0..%d", what, e.Offset, maxOff)
			}
			if len(dst.Frames) != 0 || dst.Readings() != 0 {
				t.Fatalf("%s: batch not rolled back", what)
			}
		}
	}
	for _, f := range testFrames(t) {
		wire := Append(nil, f)
		_, n := encbin.Uvarint(wire[1:])
		body := wire[1+n:]
		for k := range len(wire) {
			check("datagram cut", wire[:k], codec.ReasonTruncated, k)
		}
		for k := range len(body) {
			check("body cut, length fixed", rewrap(body[:k]), codec.ReasonTruncated, len(wire))
		}
		check("one byte more, length fixed", rewrap(append(body[:len(body):len(body)], 0)), codec.ReasonBadLength, len(wire)+1)
		check("one byte more", append(wire[:len(wire):len(wire)], 0), codec.ReasonBadLength, 1)
	}
}

// TestDecode_EveryByteFlip changes each byte of valid frames to every
// other value: the decoder must not panic, and whatever it accepts must
// re-encode to the same values.
func TestDecode_EveryByteFlip(t *testing.T) {
	var dst codec.Batch
	accepted := 0
	for _, f := range testFrames(t) {
		wire := Append(nil, f)
		frame := make([]byte, len(wire))
		for i := range wire {
			for c := range 256 {
				copy(frame, wire)
				frame[i] = byte(c)
				dst.Reset()
				if Decode(&dst, frame, &wideLimits) != nil {
					continue
				}
				accepted++
				checkReencode(t, &dst.Frames[0])
			}
		}
	}
	t.Logf("%d mutated frames accepted and re-encoded", accepted)
}

// checkReencode is the property every accepted frame has: encoding its
// decoded form and decoding that gives the same frame.
func checkReencode(t testing.TB, got *codec.Frame) {
	t.Helper()
	again := Append(nil, got)
	var dst codec.Batch
	if err := Decode(&dst, again, &wideLimits); err != nil {
		t.Fatalf("re-encoded frame rejected: %v\n% x", err, head(again))
	}
	if d := diffFrame(&dst.Frames[0], got); d != "" {
		t.Fatalf("re-encoded frame differs: %s\n% x", d, head(again))
	}
	if len(again) > got.WireBytes {
		t.Fatalf("re-encoded frame is %d bytes, the decoded one %d: the encoder missed a smaller choice", len(again), got.WireBytes)
	}
}

func TestDecode_AppendsToBatch(t *testing.T) {
	var dst codec.Batch
	frames := testFrames(t)
	for _, f := range frames {
		if err := Decode(&dst, Append(nil, f), nil); err != nil {
			t.Fatal(err)
		}
	}
	if len(dst.Frames) != len(frames) {
		t.Fatalf("%d frames, want %d", len(dst.Frames), len(frames))
	}
	for i := range frames {
		got := &dst.Frames[i]
		if d := diffFrame(got, frames[i]); d != "" {
			t.Fatalf("frame %d: %s", i, d)
		}
		if cap(got.Values) != len(got.Values) || cap(got.Times) != len(got.Times) || cap(got.Device) != len(got.Device) {
			t.Fatalf("frame %d: slices not capped", i)
		}
	}
}

func TestZeroAllocs(t *testing.T) {
	frames := multihopFrames(t, 60)
	wires := make([][]byte, len(frames))
	for i, f := range frames {
		wires[i] = Append(nil, f)
	}
	var dst codec.Batch
	decodeAll := func() {
		dst.Reset()
		for _, w := range wires {
			if err := Decode(&dst, w, nil); err != nil {
				t.Fatal(err)
			}
		}
	}
	decodeAll() // warm
	if n := testing.AllocsPerRun(20, decodeAll); n != 0 {
		t.Fatalf("Decode: %v allocs per run, want 0", n)
	}
	buf := make([]byte, 0, 64<<10)
	if n := testing.AllocsPerRun(20, func() {
		for _, f := range frames {
			buf = Append(buf[:0], f)
		}
	}); n != 0 {
		t.Fatalf("Append: %v allocs per run, want 0", n)
	}
}
