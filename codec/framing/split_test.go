package framing

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"strings"
	"testing"

	"github.com/fleetwire/fleetwire/codec"
)

// envelope builds a length-prefixed frame with the given magic and body.
func envelope(magic byte, body string) string {
	b := []byte{magic}
	b = binary.AppendUvarint(b, uint64(len(body)))
	return string(append(b, body...))
}

// drive feeds input to a fresh splitter in chunks of the given size, the
// way a socket would, and returns the frames and error reasons it saw.
func drive(t *testing.T, s *Splitter, input string, chunk int) (frames []string, reasons []codec.Reason, fatal bool) {
	t.Helper()
	var buf []byte
	in := []byte(input)
	consume := func(atEOF bool) bool {
		for len(buf) > 0 {
			adv, frame, err := s.Split(buf, atEOF)
			if err != nil {
				reasons = append(reasons, codec.ReasonOf(err))
				if adv == 0 {
					return false
				}
			}
			if frame != nil {
				frames = append(frames, string(frame))
			}
			if adv == 0 {
				return true
			}
			buf = buf[adv:]
		}
		return true
	}
	for len(in) > 0 {
		n := min(chunk, len(in))
		buf = append(buf, in[:n]...)
		in = in[n:]
		if !consume(false) {
			return frames, reasons, true
		}
	}
	if !consume(true) { // the stream ends: a final line without END is a frame
		return frames, reasons, true
	}
	return frames, reasons, false
}

func TestSplit(t *testing.T) {
	bin := envelope(codec.MagicBinary, "abc")
	f := func(name, input string, end byte, max int, wantFrames []string, wantReasons []codec.Reason, wantFatal bool) {
		t.Helper()
		for _, chunk := range []int{1, 3, 7, 1 << 20} {
			s := NewSplitter(end, max)
			frames, reasons, fatal := drive(t, s, input, chunk)
			if strings.Join(frames, "|") != strings.Join(wantFrames, "|") {
				t.Fatalf("%s (chunk %d): frames %q, want %q", name, chunk, frames, wantFrames)
			}
			if len(reasons) != len(wantReasons) {
				t.Fatalf("%s (chunk %d): reasons %v, want %v", name, chunk, reasons, wantReasons)
			}
			for i := range reasons {
				if reasons[i] != wantReasons[i] {
					t.Fatalf("%s (chunk %d): reasons %v, want %v", name, chunk, reasons, wantReasons)
				}
			}
			if fatal != wantFatal {
				t.Fatalf("%s (chunk %d): fatal %v, want %v", name, chunk, fatal, wantFatal)
			}
		}
	}
	none := []codec.Reason(nil)
	f("lines", "1,2\n3:4\r\nm;5;6\n", '\n', 0, []string{"1,2", "3:4", "m;5;6"}, none, false)
	f("blank lines are skipped", "\n\r\n1\n\n", '\n', 0, []string{"1"}, none, false)
	f("final line without END", "1,2\n3", '\n', 0, []string{"1,2", "3"}, none, false)
	f("custom END", "1,2;3|4|", '|', 0, []string{"1,2;3", "4"}, none, false)
	f("END LF keeps spaces and tabs", " 1 \n\t2\r\n", '\n', 0, []string{" 1 ", "\t2"}, none, false)
	f("END LF: a lone CR at the end is blank", "1\n\r", '\n', 0, []string{"1"}, none, false)
	f("CR dropped when END is not LF", "1\r|", '|', 0, []string{"1"}, none, false)
	// END ',': the potentiometer sketches, one reading per frame.
	f("END comma: a frame per reading", "512,513,4095,0,", ',', 0, []string{"512", "513", "4095", "0"}, none, false)
	f("END comma: println after the comma", "512,\r\n513,\r\n", ',', 0, []string{"512", "513"}, none, false)
	f("END comma: spaces and tabs around frames", " 512 ,\t513\t, 4095", ',', 0, []string{"512", "513", "4095"}, none, false)
	f("END comma: blank frames are skipped", ",,\r\n, ,512,,", ',', 0, []string{"512"}, none, false)
	f("END comma: only whitespace", " \r\n\t ", ',', 0, nil, none, false)
	f("END comma: header and control", "mote-3;42;21.5:40,#hello mote-3,\r\n", ',', 0, []string{"mote-3;42;21.5:40", "#hello mote-3"}, none, false)
	f("END comma: whitespace inside a frame stays", "21.5 x,", ',', 0, []string{"21.5 x"}, none, false)
	f("END comma: whitespace before an envelope", "512,\r\n"+bin+"513,", ',', 0, []string{"512", bin, "513"}, none, false)
	f("END comma: lines without a comma are one frame", "512\r\n513\r\n", ',', 0, []string{"512\r\n513"}, none, false)
	f("END comma: over-long after whitespace", "\r\n"+strings.Repeat("9", 40)+",2,", ',', 16, []string{"2"}, []codec.Reason{codec.ReasonTooLong}, false)
	f("END comma: a frame at the limit, whitespace before it", "\r\n"+strings.Repeat("9", 15)+",", ',', 16, []string{strings.Repeat("9", 15)}, none, false)
	f("END CR", "512\r\n513\r\n", '\r', 0, []string{"512", "513"}, none, false)
	f("binary between lines", "1\n"+bin+"2\n", '\n', 0, []string{"1", bin, "2"}, none, false)
	f("over-long line resyncs", "1\n"+strings.Repeat("9", 40)+"\n2\n", '\n', 16, []string{"1", "2"}, []codec.Reason{codec.ReasonTooLong}, false)
	f("line exactly at the limit", strings.Repeat("9", 15)+"\n", '\n', 16, []string{strings.Repeat("9", 15)}, none, false)
	f("garbage byte resyncs at END", "1\n\xff\xfe junk\n2\n", '\n', 0, []string{"1", "2"}, []codec.Reason{codec.ReasonUnknownFormat}, false)
	f("oversize envelope is fatal", "1\n"+envelope(codec.MagicBinary, strings.Repeat("x", 40)), '\n', 16, []string{"1"}, []codec.Reason{codec.ReasonTooLong}, true)
	f("truncated envelope at EOF", bin[:3], '\n', 0, nil, []codec.Reason{codec.ReasonTruncated}, false)
	f("runaway varint is fatal", "\xb1\xff\xff\xff\xff\xff\xff", '\n', 0, nil, []codec.Reason{codec.ReasonBadLength}, true)
}

func TestSplit_Datagram(t *testing.T) {
	// A datagram is one call with atEOF: several frames, the last text
	// line without END, and a length field that claims more than arrived.
	s := NewSplitter('\n', 0)
	d := []byte("1,2\n" + envelope(codec.MagicCompact, "xy") + "3")
	var got []string
	for len(d) > 0 {
		adv, frame, err := s.Split(d, true)
		if err != nil {
			t.Fatal(err)
		}
		if frame != nil {
			got = append(got, string(frame))
		}
		d = d[adv:]
	}
	if len(got) != 3 || got[2] != "3" {
		t.Fatalf("got %q", got)
	}
	short := []byte(envelope(codec.MagicBinary, "abcdef"))
	adv, frame, err := s.Split(short[:len(short)-2], true)
	if frame != nil || codec.ReasonOf(err) != codec.ReasonTruncated || adv != len(short)-2 {
		t.Fatalf("cut datagram: adv=%d frame=%q err=%v", adv, frame, err)
	}
}

func FuzzSplit(f *testing.F) {
	f.Add([]byte("1,2\n3\r\n"), uint8(3))
	f.Add([]byte("\xb1\x03abc\xc1\x80\x01"), uint8(1))
	f.Add([]byte("\xff\n1\n"), uint8(7))
	f.Fuzz(func(t *testing.T, data []byte, chunk uint8) {
		s := NewSplitter('\n', 64)
		frames, _, _ := drive(t, s, string(data), int(chunk)+1)
		total := 0
		for _, fr := range frames {
			if len(fr) > 64 {
				t.Fatalf("frame of %d bytes above the limit", len(fr))
			}
			if !bytes.Contains(data, []byte(fr)) {
				t.Fatalf("frame %q not in input", fr)
			}
			total += len(fr)
		}
		if total > len(data) {
			t.Fatalf("frames hold %d bytes of %d input", total, len(data))
		}
	})
}

// FuzzSplitEnd: for any END byte and any chunking, the frames are those of
// the whole input at once, text frames never hold END, and with END other
// than '\n' no text frame is empty or starts or ends with whitespace.
func FuzzSplitEnd(f *testing.F) {
	f.Add([]byte("512,\r\n513, 4095 ,,"), uint8(2), uint8(1))
	f.Add([]byte("m;1;2:3,#hello m,\r\n\xb1\x03abc1,"), uint8(0), uint8(1))
	f.Add([]byte("1\r\n2\r\n"), uint8(6), uint8(3))
	ends := []byte{'\n', ',', '|', '\r', '\t', ' ', 0x7f}
	f.Fuzz(func(t *testing.T, data []byte, chunk, endIndex uint8) {
		end := ends[int(endIndex)%len(ends)]
		whole, wholeReasons, wholeFatal := drive(t, NewSplitter(end, 64), string(data), 1<<20)
		frames, reasons, fatal := drive(t, NewSplitter(end, 64), string(data), int(chunk)+1)
		if strings.Join(frames, "\x00|") != strings.Join(whole, "\x00|") || fatal != wholeFatal || len(reasons) != len(wholeReasons) {
			t.Fatalf("chunks of %d: %q %v %v; whole: %q %v %v", int(chunk)+1, frames, reasons, fatal, whole, wholeReasons, wholeFatal)
		}
		for _, fr := range frames {
			if len(fr) > 64 || !bytes.Contains(data, []byte(fr)) {
				t.Fatalf("frame %q: above the limit or not in the input", fr)
			}
			if !codec.Delimited(fr[0]) {
				continue // an envelope holds any byte
			}
			if strings.IndexByte(fr, end) >= 0 {
				t.Fatalf("END %q: text frame %q holds it", end, fr)
			}
			if end != '\n' && (isSpace(fr[0]) || isSpace(fr[len(fr)-1])) {
				t.Fatalf("END %q: text frame %q starts or ends with whitespace", end, fr)
			}
		}
	})
}

// TestTextOnly: with TextOnly a byte that would start an envelope starts
// no frame: it is skipped with the rest of its line, and the stream goes
// on, where an envelope "length" above the limit would have closed it.
func TestTextOnly(t *testing.T) {
	s := Splitter{End: ',', TextOnly: true, MaxFrame: 64}
	data := []byte("512,\xb1\xff\xff\xff\x0f,513,")
	var frames []string
	errs := 0
	for off := 0; off < len(data); {
		adv, fr, err := s.Split(data[off:], true)
		if err != nil {
			errs++
		}
		if adv == 0 {
			t.Fatalf("stuck at %d (%v)", off, err)
		}
		if fr != nil {
			frames = append(frames, string(fr))
		}
		off += adv
	}
	if strings.Join(frames, "|") != "512|513" || errs != 1 {
		t.Fatalf("frames %q, %d errors; want 512|513 and one unknown_format", frames, errs)
	}
}

// TestScan: Scan hands over frames and recoverable errors in order, stops
// when fn says so (the item it stopped at consumed), keeps a partial frame
// for later, and returns an unresyncable stream's error.
func TestScan(t *testing.T) {
	f := func(data string, atEOF bool, stopAfter int, want string, wantConsumed int, wantErr codec.Reason) {
		t.Helper()
		s := Splitter{MaxFrame: 16}
		var got []string
		consumed, err := s.Scan([]byte(data), atEOF, func(frame []byte, size int, err error) bool {
			if err != nil {
				got = append(got, "!"+codec.ReasonOf(err).String())
			} else {
				got = append(got, fmt.Sprintf("%s/%d", frame, size))
			}
			return stopAfter == 0 || len(got) < stopAfter
		})
		if strings.Join(got, " ") != want || consumed != wantConsumed || codec.ReasonOf(err) != wantErr {
			t.Fatalf("Scan(%q) = %q, consumed %d, err %v; want %q, %d, %s", data, strings.Join(got, " "), consumed, err, want, wantConsumed, wantErr)
		}
	}
	f("a\nb\nc", false, 0, "a/2 b/2", 4, codec.ReasonNone)
	f("a\nb\nc", true, 0, "a/2 b/2 c/1", 5, codec.ReasonNone)
	f("a\n\n\nb\n", false, 0, "a/2 b/2", 6, codec.ReasonNone)
	f("a\nb\nc\n", false, 2, "a/2 b/2", 4, codec.ReasonNone)
	f("a\n\xffx\nb\n", false, 0, "a/2 !unknown_format b/2", 7, codec.ReasonNone)
	f("a\n0123456789abcdefgh\nb\n", false, 0, "a/2 !too_long b/2", 23, codec.ReasonNone)
	f("a\n\xb1\xff\xff\xff\x0fzz", false, 0, "a/2", 2, codec.ReasonTooLong)
}
