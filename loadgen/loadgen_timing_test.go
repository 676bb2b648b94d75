package loadgen

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/fleetwire/fleetwire/codec"
)

// startDiscardSink runs the discard sink in a child process, so that this
// process's getrusage measures the generator alone.
func startDiscardSink(b *testing.B, network string) string {
	b.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$", "-test.bench=^$")
	cmd.Env = append(os.Environ(), envSink+"="+network)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		b.Fatal(err)
	}
	return strings.TrimSpace(line)
}

// BenchmarkGenerator measures the generator's CPU per frame against a
// discard sink in another process: one op is one frame (5 samples of 2
// channels). "bulk" sends as fast as the sockets take frames (100
// devices); "paced" is 2,000 devices at 25 frames/s each (50k frames/s),
// the open-loop path with its timers and one write per frame.
func BenchmarkGenerator(b *testing.B) {
	type mode struct {
		name    string
		devices int
		rate    float64 // samples/s per device
		sockets int
	}
	modes := []mode{{"bulk", 100, 0, 0}, {"paced", 2000, 125, 0}, {"bulk-sendmmsg", 100, 0, 2}}
	for _, cname := range []string{"text", "compact"} {
		for _, tr := range []Transport{TCP, UDP} {
			for _, m := range modes {
				if m.sockets > 0 && tr != UDP {
					continue
				}
				b.Run(fmt.Sprintf("%s/%s/%s", cname, tr, m.name), func(b *testing.B) {
					addr := startDiscardSink(b, string(tr))
					c := DefaultConfig()
					c.Transport, c.Addr = tr, addr
					c.Codec, _ = codec.ParseCodec(cname)
					c.Devices, c.Rate, c.Batch, c.UDPSockets = m.devices, m.rate, 5, m.sockets
					perDev := (b.N + c.Devices - 1) / c.Devices
					c.Samples = perDev * c.Batch
					c.ConnectRate = 1e5
					c.Logger = slog.New(slog.DiscardHandler)
					b.ResetTimer()
					rep, err := Run(context.Background(), c)
					if err != nil {
						b.Fatal(err)
					}
					if rep.FramesSent+rep.SendErrors != uint64(perDev*c.Devices) {
						b.Fatalf("sent %d frames (%d errors), want %d", rep.FramesSent, rep.SendErrors, perDev*c.Devices)
					}
					b.ReportMetric(rep.CPUNsPerFrame, "cpu-ns/frame")
					b.ReportMetric(rep.LoopCPUNsPerFrame, "loop-ns/frame")
					b.ReportMetric(rep.FramesPerSecond, "frames/s")
					b.ReportMetric(float64(rep.BytesSent)/float64(rep.FramesSent), "B/frame")
					b.ReportMetric(float64(rep.SendErrors), "send-errors")
				})
			}
		}
	}
}

// BenchmarkAppendFrame is the encoding part of a frame alone.
func BenchmarkAppendFrame(b *testing.B) {
	for _, cname := range []string{"text", "compact"} {
		b.Run(cname, func(b *testing.B) {
			c := DefaultConfig()
			c.Codec, _ = codec.ParseCodec(cname)
			c.Batch, c.Samples = 5, 1
			tgts := &targets{list: []target{{}}, perSource: c.PerSource}
			r, err := newRunner(&c, tgts)
			if err != nil {
				b.Fatal(err)
			}
			r.nloops = 1
			l, err := newLoop(r, 0, []int{0})
			if err != nil {
				b.Fatal(err)
			}
			defer l.close()
			d := &l.devs[0]
			now := int64(time.Second)
			b.ReportAllocs()
			for b.Loop() {
				l.out, l.marks = l.out[:0], l.marks[:0]
				l.appendFrame(d, 5, now)
			}
			b.ReportMetric(float64(len(l.out)), "B/frame")
		})
	}
}

// BenchmarkGeneratorAck is the paced TCP mode of BenchmarkGenerator (2,000
// devices, 25 frames/s each, 5 samples of 2 channels per frame, text)
// with and without --ack, against a sink in another process that
// acknowledges every read (ackSinkMain): what acknowledged delivery adds
// to a frame's generator CPU, reading the #stored included.
func BenchmarkGeneratorAck(b *testing.B) {
	for _, acking := range []bool{false, true} {
		b.Run(fmt.Sprintf("ack=%v", acking), func(b *testing.B) {
			addr := startDiscardSink(b, "tcp-ack")
			c := DefaultConfig()
			c.Addr, c.Ack = addr, acking
			c.Devices, c.Rate, c.Batch = 2000, 125, 5
			perDev := (b.N + c.Devices - 1) / c.Devices
			c.Samples = perDev * c.Batch
			c.ConnectRate = 1e5
			c.Logger = slog.New(slog.DiscardHandler)
			b.ResetTimer()
			rep, err := Run(context.Background(), c)
			if err != nil {
				b.Fatal(err)
			}
			if rep.FramesSent != uint64(perDev*c.Devices) {
				b.Fatalf("sent %d frames, want %d", rep.FramesSent, perDev*c.Devices)
			}
			if a := rep.AckReport; a != nil && a.ReadingsUnackedAtEnd != 0 {
				b.Fatalf("%d readings unacknowledged at the end", a.ReadingsUnackedAtEnd)
			}
			b.ReportMetric(rep.CPUNsPerFrame, "cpu-ns/frame")
			b.ReportMetric(rep.LoopCPUNsPerFrame, "loop-ns/frame")
			b.ReportMetric(float64(rep.BytesSent)/float64(rep.FramesSent), "B/frame")
			if a := rep.AckReport; a != nil {
				b.ReportMetric(float64(a.AcksReceived)/float64(rep.FramesSent), "acks/frame")
			}
		})
	}
}
