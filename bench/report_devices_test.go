package bench

import (
	"strings"
	"testing"
	"time"

	"github.com/fleetwire/fleetwire/bench/linkemu"
	"github.com/fleetwire/fleetwire/loadgen"
)

// TestReport_Devices checks the device-profile tables against figures
// whose verdicts are known: the link's counters are preferred to the
// server's socket, and a lossy choice is only the cheapest overall.
func TestReport_Devices(t *testing.T) {
	run := func(tr, session string, link, server float64, lost int64, radioP50Us int64) Result {
		s := Scenario{Name: "device-10s", Transport: tr, Codec: "compact", Batch: 3, Devices: 20, Rate: 0.3, Channels: 2,
			Profile: "nbiot-emu", Duration: 30 * time.Second, Engines: []string{"gnet"}, Session: session}
		up, down := link-1, 1.0
		x := Result{Scenario: s, Engine: "gnet", Figures: Figures{Sent: 360, Delivered: uint64(360 - lost), Lost: lost, LossPct: float64(lost) / 3.6,
			WirePerReading: server, VethUpPerReading: &up, VethDownPerReading: &down}}
		x.Counters.Gen.Session = &loadgen.SessionReport{Connects: 80, RadioOn: loadgen.Lateness{Count: 80, P50Us: radioP50Us, P99Us: 2 * radioP50Us, MeanUs: float64(radioP50Us)}}
		return x
	}
	// The emulated link's watch, when there is one, is preferred to the
	// generator's own measure: 30 bursts of 2 s (p50) over 20 reports.
	tcp := run("tcp", "per-report", 60, 40, 0, 2_500_000)
	tcp.Counters.Gen.DevicesConnected = 20 // 30 s at 10 s: 1 steady report each (not the first, not the last)
	// 20 steady reports of 6 readings, 55 B per reading on the link.
	tcp.Counters.Radio = &linkemu.RadioStats{Gap: 5 * time.Second, Flows: 30, Bursts: 30, Total: 60 * time.Second, Bytes: 20 * 6 * 55,
		P50: 2 * time.Second, P99: 2500 * time.Millisecond, Max: 3 * time.Second}
	r := &Report{Name: "t", Results: []Result{
		run("udp", "", 18, 17, 3, 40),
		run("udp+ack", "per-report", 24, 23, 0, 50),
		tcp,
		run("tls", "per-report+resume", 150, 120, 0, 3_000_000),
	}}
	var b strings.Builder
	if err := r.writeMarkdown(&b); err != nil {
		t.Fatal(err)
	}
	md := b.String()
	for _, want := range []string{
		"## Device profiles",
		"| every 10s, 6 readings | nbiot-emu | 4 | **udp+ack compact b3 per-report** | 24.00 | udp compact b3 | 18.00 | 0.83 % |",
		"| every 10s, 6 readings | nbiot-emu | tcp compact b3 per-report | 55.00 | 60.00 | 40.00 | 0 | 1.50 | 3000.0 | 2000.0 | 2500.0 | 80 |",
		"| every 10s, 6 readings | nbiot-emu | tls compact b3 per-report+resume | 150.00 | 150.00 | 120.00 | 0 | - | 3000.0 | 3000.0 | 6000.0 | 80 |",
		"**A device that reports every 10 minutes**",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("report lacks %q", want)
		}
	}
	if t.Failed() {
		t.Log(md)
	}
}

// TestReport_DevicesTenMinutes: with a 10-minute device run, the report
// does not scale one from the shorter runs.
func TestReport_DevicesTenMinutes(t *testing.T) {
	s := Scenario{Name: "device-10min", Transport: "udp", Codec: "compact", Batch: 3, Devices: 20, Rate: 0.005, Channels: 2,
		Profile: "nbiot-emu", Duration: 20 * time.Minute, Engines: []string{"gnet"}, Session: "per-report"}
	up, down := 17.0, 1.0
	x := Result{Scenario: s, Engine: "gnet", Figures: Figures{Sent: 240, Delivered: 240, WirePerReading: 18, VethUpPerReading: &up, VethDownPerReading: &down}}
	var b strings.Builder
	if err := (&Report{Name: "t", Results: []Result{x}}).writeMarkdown(&b); err != nil {
		t.Fatal(err)
	}
	if md := b.String(); !strings.Contains(md, "| every 10m0s, 6 readings | nbiot-emu |") || strings.Contains(md, "is not run") {
		t.Fatalf("10-minute device: %s", md)
	}
}
