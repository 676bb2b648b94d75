package control

import (
	"bytes"
	"encoding/binary"
	"strconv"
	"strings"
	"testing"

	"github.com/fleetwire/fleetwire/codec"
)

// equal compares what a control says, not how it arrived.
func equal(a, b *codec.Control) bool {
	if a.Kind != b.Kind || !bytes.Equal(a.Device, b.Device) || a.Seq != b.Seq || a.ID != b.ID ||
		a.Status != b.Status || !bytes.Equal(a.Payload, b.Payload) || a.Ack != b.Ack ||
		a.Solo != b.Solo || a.Window != b.Window || len(a.Ranges) != len(b.Ranges) {
		return false
	}
	for i := range a.Ranges {
		if a.Ranges[i] != b.Ranges[i] {
			return false
		}
	}
	return true
}

// bin builds a binary control frame around body (kind first).
func bin(body ...byte) string {
	return string(append(binary.AppendUvarint([]byte{codec.MagicControl}, uint64(len(body))), body...))
}

// uv is body bytes of a uvarint.
func uv(v uint64) []byte { return binary.AppendUvarint(nil, v) }

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

func rs(lohi ...uint64) []codec.SeqRange {
	var r []codec.SeqRange
	for i := 0; i < len(lohi); i += 2 {
		r = append(r, codec.SeqRange{Lo: lohi[i], Hi: lohi[i+1]})
	}
	return r
}

// manyRanges returns n ranges of one sample above next, two apart.
func manyRanges(next uint64, n int) []codec.SeqRange {
	var r []codec.SeqRange
	for i := range n {
		q := next + 2 + 2*uint64(i)
		r = append(r, codec.SeqRange{Lo: q, Hi: q})
	}
	return r
}

func storedText(next uint64, r []codec.SeqRange) string {
	s := "#stored m " + strconv.FormatUint(next, 10)
	for _, x := range r {
		s += " " + strconv.FormatUint(x.Lo, 10) + "-" + strconv.FormatUint(x.Hi, 10)
	}
	return s
}

func TestRoundTrip(t *testing.T) {
	f := func(c codec.Control, text string) {
		t.Helper()
		line := AppendText(nil, &c, '\n')
		if string(line) != text+"\n" {
			t.Fatalf("AppendText(%+v) = %q, want %q", c, line, text)
		}
		for _, frame := range [][]byte{line[:len(line)-1], AppendBinary(nil, &c)} {
			var b codec.Batch
			if err := Decode(&b, frame); err != nil {
				t.Fatalf("Decode(%q): %v", frame, err)
			}
			got := b.Controls[0]
			if !equal(&got, &c) {
				t.Fatalf("Decode(%q) = %+v, want %+v", frame, got, c)
			}
			if got.Binary != (frame[0] == codec.MagicControl) {
				t.Fatalf("Binary flag wrong for %q", frame)
			}
		}
	}
	f(codec.Control{Kind: codec.ControlHello, Device: []byte("mote-3")}, "#hello mote-3")
	f(codec.Control{Kind: codec.ControlHello, Device: []byte("mote-3"), Ack: true, Window: 256}, "#hello mote-3 ack 256")
	f(codec.Control{Kind: codec.ControlHello, Device: []byte("m"), Ack: true, Window: 1}, "#hello m ack 1")
	f(codec.Control{Kind: codec.ControlHello, Device: []byte("m"), Ack: true, Window: 64, Solo: true}, "#hello m ack 64 solo")
	f(codec.Control{Kind: codec.ControlHello, Device: []byte("m"), Ack: true, Window: 1000000}, "#hello m ack 1000000")
	f(codec.Control{Kind: codec.ControlEOS, Device: []byte("mote-3"), Seq: 4690}, "#eos mote-3 4690")
	f(codec.Control{Kind: codec.ControlEOS, Seq: 12}, "#eos 12")
	f(codec.Control{Kind: codec.ControlCommand, ID: 17, Payload: []byte("LED ON")}, "#cmd 17 LED ON")
	f(codec.Control{Kind: codec.ControlAck, ID: 17, Status: codec.AckOK}, "#ack 17 ok")
	f(codec.Control{Kind: codec.ControlAck, ID: 18, Status: codec.AckError, Payload: []byte("no such LED")}, "#ack 18 error no such LED")
	f(codec.Control{Kind: codec.ControlStored, Device: []byte("mote-3"), Seq: 4690}, "#stored mote-3 4690")
	f(codec.Control{Kind: codec.ControlStored, Device: []byte("mote-3"), Seq: 4690, Ranges: rs(4700, 4705, 4800, 4800)},
		"#stored mote-3 4690 4700-4705 4800-4800")
	f(codec.Control{Kind: codec.ControlStored, Device: []byte("m"), Seq: 0, Ranges: rs(1, 1)}, "#stored m 0 1-1")
	// Without the id (to a device whose hello said solo): a lone number,
	// or a number and ranges; a numeric id is told apart by what follows.
	f(codec.Control{Kind: codec.ControlStored, Seq: 4690}, "#stored 4690")
	f(codec.Control{Kind: codec.ControlStored, Seq: 4690, Ranges: rs(4700, 4705)}, "#stored 4690 4700-4705")
	f(codec.Control{Kind: codec.ControlStored, Device: []byte("12"), Seq: 4690}, "#stored 12 4690")
	f(codec.Control{Kind: codec.ControlStored, Device: []byte("12"), Seq: 4690, Ranges: rs(4700, 4705)}, "#stored 12 4690 4700-4705")
	f(codec.Control{Kind: codec.ControlStored, Device: []byte("m"), Seq: 1<<64 - 4, Ranges: rs(1<<64-2, 1<<64-2)},
		"#stored m 18446744073709551612 18446744073709551614-18446744073709551614")
	f(codec.Control{Kind: codec.ControlStored, Device: []byte("m"), Seq: 1<<64 - 1}, "#stored m 18446744073709551615")
	f(codec.Control{Kind: codec.ControlStored, Device: []byte("m"), Seq: 7, Ranges: manyRanges(7, 16)},
		storedText(7, manyRanges(7, 16)))
	f(codec.Control{Kind: codec.ControlGaveUp, Device: []byte("mote-3"), Seq: 4600}, "#gaveup mote-3 4600")
	f(codec.Control{Kind: codec.ControlGaveUp, Seq: 0}, "#gaveup 0")
}

func TestDecode_Failure(t *testing.T) {
	var b codec.Batch
	f := func(frame string, want codec.Reason) {
		t.Helper()
		for i := 0; i < 2; i++ {
			err := Decode(&b, []byte(frame))
			if got := codec.ReasonOf(err); got != want {
				t.Fatalf("Decode(%q) = %v, want %s", frame, err, want)
			}
			if len(b.Controls) != 0 || b.Mark() != (codec.Mark{}) {
				t.Fatalf("Decode(%q) left something in the batch despite the error", frame)
			}
		}
	}
	f("#", codec.ReasonBadControl)
	f("#helo x", codec.ReasonBadControl)
	f("#hello", codec.ReasonBadID)
	f("#hello a b", codec.ReasonBadControl)
	f("#hello a ack", codec.ReasonBadControl)
	f("#hello a ack 0", codec.ReasonBadControl)
	f("#hello a ack 1000001", codec.ReasonBadControl)
	f("#hello a ack x", codec.ReasonBadControl)
	f("#hello a ack 5 6", codec.ReasonBadControl)
	f("#hello a ack -5", codec.ReasonBadControl)
	f("#hello b@d ack 5", codec.ReasonBadID)
	f("#eos", codec.ReasonBadControl)
	f("#eos x y", codec.ReasonBadControl)
	f("#eos b@d 1", codec.ReasonBadID)
	f("#cmd 1", codec.ReasonBadControl)
	f("#cmd x LED", codec.ReasonBadControl)
	f("#ack 1 maybe", codec.ReasonBadControl)
	f("#ack x ok", codec.ReasonBadControl)
	f("#gaveup", codec.ReasonBadControl)
	f("#gaveup x y", codec.ReasonBadControl)
	f("#gaveup b@d 1", codec.ReasonBadID)
	f("#gaveup m 18446744073709551616", codec.ReasonBadControl)
	f("#stored", codec.ReasonBadControl)
	f("#hello m ack 5 alone", codec.ReasonBadControl)
	f("#hello m ack 5 solo ", codec.ReasonBadControl)
	f("#hello m solo", codec.ReasonBadControl)
	f("#stored b@d 5", codec.ReasonBadID)
	f("#stored m", codec.ReasonBadControl)
	f("#stored m x", codec.ReasonBadControl)
	f("#stored m 5 ", codec.ReasonBadControl)
	f("#stored m 5 7", codec.ReasonBadControl)
	f("#stored m 5 7-", codec.ReasonBadControl)
	f("#stored m 5 -8", codec.ReasonBadControl)
	f("#stored m 5 7-8-9", codec.ReasonBadControl)
	f("#stored m 5 5-6", codec.ReasonBadControl)                    // not above next
	f("#stored m 5 3-4", codec.ReasonBadControl)                    // below next
	f("#stored m 5 8-7", codec.ReasonBadControl)                    // hi < lo
	f("#stored m 5 7-8 9-10", codec.ReasonBadControl)               // adjacent
	f("#stored m 5 7-8 8-10", codec.ReasonBadControl)               // overlapping
	f("#stored m 5 10-11 7-8", codec.ReasonBadControl)              // descending
	f("#stored m 5 7-8  10-11", codec.ReasonBadControl)             // two spaces
	f("#stored m 5 7-18446744073709551615", codec.ReasonBadControl) // hi+1 is not a number
	f("#stored m 5 7-18446744073709551616", codec.ReasonBadControl) // past 2^64
	f("#stored m 18446744073709551615 1-2", codec.ReasonBadControl)
	f(storedText(7, manyRanges(7, 17)), codec.ReasonBadControl)
	f("\xa1\x05\x01", codec.ReasonBadLength)
	f("\xa1\x01\x09", codec.ReasonBadControl)
	f("\xa1\x01\x07", codec.ReasonBadControl)
	f("\xa1\x02\x01\x05", codec.ReasonTruncated)
	f("\xa1\x03\x03\x01\x02", codec.ReasonTruncated)
	f("\xa1\x09\x03\x01\x00\x00\x00\x00\x00\x00\x00", codec.ReasonBadControl) // empty command
	// hello options
	f(bin(1, 1, 'm', 2, 5), codec.ReasonBadControl)                // solo without ack
	f(bin(1, 1, 'm', 4), codec.ReasonBadControl)                   // unknown flag
	f(bin(1, 1, 'm', 0x81, 5), codec.ReasonBadControl)             // unknown flag beside ack
	f(bin(1, 1, 'm', 1), codec.ReasonTruncated)                    // ack without window
	f(bin(1, 1, 'm', 1, 0x80), codec.ReasonTruncated)              // window cut
	f(bin(1, 1, 'm', 1, 0), codec.ReasonBadControl)                // window 0
	f(bin(1, 1, 'm', 1, 0xc1, 0x84, 0x3d), codec.ReasonBadControl) // window 1000001
	f(bin(1, 1, 'm', 1, 0x85, 0x00), codec.ReasonBadControl)       // window not in shortest form
	f(bin(1, 1, 'm', 1, 5, 0), codec.ReasonBadLength)              // bytes after the window
	f(bin(1, 1, 'm', 0, 0), codec.ReasonBadLength)                 // bytes after flags 0
	f(bin(1, 0, 1, 5), codec.ReasonBadID)                          // hello without id
	// gaveup
	f(bin(6, 0, 1, 2, 3, 4, 5, 6, 7), codec.ReasonBadLength)
	f(bin(6, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9), codec.ReasonBadLength)
	f(bin(6, 1, '@', 1, 2, 3, 4, 5, 6, 7, 8), codec.ReasonBadID)
	f(bin(6, 5, 'm'), codec.ReasonTruncated)
	// stored
	f(bin(5), codec.ReasonTruncated)
	f(bin(5, 1, '@', 5, 0), codec.ReasonBadID)
	f(bin(5, 1, 'm'), codec.ReasonTruncated)                    // no next
	f(bin(5, 1, 'm', 0x80), codec.ReasonTruncated)              // next cut
	f(bin(5, 1, 'm', 0x85, 0x00, 0), codec.ReasonBadControl)    // next not in shortest form
	f(bin(5, 1, 'm', 5), codec.ReasonTruncated)                 // no nranges
	f(bin(5, 1, 'm', 5, 17), codec.ReasonBadControl)            // too many ranges
	f(bin(5, 1, 'm', 5, 1), codec.ReasonTruncated)              // range missing
	f(bin(5, 1, 'm', 5, 1, 1), codec.ReasonTruncated)           // length missing
	f(bin(5, 1, 'm', 5, 1, 0, 1), codec.ReasonBadControl)       // gap 0: touches next
	f(bin(5, 1, 'm', 5, 1, 1, 0), codec.ReasonBadControl)       // length 0
	f(bin(5, 1, 'm', 5, 2, 1, 1, 0, 1), codec.ReasonBadControl) // second gap 0: adjacent
	f(bin(5, 1, 'm', 5, 1, 1, 1, 0), codec.ReasonBadLength)     // trailing byte
	f(bin(5, 1, 'm', 5, 0, 0), codec.ReasonBadLength)
	f(bin(cat([]byte{5, 1, 'm'}, uv(1<<64-3), []byte{1}, uv(5), uv(1))...), codec.ReasonBadControl) // lo past 2^64
	f(bin(cat([]byte{5, 1, 'm'}, uv(0), []byte{1}, uv(1), uv(1<<64-1))...), codec.ReasonBadControl) // hi = 2^64-1
	f(bin(cat([]byte{5, 1, 'm'}, uv(0), []byte{1}, uv(2), uv(1<<64-1))...), codec.ReasonBadControl) // hi past 2^64
	f(bin(cat([]byte{5, 1, 'm'}, uv(0), []byte{2}, uv(1), uv(1<<63), uv(1<<63), uv(1))...), codec.ReasonBadControl)
	f(bin(5, 1, 'm', 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0), codec.ReasonBadControl) // next past 2^64
	f(bin(5, 1, 'm', 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01, 0), codec.ReasonBadControl)
}

func TestDecode_Truncations(t *testing.T) {
	frames := [][]byte{
		AppendBinary(nil, &codec.Control{Kind: codec.ControlEOS, Device: []byte("dev"), Seq: 9}),
		AppendBinary(nil, &codec.Control{Kind: codec.ControlAck, ID: 3, Status: codec.AckUnknown, Payload: []byte("x")}),
		AppendBinary(nil, &codec.Control{Kind: codec.ControlGaveUp, Device: []byte("dev"), Seq: 9}),
		AppendBinary(nil, &codec.Control{Kind: codec.ControlStored, Device: []byte("dev"), Seq: 300, Ranges: rs(400, 1000, 1<<40, 1<<41)}),
	}
	var b codec.Batch
	for _, fr := range frames {
		for n := 1; n < len(fr); n++ {
			if err := Decode(&b, fr[:n]); err == nil {
				t.Fatalf("truncated at %d of %x: no error", n, fr)
			}
			// The same cut with a corrected length field: the fields
			// themselves must notice (an ack's detail is optional).
			if n <= 2 || fr[2] == byte(codec.ControlAck) {
				continue
			}
			if err := Decode(&b, []byte(bin(fr[2:n]...))); err == nil {
				t.Fatalf("body cut at %d of %x, length fixed: no error", n, fr)
			}
		}
	}
	if len(b.Controls) != 0 {
		t.Fatalf("%d controls left by failed decodes", len(b.Controls))
	}
}

// TestDecode_Ranges: ranges alias the batch, are capped, and two #stored
// in one batch keep theirs.
func TestDecode_Ranges(t *testing.T) {
	var b codec.Batch
	for _, fr := range []string{"#stored a 1 3-4 6-9", bin(cat([]byte{5, 1, 'b'}, uv(10), []byte{1}, uv(2), uv(3))...)} {
		if err := Decode(&b, []byte(fr)); err != nil {
			t.Fatal(err)
		}
	}
	a, c := b.Controls[0].Ranges, b.Controls[1].Ranges
	if cap(a) != 2 || len(c) != 1 || c[0] != (codec.SeqRange{Lo: 12, Hi: 14}) {
		t.Fatalf("ranges %v (cap %d), %v", a, cap(a), c)
	}
	_ = append(a, codec.SeqRange{Lo: 99, Hi: 99})
	if c[0] != (codec.SeqRange{Lo: 12, Hi: 14}) {
		t.Fatalf("appending to one control's ranges overwrote the next: %v", c)
	}
	// A failed #stored after them takes its ranges back.
	m := b.Mark()
	if Decode(&b, []byte("#stored c 1 3-4 6-9 8-9")) == nil || b.Mark() != m {
		t.Fatal("failed #stored left ranges behind")
	}
}

func TestDecode_Allocs(t *testing.T) {
	frames := [][]byte{
		[]byte(storedText(7, manyRanges(7, 16))),
		AppendBinary(nil, &codec.Control{Kind: codec.ControlStored, Device: []byte("mote-3"), Seq: 7, Ranges: manyRanges(7, 16)}),
		[]byte("#hello mote-3 ack 256"),
		[]byte("#gaveup mote-3 4600"),
	}
	var b codec.Batch
	decode := func() {
		b.Reset()
		for _, fr := range frames {
			if err := Decode(&b, fr); err != nil {
				t.Fatal(err)
			}
		}
	}
	decode()
	if n := testing.AllocsPerRun(100, decode); n != 0 {
		t.Fatalf("%.1f allocations per run on a warm batch", n)
	}
	if n := testing.AllocsPerRun(100, func() { _ = AppendBinary(frames[1][:0:len(frames[1])], &b.Controls[1]) }); n != 0 {
		t.Fatalf("AppendBinary: %.1f allocations", n)
	}
}

func TestKindNames(t *testing.T) {
	for k, w := range words {
		if w != nil && "#"+codec.ControlKind(k).String() != string(w) {
			t.Errorf("kind %d is %q on the wire, %q by name", k, w, codec.ControlKind(k))
		}
	}
	if !strings.HasPrefix(codec.ControlKind(200).String(), "control(") {
		t.Error("unknown kind has a name")
	}
}
