package text

import (
	"strconv"
	"strings"
	"testing"

	"github.com/fleetwire/fleetwire/codec"
	"github.com/fleetwire/fleetwire/codec/framing"
)

var lim = codec.DefaultLimits

// frameString renders a decoded frame canonically for comparison.
func frameString(f *codec.Frame) string {
	var sb strings.Builder
	sb.WriteString("dev=" + string(f.Device))
	if f.Flags&codec.HasSeq != 0 {
		sb.WriteString(" seq=" + strconv.FormatUint(f.Seq, 10))
	}
	if f.Flags&codec.HasTime != 0 {
		sb.WriteString(" t=")
		for i, t := range f.Times {
			if i > 0 {
				sb.WriteString("/")
			}
			sb.WriteString(itoa(t))
		}
	}
	sb.WriteString(" |")
	for i := 0; i < f.Samples(); i++ {
		sb.WriteString(" ")
		for c, v := range f.Sample(i) {
			if c > 0 {
				sb.WriteString(":")
			}
			sb.WriteString(v.String())
		}
	}
	return sb.String()
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func TestDecode_Success(t *testing.T) {
	var b codec.Batch
	f := func(line, want string) {
		t.Helper()
		b.Reset()
		if err := Decode(&b, []byte(line), &lim); err != nil {
			t.Fatalf("Decode(%q): %v", line, err)
		}
		if len(b.Frames) != 1 {
			t.Fatalf("Decode(%q): %d frames", line, len(b.Frames))
		}
		fr := &b.Frames[0]
		if got := frameString(fr); got != want {
			t.Fatalf("Decode(%q):\n got  %s\n want %s", line, got, want)
		}
		// The encoder mirrors the decoder: re-encoding gives the canonical line.
		again := Append(nil, fr, '\n')
		var b2 codec.Batch
		if err := Decode(&b2, again[:len(again)-1], &lim); err != nil {
			t.Fatalf("re-decode of %q: %v", again, err)
		}
		if got := frameString(&b2.Frames[0]); got != want {
			t.Fatalf("round trip of %q via %q:\n got  %s\n want %s", line, again, got, want)
		}
	}
	f("21.5,21.7,21.9", "dev= | 21.5 21.7 21.9")
	f("21.5,21.7,21.9,", "dev= | 21.5 21.7 21.9")
	f("21.5:40,21.6:41", "dev= | 21.5:40 21.6:41")
	f("mote-3;21.5", "dev=mote-3 | 21.5")
	f("mote-3;42;21.5:40,21.6:41", "dev=mote-3 seq=42 | 21.5:40 21.6:41")
	f("mote-3;42;1700000000000;21.5:40,21.6:41", "dev=mote-3 seq=42 t=1700000000000/1700000000000 | 21.5:40 21.6:41")
	f("m;0;1000;1,2@5000,3,4@-2000,5", "dev=m seq=0 t=1000/6000/11000/9000/7000 | 1 2 3 4 5")
	f(";7;1.5", "dev= seq=7 | 1.5")
	f(";;100;1.5,2.5@10", "dev= t=100/110 | 1.5 2.5")
	f("-0.00:30.20:30", "dev= | -0.00:30.20:30")
	f("23.456789012345678", "dev= | 23.456789012345678")
	f("d;18446744073709551615;-5;1", "dev=d seq=18446744073709551615 t=-5 | 1")
}

func TestDecode_Failure(t *testing.T) {
	var b codec.Batch
	small := codec.Limits{MaxChannels: 2, MaxSamples: 3}.OrDefault()
	f := func(line string, l *codec.Limits, want codec.Reason) {
		t.Helper()
		for i := 0; i < 2; i++ { // twice: a failed decode leaves the batch reusable
			err := Decode(&b, []byte(line), l)
			if got := codec.ReasonOf(err); got != want {
				t.Fatalf("Decode(%q) = %v, want reason %s", line, err, want)
			}
			if len(b.Frames) != 0 || b.Readings() != 0 {
				t.Fatalf("Decode(%q) left %d frames after an error", line, len(b.Frames))
			}
		}
	}
	f("", &lim, codec.ReasonBadSyntax)
	f("mote;", &lim, codec.ReasonBadSyntax)
	f("21.5,,21.7", &lim, codec.ReasonBadSyntax)
	f("21.5,abc", &lim, codec.ReasonBadNumber)
	f("21.5:", &lim, codec.ReasonBadSyntax)
	f("NaN", &lim, codec.ReasonNonFinite)
	f("1,inf", &lim, codec.ReasonNonFinite)
	f("1:2,3", &lim, codec.ReasonChannelMismatch)
	f("1:2:3", &small, codec.ReasonTooManyChannels)
	f("1,2,3,4", &small, codec.ReasonTooManySamples)
	f("bad id;1", &lim, codec.ReasonBadID)
	f(strings.Repeat("x", 65)+";1", &lim, codec.ReasonBadID)
	f("m;x;1", &lim, codec.ReasonBadNumber)
	f("m;1;t;1", &lim, codec.ReasonBadNumber)
	f("m;1;2;3;4", &lim, codec.ReasonBadSyntax)
	f("1@5", &lim, codec.ReasonBadSyntax) // a step needs a header time
	f("m;1;2;1@x", &lim, codec.ReasonBadNumber)
	f("m;99999999999999999999;1", &lim, codec.ReasonBadNumber)
	// What is not a reading at all, as opposed to a reading typed wrong.
	f("I am the client sending you a message.", &lim, codec.ReasonNotAReading)
	f("Hello world", &lim, codec.ReasonNotAReading)
	f("Hello, world", &lim, codec.ReasonNotAReading)
	f("GET / HTTP/1.1", &lim, codec.ReasonNotAReading)
	f("Info: starting", &lim, codec.ReasonNotAReading)
	f("temp=21.5", &lim, codec.ReasonNotAReading)
	f("21.5x", &lim, codec.ReasonBadNumber)
	f("1e", &lim, codec.ReasonBadNumber)
	f("21..5,21.6", &lim, codec.ReasonBadNumber)
	f("21.5:hello", &lim, codec.ReasonBadNumber) // a word after a reading: a bad value
	f("m;1;hello", &lim, codec.ReasonBadNumber)  // a word after a header: a bad value
	f("Inf", &lim, codec.ReasonNonFinite)
	f("-Infinity", &lim, codec.ReasonNonFinite)
	f("1e999", &lim, codec.ReasonNonFinite)
}

func TestDecode_ErrorOffset(t *testing.T) {
	var b codec.Batch
	err := Decode(&b, []byte("m;1;21.5,2x"), &lim)
	var e *codec.Error
	if !asError(err, &e) || e.Offset != 9 || e.Format != codec.FormatText {
		t.Fatalf("got %#v, want offset 9", err)
	}
}

func asError(err error, target **codec.Error) bool {
	e, ok := err.(*codec.Error)
	*target = e
	return ok
}

func TestDecode_AppendsToBatch(t *testing.T) {
	var b codec.Batch
	for _, line := range []string{"a;1;1,2", "b;1;3:4", "a;3;5"} {
		if err := Decode(&b, []byte(line), &lim); err != nil {
			t.Fatal(err)
		}
	}
	if len(b.Frames) != 3 || b.Readings() != 5 {
		t.Fatalf("frames=%d readings=%d", len(b.Frames), b.Readings())
	}
	// Sub-slices are capped: appending to one frame's values cannot clobber the next.
	f0 := b.Frames[0].Values
	_ = append(f0, codec.Decimal(99, 0))
	if got := b.Frames[1].Values[0].String(); got != "3" {
		t.Fatalf("frame 1 clobbered: %s", got)
	}
}

func FuzzDecode(f *testing.F) {
	for _, s := range []string{"21.5,21.7,21.9", "mote-3;42;1700000000000;21.5:40,21.6:41@5000", ";;1;1@-3,2", "-0.00:1e3", "a;;;1,"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		var b codec.Batch
		if err := Decode(&b, line, &lim); err != nil {
			if b.Readings() != 0 || len(b.Frames) != 0 {
				t.Fatalf("error left frames behind")
			}
			return
		}
		fr := &b.Frames[0]
		if fr.Samples()*fr.Channels != len(fr.Values) {
			t.Fatalf("samples %d x channels %d != %d values", fr.Samples(), fr.Channels, len(fr.Values))
		}
		// What decodes re-encodes to a line that decodes to the same frame.
		again := Append(nil, fr, '\n')
		var b2 codec.Batch
		if err := Decode(&b2, again[:len(again)-1], &lim); err != nil {
			t.Fatalf("re-encoded %q does not decode: %v", again, err)
		}
		if a, z := frameString(fr), frameString(&b2.Frames[0]); a != z {
			t.Fatalf("round trip changed the frame:\n %s\n %s", a, z)
		}
		// With END ',' the same readings arrive, one sample per frame.
		want := strings.Join(appendSamples(nil, fr), "\n")
		stream := Append(nil, fr, ',')
		var got []string
		split := framing.NewSplitter(',', 0)
		for off := 0; off < len(stream); {
			adv, line, err := split.Split(stream[off:], true)
			if err != nil {
				t.Fatalf("END ',': %q does not split: %v", stream, err)
			}
			off += adv
			if line == nil {
				continue
			}
			var b3 codec.Batch
			if err := Decode(&b3, line, &lim); err != nil {
				t.Fatalf("END ',': %q of %q does not decode: %v", line, stream, err)
			}
			got = appendSamples(got, &b3.Frames[0])
		}
		if strings.Join(got, "\n") != want {
			t.Fatalf("END ',': %q carries\n %q, want\n %q", stream, got, want)
		}
	})
}
