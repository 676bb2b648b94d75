package bench

import (
	"cmp"
	"context"
	"testing"
	"time"

	"github.com/fleetwire/fleetwire/loadgen"
)

// TestEndToEnd runs a tiny scenario through the real binary on both
// engines: on a clean loopback TCP must deliver exactly what was sent,
// and every figure must agree with the counters it came from.
func TestEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	ss := []Scenario{
		{Transport: "tcp", Codec: "text", Batch: 4, Devices: 10, Rate: 50, Channels: 2, Profile: Loopback, Duration: 2 * time.Second, Drain: 10 * time.Second},
		{Transport: "udp", Codec: "compact", Batch: 4, Devices: 10, Rate: 50, Channels: 2, Profile: Loopback, Duration: 2 * time.Second, Drain: 10 * time.Second},
	}
	o := Options{Exe: fleetwireBin, WorkDir: t.TempDir(), PrivateLoopback: true}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	rs, err := Run(ctx, o, ss)
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 4 {
		t.Fatalf("%d results, want 4", len(rs))
	}
	for _, r := range rs {
		c, f := &r.Counters, &r.Figures
		t.Logf("%s %s on %s: sent %d delivered %d, %.2f B/reading on the wire, server %.0f ns/reading",
			r.Scenario.ID(), r.Engine, r.Link, f.Sent, f.Delivered, f.WirePerReading, f.ServerCPUNsPerReading)
		if r.Err != "" || r.Skipped != "" {
			t.Fatalf("%s %s: error %q skipped %q", r.Scenario.ID(), r.Engine, r.Err, r.Skipped)
		}
		if c.Gen.ReadingsSent == 0 || c.Gen.DevicesConnected != 10 || c.EOS != 10 {
			t.Fatalf("%s: sent %d, %d devices connected, server saw %d end-of-stream", r.Engine, c.Gen.ReadingsSent, c.Gen.DevicesConnected, c.EOS)
		}
		if int64(f.Sent)-int64(f.Delivered) != f.Lost {
			t.Fatalf("lost %d != sent %d - delivered %d", f.Lost, f.Sent, f.Delivered)
		}
		if f.ServerCPUNsPerReading <= 0 || c.ServerCPU.SchedNs <= 0 {
			t.Fatalf("no server CPU measured: %+v", c.ServerCPU)
		}
		switch r.Scenario.Transport {
		case "tcp":
			ti := c.Srv.TCPInfo
			if f.Lost != 0 || f.SeqLost != 0 || c.Srv.Readings != c.Gen.ReadingsSent || c.Srv.Frames != c.Gen.FramesSent {
				t.Fatalf("%s: server %d readings %d frames, generator %d readings %d frames (%d control), lost %d / seq %d",
					r.Engine, c.Srv.Readings, c.Srv.Frames, c.Gen.ReadingsSent, c.Gen.FramesSent, c.Gen.ControlFramesSent, f.Lost, f.SeqLost)
			}
			// The kernel's count of bytes received equals what the
			// generator's write() calls accepted, byte for byte, plus
			// one per connection: tcpi_bytes_received follows rcv_nxt,
			// and the FIN takes one sequence number.
			if ti == nil || ti.Conns != 10 || ti.BytesReceived != c.Gen.BytesSent+ti.Conns || c.Srv.RxBytes != c.Gen.BytesSent {
				t.Fatalf("%s: tcp_info %+v, rx %d, generator sent %d bytes", r.Engine, ti, c.Srv.RxBytes, c.Gen.BytesSent)
			}
			if want := float64(ti.SegsIn*52+ti.BytesReceived) / float64(f.Delivered); f.WireUpPerReading != want || f.WireUpPerReading <= f.PayloadPerReading {
				t.Fatalf("wire up %v, want %v (payload %v)", f.WireUpPerReading, want, f.PayloadPerReading)
			}
		case "udp":
			if f.Delivered > f.Sent || c.Datagrams == 0 {
				t.Fatalf("%s: delivered %d of %d, %d datagrams", r.Engine, f.Delivered, f.Sent, c.Datagrams)
			}
			if want := float64(c.Datagrams*28+c.Srv.RxBytes) / float64(f.Delivered); f.WireUpPerReading != want {
				t.Fatalf("wire up %v, want %v", f.WireUpPerReading, want)
			}
		}
	}
}

// TestEndToEndAck runs tcp+ack and udp+ack on a clean loopback: every
// reading acknowledged and in the file sink once, and the #stored bytes
// the server wrote are those the generator received, which only a stats
// snapshot taken after the generator exited holds.
func TestEndToEndAck(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	ss := []Scenario{
		{Transport: "tcp+ack", Codec: "compact", Batch: 5, Devices: 10, Rate: 50, Channels: 2, Profile: Loopback, Duration: 2 * time.Second, Drain: 10 * time.Second},
		{Transport: "udp+ack", Codec: "text", Batch: 5, Devices: 10, Rate: 50, Channels: 2, Profile: Loopback, Duration: 2 * time.Second, Drain: 10 * time.Second, AckWindow: 64},
	}
	o := Options{Exe: fleetwireBin, WorkDir: t.TempDir(), PrivateLoopback: true, Engines: []string{"gnet"}}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	rs, err := Run(ctx, o, ss)
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 2 {
		t.Fatalf("%d results, want 2", len(rs))
	}
	for _, r := range rs {
		c, f, a := &r.Counters, &r.Figures, r.Figures.Ack
		if r.Err != "" || r.Skipped != "" || a == nil || c.Acks == nil || c.Sink == nil || c.Gen.AckReport == nil {
			t.Fatalf("%s: error %q skipped %q, figures %+v", r.Scenario.ID(), r.Err, r.Skipped, f)
		}
		t.Logf("%s: sent %d, stored %d, %.2f B/reading (%.2f down), %d #stored (%.1f per device), ack latency p50 %.0f ms",
			r.Scenario.ID(), f.Sent, f.Delivered, f.WirePerReading, f.WireDownPerReading, a.AcksReceived, a.AcksPerDevice, a.LatencyP50Ms)
		if f.Sent != c.Gen.ReadingsSent || f.Lost != 0 || a.Acked != f.Sent || a.GivenUp != 0 || a.UnackedAtEnd != 0 || c.Sink.Stored != f.Sent {
			t.Fatalf("sent %d (generator %d), lost %d, acked %d, given up %d, unacked %d, sink %+v", f.Sent, c.Gen.ReadingsSent, f.Lost, a.Acked, a.GivenUp, a.UnackedAtEnd, *c.Sink)
		}
		if want := cmp.Or(r.Scenario.AckWindow, loadgen.DefaultAckWindow); a.Window != want {
			t.Fatalf("window %d, want %d", a.Window, want)
		}
		if a.AckWrites == 0 || a.AckBytesSent != a.AckBytes || a.AckWrites != a.AcksReceived {
			t.Fatalf("server wrote %d #stored, %d bytes; generator received %d, %d bytes", a.AckWrites, a.AckBytesSent, a.AcksReceived, a.AckBytes)
		}
		if r.Scenario.Wire() == "udp" {
			if want := float64(c.Acks.Writes*28+c.Acks.Bytes) / float64(f.Delivered); !near(f.WireDownPerReading, want) {
				t.Fatalf("wire down %v, want %v", f.WireDownPerReading, want)
			}
			if a.HelloPrefix == 0 {
				t.Fatal("no UDP hello prefix counted")
			}
		} else if ti := c.Srv.TCPInfo; ti == nil || ti.BytesSent < c.Acks.Bytes {
			t.Fatalf("tcp_info %+v: fewer bytes sent than the #stored written (%d)", ti, c.Acks.Bytes)
		}
	}
}
