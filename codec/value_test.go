package codec

import (
	"math"
	"strconv"
	"testing"
)

func TestParseValue_Success(t *testing.T) {
	f := func(in string, want Value, out string) {
		t.Helper()
		got, r := ParseValue([]byte(in))
		if r != ReasonNone {
			t.Fatalf("ParseValue(%q): unexpected reason %s", in, r)
		}
		if got != want {
			t.Fatalf("ParseValue(%q) = %+v, want %+v", in, got, want)
		}
		if s := string(AppendValue(nil, got)); s != out {
			t.Fatalf("AppendValue(ParseValue(%q)) = %q, want %q", in, s, out)
		}
	}
	f("0", Decimal(0, 0), "0")
	f("21.5", Decimal(215, 1), "21.5")
	f("30", Decimal(30, 0), "30")
	f("30.20", Decimal(3020, 2), "30.20") // written trailing zeros survive
	f("-4.25", Decimal(-425, 2), "-4.25")
	f("+7", Decimal(7, 0), "7")
	f(".5", Decimal(5, 1), "0.5")
	f("-0.00", Value{Scale: 2, Flags: FlagNegZero}, "-0.00") // printf("%.2f", -0.001)
	f("0.000001", Decimal(1, 6), "0.000001")
	f("23.456789012345678", Decimal(23456789012345678, 15), "23.456789012345678") // 17 digits, exact
	f("9223372036854775807", Decimal(math.MaxInt64, 0), "9223372036854775807")
	f("-9223372036854775807", Decimal(-math.MaxInt64, 0), "-9223372036854775807")
	f("-9223372036854775808", Decimal(math.MinInt64, 0), "-9223372036854775808")
	f("-922337203685477580.8", Decimal(math.MinInt64, 1), "-922337203685477580.8")
	f("0.123456789012345678", Decimal(123456789012345678, 18), "0.123456789012345678")
	f("007", Decimal(7, 0), "7") // leading zeros are not kept
	// Beyond int64 or MaxScale: float64, printed shortest.
	f("9223372036854775808", Float(9223372036854775808), "9.223372036854776e+18")
	f("1e3", Float(1000), "1000")
	f("0.1234567890123456789", Float(0.1234567890123456789), "0.12345678901234568")
	f("1.5E-7", Float(1.5e-7), "1.5e-07")
}

func TestParseValue_Failure(t *testing.T) {
	f := func(in string, want Reason) {
		t.Helper()
		_, r := ParseValue([]byte(in))
		if r != want {
			t.Fatalf("ParseValue(%q) reason = %s, want %s", in, r, want)
		}
	}
	f("", ReasonBadNumber)
	f("-", ReasonBadNumber)
	f(".", ReasonBadNumber)
	f("5.", ReasonBadNumber)
	f("1.2.3", ReasonBadNumber)
	f("12a", ReasonBadNumber)
	f("0x10", ReasonBadNumber)
	f("1_000", ReasonBadNumber)
	f(" 1", ReasonBadNumber)
	f("NaN", ReasonNonFinite)
	f("nan", ReasonNonFinite)
	f("Inf", ReasonNonFinite)
	f("-inf", ReasonNonFinite)
	f("+Infinity", ReasonNonFinite)
	f("1e999", ReasonNonFinite)
	f("--1", ReasonBadNumber)
	// Only real spellings of NaN and Inf are non_finite.
	f("INFINITY", ReasonNonFinite)
	f("-nan", ReasonNonFinite)
	f("+iNf", ReasonNonFinite)
	f("-1e999", ReasonNonFinite)
	// Typos of a number: it starts like one.
	f("21.5x", ReasonBadNumber)
	f("1e", ReasonBadNumber)
	f("1e+", ReasonBadNumber)
	f("21..5", ReasonBadNumber)
	f("2l.5", ReasonBadNumber)
	f("1,5", ReasonBadNumber)
	f(".e1", ReasonBadNumber)
	f("-x", ReasonBadNumber)
	f("\t7a", ReasonBadNumber)
	// Words: what tutorial clients and chatty devices send.
	f("I am the client sending you a message.", ReasonNotAReading)
	f("Hello world", ReasonNotAReading)
	f("Info", ReasonNotAReading)
	f("nano", ReasonNotAReading)
	f("infinite", ReasonNotAReading)
	f("e5", ReasonNotAReading)
	f("temp=21.5", ReasonNotAReading)
	f("O.5", ReasonNotAReading) // a letter O: nothing tells it from a word
}

func TestValueRescale(t *testing.T) {
	v := Decimal(302, 1)
	if m, ok := v.Rescale(3); !ok || m != 30200 {
		t.Fatalf("Rescale(3) = %d, %v", m, ok)
	}
	if _, ok := v.Rescale(0); ok {
		t.Fatal("Rescale to a smaller scale must fail")
	}
	if _, ok := Decimal(math.MaxInt64/5, 0).Rescale(1); ok {
		t.Fatal("Rescale past int64 must fail")
	}
}

func TestFloat64(t *testing.T) {
	if got := Decimal(-425, 2).Float64(); got != -4.25 {
		t.Fatalf("got %v", got)
	}
	if got := (Value{Scale: 2, Flags: FlagNegZero}).Float64(); !math.Signbit(got) || got != 0 {
		t.Fatalf("negative zero: got %v", got)
	}
}

func TestParseCodec(t *testing.T) {
	for _, c := range Codecs() {
		got, err := ParseCodec(c.String())
		if err != nil || got != c {
			t.Fatalf("ParseCodec(%q) = %v, %v", c, got, err)
		}
	}
	for _, bad := range []string{"", "json", "text+gzip", "compact+", "+zstd"} {
		if _, err := ParseCodec(bad); err == nil {
			t.Fatalf("ParseCodec(%q): want error", bad)
		}
	}
}

func TestFormatOf(t *testing.T) {
	f := func(b byte, want Format) {
		t.Helper()
		if got := FormatOf(b); got != want {
			t.Fatalf("FormatOf(%#x) = %s, want %s", b, got, want)
		}
	}
	f('2', FormatText)
	f('m', FormatText)
	f('-', FormatText)
	f('#', FormatControl)
	f(MagicControl, FormatControl)
	f(MagicBinary, FormatBinary)
	f(MagicCompact, FormatCompact)
	f(MagicZstd, FormatZstd)
	f(MagicZstdDict, FormatZstdDict)
	f(MagicS2, FormatS2)
	f(0xff, FormatUnknown)
	f(0x80, FormatUnknown)
}

func TestValidID(t *testing.T) {
	for _, ok := range []string{"1", "mote-3", "a.b_c-D", string(make64('x'))} {
		if !ValidID([]byte(ok)) {
			t.Fatalf("ValidID(%q) = false", ok)
		}
	}
	for _, bad := range []string{"", "a b", "a;b", "a,b", "<script>", "é", string(make64('x')) + "x"} {
		if ValidID([]byte(bad)) {
			t.Fatalf("ValidID(%q) = true", bad)
		}
	}
}

func make64(c byte) []byte {
	b := make([]byte, MaxIDLen)
	for i := range b {
		b[i] = c
	}
	return b
}

func BenchmarkParseValue(b *testing.B) {
	in := []byte("-123.4567")
	b.ReportAllocs()
	for b.Loop() {
		ParseValue(in)
	}
}

func BenchmarkAppendValue(b *testing.B) {
	v := Decimal(-1234567, 4)
	buf := make([]byte, 0, 32)
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendValue(buf[:0], v)
	}
}

// TestScanValue checks the fast path agrees with ParseValue wherever it
// accepts, and declines what it must leave to it.
func TestScanValue(t *testing.T) {
	f := func(in string, wantN int) {
		t.Helper()
		v, n := ScanValue([]byte(in))
		if n != wantN {
			t.Fatalf("ScanValue(%q) n = %d, want %d", in, n, wantN)
		}
		if n > 0 {
			want, r := ParseValue([]byte(in[:n]))
			if r != ReasonNone || want != v {
				t.Fatalf("ScanValue(%q) = %+v, ParseValue = %+v (%s)", in, v, want, r)
			}
		}
	}
	f("21.5,", 4)
	f("-0.00:", 5)
	f("+7@", 2)
	f(".5", 2)
	f("30", 2)
	f("123456789012345678", 18)
	f("1234567890123456789", 0) // 19 digits: the careful parser decides
	f("5.", 0)
	f("", 0)
	f("-", 0)
	f("1e5", 1) // stops at 'e'; the decoder sees no separator and goes slow
	f("NaN", 0)
}

func FuzzScanValue(f *testing.F) {
	for _, s := range []string{"21.5", "-0.00", "1e5", "123456789012345678", ".5", "007"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		v, n := ScanValue(b)
		if n == 0 {
			return
		}
		want, r := ParseValue(b[:n])
		if r != ReasonNone || want != v {
			t.Fatalf("ScanValue(%q) = %+v over %d bytes, ParseValue = %+v (%s)", b, v, n, want, r)
		}
	})
}

func TestParseUintInt(t *testing.T) {
	for _, c := range []struct {
		in string
		u  uint64
		uo bool
		i  int64
		io bool
	}{
		{"0", 0, true, 0, true},
		{"42", 42, true, 42, true},
		{"18446744073709551615", math.MaxUint64, true, 0, false},
		{"18446744073709551616", 0, false, 0, false},
		{"9223372036854775807", math.MaxInt64, true, math.MaxInt64, true},
		{"-9223372036854775808", 0, false, math.MinInt64, true},
		{"-9223372036854775809", 0, false, 0, false},
		{"+5", 0, false, 5, true},
		{"", 0, false, 0, false},
		{"-", 0, false, 0, false},
		{"1a", 0, false, 0, false},
	} {
		if u, ok := ParseUint([]byte(c.in)); ok != c.uo || u != c.u {
			t.Errorf("ParseUint(%q) = %d, %v", c.in, u, ok)
		}
		if i, ok := ParseInt([]byte(c.in)); ok != c.io || i != c.i {
			t.Errorf("ParseInt(%q) = %d, %v", c.in, i, ok)
		}
	}
}

func TestParseRadix_Success(t *testing.T) {
	f := func(in string, base int, want Value) {
		t.Helper()
		got, r := ParseRadix([]byte(in), base)
		if r != ReasonNone || got != want {
			t.Fatalf("ParseRadix(%q, %d) = %+v, %s; want %+v", in, base, got, r, want)
		}
	}
	f("111111111111", 2, Decimal(4095, 0))
	f("0", 2, Decimal(0, 0))
	f("-101", 2, Decimal(-5, 0))
	f("+101", 2, Decimal(5, 0))
	f("000000000000000000000000000000000000000000000000000000000000000000000001", 2, Decimal(1, 0)) // leading zeros are not digits of the magnitude
	f("111111111111111111111111111111111111111111111111111111111111111", 2, Decimal(math.MaxInt64, 0))
	f("-1000000000000000000000000000000000000000000000000000000000000000", 2, Decimal(math.MinInt64, 0))
	f("7777", 8, Decimal(4095, 0))
	f("777777777777777777777", 8, Decimal(math.MaxInt64, 0))
	f("-1000000000000000000000", 8, Decimal(math.MinInt64, 0))
	f("fff", 16, Decimal(4095, 0))
	f("FFF", 16, Decimal(4095, 0))
	f("fFf", 16, Decimal(4095, 0))
	f("dEaDbEeF", 16, Decimal(0xdeadbeef, 0))
	f("FFFFFFFF", 16, Decimal(4294967295, 0)) // Arduino's print(-1, HEX): the device's word, unsigned
	f("7fffffffffffffff", 16, Decimal(math.MaxInt64, 0))
	f("-8000000000000000", 16, Decimal(math.MinInt64, 0))
	f("-0", 16, Value{Flags: FlagNegZero})
}

func TestParseRadix_Failure(t *testing.T) {
	f := func(in string, base int, want Reason) {
		t.Helper()
		if _, r := ParseRadix([]byte(in), base); r != want {
			t.Fatalf("ParseRadix(%q, %d) reason = %s, want %s", in, base, r, want)
		}
	}
	f("", 2, ReasonBadNumber)
	f("-", 16, ReasonBadNumber)
	f("2", 2, ReasonBadNumber)
	f("1012", 2, ReasonBadNumber)
	f("8", 8, ReasonBadNumber)
	f("fg", 16, ReasonBadNumber)
	f("1.5", 16, ReasonBadNumber)
	f("1e3", 2, ReasonBadNumber)
	f("0x1f", 16, ReasonBadNumber) // no prefixes: Serial.print(v, HEX) writes none
	f("0b101", 2, ReasonBadNumber)
	f("--1", 2, ReasonBadNumber)
	f("1 ", 2, ReasonBadNumber)
	f("1000000000000000000000000000000000000000000000000000000000000000", 2, ReasonBadNumber) // 2^63
	f("-1000000000000000000000000000000000000000000000000000000000000001", 2, ReasonBadNumber)
	f("1000000000000000000000", 8, ReasonBadNumber)
	f("8000000000000000", 16, ReasonBadNumber)
	f("ffffffffffffffffff", 16, ReasonBadNumber)
	f("abc", 2, ReasonNotAReading) // letters are no digits in base 2
	f("Hello world", 16, ReasonNotAReading)
	f("I am the client sending you a message.", 8, ReasonNotAReading)
	f("nan", 16, ReasonNonFinite)
	f("-Inf", 2, ReasonNonFinite)
}

// FuzzParseRadix: ParseRadix agrees with strconv.ParseInt, which takes
// the same grammar when given a base.
func FuzzParseRadix(f *testing.F) {
	for _, s := range []string{"111111111111", "-fff", "+7777", "8000000000000000", "0x10", "1_0", ""} {
		f.Add([]byte(s), uint8(16))
	}
	f.Fuzz(func(t *testing.T, b []byte, pick uint8) {
		base := []int{2, 8, 16}[int(pick)%3]
		v, r := ParseRadix(b, base)
		want, err := strconv.ParseInt(string(b), base, 64)
		if (r == ReasonNone) != (err == nil) {
			t.Fatalf("ParseRadix(%q, %d) = %+v, %s; strconv: %d, %v", b, base, v, r, want, err)
		}
		if r != ReasonNone {
			if r != ReasonBadNumber && r != ReasonNotAReading && r != ReasonNonFinite {
				t.Fatalf("ParseRadix(%q, %d): reason %s", b, base, r)
			}
			return
		}
		if v.Mant != want || v.Scale != 0 || v.IsFloat() {
			t.Fatalf("ParseRadix(%q, %d) = %+v, strconv %d", b, base, v, want)
		}
	})
}
