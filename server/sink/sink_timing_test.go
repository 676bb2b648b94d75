package sink

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fleetwire/fleetwire/codec"
	"github.com/klauspost/compress/zstd"
	"golang.org/x/sys/unix"
)

// sensorFrames returns frames shaped like the multihop recordings: many
// devices, channels with two fraction digits drifting slowly, a sample a
// second, samples per frame as a device batches them.
func sensorFrames(devices, frames, samples, ch int) []codec.Frame {
	rng := rand.New(rand.NewPCG(1, 2))
	level := make([]int64, devices*ch)
	for i := range level {
		level[i] = 2000 + rng.Int64N(3000) // 20.00 .. 50.00
	}
	seq := make([]uint64, devices)
	var out []codec.Frame
	for i := 0; i < frames; i++ {
		d := i % devices
		f := codec.Frame{
			Device: fmt.Appendf(nil, "mote-%04d", d), Seq: seq[d],
			Flags: codec.HasSeq | codec.HasTime, Format: codec.FormatText, Channels: ch,
		}
		for s := 0; s < samples; s++ {
			f.Times = append(f.Times, 1764000000000+int64(seq[d]+uint64(s))*1000)
			for c := 0; c < ch; c++ {
				l := &level[d*ch+c]
				*l += rng.Int64N(5) - 2
				f.Values = append(f.Values, codec.Decimal(*l, 2))
			}
		}
		seq[d] += uint64(samples)
		out = append(out, f)
	}
	return out
}

func readingsOf(fs []codec.Frame) int {
	n := 0
	for i := range fs {
		n += fs[i].Readings()
	}
	return n
}

// BenchmarkChunkAdd is the event loop's cost of handing readings over.
func BenchmarkChunkAdd(b *testing.B) {
	for _, bc := range []struct {
		name         string
		samples, chs int
	}{{"line4", 1, 4}, {"batch60x2", 60, 2}} {
		b.Run(bc.name, func(b *testing.B) {
			frames := sensorFrames(100, 100, bc.samples, bc.chs)
			n := readingsOf(frames)
			c := GetChunk()
			b.ReportAllocs()
			for b.Loop() {
				c.reset()
				for i := range frames {
					c.Add(&frames[i], nil)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/reading")
		})
	}
}

// BenchmarkWriter is the writer goroutine's cost per reading, run inline
// on one locked OS thread: CSV formatting, zstd, write(2) to a segment in
// a temp dir, rotation. cpu-ns/reading is that thread's CPU time (user +
// system, from getrusage), which a noisy shared machine disturbs less than
// wall time.
func BenchmarkWriter(b *testing.B) {
	for _, bc := range []struct {
		name                 string
		frames, samples, chs int
		level                zstd.EncoderLevel
	}{
		// Enough distinct rows per chunk (over 1 MiB of CSV) that no zstd
		// frame sees a repeat of another's rows.
		{"line4/fastest", 30000, 1, 4, zstd.SpeedFastest},
		{"line4/default", 30000, 1, 4, zstd.SpeedDefault},
		{"batch60x2/fastest", 2000, 60, 2, zstd.SpeedFastest},
		{"batch60x2/default", 2000, 60, 2, zstd.SpeedDefault},
	} {
		b.Run(bc.name, func(b *testing.B) {
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			s, err := openFiles(FileConfig{Dir: b.TempDir(), Level: bc.level, Logger: quiet})
			if err != nil {
				b.Fatal(err)
			}
			frames := sensorFrames(1000, bc.frames, bc.samples, bc.chs)
			n := readingsOf(frames)
			c := GetChunk()
			for i := range frames {
				c.Add(&frames[i], nil)
			}
			s.w.add(c) // warm: buffers and the encoder's tables reach their size
			s.w.flush()
			cpu0, stored0, bytes0, raw0 := threadCPU(), s.c.stored.Load(), s.c.bytes.Load(), s.c.rawBytes.Load()
			for b.Loop() {
				s.w.add(c)
			}
			s.w.finish()
			cpu := threadCPU() - cpu0
			stored := float64(s.c.stored.Load() - stored0)
			zbytes, raw := float64(s.c.bytes.Load()-bytes0), float64(s.c.rawBytes.Load()-raw0)
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/reading")
			b.ReportMetric(float64(cpu.Nanoseconds())/stored, "cpu-ns/reading")
			b.ReportMetric(stored/cpu.Seconds(), "readings/cpu-s")
			b.ReportMetric(zbytes/stored, "B/reading")
			b.ReportMetric(raw/stored, "csv-B/reading")
			b.ReportMetric(raw/zbytes, "ratio")
		})
	}
}

// BenchmarkWriterReceipts is what receipts cost the writer: the same
// chunks (32 frames of 10 samples x 4 channels, 1280 readings) written
// inline on one locked thread, without and with a receipt each, with an
// fsync every 64 chunks that settles them. cpu-ns/reading is that thread's
// CPU time, fsyncs included.
func BenchmarkWriterReceipts(b *testing.B) {
	for _, with := range []bool{false, true} {
		name := "without"
		if with {
			name = "with"
		}
		b.Run(name, func(b *testing.B) {
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			s, err := openFiles(FileConfig{Dir: b.TempDir(), Logger: quiet})
			if err != nil {
				b.Fatal(err)
			}
			frames := sensorFrames(1000, 32*100, 10, 4)
			chunks := make([]*Chunk, 100)
			for i := range chunks {
				chunks[i] = GetChunk()
				for j := range 32 {
					chunks[i].Add(&frames[i*32+j], nil)
				}
			}
			var r countReceipt
			step := func(i int) {
				c := chunks[i%len(chunks)]
				if with {
					c.SetReceipt(&r)
				}
				s.w.add(c)
				c.SetReceipt(nil)
				if i%64 == 63 {
					s.w.flush()
					s.w.sync()
				}
			}
			for i := range 2 * len(chunks) { // warm: buffers, tables, the receipt queue
				step(i)
			}
			b.ReportAllocs()
			cpu0, stored0 := threadCPU(), s.c.stored.Load()
			i := 0
			for b.Loop() {
				step(i)
				i++
			}
			s.w.finish()
			cpu := threadCPU() - cpu0
			stored := float64(s.c.stored.Load() - stored0)
			if with && r.durable != r.settled {
				b.Fatalf("%d of %d receipts durable", r.durable, r.settled)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/stored, "ns/reading")
			b.ReportMetric(float64(cpu.Nanoseconds())/stored, "cpu-ns/reading")
		})
	}
}

// countReceipt counts its settlements: one value serves every chunk.
type countReceipt struct{ settled, durable int }

func (r *countReceipt) Settled(durable bool) {
	r.settled++
	if durable {
		r.durable++
	}
}

// BenchmarkFileSink is the whole path under load: GOMAXPROCS producers
// fill chunks and Submit them (retrying while the queue is full), the
// writer goroutine stores them, Close drains. It reports throughput and
// the process CPU time per reading, producers included.
func BenchmarkFileSink(b *testing.B) {
	frames := sensorFrames(1000, 2000, 10, 4)
	per := readingsOf(frames) / len(frames)
	s, err := OpenFiles(FileConfig{Dir: b.TempDir(), Logger: quiet})
	if err != nil {
		b.Fatal(err)
	}
	var next atomic.Int64
	cpu0 := cpuTime()
	start := time.Now()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		c := GetChunk()
		for pb.Next() {
			i := next.Add(1)
			c.Add(&frames[int(i)%len(frames)], nil)
			if len(c.Frames) == 32 {
				for !s.Submit(c) {
					runtime.Gosched()
				}
				c = GetChunk()
			}
		}
		for len(c.Frames) > 0 && !s.Submit(c) {
			runtime.Gosched()
		}
	})
	if err := s.Close(); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	el, cpu := time.Since(start), cpuTime()-cpu0
	st := s.Stats()
	if st.Stored != uint64(b.N*per) {
		b.Fatalf("stored %d readings of %d", st.Stored, b.N*per)
	}
	b.ReportMetric(float64(st.Stored)/el.Seconds(), "readings/s")
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(st.Stored), "cpu-ns/reading")
	b.ReportMetric(float64(st.Bytes)/float64(st.Stored), "B/reading")
	b.ReportMetric(float64(st.QueueHighWater), "queue-hwm")
}

func cpuTime() time.Duration { return rusage(unix.RUSAGE_SELF) }

// threadCPU is the calling thread's CPU time; lock the goroutine to it.
func threadCPU() time.Duration { return rusage(unix.RUSAGE_THREAD) }

func rusage(who int) time.Duration {
	var ru unix.Rusage
	if err := unix.Getrusage(who, &ru); err != nil {
		panic(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkReader is export's cost: reading segments back (frame walk,
// zstd, row parsing) and printing the rows as CSV, on one locked thread
// whose CPU time is reported.
func BenchmarkReader(b *testing.B) {
	dir := b.TempDir()
	s, err := openFiles(FileConfig{Dir: dir, Logger: quiet})
	if err != nil {
		b.Fatal(err)
	}
	frames := sensorFrames(1000, 30000, 10, 4)
	c := GetChunk()
	for i := range frames {
		c.Add(&frames[i], nil)
	}
	s.w.add(c)
	s.w.finish()
	n := readingsOf(frames)
	var raw int64
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	cpu0 := threadCPU()
	for b.Loop() {
		r, err := OpenReader(dir)
		if err != nil {
			b.Fatal(err)
		}
		var out countWriter
		if _, err := Export(&out, r, Filter{}); err != nil {
			b.Fatal(err)
		}
		r.Close()
		raw = int64(out)
	}
	cpu := threadCPU() - cpu0
	b.SetBytes(raw)
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/reading")
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N*n), "cpu-ns/reading")
	b.ReportMetric(float64(raw)*float64(b.N)/cpu.Seconds()/1e6, "csv-MB/cpu-s")
}

type countWriter int64

func (w *countWriter) Write(p []byte) (int, error) { *w += countWriter(len(p)); return len(p), nil }

// BenchmarkFsync is what FsyncInterval costs the writer: one op writes an
// interval's worth of rows to the open segment (readings per interval,
// 4-channel line frames) and fsyncs it, as tick does. It reports the wall
// time of the fsync alone, the writer being blocked for it while the
// queue absorbs what arrives meanwhile.
func BenchmarkFsync(b *testing.B) {
	for _, readings := range []int{1_000, 20_000, 200_000} {
		b.Run(fmt.Sprintf("%dk-readings", readings/1000), func(b *testing.B) {
			// No rotation: every fsync is of the open segment.
			s, err := openFiles(FileConfig{Dir: b.TempDir(), SegmentBytes: 1 << 40, Logger: quiet})
			if err != nil {
				b.Fatal(err)
			}
			frames := sensorFrames(1000, readings/4, 1, 4)
			c := GetChunk()
			for i := range frames {
				c.Add(&frames[i], nil)
			}
			var syncTime time.Duration
			bytes0 := s.c.bytes.Load()
			for b.Loop() {
				s.w.add(c)
				s.w.flush()
				t0 := time.Now()
				if err := s.w.seg.f.Sync(); err != nil {
					b.Fatal(err)
				}
				syncTime += time.Since(t0)
			}
			written := s.c.bytes.Load() - bytes0
			s.w.finish()
			b.ReportMetric(float64(syncTime.Microseconds())/1e3/float64(b.N), "fsync-ms")
			b.ReportMetric(float64(written)/float64(b.N)/1024, "KiB/fsync")
		})
	}
}
