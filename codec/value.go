package codec

import (
	"math"
	"strconv"
	"unsafe"
)

// MaxScale is the largest number of fraction digits a decimal Value keeps.
// Longer fractions are still accepted, as float64 (see ParseValue).
const MaxScale = 18

// Value is one reading as the device printed it.
//
// A decimal value is Mant / 10^Scale, and Scale is the number of fraction
// digits the device wrote, so "30", "30.2" and "30.20" are three different
// Values that print back as written. Every format keeps Scale, which is what
// makes decode(encode(x)) exact on the text, not just on the number.
//
// A value that does not fit (more than 18 significant digits, an exponent,
// or a magnitude beyond int64) is kept as a float64: Flags has FlagFloat and
// Mant holds math.Float64bits.
type Value struct {
	Mant  int64
	Scale uint8
	Flags uint8
}

// Value flags.
const (
	// FlagFloat: Mant holds the bits of a float64; Scale is 0.
	FlagFloat uint8 = 1 << iota
	// FlagNegZero: the device printed a negative zero ("-0.00"), which
	// printf does for small negative numbers; Mant is 0.
	FlagNegZero
)

// Decimal returns the decimal value mant / 10^scale.
func Decimal(mant int64, scale uint8) Value { return Value{Mant: mant, Scale: scale} }

// Float returns a float64 value. Callers must not pass NaN or Inf: readings
// are finite (ParseValue rejects them).
func Float(f float64) Value { return Value{Mant: int64(math.Float64bits(f)), Flags: FlagFloat} }

// IsFloat reports whether v is held as a float64.
func (v Value) IsFloat() bool { return v.Flags&FlagFloat != 0 }

// Float64 returns v as a float64 (rounded for long decimals).
func (v Value) Float64() float64 {
	if v.IsFloat() {
		return math.Float64frombits(uint64(v.Mant))
	}
	f := float64(v.Mant) / pow10f[v.Scale]
	if v.Flags&FlagNegZero != 0 {
		return math.Copysign(0, -1)
	}
	return f
}

var pow10f = [MaxScale + 1]float64{1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9,
	1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18}

// Pow10 holds 10^i for i in [0, 18]: the scale factors of decimal Values.
var Pow10 = [MaxScale + 1]int64{1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9,
	1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18}

// ParseValue parses a decimal number as a device prints it: an optional
// sign, digits, an optional '.' and fraction digits. Such numbers with up to
// 18 significant digits (19 when they fit int64) are kept exactly, with the
// number of fraction digits as written. Anything else that strconv accepts
// as a finite float64 (exponents, very long numbers) becomes a float Value.
//
// What is refused says why, so that a server's counters tell a device
// with a bad value from a client that speaks no fleetwire at all:
// ReasonNonFinite for a spelling of NaN or Inf (any case, signed:
// "nan", "-Inf", "infinity") and for numbers beyond float64;
// ReasonBadNumber for a token that starts like a number (see whyNot) and
// is not one ("21.5x", "1e", "5.", ""); ReasonNotAReading for anything
// else: words, a greeting ("Hello world").
//
// The error return is a Reason, not an error, so the hot path allocates
// nothing; callers wrap it with the offset they know.
func ParseValue(b []byte) (Value, Reason) {
	// Fast path: [-+]?digits[.digits], accumulating while there are at
	// most 19 significant digits.
	i := 0
	neg := false
	if len(b) > 0 && (b[0] == '-' || b[0] == '+') {
		neg = b[0] == '-'
		i = 1
	}
	var mant uint64
	nd, sig, scale := 0, 0, -1 // digit characters, significant digits, fraction digits
	for ; i < len(b); i++ {
		c := b[i]
		switch {
		case c >= '0' && c <= '9':
			nd++
			if mant != 0 || c != '0' {
				sig++
			}
			if sig <= 19 {
				mant = mant*10 + uint64(c-'0')
			}
			if scale >= 0 {
				scale++
			}
		case c == '.' && scale < 0:
			scale = 0
		default:
			return parseSlow(b)
		}
	}
	if nd == 0 || scale == 0 { // "", "-", ".", "5." are not numbers a device prints
		return Value{}, ReasonBadNumber
	}
	if scale < 0 {
		scale = 0
	}
	// int64 holds one more negative value than positive: -2^63 is exact
	// too, so every mantissa a binary decoder can produce reads back as a
	// decimal.
	if sig > 19 || scale > MaxScale || mant > math.MaxInt64 && !(neg && mant == 1<<63) {
		return parseSlow(b)
	}
	v := Value{Mant: int64(mant), Scale: uint8(scale)}
	if neg {
		v.Mant = -v.Mant // for 1<<63 this wraps to -2^63, as wanted
		if mant == 0 {
			v.Flags = FlagNegZero
		}
	}
	return v, 0
}

// parseSlow handles what the fast path cannot keep as a decimal.
func parseSlow(b []byte) (Value, Reason) {
	if len(b) == 0 {
		return Value{}, ReasonBadNumber
	}
	// strconv accepts words the wire must not ("inf", "nan", "0x1p3",
	// "1_000"): only digits, sign, '.', and an exponent are allowed here.
	for _, c := range b {
		if !(c >= '0' && c <= '9' || c == '.' || c == '-' || c == '+' || c == 'e' || c == 'E') {
			return Value{}, whyNot(b, 10)
		}
	}
	f, err := strconv.ParseFloat(unsafe.String(&b[0], len(b)), 64)
	if err != nil {
		if ne, ok := err.(*strconv.NumError); ok && ne.Err == strconv.ErrRange {
			return Value{}, ReasonNonFinite
		}
		return Value{}, whyNot(b, 10)
	}
	if math.IsInf(f, 0) || math.IsNaN(f) {
		return Value{}, ReasonNonFinite
	}
	return Float(f), 0
}

// whyNot says why b, which is not a number in base, was refused. A token
// "starts like a number" when its first byte that is not a space or tab is
// a digit, '.', '+' or '-': a device meant a number and printed it wrong
// (bad_number). A token that does not is a word: a greeting from a
// tutorial client, an HTTP request, a device that prints its own labels
// (not_a_reading), unless it is a spelling of NaN or Inf. Only the
// spellings strconv knows count as those: a word that merely holds an 'n'
// or an 'i' ("I am the client", "Info") is a word.
//
// In base 16 the letters a-f start a number too: "fg" is a bad number,
// "Hello" a word. Every decimal digit does in every base, so "2" in base 2
// is a bad number.
func whyNot(b []byte, base int) Reason {
	if nonFiniteWord(b) {
		return ReasonNonFinite
	}
	i := 0
	for i < len(b) && (b[i] == ' ' || b[i] == '\t') {
		i++
	}
	if i == len(b) {
		return ReasonBadNumber // empty or blank: a value left out, not a word
	}
	if c := b[i]; c >= '0' && c <= '9' || c == '.' || c == '+' || c == '-' || int(digitValue[c]) < base {
		return ReasonBadNumber
	}
	return ReasonNotAReading
}

// nonFiniteWord reports whether b spells NaN or Inf as strconv.ParseFloat
// reads them: an optional sign, then "nan", "inf" or "infinity" in any
// case.
func nonFiniteWord(b []byte) bool {
	if len(b) > 0 && (b[0] == '+' || b[0] == '-') {
		b = b[1:]
	}
	return foldEqual(b, "nan") || foldEqual(b, "inf") || foldEqual(b, "infinity")
}

// foldEqual reports whether b is the lower-case ASCII word w in any case.
// Setting bit 0x20 maps only 'A'-'Z' onto 'a'-'z' among the bytes that can
// then equal a letter, so no other byte matches.
func foldEqual(b []byte, w string) bool {
	if len(b) != len(w) {
		return false
	}
	for i := range b {
		if b[i]|0x20 != w[i] {
			return false
		}
	}
	return true
}

// ParseRadix parses an integer as a device prints it in another base than
// 10: Arduino's print(v, BIN), print(v, OCT), print(v, HEX), printf's %o
// and %x. That is an optional sign, then one or more digits of base (2 to
// 16), letters in either case, and nothing else: no fraction, exponent or
// prefix ("0x"). The Value is the integer, scale 0: "111111111111" in
// base 2, "7777" in base 8 and "fff" or "FFF" in base 16 are all 4095. A
// magnitude beyond int64 is ReasonBadNumber; what is not a number at all
// is refused as ParseValue refuses it. "-0" keeps FlagNegZero, as in
// base 10.
func ParseRadix(b []byte, base int) (Value, Reason) {
	if base < 2 || base > 16 {
		panic("codec: ParseRadix base " + strconv.Itoa(base) + " outside 2-16")
	}
	i := 0
	neg := false
	if len(b) > 0 && (b[0] == '-' || b[0] == '+') {
		neg = b[0] == '-'
		i = 1
	}
	if i == len(b) {
		return Value{}, whyNot(b, base)
	}
	limit := uint64(math.MaxInt64)
	if neg {
		limit++ // -2^63 fits, as in ParseValue
	}
	ub := uint64(base)
	var n uint64
	for ; i < len(b); i++ {
		d := uint64(digitValue[b[i]])
		if d >= ub {
			return Value{}, whyNot(b, base)
		}
		// Below 2^59, n*16+15 cannot pass 2^63: the division is only
		// needed for the last digits of a long number.
		if n >= 1<<59 && n > (limit-d)/ub {
			return Value{}, ReasonBadNumber
		}
		n = n*ub + d
	}
	v := Value{Mant: int64(n)}
	if neg {
		v.Mant = -v.Mant // for 1<<63 this wraps to -2^63, as wanted
		if n == 0 {
			v.Flags = FlagNegZero
		}
	}
	return v, 0
}

// digitValue is the value of a digit byte in bases up to 36: '0'-'9',
// then 'a'-'z' and 'A'-'Z' from 10; 0xff for every other byte.
var digitValue = func() (t [256]uint8) {
	for c := range t {
		switch {
		case c >= '0' && c <= '9':
			t[c] = uint8(c - '0')
		case c >= 'a' && c <= 'z':
			t[c] = uint8(c - 'a' + 10)
		case c >= 'A' && c <= 'Z':
			t[c] = uint8(c - 'A' + 10)
		default:
			t[c] = 0xff
		}
	}
	return t
}()

// AppendValue appends v as text: decimals with exactly Scale fraction
// digits, floats in the shortest form that parses back to the same float64.
func AppendValue(dst []byte, v Value) []byte {
	if v.IsFloat() {
		return strconv.AppendFloat(dst, math.Float64frombits(uint64(v.Mant)), 'g', -1, 64)
	}
	m := v.Mant
	if m < 0 || v.Flags&FlagNegZero != 0 {
		dst = append(dst, '-')
	}
	var u uint64
	if m < 0 {
		u = uint64(-m) // correct for MinInt64 too, as unsigned
	} else {
		u = uint64(m)
	}
	if v.Scale == 0 {
		return strconv.AppendUint(dst, u, 10)
	}
	// Render digits right to left into a fixed buffer: at most 20 digits
	// plus leading zeros up to MaxScale.
	var buf [24]byte
	i := len(buf)
	for d := 0; d < int(v.Scale); d++ {
		i--
		buf[i] = byte('0' + u%10)
		u /= 10
	}
	i--
	buf[i] = '.'
	if u == 0 {
		i--
		buf[i] = '0'
	}
	for u > 0 {
		i--
		buf[i] = byte('0' + u%10)
		u /= 10
	}
	return append(dst, buf[i:]...)
}

// String returns v as AppendValue prints it.
func (v Value) String() string { return string(AppendValue(nil, v)) }

// Rescale returns v's mantissa at scale s >= v.Scale, and false when that
// does not fit int64. Encoders that share one scale per channel use it.
func (v Value) Rescale(s uint8) (int64, bool) {
	if s < v.Scale || s > MaxScale {
		return 0, false
	}
	p := Pow10[s-v.Scale]
	m := v.Mant
	if m > math.MaxInt64/p || m < math.MinInt64/p {
		return 0, false
	}
	return m * p, true
}

// ScanValue parses the plain decimal at the front of b ([-+]digits[.digits]
// with at most 18 significant digits) and returns it with the number of
// bytes it spans, stopping at the first byte that cannot continue it. It
// is the fast path of a delimited decoder, which checks that a separator
// follows; n == 0 means "not a plain decimal here": the caller then cuts
// the token at its separator and calls ParseValue, which knows the rest.
func ScanValue(b []byte) (v Value, n int) {
	i := 0
	neg := false
	if len(b) > 0 && (b[0] == '-' || b[0] == '+') {
		neg = b[0] == '-'
		i = 1
	}
	start := i
	var mant uint64
	for i < len(b) && b[i]-'0' <= 9 {
		mant = mant*10 + uint64(b[i]-'0')
		i++
	}
	intDigits := i - start
	scale := 0
	if i < len(b) && b[i] == '.' {
		i++
		fs := i
		for i < len(b) && b[i]-'0' <= 9 {
			mant = mant*10 + uint64(b[i]-'0')
			i++
		}
		scale = i - fs
		if scale == 0 {
			return Value{}, 0 // "5." is not a number a device prints
		}
	}
	if intDigits+scale == 0 || intDigits+scale > 18 || scale > MaxScale {
		return Value{}, 0 // empty, or long enough that the careful parser must look
	}
	v = Value{Mant: int64(mant), Scale: uint8(scale)}
	if neg {
		v.Mant = -v.Mant
		if mant == 0 {
			v.Flags = FlagNegZero
		}
	}
	return v, i
}

// ParseUint parses a decimal uint64 (digits only, no sign) without
// allocating: sequence numbers, ids and counts in the text forms.
func ParseUint(b []byte) (uint64, bool) {
	if len(b) == 0 || len(b) > 20 {
		return 0, false
	}
	// Fast path: 19 digits cannot overflow, so no check per digit.
	var n uint64
	for _, c := range b[:min(len(b), 19)] {
		if c-'0' > 9 {
			return 0, false
		}
		n = n*10 + uint64(c-'0')
	}
	if len(b) == 20 { // slow path: the one digit that may overflow
		c := b[19]
		if c-'0' > 9 || n > (1<<64-1-uint64(c-'0'))/10 {
			return 0, false
		}
		n = n*10 + uint64(c-'0')
	}
	return n, true
}

// ParseInt parses a decimal int64 with an optional sign, without
// allocating: device times and steps in the text forms.
func ParseInt(b []byte) (int64, bool) {
	neg := false
	if len(b) > 0 && (b[0] == '-' || b[0] == '+') {
		neg = b[0] == '-'
		b = b[1:]
	}
	u, ok := ParseUint(b)
	if !ok || u > 1<<63 || (!neg && u == 1<<63) {
		return 0, false
	}
	if neg {
		return -int64(u), true
	}
	return int64(u), true
}
