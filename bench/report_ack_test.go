package bench

import (
	"strings"
	"testing"
	"time"
)

// TestReport_Ack checks the headline and the targets against figures
// whose verdicts are known.
func TestReport_Ack(t *testing.T) {
	run := func(tr, profile string, wire float64, lost int64, ack *AckFigures) Result {
		s := Scenario{Name: "acked", Transport: tr, Codec: "compact", Batch: 10, Devices: 500, Rate: 10, Channels: 2,
			Profile: profile, Duration: time.Minute, Engines: []string{"gnet"}}
		return Result{Scenario: s, Engine: "gnet", Figures: Figures{Sent: 1000, Delivered: uint64(1000 - lost), Lost: lost, LossPct: float64(lost) / 10,
			WireUpPerReading: wire - 0.25, WireDownPerReading: 0.25, WirePerReading: wire, Ack: ack}}
	}
	ack := func(writes uint64) *AckFigures {
		return &AckFigures{Window: 256, MinRTOMs: 12000, DrainSecs: 30, Acked: 990, AckWrites: writes, AckBytesSent: 16 * writes, AcksPerDevice: float64(writes) / 500,
			UnackedAtEnd: 10, DrainTimeout: 1}
	}
	r := &Report{Name: "t", Results: []Result{
		run("udp", "clean", 3.5, 0, nil),
		run("udp+ack", "clean", 3.8, 0, ack(4000)), // +8.6 %: missed
		run("udp", "loss-5", 3.6, 50, nil),
		run("udp+ack", "loss-5", 4.3, 0, ack(2000)),
		run("tcp", "loss-5", 7.5, 0, nil), // 4.3 / 7.5 = 57 %: met
	}}
	var b strings.Builder
	if err := r.writeMarkdown(&b); err != nil {
		t.Fatal(err)
	}
	md := b.String()
	for _, want := range []string{
		"| loss-5 | 500 devices at 10 samples/s of 2 readings, 1m0s | 3 | **udp+ack compact b10** | 4.30 | udp compact b10 | 3.60 | 5.00 % |",
		"| clean | 500 devices at 10 samples/s of 2 readings, 1m0s | 2 | **udp compact b10** | 3.50 | udp compact b10 | 3.50 | 0 |",
		"udp+ack loses 0 readings at <= 60 % of tcp's wire bytes per delivered reading: **met**. udp+ack lost 0 of 1000 readings; 4.30 B / 7.50 B = 57.3 %",
		"udp+ack costs <= 5 % more wire bytes per reading than udp: **missed**. 3.80 B against 3.50 B: +8.6 %",
		// 16 B + 28 B of headers per #stored, one per 12.8 s (half the
		// 256-sample window at 10 samples/s, before the 15 s interval) at
		// 20 readings/s: 0.17 B, 4.91 % of 3.50.
		"is 44.0 / (12.8 x 20) = 0.17 B per reading, 4.91 % of udp's 3.50 B: the steady state alone meets the target",
		"| acked:udp+ack/compact/b10/500d@10/s/clean | gnet | 1000 | 1000 | 0 | 3.55 | 0.25 | 3.80 | 3.50 | +8.6 % |",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("report lacks %q", want)
		}
	}
	if t.Failed() {
		t.Log(md)
	}
}
