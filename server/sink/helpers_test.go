package sink

import (
	"fmt"
	"io"
	"log/slog"
	"math"
	"testing"
	"time"

	"github.com/fleetwire/fleetwire/codec"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// testValue returns the i-th of a cycle of values that a text round trip
// could get wrong: trailing zeros, negative zero, floats, extremes.
func testValue(i int) codec.Value {
	switch i % 9 {
	case 0:
		return codec.Decimal(3020, 2) // "30.20", not "30.2"
	case 1:
		return codec.Decimal(int64(i), 0)
	case 2:
		return codec.Decimal(-int64(i)*7, 3)
	case 3:
		return codec.Value{Scale: 2, Flags: codec.FlagNegZero} // "-0.00"
	case 4:
		return codec.Float(1.5e-7)
	case 5:
		return codec.Decimal(math.MaxInt64, 0)
	case 6:
		return codec.Decimal(123456789012345678, 18)
	case 7:
		return codec.Float(9.223372036854776e+18)
	default:
		return codec.Decimal(int64(i)%10000, 1)
	}
}

// testFrame returns a frame of n samples with ch channels each, sequence
// numbers from seq, one sample a second from t0.
func testFrame(dev string, seq uint64, n, ch int, t0 int64, flags codec.FrameFlags) codec.Frame {
	f := codec.Frame{Seq: seq, Flags: flags, Format: codec.FormatText, Channels: ch}
	if dev != "" {
		f.Device = []byte(dev)
	}
	for i := 0; i < n; i++ {
		f.Times = append(f.Times, t0+int64(i)*1000)
		for c := 0; c < ch; c++ {
			f.Values = append(f.Values, testValue(int(seq)+i*ch+c))
		}
	}
	return f
}

// row is an owned copy of a Row, as a test remembers it.
type row struct {
	dev     string
	seq     uint64
	hasSeq  bool
	ms      int64
	hasTime bool
	vals    string // values as text, ':'-separated
}

func (r row) String() string {
	return fmt.Sprintf("%s seq=%d/%v ms=%d/%v [%s]", r.dev, r.seq, r.hasSeq, r.ms, r.hasTime, r.vals)
}

func valsText(vs []codec.Value) string {
	var b []byte
	for i, v := range vs {
		if i > 0 {
			b = append(b, ':')
		}
		b = codec.AppendValue(b, v)
	}
	return string(b)
}

// rowsOf lists the rows a frame should be stored as.
func rowsOf(f *codec.Frame, device string) []row {
	if f.Device != nil {
		device = string(f.Device)
	}
	var rows []row
	for i := range f.Times {
		r := row{dev: device, vals: valsText(f.Sample(i))}
		if f.Flags&codec.HasSeq != 0 {
			r.seq, r.hasSeq = f.Seq+uint64(i), true
		}
		if f.Flags&codec.HasTime != 0 {
			r.ms, r.hasTime = f.Times[i], true
		}
		rows = append(rows, r)
	}
	return rows
}

func copyRow(r *Row) row {
	out := row{dev: string(r.Device), hasSeq: r.HasSeq, hasTime: r.HasTime, vals: valsText(r.Values)}
	if r.HasSeq {
		out.seq = r.Seq
	}
	if r.HasTime {
		out.ms = r.Time
	}
	return out
}

// readAll reads every row stored under dir.
func readAll(t testing.TB, dir string) ([]row, []*DamageError) {
	t.Helper()
	r, err := OpenReader(dir)
	if err != nil {
		t.Fatalf("OpenReader: %v", err)
	}
	defer r.Close()
	var rows []row
	for r.Next() {
		rows = append(rows, copyRow(r.Row()))
	}
	if err := r.Err(); err != nil {
		t.Fatalf("Reader: %v", err)
	}
	return rows, r.Damage()
}

func openTest(t testing.TB, cfg FileConfig) *FileSink {
	t.Helper()
	if cfg.Dir == "" {
		cfg.Dir = t.TempDir()
	}
	if cfg.Logger == nil {
		cfg.Logger = quiet
	}
	s, err := OpenFiles(cfg)
	if err != nil {
		t.Fatalf("OpenFiles: %v", err)
	}
	return s
}

// submit hands c to s, waiting while the queue is full, as a test that
// wants every reading stored does. It may run on any goroutine, so it
// reports a stuck sink with Error, not Fatal.
func submit(t testing.TB, s Sink, c *Chunk) bool {
	t.Helper()
	for i := 0; !s.Submit(c); i++ {
		if i > 10000 {
			t.Errorf("queue full for 10 s")
			return false
		}
		time.Sleep(time.Millisecond)
	}
	return true
}

func checkAccounting(t testing.TB, st Stats, want uint64) {
	t.Helper()
	if st.Accepted != want || st.Stored+st.Dropped[DropWriteError] != want || st.Pending != 0 {
		t.Fatalf("accounting: accepted %d, stored %d, dropped for write errors %d, pending %d; want %d accepted, all stored or dropped",
			st.Accepted, st.Stored, st.Dropped[DropWriteError], st.Pending, want)
	}
}
