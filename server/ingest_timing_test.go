package server

import (
	"fmt"
	"net/netip"
	"runtime"
	"strings"
	"testing"

	"github.com/fleetwire/fleetwire/codec"
	"github.com/fleetwire/fleetwire/codec/wire"
)

// streamOf encodes frames of devs devices round robin, 4 one-channel
// readings per frame as in the bulk scenario, until size bytes.
func streamOf(c codec.Codec, devs, size int) (data []byte, readings int) {
	enc := wire.NewEncoder(c, '\n', nil)
	seq := make([]uint64, devs)
	for i := 0; len(data) < size; i++ {
		d := i % devs
		f := codec.Frame{Device: fmt.Appendf(nil, "dev-%05d", d), Seq: seq[d], Flags: codec.HasSeq, Channels: 1,
			Times: make([]int64, 4), Values: []codec.Value{codec.Decimal(215, 1), codec.Decimal(217, 1), codec.Decimal(219, 1), codec.Decimal(2204, 2)}}
		seq[d] += 4
		data = enc.Append(data, &f)
		readings += 4
	}
	return data, readings
}

// loadgenLike encodes frames shaped like the load generator's bulk
// scenario: a 10-byte device id, seq and device time in every frame, 2
// samples of 2 channels with 2 decimals.
func loadgenLike(c codec.Codec, size int) []byte {
	enc := wire.NewEncoder(c, '\n', nil)
	var data []byte
	t := int64(1_764_072_000_000)
	for seq := uint64(0); len(data) < size; seq += 2 {
		f := codec.Frame{Device: []byte("dev-000042"), Seq: seq, Flags: codec.HasSeq | codec.HasTime, Channels: 2,
			Times:  []int64{t, t + 10},
			Values: []codec.Value{codec.Decimal(2153, 2), codec.Decimal(4512, 2), codec.Decimal(2154, 2), codec.Decimal(4515, 2)}}
		t += 20
		data = enc.Append(data, &f)
	}
	return data
}

// BenchmarkIngestStream measures the shared path alone (framing,
// decoding, sessions, counters; no sink, no sockets) on one connection's
// worth of frames of one device, in 64 KiB reads as gnet delivers them.
func BenchmarkIngestStream(b *testing.B) {
	for _, name := range []string{"text", "binary", "compact", "text/loadgen", "binary/loadgen"} {
		c, _ := codec.ParseCodec(strings.TrimSuffix(name, "/loadgen"))
		b.Run(name, func(b *testing.B) {
			srv, err := New(Config{TCPAddr: "127.0.0.1:0"})
			if err != nil {
				b.Fatal(err)
			}
			data, _ := streamOf(c, 1, 64<<10)
			if strings.HasSuffix(name, "/loadgen") {
				data = loadgenLike(c, 64<<10)
			}
			g := newIngester(srv, newShard(), srv.listeners[0])
			st := &stream{ln: srv.listeners[0], transport: TCP}
			st.split.End, st.split.MaxFrame = '\n', codec.DefaultMaxFrame
			// Cut at a frame boundary so every iteration sees whole frames.
			consumed, _, _ := g.feedStream(st, data, false, 1, 0)
			data = data[:consumed]
			readings := 0
			var bt codec.Batch
			for off := 0; off < len(data); {
				adv, fr, _ := st.split.Split(data[off:], false)
				_ = srv.listeners[0].dec.Decode(&bt, fr)
				off += adv
			}
			readings = bt.Readings()
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				g.feedStream(st, data, false, int64(i), 0)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(readings), "ns/reading")
			b.ReportMetric(float64(len(data))/float64(readings), "B/reading")
		})
	}
}

// BenchmarkIngestDatagrams measures the UDP path per datagram: one
// frame of 4 readings each, 1000 devices.
func BenchmarkIngestDatagrams(b *testing.B) {
	srv, err := New(Config{UDPAddr: "127.0.0.1:0"})
	if err != nil {
		b.Fatal(err)
	}
	enc := wire.NewEncoder(codec.Codec{Format: codec.FormatText}, '\n', nil)
	var dgrams [][]byte
	for d := range 1000 {
		f := codec.Frame{Device: fmt.Appendf(nil, "dev-%05d", d), Flags: codec.HasSeq, Channels: 1,
			Times: make([]int64, 4), Values: []codec.Value{codec.Decimal(215, 1), codec.Decimal(217, 1), codec.Decimal(219, 1), codec.Decimal(2204, 2)}}
		dgrams = append(dgrams, enc.Append(nil, &f))
	}
	g := newIngester(srv, newShard(), srv.listeners[0])
	src := netip.MustParseAddrPort("127.0.0.1:4000")
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		g.feedDatagram(dgrams[i%len(dgrams)], src, int64(i))
		if i%64 == 63 {
			g.finish(UDP, int64(i))
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/4, "ns/reading")
}

// BenchmarkSessionMemory measures what a device costs in the server's
// heap once it has a session: 100,000 devices of 4 channels, each heard
// once through the UDP path (with a downlink, recent values and the loss
// bitmap), reported as heap bytes per device. It is the per-device term
// of the memory bound in docs and SECURITY.md.
func BenchmarkSessionMemory(b *testing.B) {
	const devices = 100_000
	for range b.N {
		srv, err := New(Config{UDPAddr: "127.0.0.1:0", MaxDevicesPerSource: devices})
		if err != nil {
			b.Fatal(err)
		}
		enc := wire.NewEncoder(codec.Codec{Format: codec.FormatText}, '\n', nil)
		g := newIngester(srv, newShard(), srv.listeners[0])
		g.udpLink = func(src netip.AddrPort) *downlink {
			return &downlink{transport: UDP, addr: src, strength: strengthDatagram}
		}
		f := codec.Frame{Flags: codec.HasSeq, Channels: 4, Times: make([]int64, 1),
			Values: []codec.Value{codec.Decimal(215, 1), codec.Decimal(217, 1), codec.Decimal(219, 1), codec.Decimal(2204, 2)}}
		var dgram []byte
		before := heapInUse()
		for d := range devices {
			f.Device = fmt.Appendf(f.Device[:0], "dev-%06d", d)
			dgram = enc.Append(dgram[:0], &f)
			src := netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, byte(d >> 8), byte(d)}), uint16(d))
			g.feedDatagram(dgram, src, int64(d))
			if d%64 == 63 {
				g.finish(UDP, int64(d))
			}
		}
		g.finish(UDP, devices)
		b.ReportMetric(float64(heapInUse()-before)/devices, "B/device")
		runtime.KeepAlive(srv)
	}
}

// BenchmarkIngestAck measures what acknowledged delivery adds to the
// shared path: the same stream of one device's text frames (4 readings
// each, in 64 KiB reads) with the device opted in ("ack") and not
// ("plain"), in one run, so their ratio is the cost of dropping resends
// and keeping receipts. Each iteration sees the samples as new: the
// device's sets are reset outside the timer.
func BenchmarkIngestAck(b *testing.B) {
	for _, acked := range []bool{false, true} {
		name := map[bool]string{false: "plain", true: "ack"}[acked]
		b.Run(name, func(b *testing.B) {
			srv, err := New(Config{TCPAddr: "127.0.0.1:0"})
			if err != nil {
				b.Fatal(err)
			}
			data, readings := streamOf(codec.Codec{Format: codec.FormatText}, 1, 64<<10)
			g := newIngester(srv, newShard(), srv.listeners[0])
			st := &stream{ln: srv.listeners[0], transport: TCP}
			st.split.End, st.split.MaxFrame = '\n', codec.DefaultMaxFrame
			consumed, _, _ := g.feedStream(st, data, false, 1, 0)
			data = data[:consumed]
			s := srv.reg.lookup("dev-00000")
			if acked {
				s.mu.Lock()
				s.optIn(1<<20, srv)
				s.mu.Unlock()
			}
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				g.feedStream(st, data, false, int64(i), 0)
				b.StopTimer()
				if acked {
					srv.acker.applySettled()
					s.mu.Lock()
					s.ack.received.Reset(0)
					s.ack.durable.Reset(0)
					s.mu.Unlock()
				}
				b.StartTimer()
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(readings), "ns/reading")
		})
	}
}
