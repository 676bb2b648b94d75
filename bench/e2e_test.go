package bench

import (
	"context"
	"testing"
	"time"
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
