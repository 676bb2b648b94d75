package bench

import (
	"math"
	"testing"

	"github.com/fleetwire/fleetwire/loadgen"
	"github.com/fleetwire/fleetwire/server"
	"github.com/fleetwire/fleetwire/server/sink"
)

func near(a, b float64) bool { return math.Abs(a-b) <= 1e-9*math.Max(1, math.Abs(b)) }

func TestCompute_TCP(t *testing.T) {
	s := &Scenario{Transport: "tcp", Rate: 10, Channels: 2}
	c := &Counters{
		Gen: loadgen.Report{ReadingsSent: 1000, FramesSent: 100, CPUNsPerFrame: 5000, DurationSeconds: 2},
		Srv: server.TransportStats{Readings: 1002, Duplicates: 2, Lost: 0, PayloadBytes: 8000,
			TCPInfo: &server.TCPInfo{SegsIn: 150, BytesReceived: 8200, SegsOut: 60, BytesSent: 0}},
		ServerCPU: CPUSample{SchedNs: 2_000_000, Slices: 50, UserTicks: 1, SysTicks: 2},
		MemBefore: Memory{RSS: 10 << 20}, MemPeak: Memory{RSS: 10<<20 + 10*4096}, PeakConns: 10,
		WindowNs: 4_000_000_000,
		SNMP:     SNMP{"Tcp.RetransSegs": 3, "client.Tcp.RetransSegs": 4},
	}
	f := Compute(s, c)
	// delivered = 1002 - 2 = 1000; lost = 1000 - 1000 = 0.
	if f.Delivered != 1000 || f.Lost != 0 || f.LossPct != 0 || f.DeliveredFr != 1 {
		t.Fatalf("delivered %d lost %d (%g %%) fraction %g", f.Delivered, f.Lost, f.LossPct, f.DeliveredFr)
	}
	// up = 150*52 + 8200 = 16000 -> 16 B/reading; down = 60*52 = 3120 -> 3.12.
	for _, x := range []struct {
		name      string
		got, want float64
	}{
		{"payload", f.PayloadPerReading, 8},
		{"up", f.WireUpPerReading, 16},
		{"down", f.WireDownPerReading, 3.12},
		{"wire", f.WirePerReading, 19.12},
		{"cpu", f.ServerCPUNsPerReading, 2000},
		{"stat cpu", f.ServerStatCPUNsPerReading, 30000}, // 3 ticks of 10 ms / 1000
		{"cores", f.ServerCores, 0.0005},
		{"slices", f.ServerSlicesPer1k, 50},
		{"rss/conn", f.RSSPerConn, 4096},
		{"gen", f.GenCPUNsPerFrame, 5000},
		{"rate", f.ReadingsPerSecond, 500},
		// 19.12 B x 10 samples/s x 2 readings x 2,592,000 s / 1e6 = 19.12 x 51.84 = 991.1808 MB.
		{"month", f.CostMBPerDeviceMonth, 991.1808},
	} {
		if !near(x.got, x.want) {
			t.Errorf("%s: got %v, want %v", x.name, x.got, x.want)
		}
	}
	if f.TCPRetransSegs != 7 {
		t.Errorf("retrans %d, want 7", f.TCPRetransSegs)
	}
	if f.VethUpPerReading != nil {
		t.Errorf("veth figure without a veth")
	}
}

func TestCompute_UDPLossAndVeth(t *testing.T) {
	s := &Scenario{Transport: "udp", Rate: 0, Channels: 2}
	c := &Counters{
		Gen:       loadgen.Report{ReadingsSent: 2000},
		Srv:       server.TransportStats{Readings: 1900, Lost: 60, PayloadBytes: 9500, RxBytes: 9600},
		Datagrams: 100,
		SNMP:      SNMP{"Udp.RcvbufErrors": 5, "Udp.InErrors": 5},
		ClientIf:  &IfCounters{TxBytes: 14*110 + 11000, TxPackets: 110},
		ServerIf:  &IfCounters{},
	}
	f := Compute(s, c)
	if f.Delivered != 1900 || f.Lost != 100 || !near(f.LossPct, 5) || f.SeqLost != 60 || !near(f.DeliveredFr, 0.95) {
		t.Fatalf("delivered %d lost %d (%g %%) seq-lost %d", f.Delivered, f.Lost, f.LossPct, f.SeqLost)
	}
	// up = 100*28 + 9600 = 12400 / 1900.
	if !near(f.WireUpPerReading, 12400.0/1900) || f.WireDownPerReading != 0 {
		t.Errorf("wire up %v down %v", f.WireUpPerReading, f.WireDownPerReading)
	}
	if f.VethUpPerReading == nil || !near(*f.VethUpPerReading, 11000.0/1900) || *f.VethDownPerReading != 0 {
		t.Errorf("veth up %v", f.VethUpPerReading)
	}
	if f.UDPRcvbufErrors != 5 || f.UDPInErrors != 5 {
		t.Errorf("snmp %d %d", f.UDPRcvbufErrors, f.UDPInErrors)
	}
	if f.CostMBPerDeviceMonth != 0 {
		t.Errorf("as-fast-as-possible run has a monthly cost %v", f.CostMBPerDeviceMonth)
	}
}

func TestCompute_NothingDelivered(t *testing.T) {
	f := Compute(&Scenario{Transport: "tcp", Rate: 1, Channels: 1}, &Counters{Gen: loadgen.Report{ReadingsSent: 10}})
	if f.Delivered != 0 || f.Lost != 10 || f.LossPct != 100 || f.PayloadPerReading != 0 || f.ServerCPUNsPerReading != 0 {
		t.Fatalf("%+v", f)
	}
}

func TestCompute_UDPAck(t *testing.T) {
	s := &Scenario{Transport: "udp+ack", Rate: 10, Channels: 2}
	c := &Counters{
		Gen: loadgen.Report{ReadingsSent: 1900, DevicesConnected: 10, AckReport: &loadgen.AckReport{
			AckWindow: 256, AckMinRTOMs: 12000, AckDrainSeconds: 30,
			ReadingsAcked: 1960, ReadingsGivenUp: 20, ReadingsUnackedAtEnd: 20, ReadingsResent: 300, ResentFrames: 15, ResentBytes: 600,
			AcksReceived: 40, AckBytesReceived: 640, AckDrainTimeouts: 1, UDPHelloPrefixes: 12,
			AckLatency: loadgen.Lateness{P50Us: 5_000_000, P99Us: 10_100_000, MaxUs: 12_000_000},
		}},
		// The transport counts resent readings too; the sink stores each once.
		Srv:       server.TransportStats{Readings: 2190, PayloadBytes: 4000, RxBytes: 6000},
		Datagrams: 120,
		Acks:      &server.AckStats{Writes: 42, Bytes: 672, Resent: 100, AckedTotal: 42},
		Sink:      &sink.Stats{Accepted: 1990, Stored: 1990, Synced: 1990},
	}
	f := Compute(s, c)
	// Sent: generated = 1960 + 20 + 20; delivered: the sink's 1990.
	if f.Sent != 2000 || f.Delivered != 1990 || f.Lost != 10 || !near(f.LossPct, 0.5) || f.Duplicates != 200 {
		t.Fatalf("sent %d delivered %d lost %d (%g %%) dup %d", f.Sent, f.Delivered, f.Lost, f.LossPct, f.Duplicates)
	}
	// up = 120*28 + 6000 = 9360; down = 42*28 + 672 = 1848.
	if !near(f.WireUpPerReading, 9360.0/1990) || !near(f.WireDownPerReading, 1848.0/1990) || !near(f.WirePerReading, 11208.0/1990) {
		t.Errorf("wire up %v down %v", f.WireUpPerReading, f.WireDownPerReading)
	}
	a := f.Ack
	if a == nil || a.Window != 256 || a.Acked != 1960 || a.Resent != 300 || a.ResentFr != 15 || a.GivenUp != 20 || a.UnackedAtEnd != 20 || a.DrainTimeout != 1 ||
		a.AckWrites != 42 || a.AckBytesSent != 672 || a.AcksSent != 42 || a.HelloPrefix != 12 || a.SinkSynced != 1990 {
		t.Fatalf("%+v", a)
	}
	for _, x := range []struct {
		name      string
		got, want float64
	}{
		{"acks/device", a.AcksPerDevice, 4},
		{"resent/reading", a.ResentPerReading, 600.0 / 1990},
		{"ack/reading", a.AckPerReading, 672.0 / 1990},
		{"p50", a.LatencyP50Ms, 5000},
		{"p99", a.LatencyP99Ms, 10100},
		{"max", a.LatencyMaxMs, 12000},
		{"min rto", a.MinRTOMs, 12000},
		{"drain", a.DrainSecs, 30},
	} {
		if !near(x.got, x.want) {
			t.Errorf("%s: got %v, want %v", x.name, x.got, x.want)
		}
	}
	if Compute(&Scenario{Transport: "udp", Rate: 10, Channels: 2}, c).Ack != nil {
		t.Error("ack figures without acknowledged delivery")
	}
}

// TestCompute_LinkHeaders: a veth's counters carry 14 B of Ethernet per
// packet, the emulator's TUN none.
func TestCompute_LinkHeaders(t *testing.T) {
	f := func(profile string, want float64) {
		t.Helper()
		c := &Counters{Gen: loadgen.Report{ReadingsSent: 10}, Srv: server.TransportStats{Readings: 10},
			ClientIf: &IfCounters{TxBytes: 1000, TxPackets: 10}, ServerIf: &IfCounters{TxBytes: 200, TxPackets: 5}}
		fig := Compute(&Scenario{Transport: "udp", Rate: 1, Channels: 1, Profile: profile}, c)
		if got := *fig.VethUpPerReading + *fig.VethDownPerReading; got != want {
			t.Fatalf("%s: link %g B per reading, want %g", profile, got, want)
		}
	}
	f("lte-m", (1000-140+200-70)/10.0)
	f("nbiot-emu", 1200/10.0)
}
