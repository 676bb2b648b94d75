package text

import (
	"bytes"
	"strconv"
	"strings"
	"testing"

	"github.com/fleetwire/fleetwire/codec"
)

// refHeaderNumber is headerNumber as it was before the eight-at-a-time
// fast path: a plain byte loop, the behaviour the fast path must keep.
func refHeaderNumber(line []byte, p int) (n uint64, neg bool, semi int, ok bool) {
	q := p
	if q < len(line) && line[q] == '-' {
		neg = true
		q++
	}
	digits := q
	for q < len(line) {
		d := line[q] - '0'
		if d > 9 {
			break
		}
		n = n*10 + uint64(d)
		q++
	}
	if q >= len(line) || line[q] != ';' || (neg && q == digits) {
		return 0, false, 0, false
	}
	if q-digits > 19 {
		v, good := codec.ParseUint(line[digits:q])
		return v, neg, q, good
	}
	return n, neg, q, true
}

func TestHeaderNumber(t *testing.T) {
	f := func(line string, p int, want uint64, wantNeg bool, wantSemi int, wantOK bool) {
		t.Helper()
		n, neg, semi, ok := headerNumber([]byte(line), p)
		if n != want || neg != wantNeg || semi != wantSemi || ok != wantOK {
			t.Fatalf("headerNumber(%q, %d) = %d, %v, %d, %v; want %d, %v, %d, %v",
				line, p, n, neg, semi, ok, want, wantNeg, wantSemi, wantOK)
		}
		rn, rneg, rsemi, rok := refHeaderNumber([]byte(line), p)
		if n != rn || neg != rneg || semi != rsemi || ok != rok {
			t.Fatalf("headerNumber(%q, %d) = %d, %v, %d, %v; reference %d, %v, %d, %v",
				line, p, n, neg, semi, ok, rn, rneg, rsemi, rok)
		}
	}
	const tail = "21.53:40.1,21.61:40.2" // long enough for the 8-byte window
	digits := "98765432109876543210987"
	for nd := 0; nd <= 20; nd++ {
		for _, sfx := range []string{";", ";" + tail} {
			num := digits[:nd]
			want, good := codec.ParseUint([]byte(num))
			if nd == 0 {
				want, good = 0, true
			}
			f(num+sfx, 0, want, false, nd, good)
			f("d;"+num+sfx, 2, want, false, 2+nd, good)
			if nd > 0 {
				f("-"+num+sfx, 0, want, true, 1+nd, good)
			} else {
				f("-"+sfx, 0, 0, false, 0, false) // a lone '-' is not a number
			}
			// Not ending at ';': the samples start here.
			f(num+","+tail, 0, 0, false, 0, false)
			f(num, 0, 0, false, 0, false)
		}
	}
	f("1764081234567;"+tail, 0, 1764081234567, false, 13, true)
	f("12345678;"+tail, 0, 12345678, false, 8, true)
	f("1234567;"+tail, 0, 1234567, false, 7, true)
	f("123456789;"+tail, 0, 123456789, false, 9, true)
	f("1234567812345678;"+tail, 0, 1234567812345678, false, 16, true)
	f("0000000000000000000000042;"+tail, 0, 0, false, 25, false) // 25 digits are too long even as leading zeros
	f("18446744073709551615;"+tail, 0, 18446744073709551615, false, 20, true)
	f("18446744073709551616;"+tail, 0, 0, false, 20, false)
	f("99999999999999999999;"+tail, 0, 0, false, 20, false)
	f("9999999999999999999;"+tail, 0, 9999999999999999999, false, 19, true)
	f("-9223372036854775808;"+tail, 0, 1<<63, true, 20, true)
	f("--1;"+tail, 0, 0, false, 0, false)
	f("1-2;"+tail, 0, 0, false, 0, false)
	f("12a45678;"+tail, 0, 0, false, 0, false)
	f("1234567:;"+tail, 0, 0, false, 0, false) // ':' = '9'+1 inside the window
	f("1234567/;"+tail, 0, 0, false, 0, false) // '/' = '0'-1
	f("1234567\xb1;"+tail, 0, 0, false, 0, false)
	f("12345678\xb1;"+tail, 0, 0, false, 0, false)
	f("", 0, 0, false, 0, false)
	f("x;", 2, 0, false, 0, false)
	// A non-digit at every position of the first two windows, for every
	// byte that could confuse a SWAR range check.
	for pos := 0; pos < 17; pos++ {
		for _, c := range []byte{0, '/', ':', ';', '-', 0x7f, 0x80, 0xb0, 0xb9, 0xba, 0xff} {
			b := []byte(strings.Repeat("7", 17) + ";" + tail)
			b[pos] = c
			if c == ';' {
				want, _ := strconv.ParseUint(string(b[:pos]), 10, 64)
				f(string(b), 0, want, false, pos, true)
				continue
			}
			if c == '-' && pos == 0 {
				f(string(b), 0, 7777777777777777, true, 17, true)
				continue
			}
			f(string(b), 0, 0, false, 0, false)
		}
	}
}

// TestNonDigits checks every byte value at every position of the window:
// the masked additions cannot carry between bytes, so this covers all x.
func TestNonDigits(t *testing.T) {
	for pos := 0; pos < 8; pos++ {
		for c := 0; c < 256; c++ {
			b := []byte("55555555")
			b[pos] = byte(c)
			x := uint64(0)
			for i := 7; i >= 0; i-- {
				x = x<<8 | uint64(b[i])
			}
			var want uint64
			if c < '0' || c > '9' {
				want = 0x80 << (8 * pos)
			}
			if got := nonDigits(x); got != want {
				t.Fatalf("nonDigits(%q) = %#x, want %#x", b, got, want)
			}
		}
	}
}

func FuzzHeaderNumber(f *testing.F) {
	for _, s := range []string{"123456;1764081234567;21.53", "-1;", "18446744073709551615;1", "18446744073709551616;",
		"12345678;", "1234567;", "12a45678;", "00000000000000000000001;x", "-;"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		for p := 0; p <= len(line); p++ {
			n, neg, semi, ok := headerNumber(line, p)
			rn, rneg, rsemi, rok := refHeaderNumber(line, p)
			if n != rn || neg != rneg || semi != rsemi || ok != rok {
				t.Fatalf("headerNumber(%q, %d) = %d, %v, %d, %v; reference %d, %v, %d, %v",
					line, p, n, neg, semi, ok, rn, rneg, rsemi, rok)
			}
		}
	})
}

func BenchmarkHeaderNumber(b *testing.B) {
	line := []byte("123456;1764081234567;21.53:40.1,21.61:40.2")
	for _, bc := range []struct {
		name string
		fn   func([]byte, int) (uint64, bool, int, bool)
	}{{"swar", headerNumber}, {"ref", refHeaderNumber}} {
		b.Run(bc.name, func(b *testing.B) {
			var sum uint64
			for b.Loop() {
				n, _, q, _ := bc.fn(line, 0)
				m, _, _, _ := bc.fn(line, q+1)
				sum += n + m
			}
			if sum == 0 {
				b.Fatal("parsed nothing")
			}
		})
	}
}

// refBadID is the device id rule as Decode applied it before the id was
// checked in the pass that finds its ';': the bytes before the first ';',
// when there are any, must be a valid id.
func refBadID(line []byte) bool {
	i := bytes.IndexByte(line, ';')
	return i > 0 && !codec.ValidID(line[:i])
}

func TestDecode_ID(t *testing.T) {
	var b codec.Batch
	ok := func(line, wantID string) {
		t.Helper()
		b.Reset()
		if err := Decode(&b, []byte(line), &lim); err != nil {
			t.Fatalf("Decode(%q): %v", line, err)
		}
		if got := string(b.Frames[0].Device); got != wantID || (wantID == "") != (b.Frames[0].Device == nil) {
			t.Fatalf("Decode(%q): device %q, want %q", line, got, wantID)
		}
	}
	bad := func(line string) {
		t.Helper()
		b.Reset()
		err := Decode(&b, []byte(line), &lim)
		var e *codec.Error
		if !asError(err, &e) || e.Reason != codec.ReasonBadID || e.Offset != 0 {
			t.Fatalf("Decode(%q) = %v, want a bad id at offset 0", line, err)
		}
		if !refBadID([]byte(line)) {
			t.Fatalf("reference accepts the id of %q", line)
		}
	}
	ok("a;1", "a")
	ok(strings.Repeat("x", 64)+";1", strings.Repeat("x", 64))
	ok(strings.Repeat("x", 64)+";1;2;3", strings.Repeat("x", 64))
	ok("Az09._-;1", "Az09._-")
	ok(";1", "")
	ok("21.5,21.7", "")                  // no header: the samples look like an id
	ok(strings.Repeat("7", 70), "")      // longer than an id, no ';'
	ok(strings.Repeat("7", 70)+",1", "") // the same with a sample after it
	bad(strings.Repeat("x", 65) + ";1")
	bad(strings.Repeat("x", 66) + ";1")
	bad(strings.Repeat("x", 100) + ";1")
	bad("a,b;1")
	// An invalid byte at every position of the first two 8-byte windows.
	for pos := 0; pos < 17; pos++ {
		for _, c := range []byte{' ', '/', ':', '@', ',', '+', '`', '{', 0, 0x7f, 0x80, 0xff} {
			id := []byte(strings.Repeat("d", 16))
			id[pos%16] = c
			if pos < 16 {
				bad(string(id) + ";1;2;3")
			} else {
				bad(string(id) + string(c) + ";1") // 17 bytes, the last invalid
			}
		}
	}
}

func FuzzDecodeID(f *testing.F) {
	for _, s := range []string{"dev-000042;123456;1764081234567;21.53:40.1", "a b;1", ";1", "21.5,1",
		strings.Repeat("x", 64) + ";1", strings.Repeat("x", 65) + ";1", "x,;1"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		var b codec.Batch
		err := Decode(&b, line, &lim)
		if gotBad, wantBad := codec.ReasonOf(err) == codec.ReasonBadID, refBadID(line); gotBad != wantBad {
			t.Fatalf("Decode(%q) = %v; reference says bad id: %v", line, err, wantBad)
		}
		if err != nil {
			return
		}
		want := []byte(nil)
		if i := bytes.IndexByte(line, ';'); i > 0 {
			want = line[:i]
		}
		if got := b.Frames[0].Device; !bytes.Equal(got, want) || (got == nil) != (want == nil) {
			t.Fatalf("Decode(%q): device %q, want %q", line, got, want)
		}
	})
}

// TestIDByte pins the table to codec.ValidID for every byte.
func TestIDByte(t *testing.T) {
	for c := 0; c < 256; c++ {
		if idByte[c] != codec.ValidID([]byte{byte(c)}) {
			t.Fatalf("idByte[%#x] = %v", c, idByte[c])
		}
	}
}
