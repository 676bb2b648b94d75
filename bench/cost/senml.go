package cost

import (
	"fmt"
	"math"
	"strconv"

	"github.com/fxamacker/cbor/v2"

	"github.com/fleetwire/fleetwire/codec"
)

// SenML (RFC 8428) packs: one pack per frame, one record per reading.
//
// The first record carries the base name (§4.1) "<device>/" (for a single
// channel "<device>/<channel>", so records need no name) and, when the
// frame has times, the base time; every record carries its channel name
// (n, §4.5.1), its value (v) and its time relative to the base time (t,
// §4.5.3), omitted when 0. Times are seconds (ms / 1000). A frame without
// times gets base time -(n-1) and t = i for sample i of n: times relative
// to "now" (a time <= 0, §4.5.3), one second apart, the clock-less sensor
// of RFC 8428 §2 (SenML has no sequence numbers: without times, the
// samples of a pack are otherwise indistinguishable). No units, no version
// field.
//
// JSON (§5): values printed as the device printed them. CBOR (§6): the
// integer labels of §6 (bn -2, bt -3, n 0, v 2, t 6); each number as the
// shortest of an integer, a float that converts back to the same double
// (half, single or double precision), or a decimal fraction (tag 4), all of
// which §6 allows; encoded by github.com/fxamacker/cbor/v2.

// SenMLJSON appends f as a SenML JSON pack.
func SenMLJSON(dst []byte, f *codec.Frame, names []string) []byte {
	bn := senmlBaseName(f, names)
	n := f.Samples()
	dst = append(dst, '[')
	for i := 0; i < n; i++ {
		for c, v := range f.Sample(i) {
			if i > 0 || c > 0 {
				dst = append(dst, ',')
			}
			dst = append(dst, '{')
			comma := false
			field := func(label string) {
				if comma {
					dst = append(dst, ',')
				}
				comma = true
				dst = append(dst, '"')
				dst = append(dst, label...)
				dst = append(dst, `":`...)
			}
			if i == 0 && c == 0 {
				if bn != "" {
					field("bn")
					dst = strconv.AppendQuote(dst, bn)
				}
				if bt := senmlBaseTimeMS(f); bt != 0 {
					field("bt")
					dst = appendSeconds(dst, bt)
				}
			}
			if f.Channels > 1 || bn == "" {
				field("n")
				dst = strconv.AppendQuote(dst, names[c])
			}
			field("v")
			dst = codec.AppendValue(dst, v)
			if t := senmlTimeMS(f, i); t != 0 {
				field("t")
				dst = appendSeconds(dst, t)
			}
			dst = append(dst, '}')
		}
	}
	return append(dst, ']')
}

// senmlRecord is one SenML CBOR record.
type senmlRecord struct {
	BaseName string `cbor:"-2,keyasint,omitempty"`
	BaseTime any    `cbor:"-3,keyasint,omitempty"`
	Name     string `cbor:"0,keyasint,omitempty"`
	Value    any    `cbor:"2,keyasint"`
	Time     any    `cbor:"6,keyasint,omitempty"`
}

// SenMLCBOR encodes SenML CBOR packs. It is not safe for concurrent use.
type SenMLCBOR struct {
	em      cbor.EncMode
	records []senmlRecord
}

// NewSenMLCBOR returns an encoder whose floats take the shortest form that
// keeps their value.
func NewSenMLCBOR() (*SenMLCBOR, error) {
	em, err := cbor.EncOptions{ShortestFloat: cbor.ShortestFloat16}.EncMode()
	if err != nil {
		return nil, err
	}
	return &SenMLCBOR{em: em}, nil
}

// Append appends f as a SenML CBOR pack.
func (s *SenMLCBOR) Append(dst []byte, f *codec.Frame, names []string) ([]byte, error) {
	bn := senmlBaseName(f, names)
	s.records = s.records[:0]
	for i := 0; i < f.Samples(); i++ {
		for c, v := range f.Sample(i) {
			r := senmlRecord{Value: s.number(v)}
			if i == 0 && c == 0 {
				r.BaseName = bn
				if bt := senmlBaseTimeMS(f); bt != 0 {
					r.BaseTime = s.seconds(bt)
				}
			}
			if f.Channels > 1 || bn == "" {
				r.Name = names[c]
			}
			if t := senmlTimeMS(f, i); t != 0 {
				r.Time = s.seconds(t)
			}
			s.records = append(s.records, r)
		}
	}
	b, err := s.em.Marshal(s.records)
	if err != nil {
		return dst, fmt.Errorf("senml cbor: %w", err)
	}
	return append(dst, b...), nil
}

// number returns the shortest CBOR form of v that converts to the same
// double as v's decimal text.
func (s *SenMLCBOR) number(v codec.Value) any {
	switch {
	case v.IsFloat():
		return v.Float64()
	case v.Flags&codec.FlagNegZero != 0:
		return math.Copysign(0, -1)
	case v.Scale == 0:
		return v.Mant
	}
	return s.shorter(v.Float64(), cbor.Tag{Number: 4, Content: []int64{-int64(v.Scale), v.Mant}})
}

// seconds returns ms as SenML seconds in their shortest CBOR form.
func (s *SenMLCBOR) seconds(ms int64) any {
	if ms%1000 == 0 {
		return ms / 1000
	}
	return s.shorter(float64(ms)/1000, cbor.Tag{Number: 4, Content: []int64{-3, ms}})
}

func (s *SenMLCBOR) shorter(a, b any) any {
	ea, _ := s.em.Marshal(a)
	eb, _ := s.em.Marshal(b)
	if len(eb) < len(ea) {
		return b
	}
	return a
}

func senmlBaseName(f *codec.Frame, names []string) string {
	bn := ""
	if f.Device != nil {
		bn = string(f.Device) + "/"
	}
	if f.Channels == 1 {
		bn += names[0]
	}
	return bn
}

// senmlBaseTimeMS returns the base time of f's pack, in ms.
func senmlBaseTimeMS(f *codec.Frame) int64 {
	if f.Flags&codec.HasTime != 0 {
		return f.Times[0]
	}
	return -int64(f.Samples()-1) * 1000
}

// senmlTimeMS returns sample i's time relative to the base time, in ms.
func senmlTimeMS(f *codec.Frame, i int) int64 {
	if f.Flags&codec.HasTime != 0 {
		return f.Times[i] - f.Times[0]
	}
	return int64(i) * 1000
}

// appendSeconds appends ms as decimal seconds, without trailing zeros.
func appendSeconds(dst []byte, ms int64) []byte {
	v := codec.Decimal(ms, 3)
	for v.Scale > 0 && v.Mant%10 == 0 {
		v.Mant /= 10
		v.Scale--
	}
	return codec.AppendValue(dst, v)
}
