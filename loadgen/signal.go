package loadgen

import (
	"math/bits"

	"github.com/fleetwire/fleetwire/codec"
)

// sensor describes one channel of the walk signal: a value that wanders
// around a centre in steps of the sensor's quantum and is printed with a
// fixed number of decimals, as a device's firmware would.
type sensor struct {
	name    string
	center  int64 // mantissa at scale
	scale   uint8
	quantum int64 // resolution of the sensor, in mantissa units
	sigma   int64 // typical step, in quanta (the walk draws from -2σ..2σ)
	lo, hi  int64
}

// sensors cycle over the channels of the walk signal. The quanta are those
// of common parts: 0.01 °C (SHT3x temperature), 0.03 %RH, 0.1 hPa, 5 mV.
var sensors = [...]sensor{
	{"temperature", 2150, 2, 1, 2, -4000, 8500},
	{"humidity", 4500, 2, 3, 2, 0, 10000},
	{"pressure", 10132, 1, 1, 1, 9000, 11000},
	{"voltage", 3300, 3, 5, 1, 2800, 3600},
	{"light", 350, 0, 1, 3, 0, 2000},
	{"co2", 450, 0, 1, 2, 350, 5000},
}

// walkStart returns where channel c of a device starts: the sensor's centre
// plus a device-specific offset of up to ±10 % of its range, so that a
// fleet is not one value.
func walkStart(c int, rng *uint64) int64 {
	s := &sensors[c%len(sensors)]
	span := (s.hi - s.lo) / 10 / s.quantum
	off := int64(splitmix(rng)%uint64(2*span+1)) - span
	return s.center + off*s.quantum
}

// walkStep advances one channel by one sample: a step of a few quanta with
// a pull back towards the centre (an Ornstein-Uhlenbeck walk on the
// sensor's grid), clamped to the sensor's range.
func walkStep(c int, x int64, r uint64) int64 {
	s := &sensors[c%len(sensors)]
	// Triangular step in [-2σ, 2σ] from two 16-bit uniforms.
	a, b := int64(r&0xffff), int64(r>>16&0xffff)
	step := ((a + b - 0xffff) * 2 * s.sigma) / 0xffff
	// Mean reversion: 1/256 of the distance to the centre, in quanta,
	// applied as a probability so small distances still pull.
	d := (s.center - x) / s.quantum
	if pull := d / 256; pull != 0 {
		step += pull
	} else if d != 0 && int64(r>>32&0xff) < abs64(d) {
		step += sign64(d)
	}
	x += step * s.quantum
	return min(max(x, s.lo), s.hi)
}

func walkValue(c int, x int64) codec.Value {
	return codec.Value{Mant: x, Scale: sensors[c%len(sensors)].scale}
}

func abs64(x int64) int64 {
	if x < 0 {
		return -x
	}
	return x
}

func sign64(x int64) int64 {
	if x < 0 {
		return -1
	}
	return 1
}

// splitmix is SplitMix64: a tiny, fast, well-mixed generator; each device
// keeps its own state so its signal depends only on its number and the seed.
func splitmix(s *uint64) uint64 {
	*s += 0x9e3779b97f4a7c15
	z := *s
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// uniform returns a number in [0, n) from r.
func uniform(r uint64, n uint64) uint64 {
	hi, _ := bits.Mul64(r, n)
	return hi
}

// template is one recorded device: its samples, sample-major.
type template struct {
	name    string
	values  []codec.Value
	samples int
}

// replaySet is what a replay signal plays: every recorded device becomes a
// template, device i plays template i mod len(templates).
type replaySet struct {
	channels  []string
	templates []template
}

func (r *replaySet) sample(tpl, pos int) []codec.Value {
	t := &r.templates[tpl]
	c := len(r.channels)
	return t.values[pos*c : (pos+1)*c]
}
