// Package csvtest makes interchange CSV recordings for tests: synthetic
// ones that stress what real recordings do (long decimals, device time
// that steps backwards, gaps, interleaved devices) and multihop.csv
// converted to the interchange schema. Every value is written in the
// canonical form codec.AppendValue prints, so a lossless round trip
// reproduces the CSV byte for byte.
//
// For tests only. Every call returns fresh recordings that the caller
// owns; nothing is shared between calls, and Synthetic is deterministic
// for a seed. Multihop reports ok false when the data set is not found
// (MultihopPath says where it looks), so a test can skip.
package csvtest

import (
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"

	"github.com/fleetwire/fleetwire/codec"
	"github.com/fleetwire/fleetwire/codec/csvio"
)

// Recording is a named interchange CSV.
type Recording struct {
	Name     string
	Channels []string
	CSV      []byte
}

// Synthetic returns the synthetic recordings, the same for the same seed.
func Synthetic(seed uint64) []Recording {
	return []Recording{
		gen("long-decimals", seed, 3, 3, 400, longDecimal, regular),
		gen("backwards-time", seed, 1, 2, 500, sensor, backwards),
		gen("gaps", seed, 2, 2, 500, sensor, gappy),
		gen("single-channel", seed, 2, 1, 700, sensor, regular),
		gen("interleaved", seed, 5, 2, 600, sensor, interleaved),
		gen("no-device-seq-time", seed, 0, 2, 300, sensor, bare),
		gen("mixed-presence", seed, 3, 4, 500, anyValue, mixed),
		extremes(),
		{Name: "header-only", Channels: []string{"a", "b"}, CSV: []byte("device,seq,unix_ms,a,b\n")},
	}
}

// rowShape decides device, seq and time presence of row i.
type rowShape func(r *rand.Rand, i int, st *state) (dev int, seq string, t string)

type state struct {
	devs int
	seq  []uint64
	t    []int64
}

func gen(name string, seed uint64, devs, channels, rows int, value func(*rand.Rand, int) string, shape rowShape) Recording {
	r := rand.New(rand.NewPCG(seed, uint64(len(name))))
	st := &state{devs: devs, seq: make([]uint64, max(devs, 1)), t: make([]int64, max(devs, 1))}
	for d := range st.seq {
		st.seq[d] = r.Uint64N(1 << 40)
		st.t[d] = 1_600_000_000_000 + r.Int64N(1e11)
	}
	var b bytes.Buffer
	names := csvio.DefaultNames(channels)
	b.WriteString("device,seq,unix_ms," + strings.Join(names, ",") + "\n")
	for i := 0; i < rows; i++ {
		d, seq, t := shape(r, i, st)
		if d >= 0 {
			fmt.Fprintf(&b, "dev-%d", d)
		}
		b.WriteString("," + seq + "," + t)
		for c := 0; c < channels; c++ {
			b.WriteString("," + canonical(value(r, c)))
		}
		b.WriteByte('\n')
	}
	return Recording{Name: name, Channels: names, CSV: b.Bytes()}
}

// canonical panics unless s prints back as itself: a generator bug.
func canonical(s string) string {
	v, reason := codec.ParseValue([]byte(s))
	if reason != codec.ReasonNone || v.String() != s {
		panic(fmt.Sprintf("csvtest: %q is not canonical (%v, %s)", s, reason, v))
	}
	return s
}

// sensor: a slowly varying reading with 1-2 fraction digits.
func sensor(r *rand.Rand, c int) string {
	scale := 1 + r.IntN(2)
	return codec.Decimal(int64(2000+100*c)+r.Int64N(300)-150, uint8(scale)).String()
}

// longDecimal: 14 to 18 significant digits at any scale, either sign.
func longDecimal(r *rand.Rand, _ int) string {
	digits := 14 + r.IntN(5)
	lo := codec.Pow10[digits-1]
	m := lo + r.Int64N(9*lo)
	if r.IntN(2) == 0 {
		m = -m
	}
	return codec.Decimal(m, uint8(r.IntN(digits+1))).String()
}

// anyValue mixes everything a device prints: integers, decimals with
// trailing zeros, negative zero, 19-digit integers, and floats.
func anyValue(r *rand.Rand, c int) string {
	switch r.IntN(8) {
	case 0:
		return strconv.Itoa(r.IntN(2000) - 1000)
	case 1:
		return "-0." + strings.Repeat("0", 1+r.IntN(3))
	case 2:
		return codec.Decimal(r.Int64N(1e6)*100, 4).String() // "12.3400"
	case 3:
		return strconv.FormatInt(math.MaxInt64-r.Int64N(1000), 10)
	case 4:
		return strconv.FormatFloat(r.NormFloat64()*1e25, 'g', -1, 64)
	case 5:
		return longDecimal(r, c)
	}
	return sensor(r, c)
}

func regular(r *rand.Rand, i int, st *state) (int, string, string) {
	d := i % max(st.devs, 1)
	if st.devs > 1 && i%50 == 0 {
		d = r.IntN(st.devs) // runs of one device, and switches
	}
	return next(st, d, 1000)
}

func next(st *state, d int, step int64) (int, string, string) {
	st.seq[d]++
	st.t[d] += step
	return d, strconv.FormatUint(st.seq[d], 10), strconv.FormatInt(st.t[d], 10)
}

// backwards: device clock resets and NTP steps put time back.
func backwards(r *rand.Rand, _ int, st *state) (int, string, string) {
	step := int64(1000)
	switch r.IntN(10) {
	case 0:
		step = -r.Int64N(1e9) // clock set back by up to 11 days
	case 1:
		step = -1
	case 2:
		step = 0
	}
	return next(st, 0, step)
}

// gappy: lost samples (seq jumps), pauses (time jumps), seq restarts.
func gappy(r *rand.Rand, i int, st *state) (int, string, string) {
	d := (i / 7) % st.devs
	switch r.IntN(12) {
	case 0:
		st.seq[d] += 1 + r.Uint64N(100)
	case 1:
		st.t[d] += r.Int64N(1e8)
	case 2:
		st.seq[d] = r.Uint64N(10) // the device rebooted
	case 3:
		st.t[d] += 1<<31 + r.Int64N(1e12) // a step beyond int32 ms
	}
	return next(st, d, 1000+r.Int64N(3)-1)
}

func interleaved(r *rand.Rand, i int, st *state) (int, string, string) {
	return next(st, i%st.devs, 1000)
}

func bare(_ *rand.Rand, _ int, _ *state) (int, string, string) { return -1, "", "" }

// mixed: any combination of device, seq and time presence, changing often.
func mixed(r *rand.Rand, i int, st *state) (int, string, string) {
	d, seq, t := next(st, r.IntN(st.devs), 250)
	if i%3 == 0 {
		d = -1
	}
	if r.IntN(4) == 0 {
		seq = ""
	}
	if r.IntN(4) == 0 {
		t = ""
	}
	return d, seq, t
}

// extremes holds the edges of every field.
func extremes() Recording {
	rows := []string{
		"a,0,0,0",
		"a,1,-1,-0",
		"a,2,9223372036854775807,9223372036854775807",
		"a,3,-9223372036854775808,-9223372036854775807",
		"a,4,1,0.000000000000000001",
		"a,5,2,-0.000000000000000001",
		"a,18446744073709551615,3,1e+300",
		"" + strings.Repeat("z", codec.MaxIDLen) + ",4294967295,4,5",
		strings.Repeat("z", codec.MaxIDLen) + ",4294967296,5,1.7976931348623157e+308",
		"A.b_c-9,,,-5e-324",
	}
	for _, r := range rows {
		canonical(r[strings.LastIndexByte(r, ',')+1:])
	}
	return Recording{Name: "extremes", Channels: []string{"v"},
		CSV: []byte("device,seq,unix_ms,v\n" + strings.Join(rows, "\n") + "\n")}
}

// MultihopPath returns the path of the shared multihop.csv, found from
// this source file (the repository's ../shared/data), or "" if it is not
// there.
func MultihopPath() string {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return ""
	}
	p := filepath.Join(filepath.Dir(file), "..", "..", "..", "..", "shared", "data", "multihop.csv")
	if _, err := os.Stat(p); err != nil {
		return ""
	}
	return p
}

// MultihopMapping maps multihop.csv onto the interchange schema.
var MultihopMapping = csvio.Mapping{DeviceCol: "mote_id", SeqCol: "reading", Columns: []string{"humidity", "temperature"}}

// Multihop returns multihop.csv converted to the interchange schema, or
// ok false when the file is not there.
func Multihop() (rec Recording, ok bool, err error) {
	p := MultihopPath()
	if p == "" {
		return Recording{}, false, nil
	}
	f, err := os.Open(p)
	if err != nil {
		return Recording{}, false, err
	}
	defer f.Close()
	var b bytes.Buffer
	if err := csvio.Convert(&b, f, MultihopMapping); err != nil {
		return Recording{}, false, err
	}
	return Recording{Name: "multihop", Channels: MultihopMapping.Columns, CSV: b.Bytes()}, true, nil
}
