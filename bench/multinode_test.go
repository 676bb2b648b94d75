package bench

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/fleetwire/fleetwire/loadgen"
	"github.com/fleetwire/fleetwire/server/natssink/natstest"
)

// TestMultiNode: two `fleetwire serve --sink nats://...` nodes on a 3-node
// NATS cluster (stream of 3 replicas, in this process), one `fleetwire
// load --tcp A,B`: each node received and had acknowledged exactly what
// the generator sent it, node-1's cluster view shows both, and `fleetwire
// consume` prints every sample sent exactly once.
func TestMultiNode(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes and a NATS cluster")
	}
	nats := natstest.Start(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	o := MultiNodeOptions{Exe: fleetwireBin, WorkDir: t.TempDir(), NATS: nats.URL(), Replicas: 3, Nodes: 2,
		Devices: 401, Rate: 10, Batch: 5, Channels: 2, Codec: "compact", Duration: 4 * time.Second}
	res, err := MultiNode(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	if err := WriteMultiNode(&b, res); err != nil {
		t.Fatal(err)
	}
	t.Logf("\n%s", b.String())
	rep := res.Load
	if len(res.Nodes) != 2 || rep.DevicesConnected != 401 || rep.FramesDropped != 0 || rep.ReadingsSent == 0 {
		t.Fatalf("%d nodes; generator: %d connected, %d frames dropped, %d readings", len(res.Nodes), rep.DevicesConnected, rep.FramesDropped, rep.ReadingsSent)
	}
	for i, f := range res.Nodes {
		want := []int{201, 200}[i]
		if f.Devices != want || f.ReadingsSent == 0 || f.ReadingsReceived != f.ReadingsSent || f.ReadingsAcked != f.ReadingsSent ||
			f.InClusterView != f.ReadingsSent || f.CPUNs <= 0 {
			t.Errorf("%s: %+v, want %d devices and sent = received = acked = in the cluster view", f.Node, f, want)
		}
	}
	tot := res.Total
	if tot.ReadingsSent != rep.ReadingsSent || tot.ReadingsAcked != rep.ReadingsSent || tot.Devices != 401 {
		t.Errorf("total %+v, generator %d readings", tot, rep.ReadingsSent)
	}
	c := res.Consumed
	if !c.Exact() || c.Rows != rep.SamplesSent || c.Readings != rep.ReadingsSent || c.Devices != 401 {
		t.Errorf("consumed %+v; the generator sent %d samples, %d readings", c, rep.SamplesSent, rep.ReadingsSent)
	}
}

// BenchmarkMultiNode drives two nodes on one NATS server (in this
// process, so its CPU is not the nodes') as fast as one generator goes:
//
//	go test -run '^$' -bench MultiNode -benchtime 1x ./bench/
//
// It reports readings/s acknowledged by JetStream (from the end of the
// generator's connect phase to the stream's last message), in total and
// per node, and each node's CPU per reading (schedstat, every thread).
func BenchmarkMultiNode(b *testing.B) {
	nats := natstest.Start(b, 1)
	for i := 0; b.Loop(); i++ {
		o := MultiNodeOptions{Exe: fleetwireBin, WorkDir: b.TempDir(), NATS: nats.URL(), Nodes: 2,
			Devices: 1000, Rate: 0, Batch: 10, Channels: 4, Codec: "compact", Samples: 5000}
		if i > 0 {
			b.Fatal("one run per benchmark: use -benchtime 1x (the stream is compared with one run's generator)")
		}
		res, err := MultiNode(context.Background(), o)
		if err != nil {
			b.Fatal(err)
		}
		if !res.Consumed.Exact() {
			b.Fatalf("the stream differs from what was sent: %+v", res.Consumed)
		}
		_ = WriteMultiNode(os.Stderr, res)
		b.ReportMetric(res.Total.AckedPerSecond, "acked/s")
		b.ReportMetric(res.Total.CPUNsPerReading, "server-ns/reading")
		for _, f := range res.Nodes {
			b.ReportMetric(f.AckedPerSecond, f.Node+"-acked/s")
			b.ReportMetric(f.CPUNsPerReading, f.Node+"-ns/reading")
		}
	}
}

func TestCompareConsumed(t *testing.T) {
	rep := &loadgen.Report{PerDevice: []loadgen.DeviceReport{
		{Device: "dev-1", FirstSeq: 0, NextSeq: 3, Samples: 3},
		{Device: "dev-2", FirstSeq: 10, NextSeq: 14, Samples: 3, Dropped: 1}, // one frame of one sample skipped
	}}
	f := func(csv string, want ConsumeCheck) {
		t.Helper()
		got, err := compareConsumed(strings.NewReader(csv), rep)
		if err != nil {
			t.Fatalf("%q: %s", csv, err)
		}
		if got != want {
			t.Fatalf("%q:\n got %+v\nwant %+v", csv, got, want)
		}
	}
	const hdr = "device,seq,unix_ms,ch1,ch2\n"
	all := "dev-1,0,1,20.5,3\ndev-1,1,2,20.6,3\ndev-2,10,1,1,\ndev-1,2,3,20.7,\ndev-2,12,2,2,\ndev-2,13,3,3,\n"
	f(hdr+all, ConsumeCheck{Rows: 6, Readings: 8, Devices: 2})
	f(hdr+all+"dev-1,1,2,20.6,3\n", ConsumeCheck{Rows: 7, Readings: 10, Devices: 2, Duplicates: 1})
	f(hdr+"dev-1,0,1,20.5,3\n", ConsumeCheck{Rows: 1, Readings: 2, Devices: 1, Missing: 5})
	f(hdr+all+"dev-3,0,1,1,\ndev-1,3,4,1,\n", ConsumeCheck{Rows: 8, Readings: 10, Devices: 2, Unknown: 2})
	// The skipped sample (seq 11) arrived after all: more than was sent.
	f(hdr+all+"dev-2,11,1,1,\n", ConsumeCheck{Rows: 7, Readings: 9, Devices: 2, Unknown: 1})
	// A wider device prints a wider header first.
	f(hdr+all+"device,seq,unix_ms,ch1,ch2,ch3\n", ConsumeCheck{Rows: 6, Readings: 8, Devices: 2})

	for _, bad := range []string{"dev-1\n", "dev-1,x,1,2\n", "dev-1,1\n"} {
		if _, err := compareConsumed(strings.NewReader(hdr+bad), rep); !errors.Is(err, errBadRow) {
			t.Errorf("%q: err %v, want a bad row", bad, err)
		}
	}
}
