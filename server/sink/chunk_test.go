package sink

import (
	"slices"
	"sync"
	"testing"

	"github.com/fleetwire/fleetwire/codec"
)

func TestChunk_Add(t *testing.T) {
	c := GetChunk()
	defer c.Release()
	var want []row
	// Enough frames to grow every array several times, so that rebase runs.
	for i := 0; i < 200; i++ {
		dev := ""
		if i%3 == 0 {
			dev = "named-" + string(rune('a'+i%26))
		}
		f := testFrame(dev, uint64(i*10), 1+i%5, 1+i%4, 1700000000000+int64(i), codec.HasSeq|codec.HasTime)
		c.Add(&f, []byte("peer-1"))
		want = append(want, rowsOf(&f, "peer-1")...)
		// The caller reuses its buffers at once: scribble over them.
		for j := range f.Values {
			f.Values[j] = codec.Decimal(-1, 0)
		}
		for j := range f.Times {
			f.Times[j] = -1
		}
		for j := range f.Device {
			f.Device[j] = 'X'
		}
	}
	var got []row
	readings := 0
	for i := range c.Frames {
		got = append(got, rowsOf(&c.Frames[i], "")...)
		readings += c.Frames[i].Readings()
	}
	if !slices.Equal(got, want) {
		t.Fatalf("chunk rows differ from what was added:\n got %v\nwant %v", got[:3], want[:3])
	}
	if readings != c.Readings() {
		t.Fatalf("Readings() = %d, frames hold %d", c.Readings(), readings)
	}
	// Every frame must point into the chunk's current arrays.
	for i := range c.Frames {
		f := &c.Frames[i]
		if !within(f.Values, c.values) || !within(f.Times, c.times) || !within(f.Device, c.ids) {
			t.Fatalf("frame %d points outside the chunk's arrays", i)
		}
		if cap(f.Values) != len(f.Values) {
			t.Fatalf("frame %d: Values not capped: an append could overwrite frame %d", i, i+1)
		}
	}
}

func within[T any](s, arr []T) bool {
	if len(s) == 0 {
		return true
	}
	for i := range arr {
		if &arr[i] == &s[0] {
			return i+len(s) <= len(arr)
		}
	}
	return false
}

func TestChunk_AddSkipsAndSanitizes(t *testing.T) {
	c := GetChunk()
	defer c.Release()
	empty := codec.Frame{Channels: 3}
	c.Add(&empty, []byte("d"))
	if len(c.Frames) != 0 {
		t.Fatalf("a frame without readings was kept")
	}
	f := testFrame("", 0, 1, 1, 0, 0)
	c.Add(&f, []byte("a,b\"c\nd\re"))
	if got := string(c.Frames[0].Device); got != "a_b_c_d_e" {
		t.Fatalf("device = %q, want CSV-breaking bytes replaced", got)
	}
}

func TestChunk_AddAcked(t *testing.T) {
	c := GetChunk()
	f := func(acked bool, fr codec.Frame, want bool) {
		t.Helper()
		i := len(c.Frames)
		if acked {
			c.AddAcked(&fr, []byte("d"))
		} else {
			c.Add(&fr, []byte("d"))
		}
		if len(c.Frames) == i {
			if want {
				t.Fatalf("frame %d skipped", i)
			}
			return
		}
		if c.Acked(i) != want {
			t.Fatalf("frame %d: Acked = %v, want %v", i, c.Acked(i), want)
		}
	}
	for i := range 70 { // past one word of marks
		f(i%3 == 0, testFrame("", uint64(i), 2, 1, 0, codec.HasSeq), i%3 == 0)
	}
	f(true, testFrame("", 0, 2, 1, 0, 0), false)                  // no seq: not acknowledgeable
	f(true, codec.Frame{Channels: 1, Flags: codec.HasSeq}, false) // no readings: skipped
	f(false, testFrame("", 9, 1, 1, 0, codec.HasSeq), false)
	if c.Acked(len(c.Frames)) || c.Acked(-1+1<<20) {
		t.Fatalf("a frame that is not there is marked")
	}
	c.Release()
	c = GetChunk()
	defer c.Release()
	f(false, testFrame("", 0, 2, 1, 0, codec.HasSeq), false) // marks do not survive the pool
}

func TestChunk_AddPanicsOnInconsistentFrame(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatalf("no panic for a frame with 3 values in 2 samples of 2 channels")
		}
	}()
	f := codec.Frame{Channels: 2, Times: []int64{1, 2}, Values: make([]codec.Value, 3)}
	GetChunk().Add(&f, nil)
}

func TestChunk_AddAllocs(t *testing.T) {
	frames := []codec.Frame{
		testFrame("mote-1", 1, 4, 2, 1700000000000, codec.HasSeq|codec.HasTime),
		testFrame("", 9, 60, 4, 1700000000000, codec.HasSeq),
	}
	c := GetChunk()
	fill := func() {
		c.reset()
		for i := 0; i < 50; i++ {
			if i%3 == 0 {
				c.AddAcked(&frames[i%2], []byte("127.0.0.1:4000"))
			} else {
				c.Add(&frames[i%2], []byte("127.0.0.1:4000"))
			}
		}
	}
	fill() // warm: arrays grow to size
	if n := testing.AllocsPerRun(100, fill); n != 0 {
		t.Fatalf("Chunk.Add and AddAcked allocate %.1f times per 50 frames once warm, want 0", n)
	}
}

func TestChunkPool_DropsOversized(t *testing.T) {
	p := &calibratedPool{p: sync.Pool{New: func() any { return new(Chunk) }}}
	big := testFrame("d", 0, 4096, 32, 0, 0) // 128 Ki readings, above the uncalibrated bound
	c := new(Chunk)
	c.Add(&big, nil)
	p.put(c)
	if c.values != nil {
		t.Fatalf("an oversized chunk kept its %d-reading array before calibration", cap(c.values))
	}

	// Calibrate on small chunks: after that a chunk of 2 Ki readings is a
	// burst, and its arrays are dropped, while a usual one keeps them.
	small := testFrame("d", 0, 10, 4, 0, 0)
	for i := 0; i <= calibrateCalls; i++ {
		c := new(Chunk)
		c.Add(&small, nil)
		p.put(c)
	}
	if m := p.cal.max.Load(); m != 64 {
		t.Fatalf("calibrated max = %d readings, want 64 (the bucket of 40)", m)
	}
	usual := new(Chunk)
	usual.Add(&small, nil)
	p.put(usual)
	if usual.values == nil || len(usual.values) != 0 || len(usual.Frames) != 0 {
		t.Fatalf("a usual chunk lost its arrays or was not reset")
	}
	burst := new(Chunk)
	medium := testFrame("d", 0, 512, 4, 0, 0)
	burst.Add(&medium, nil)
	p.put(burst)
	if burst.values != nil {
		t.Fatalf("a 2 Ki-reading chunk kept its arrays after calibration on 40-reading chunks")
	}
}

func TestCalIndex(t *testing.T) {
	f := func(n, want int) {
		t.Helper()
		if got := calIndex(n); got != want {
			t.Fatalf("calIndex(%d) = %d, want %d", n, got, want)
		}
	}
	f(0, 0)
	f(1, 0)
	f(16, 0)
	f(17, 1)
	f(32, 1)
	f(33, 2)
	f(1<<30, calSteps-1)
}
