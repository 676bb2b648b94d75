package natssink_test

import (
	"bufio"
	"encoding/csv"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fleetwire/fleetwire/codec"
	"github.com/fleetwire/fleetwire/codec/wire"
	"github.com/fleetwire/fleetwire/server/natssink/natstest"
)

// BenchmarkSinks runs a fleetwire server in a child process with each
// sink in turn (none, files, a JetStream stream of 1 replica on one NATS
// server and of 3 replicas on a 3-node cluster, both in this process)
// and sends it b.N frames of 10 samples x 4 channels of the
// multihop data set (compact, 1,000 devices over 4 TCP connections) as
// fast as the connections take them. The clock stops when the server has
// received everything and its sink has nothing pending: written for
// files, acknowledged by JetStream for nats.
//
//	readings/s          readings received and stored per second of wall time
//	server-cpu-ns/reading   the child's CPU time (user + system, all threads), per reading
//	sink-B/reading      bytes the sink wrote (files: compressed CSV) or published (nats: payload)
//	dropped             readings the server dropped (sink_full): 0 unless the sink fell behind its queue
func BenchmarkSinks(b *testing.B) {
	rows := multihopRows(b)
	r1, r3 := natstest.Start(b, 1), natstest.Start(b, 3)
	b.Run("none", func(b *testing.B) { benchSink(b, "none", rows) })
	b.Run("files", func(b *testing.B) { benchSink(b, "files", rows) })
	b.Run("nats-r1", func(b *testing.B) { benchSink(b, r1.URL(), rows, childEnv+"_REPLICAS=1") })
	b.Run("nats-r3", func(b *testing.B) { benchSink(b, r3.URL(), rows, childEnv+"_REPLICAS=3") })
}

func benchSink(b *testing.B, url string, rows [][]codec.Value, env ...string) {
	const (
		conns    = 4
		devices  = 1000
		samples  = 10
		channels = 4
	)
	// Encode outside the clock: frame i goes to connection i%conns,
	// device i%devices, with consecutive seqs per device.
	b.StopTimer()
	enc := wire.NewEncoder(codec.Codec{Format: codec.FormatCompact}, 0, nil)
	bufs := make([][]byte, conns)
	seq := make([]uint64, devices)
	for i := range b.N {
		d := i % devices
		f := codec.Frame{Device: fmt.Appendf(nil, "mote-%04d", d), Seq: seq[d], Flags: codec.HasSeq | codec.HasTime, Channels: channels}
		for s := range samples {
			n := seq[d] + uint64(s)
			f.Times = append(f.Times, baseMs+int64(n)*1000)
			f.Values = append(f.Values, rows[(d*4703+int(n))%len(rows)]...)
		}
		seq[d] += samples
		bufs[i%conns] = enc.Append(bufs[i%conns], &f)
	}
	total := uint64(b.N * samples * channels)

	child := startChild(b, url, b.TempDir(), "bench", append(env, childEnv+"_REPORT=1")...)
	var last atomic.Pointer[[5]uint64]
	lines := make(chan struct{}, 1)
	go func() {
		for {
			line, err := child.out.ReadString('\n')
			if err != nil {
				return
			}
			var v [5]uint64
			for i, f := range strings.Fields(line) {
				v[i], _ = strconv.ParseUint(f, 10, 64)
			}
			last.Store(&v)
			select {
			case lines <- struct{}{}:
			default:
			}
		}
	}()
	var cs []net.Conn
	for range conns {
		c, err := net.Dial("tcp", child.tcp)
		if err != nil {
			b.Fatal(err)
		}
		cs = append(cs, c)
	}
	cpu0 := procCPU(b, child.cmd.Process.Pid)
	start := time.Now()
	b.StartTimer()
	var wg sync.WaitGroup
	for i, c := range cs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := c.Write(bufs[i]); err != nil {
				b.Error(err)
			}
		}()
	}
	wg.Wait()
	var v [5]uint64
	deadline := time.Now().Add(2 * time.Minute)
	for {
		<-lines
		v = *last.Load()
		if v[0] >= total && v[2] == 0 {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("not done: %v of %d readings", v, total)
		}
	}
	b.StopTimer()
	elapsed := time.Since(start)
	cpu := procCPU(b, child.cmd.Process.Pid) - cpu0
	for _, c := range cs {
		c.Close()
	}
	child.cmd.Process.Kill()
	child.cmd.Wait()
	b.ReportMetric(float64(total)/elapsed.Seconds(), "readings/s")
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(total), "server-cpu-ns/reading")
	if v[1] > 0 {
		b.ReportMetric(float64(v[4])/float64(v[1]), "sink-B/reading")
	}
	b.ReportMetric(float64(v[3]), "dropped")
}

// procCPU is a process's CPU time, user + system, from /proc (clock
// ticks: 10 ms resolution; runs are long enough for that).
func procCPU(b *testing.B, pid int) time.Duration {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Fatal(err)
	}
	// Fields after the command name, which is in parentheses.
	f := strings.Fields(string(raw[strings.LastIndexByte(string(raw), ')')+2:]))
	ut, _ := strconv.ParseUint(f[11], 10, 64)
	st, _ := strconv.ParseUint(f[12], 10, 64)
	return time.Duration(ut+st) * time.Second / 100
}

// multihopRows returns the indoor, humidity, temperature and label
// columns of the multihop data set as values, as printed there.
func multihopRows(b *testing.B) [][]codec.Value {
	f, err := os.Open("/work/shared/data/multihop.csv")
	if os.IsNotExist(err) {
		f, err = os.Open("../../../shared/data/multihop.csv")
	}
	if err != nil {
		b.Skipf("multihop data set: %v", err)
	}
	defer f.Close()
	r := csv.NewReader(bufio.NewReader(f))
	if _, err := r.Read(); err != nil {
		b.Fatal(err)
	}
	var out [][]codec.Value
	for {
		rec, err := r.Read()
		if err == io.EOF {
			return out
		}
		if err != nil {
			b.Fatal(err)
		}
		row := make([]codec.Value, 0, 4)
		for _, s := range rec[2:6] {
			v, why := codec.ParseValue([]byte(s))
			if why != codec.ReasonNone {
				b.Fatalf("multihop value %q: %v", s, why)
			}
			row = append(row, v)
		}
		out = append(out, row)
	}
}
