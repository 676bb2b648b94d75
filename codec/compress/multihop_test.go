package compress

import (
	"bufio"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/fleetwire/fleetwire/codec"
	"github.com/fleetwire/fleetwire/codec/text"
)

// The multihop data set (see /work/shared/data/README.md): 4 motes, 4690
// samples each, one every 5 s, two channels (humidity, temperature). The
// CSV has no timestamps, so frames carry a synthetic time: the documented
// 5 s period from 2010-07-10T00:00:00Z, the day of the experiment.
const (
	multihopT0     = 1278720000000
	multihopPeriod = 5000
)

// multihopPath finds the data set: $FLEETWIRE_DATA, else shared/ beside the
// work tree (where CI puts it too).
func multihopPath() string {
	if p := os.Getenv("FLEETWIRE_DATA"); p != "" {
		return filepath.Join(p, "multihop.csv")
	}
	return filepath.Join("..", "..", "..", "shared", "data", "multihop.csv")
}

// mote is one device's rows, in reading order.
type mote struct {
	id       int
	readings []uint64
	values   []codec.Value // 2 per reading: humidity, temperature
}

var (
	multihopOnce  sync.Once
	multihopMotes []mote
	multihopErr   error
)

func loadMultihop(tb testing.TB) []mote {
	tb.Helper()
	multihopOnce.Do(func() { multihopMotes, multihopErr = readMultihop(multihopPath()) })
	if multihopErr != nil {
		tb.Skipf("multihop data set not available (set FLEETWIRE_DATA): %v", multihopErr)
	}
	return multihopMotes
}

func readMultihop(path string) ([]mote, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var motes []mote
	sc := bufio.NewScanner(f)
	sc.Scan() // header
	for sc.Scan() {
		cols := strings.Split(sc.Text(), ",")
		if len(cols) != 6 {
			return nil, &os.PathError{Op: "parse", Path: path, Err: os.ErrInvalid}
		}
		reading, err1 := strconv.ParseUint(cols[0], 10, 64)
		id, err2 := strconv.Atoi(cols[1])
		hum, r1 := codec.ParseValue([]byte(cols[3]))
		tmp, r2 := codec.ParseValue([]byte(cols[4]))
		if err1 != nil || err2 != nil || r1 != codec.ReasonNone || r2 != codec.ReasonNone {
			return nil, &os.PathError{Op: "parse " + sc.Text(), Path: path, Err: os.ErrInvalid}
		}
		if len(motes) == 0 || motes[len(motes)-1].id != id {
			motes = append(motes, mote{id: id})
		}
		m := &motes[len(motes)-1]
		m.readings = append(m.readings, reading)
		m.values = append(m.values, hum, tmp)
	}
	return motes, sc.Err()
}

// Split of the data set for honest dictionary numbers: dictionaries are
// trained on the first half of every mote's rows and measured on the
// second half, i.e. on the future of the same devices.
const (
	splitTrain = iota
	splitHeldOut
	splitAll
)

// multihopFrames cuts the chosen part of every mote into frames of batch
// samples each (the last one of a mote may be shorter): device "mote-N",
// seq = reading, the synthetic time.
func multihopFrames(tb testing.TB, split, batch int) []codec.Frame {
	var out []codec.Frame
	for _, m := range loadMultihop(tb) {
		lo, hi := 0, len(m.readings)
		switch split {
		case splitTrain:
			hi = len(m.readings) / 2
		case splitHeldOut:
			lo = len(m.readings) / 2
		}
		dev := []byte("mote-" + strconv.Itoa(m.id))
		for i := lo; i < hi; i += batch {
			j := min(i+batch, hi)
			f := codec.Frame{
				Device:   dev,
				Seq:      m.readings[i],
				Flags:    codec.HasSeq | codec.HasTime,
				Format:   codec.FormatText,
				Channels: 2,
				Values:   m.values[2*i : 2*j],
			}
			for k := i; k < j; k++ {
				f.Times = append(f.Times, multihopT0+int64(m.readings[k]-1)*multihopPeriod)
			}
			out = append(out, f)
		}
	}
	return out
}

// bareFormat encodes one frame as it would travel bare.
type bareFormat struct {
	name   string
	format codec.Format
	append func(dst []byte, f *codec.Frame) []byte
}

func textAppend(dst []byte, f *codec.Frame) []byte { return text.Append(dst, f, '\n') }

// multihopWire returns the bare wire bytes of every frame of the split at
// the given batch size in format bf, and the readings they carry.
func multihopWire(tb testing.TB, bf bareFormat, split, batch int) (frames [][]byte, readings int) {
	for _, f := range multihopFrames(tb, split, batch) {
		frames = append(frames, bf.append(nil, &f))
		readings += f.Readings()
	}
	return frames, readings
}
