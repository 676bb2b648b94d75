package plan

import (
	"context"
	"testing"
	"time"
)

// TestMeasureKernelRx_SoftirqRisesWithTraffic sends 20,000 UDP frames/s
// across the veth pair for three short rounds: with RPS steering the
// packets to the server's core, its NET_RX softirqs and softirq time
// must be higher than in the spans without steering, interleaved with
// them (other tests, run in parallel by go test, put traffic on the core
// in both alike, where an idle baseline taken apart saw 160,000 NET_RX
// of theirs once), and the receive path per packet must be positive and
// below 50 µs. Skipped, with the reason, where namespaces cannot be built (not
// root, tools missing) or two cores cannot be pinned.
func TestMeasureKernelRx_SoftirqRisesWithTraffic(t *testing.T) {
	if testing.Short() {
		t.Skip("builds network namespaces and starts processes")
	}
	o := Options{Exe: fleetwireBin(t), WorkDir: t.TempDir(), Logger: quiet()}
	if err := o.AutoPin(1); err != nil {
		t.Skip(err)
	}
	r, err := NewRunner(o)
	if err != nil {
		t.Fatal(err)
	}
	f := FleetSpec{Devices: 2000, Interval: 100 * time.Millisecond, Batch: 10, Readings: 2, Transport: "udp", Codec: "text", Session: "plain"}
	s := Shape{Name: "test", Interval: f.Interval, Load: f.Load(2000, f.Interval, f.Batch, 0)}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	k, err := r.MeasureKernelRx(ctx, s, VethOptions{Duration: 5 * time.Second, Repeat: 3})
	if err != nil {
		t.Fatal(err)
	}
	if k.Skipped != "" {
		t.Skip(k.Skipped)
	}
	var softirqOn, softirqOff, netRxOn, netRxOff float64
	for i := range k.Rounds {
		rd := &k.Rounds[i]
		t.Logf("round %d: RPS on %.2f s, %d packets, softirq %d ms, NET_RX %d, server %d ms, non-idle %.0f ms; off %.2f s, %d packets, softirq %d ms, NET_RX %d, server %d ms, non-idle %.0f ms; baseline %.2f s: softirq %d ms, NET_RX %d, %d packets",
			i+1, rd.On.Seconds, rd.On.RxPackets, rd.On.CPU.SoftirqNs/1e6, rd.On.CPU.NetRx, rd.On.ServerNs/1e6, rd.On.nonIdleNs()/1e6,
			rd.Off.Seconds, rd.Off.RxPackets, rd.Off.CPU.SoftirqNs/1e6, rd.Off.CPU.NetRx, rd.Off.ServerNs/1e6, rd.Off.nonIdleNs()/1e6,
			rd.Baseline.Seconds, rd.Baseline.CPU.SoftirqNs/1e6, rd.Baseline.CPU.NetRx, rd.Baseline.RxPackets)
		if rd.PacketsPerFrame() < 0.9 {
			t.Errorf("round %d: %.2f packets received per frame sent", i+1, rd.PacketsPerFrame())
		}
		softirqOn += float64(rd.On.CPU.SoftirqNs) / rd.On.Seconds
		softirqOff += float64(rd.Off.CPU.SoftirqNs) / rd.Off.Seconds
		netRxOn += float64(rd.On.CPU.NetRx) / rd.On.Seconds
		netRxOff += float64(rd.Off.CPU.NetRx) / rd.Off.Seconds
	}
	t.Logf("receive path %.0f ± %.0f ns/packet; server %.0f ± %.0f ns/packet with RPS on, %.0f ± %.0f off; softirq ticks %.0f ± %.0f ns/packet; %.3f packets/frame, %.2f NET_RX/packet",
		k.RxPerPacket.Value, k.RxPerPacket.StdErr, k.ServerOnPacket.Value, k.ServerOnPacket.StdErr, k.ServerOffPacket.Value, k.ServerOffPacket.StdErr,
		k.SoftirqPerPacket.Value, k.SoftirqPerPacket.StdErr, k.PacketsPerFrame.Value, k.NetRxPerPacket.Value)
	if netRxOn <= 2*netRxOff {
		t.Errorf("CPU %d NET_RX did not follow the steering: %.0f/s with it, %.0f/s without (summed over rounds)", k.ServerCPU, netRxOn, netRxOff)
	}
	if softirqOn <= softirqOff {
		t.Errorf("CPU %d softirq time did not follow the steering: %.0f ms/s with it, %.0f ms/s without (summed over rounds)", k.ServerCPU, softirqOn/1e6, softirqOff/1e6)
	}
	if v := k.RxPerPacket.Value; !(v > 0 && v < 50e3) {
		t.Errorf("receive path per packet %.0f ns: want in (0, 50 µs)", v)
	}
}
