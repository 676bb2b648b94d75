package text

import (
	"strconv"
	"testing"

	"github.com/fleetwire/fleetwire/codec"
)

func TestCheckRadix(t *testing.T) {
	for _, ok := range []int{0, 2, 8, 10, 16} {
		if err := CheckRadix(ok); err != nil {
			t.Fatalf("CheckRadix(%d) = %v", ok, err)
		}
	}
	for _, bad := range []int{-2, 1, 3, 7, 9, 12, 17, 36} {
		if CheckRadix(bad) == nil {
			t.Fatalf("CheckRadix(%d) = nil", bad)
		}
	}
}

func TestDecodeWith_Radix_Success(t *testing.T) {
	var b codec.Batch
	f := func(line string, radix int, want string) {
		t.Helper()
		b.Reset()
		if err := DecodeWith(&b, []byte(line), &lim, Options{Radix: radix}); err != nil {
			t.Fatalf("DecodeWith(%q, radix %d): %v", line, radix, err)
		}
		if got := frameString(&b.Frames[0]); got != want {
			t.Fatalf("DecodeWith(%q, radix %d):\n got  %s\n want %s", line, radix, got, want)
		}
	}
	f("111111111111", 2, "dev= | 4095")
	f("111111111111,0,1010,", 2, "dev= | 4095 0 10")
	f("-101:+11", 2, "dev= | -5:3")
	f("7777,10", 8, "dev= | 4095 8")
	f("fff,FFF,fFf", 16, "dev= | 4095 4095 4095")
	f("7fffffffffffffff,-8000000000000000", 16, "dev= | 9223372036854775807 -9223372036854775808")
	f("abc", 16, "dev= | 2748") // a hex word without ';' is no device id
	f("dead;beef", 16, "dev=dead | 48879")
	// Header fields and steps stay decimal.
	f("mote-3;42;1700000000000;ff:10,fe:11@5000", 16, "dev=mote-3 seq=42 t=1700000000000/1700000005000 | 255:16 254:17")
	f("m;10;100;1,10@10", 2, "dev=m seq=10 t=100/110 | 1 2")
	// Base 10, by default or by name, is the decimal grammar.
	f("111111111111", 0, "dev= | 111111111111")
	f("21.5,1e3", 10, "dev= | 21.5 1000")
}

func TestDecodeWith_Radix_Failure(t *testing.T) {
	var b codec.Batch
	f := func(line string, radix int, want codec.Reason) {
		t.Helper()
		for range 2 { // twice: a failed decode leaves the batch reusable
			err := DecodeWith(&b, []byte(line), &lim, Options{Radix: radix})
			if got := codec.ReasonOf(err); got != want {
				t.Fatalf("DecodeWith(%q, radix %d) = %v, want %s", line, radix, err, want)
			}
			if len(b.Frames) != 0 || b.Readings() != 0 {
				t.Fatalf("DecodeWith(%q, radix %d) left %d frames after an error", line, radix, len(b.Frames))
			}
		}
	}
	f("2", 2, codec.ReasonBadNumber)
	f("1,2", 2, codec.ReasonBadNumber)
	f("1012", 2, codec.ReasonBadNumber)
	f("8", 8, codec.ReasonBadNumber)
	f("21.5", 16, codec.ReasonBadNumber)
	f("1e3", 8, codec.ReasonBadNumber)
	f("0x1f", 16, codec.ReasonBadNumber)
	f("8000000000000000", 16, codec.ReasonBadNumber)
	f("1000000000000000000000000000000000000000000000000000000000000000", 2, codec.ReasonBadNumber)
	f("ff:", 16, codec.ReasonBadSyntax)
	f("m;ff;1", 16, codec.ReasonBadNumber)     // seq is decimal
	f("m;1;2;1@ff", 16, codec.ReasonBadNumber) // so is the step
	f("1,Hello", 2, codec.ReasonBadNumber)
	f("Hello world", 16, codec.ReasonNotAReading)
	f("I am the client sending you a message.", 2, codec.ReasonNotAReading)
	f("nan", 16, codec.ReasonNonFinite)
}

func TestDecodeWith_BadRadix(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("radix 3: no panic")
		}
	}()
	var b codec.Batch
	_ = DecodeWith(&b, []byte("1"), &lim, Options{Radix: 3})
}

// appendRadix writes f as Append does, with its values in base radix.
func appendRadix(dst []byte, f *codec.Frame, radix int) []byte {
	if f.Device != nil || f.Flags&(codec.HasSeq|codec.HasTime) != 0 {
		dst = appendHeader(dst, f, f.Seq, 0)
	}
	step := int64(0)
	for i := 0; i < f.Samples(); i++ {
		if i > 0 {
			dst = append(dst, ',')
		}
		for c, v := range f.Sample(i) {
			if c > 0 {
				dst = append(dst, ':')
			}
			if v.Flags&codec.FlagNegZero != 0 {
				dst = append(dst, '-')
			}
			dst = strconv.AppendInt(dst, v.Mant, radix)
		}
		if f.Flags&codec.HasTime != 0 && i > 0 {
			if s := f.Times[i] - f.Times[i-1]; s != step {
				step = s
				dst = append(dst, '@')
				dst = strconv.AppendInt(dst, s, 10)
			}
		}
	}
	return dst
}

// FuzzDecodeRadix: in bases 2, 8 and 16 what decodes holds integers only,
// and writing them back in the base decodes to the same frame.
func FuzzDecodeRadix(f *testing.F) {
	for _, s := range []string{"111111111111,0,1010", "fff:FFF,-7ff", "mote-3;42;1700000000000;ff:10,fe:11@5000", "2", "Hello world", "-0"} {
		f.Add([]byte(s), uint8(2))
	}
	f.Fuzz(func(t *testing.T, line []byte, pick uint8) {
		radix := []int{2, 8, 16}[int(pick)%3]
		var b codec.Batch
		if err := DecodeWith(&b, line, &lim, Options{Radix: radix}); err != nil {
			if b.Readings() != 0 || len(b.Frames) != 0 {
				t.Fatalf("error left frames behind")
			}
			return
		}
		fr := &b.Frames[0]
		for _, v := range fr.Values {
			if v.Scale != 0 || v.IsFloat() {
				t.Fatalf("radix %d: %q decoded to %+v, not an integer", radix, line, v)
			}
		}
		again := appendRadix(nil, fr, radix)
		var b2 codec.Batch
		if err := DecodeWith(&b2, again, &lim, Options{Radix: radix}); err != nil {
			t.Fatalf("radix %d: re-encoded %q does not decode: %v", radix, again, err)
		}
		if a, z := frameString(fr), frameString(&b2.Frames[0]); a != z {
			t.Fatalf("radix %d: round trip via %q changed the frame:\n %s\n %s", radix, again, a, z)
		}
	})
}
