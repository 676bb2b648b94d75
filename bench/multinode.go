package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/fleetwire/fleetwire/loadgen"
	"github.com/fleetwire/fleetwire/server"
	"github.com/fleetwire/fleetwire/server/web"
)

// MultiNodeOptions describe a run across several ingest nodes: Nodes
// `fleetwire serve --sink nats://...` processes publishing to one
// JetStream stream, one `fleetwire load` spreading its devices over all of
// them, and `fleetwire consume` reading the stream back.
type MultiNodeOptions struct {
	Exe     string // the fleetwire binary
	WorkDir string // node data, logs, the load report and the consumed CSV
	// NATS lists the servers (nats://h:4222[,h2:4222...]) of a NATS with
	// JetStream whose account has no stream on fleetwire.readings.> other
	// than FLEETWIRE, and no readings in it: the consumed stream is
	// compared with this run's generator alone. Tests start one in
	// process (server/natssink/natstest).
	NATS     string
	Replicas int // of the stream the nodes create (default 1)
	Nodes    int // ingest nodes (default 2)

	Transport string // tcp (default) or udp
	Devices   int
	Rate      float64 // samples/s per device; 0 = as fast as the sockets take them
	Batch     int
	Channels  int
	Codec     string
	Duration  time.Duration // and/or Samples bound the run
	Samples   int
	// Drain bounds the wait, after the generator is done, for every
	// node to have all it received acknowledged by JetStream (default 60 s).
	Drain  time.Duration
	Logger *slog.Logger
}

func (o *MultiNodeOptions) defaults() {
	if o.Replicas <= 0 {
		o.Replicas = 1
	}
	if o.Nodes <= 0 {
		o.Nodes = 2
	}
	if o.Transport == "" {
		o.Transport = "tcp"
	}
	if o.Batch <= 0 {
		o.Batch = 1
	}
	if o.Channels <= 0 {
		o.Channels = 2
	}
	if o.Codec == "" {
		o.Codec = "compact"
	}
	if o.Drain <= 0 {
		o.Drain = time.Minute
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

// NodeFigures are one node's share of a multi-node run (or, as
// MultiNodeResult.Total, all nodes').
type NodeFigures struct {
	Node    string `json:"node"`
	Target  string `json:"target"` // its ingest address, as the generator was given it
	Devices int    `json:"devices"`

	ReadingsSent     uint64 `json:"readings_sent"`     // the generator's report for this target
	ReadingsReceived uint64 `json:"readings_received"` // the node's Stats.readings
	ReadingsAcked    uint64 `json:"readings_acked"`    // the node's sink.stored: acknowledged by JetStream
	InClusterView    uint64 `json:"in_cluster_view"`   // readings the first node's /api/cluster shows for it

	// SentPerSecond is readings sent / the generator's sending time, for
	// a paced run (Rate > 0). As fast as possible it is 0: the generator
	// then only measures how fast the kernel's socket buffers fill.
	SentPerSecond  float64 `json:"sent_per_s"`
	AckedPerSecond float64 `json:"acked_per_s"` // readings acked / the run's AckSeconds

	CPUNs           int64   `json:"cpu_ns"` // the node process over the run, every thread (schedstat)
	CPUNsPerReading float64 `json:"cpu_ns_per_reading"`
	SpoolHighWater  int64   `json:"spool_high_water_bytes"`
}

// ConsumeCheck compares what `fleetwire consume` printed with what the
// generator sent, sample by sample (device and sequence number).
type ConsumeCheck struct {
	Rows       uint64 `json:"rows"`     // samples printed
	Readings   uint64 `json:"readings"` // value cells printed
	Devices    int    `json:"devices"`
	Missing    uint64 `json:"missing"`    // samples sent that are not in the stream
	Duplicates uint64 `json:"duplicates"` // samples in the stream more than once
	Unknown    uint64 `json:"unknown"`    // rows of a device or sequence number the generator did not send
}

// Exact reports whether the stream holds every sample sent exactly once
// and nothing else.
func (c ConsumeCheck) Exact() bool { return c.Missing == 0 && c.Duplicates == 0 && c.Unknown == 0 }

// MultiNodeResult is what MultiNode measured.
type MultiNodeResult struct {
	Nodes       []NodeFigures `json:"nodes"`
	Total       NodeFigures   `json:"total"`
	SendSeconds float64       `json:"send_seconds"` // the generator's first to last frame
	// AckSeconds runs from the end of the generator's connect phase
	// until JetStream stored the stream's last message (its LastTime).
	AckSeconds float64         `json:"ack_seconds"`
	Consumed   ConsumeCheck    `json:"consumed"`
	Load       *loadgen.Report `json:"-"`
}

// MultiNode runs the nodes, the generator and the consumer, and returns
// the figures; an error when a process failed, a node did not get all it
// received acknowledged within Drain, or the first node's cluster view
// did not show every node. A stream that differs from what was sent is
// not an error: the result says how (Consumed.Exact).
func MultiNode(ctx context.Context, o MultiNodeOptions) (*MultiNodeResult, error) {
	o.defaults()
	if o.Transport != "tcp" && o.Transport != "udp" {
		return nil, fmt.Errorf("bench: multi-node transport %q: want tcp or udp", o.Transport)
	}
	if err := os.MkdirAll(o.WorkDir, 0o755); err != nil {
		return nil, err
	}
	nodes := make([]*mnNode, o.Nodes)
	defer func() {
		for _, n := range nodes {
			if n != nil {
				n.p.Stop(30 * time.Second)
			}
		}
	}()
	var targets []string
	for i := range nodes {
		n, err := startNode(ctx, &o, i)
		if err != nil {
			return nil, err
		}
		nodes[i] = n
		targets = append(targets, n.target)
	}
	for _, n := range nodes {
		if err := n.waitReady(ctx, 30*time.Second); err != nil {
			return nil, err
		}
	}
	cpu0 := make([]CPUSample, len(nodes))
	for i, n := range nodes {
		c, err := ReadCPU(n.p.cmd.Process.Pid)
		if err != nil {
			return nil, fmt.Errorf("bench: %s cpu: %w", n.name, err)
		}
		cpu0[i] = c
	}

	res := &MultiNodeResult{}
	rep, err := runLoad(ctx, &o, strings.Join(targets, ","))
	if err != nil {
		return nil, err
	}
	res.Load, res.SendSeconds = rep, rep.DurationSeconds
	if len(rep.Targets) != len(nodes) {
		return nil, fmt.Errorf("bench: the load report has %d targets for %d nodes", len(rep.Targets), len(nodes))
	}
	loadStart := rep.Started.Add(time.Duration(rep.ConnectSeconds * float64(time.Second)))

	// Every node has what it received acknowledged by JetStream.
	deadline := time.Now().Add(o.Drain)
	for i, n := range nodes {
		want := rep.Targets[i].ReadingsSent
		st, err := n.waitAcked(ctx, deadline, want, o.Transport == "tcp")
		if err != nil {
			return nil, err
		}
		f := NodeFigures{Node: n.name, Target: n.target, Devices: rep.Targets[i].Devices, ReadingsSent: want,
			ReadingsReceived: st.Readings, ReadingsAcked: st.Sink.Stored}
		if st.NATSSink != nil {
			f.SpoolHighWater = st.NATSSink.SpoolHighWater
		}
		res.Nodes = append(res.Nodes, f)
	}
	last, err := streamLastTime(ctx, o.NATS)
	if err != nil {
		return nil, err
	}
	res.AckSeconds = last.Sub(loadStart).Seconds()
	for i, n := range nodes {
		c, err := ReadCPU(n.p.cmd.Process.Pid)
		if err != nil {
			return nil, fmt.Errorf("bench: %s cpu: %w", n.name, err)
		}
		f := &res.Nodes[i]
		f.CPUNs = c.Sub(cpu0[i]).SchedNs
	}

	// The first node's dashboard shows every node as it counts itself.
	if err := clusterView(ctx, nodes[0], res.Nodes, deadline); err != nil {
		return nil, err
	}
	for _, n := range nodes {
		n.p.Stop(30 * time.Second)
	}
	for i := range res.Nodes {
		f := &res.Nodes[i]
		if o.Rate > 0 {
			f.SentPerSecond = div(float64(f.ReadingsSent), res.SendSeconds)
		}
		f.AckedPerSecond = div(float64(f.ReadingsAcked), res.AckSeconds)
		f.CPUNsPerReading = div(float64(f.CPUNs), float64(f.ReadingsReceived))
		t := &res.Total
		t.Devices += f.Devices
		t.ReadingsSent += f.ReadingsSent
		t.ReadingsReceived += f.ReadingsReceived
		t.ReadingsAcked += f.ReadingsAcked
		t.InClusterView += f.InClusterView
		t.CPUNs += f.CPUNs
		t.SpoolHighWater = max(t.SpoolHighWater, f.SpoolHighWater)
	}
	t := &res.Total
	t.Node, t.Target = "total", strings.Join(targets, ",")
	if o.Rate > 0 {
		t.SentPerSecond = div(float64(t.ReadingsSent), res.SendSeconds)
	}
	t.AckedPerSecond = div(float64(t.ReadingsAcked), res.AckSeconds)
	t.CPUNsPerReading = div(float64(t.CPUNs), float64(t.ReadingsReceived))

	res.Consumed, err = consumeCheck(ctx, &o, rep)
	return res, err
}

// mnNode is one `fleetwire serve` of a multi-node run.
type mnNode struct {
	name, target, http string
	p                  *Proc
	log                string
	api                *web.Client
}

func freePort(network string) (int, error) {
	if network == "udp" {
		pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		defer pc.Close()
		return pc.LocalAddr().(*net.UDPAddr).Port, nil
	}
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

func startNode(ctx context.Context, o *MultiNodeOptions, i int) (*mnNode, error) {
	n := &mnNode{name: fmt.Sprintf("node-%d", i+1)}
	ingest, err := freePort(o.Transport)
	if err != nil {
		return nil, err
	}
	hp, err := freePort("tcp")
	if err != nil {
		return nil, err
	}
	n.target, n.http = hostPort("127.0.0.1", ingest), hostPort("127.0.0.1", hp)
	if n.api, err = web.NewClient(n.http, web.WithTimeout(5*time.Second)); err != nil {
		return nil, err
	}
	dir := filepath.Join(o.WorkDir, n.name)
	args := []string{"serve", "--node", n.name, "--sink", o.NATS, "--nats-create-stream",
		"--nats-replicas", strconv.Itoa(o.Replicas), "--data", filepath.Join(dir, "data"),
		"--http", n.http, "--tcp", "", "--udp", "", "--log-level", "warn"}
	args = append(args, "--"+o.Transport, n.target)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	n.log = filepath.Join(dir, "serve.log")
	n.p, err = StartProc(exec.CommandContext(ctx, o.Exe, args...), n.log)
	if err != nil {
		return nil, err
	}
	o.Logger.Info("bench: node started", "node", n.name, "target", n.target, "http", n.http)
	return n, nil
}

func (n *mnNode) waitReady(ctx context.Context, d time.Duration) error {
	deadline := time.Now().Add(d)
	for {
		if n.api.Ready(ctx) {
			return nil
		}
		if n.p.Exited() || time.Now().After(deadline) || ctx.Err() != nil {
			b, _ := os.ReadFile(n.log)
			return fmt.Errorf("bench: %s not ready (exited %v: %v); log: %s", n.name, n.p.Exited(), n.p.err, lastLines(b, 5))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitAcked waits until the node has all it received acknowledged by
// JetStream: with exact (TCP), until it received want readings; else
// until what it received stopped growing.
func (n *mnNode) waitAcked(ctx context.Context, deadline time.Time, want uint64, exact bool) (server.Stats, error) {
	var st, prev server.Stats
	for {
		snap, err := n.api.Stats(ctx)
		st = snap.Stats
		done := err == nil && st.Sink.Pending == 0 && st.Sink.Stored == st.Readings && st.Stored == st.Readings
		if exact {
			done = done && st.Readings == want
		} else {
			done = done && st.Readings == prev.Readings && st.UptimeSec > prev.UptimeSec
		}
		if done {
			return st, nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return st, fmt.Errorf("bench: %s: %d of %d readings received, %d acknowledged, %d pending after the drain (err %v)",
				n.name, st.Readings, want, st.Sink.Stored, st.Sink.Pending, err)
		}
		prev = st
		time.Sleep(250 * time.Millisecond)
	}
}

// clusterView waits until the first node's /api/cluster shows every node
// with the readings it counts itself, and records them.
func clusterView(ctx context.Context, n *mnNode, figs []NodeFigures, deadline time.Time) error {
	for {
		v, err := n.api.Cluster(ctx)
		ok := err == nil && v.Enabled && len(v.Nodes) == len(figs)
		for i := 0; ok && i < len(figs); i++ {
			ok = v.Nodes[i].Node == figs[i].Node && v.Nodes[i].Readings == figs[i].ReadingsReceived
		}
		if ok {
			for i := range figs {
				figs[i].InClusterView = v.Nodes[i].Readings
			}
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("bench: %s's cluster view never showed every node's readings: %+v (err %v)", n.name, v.Nodes, err)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

func runLoad(ctx context.Context, o *MultiNodeOptions, targets string) (*loadgen.Report, error) {
	path := filepath.Join(o.WorkDir, "load.json")
	args := []string{"load", "--" + o.Transport, targets, "--devices", strconv.Itoa(o.Devices),
		"--rate", strconv.FormatFloat(o.Rate, 'g', -1, 64), "--batch", strconv.Itoa(o.Batch),
		"--channels", strconv.Itoa(o.Channels), "--codec", o.Codec, "--json", path, "--progress", "0", "--log-level", "warn"}
	if o.Duration > 0 {
		args = append(args, "--duration", o.Duration.String())
	}
	if o.Samples > 0 {
		args = append(args, "--samples", strconv.Itoa(o.Samples))
	}
	logPath := filepath.Join(o.WorkDir, "load.log")
	p, err := StartProc(exec.CommandContext(ctx, o.Exe, args...), logPath)
	if err != nil {
		return nil, err
	}
	<-p.done
	if p.err != nil {
		b, _ := os.ReadFile(logPath)
		return nil, fmt.Errorf("bench: fleetwire load: %v; log: %s", p.err, lastLines(b, 5))
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var rep loadgen.Report
	if err := json.Unmarshal(b, &rep); err != nil {
		return nil, fmt.Errorf("bench: load report: %w", err)
	}
	o.Logger.Info("bench: load done", "readings", rep.ReadingsSent, "seconds", rep.DurationSeconds)
	return &rep, nil
}

// WriteMultiNode prints the figures as a table for people.
func WriteMultiNode(w io.Writer, r *MultiNodeResult) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "node\ttarget\tdevices\treadings sent\treceived\tacked by JetStream\tin node-1's cluster view\tsent/s\tacked/s\tserver CPU ns/reading\tspool high water\t")
	for _, f := range append(r.Nodes[:len(r.Nodes):len(r.Nodes)], r.Total) {
		sent := "–"
		if f.SentPerSecond > 0 {
			sent = strconv.FormatFloat(f.SentPerSecond, 'f', 0, 64)
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d\t%d\t%s\t%.0f\t%.0f\t%d\t\n", f.Node, f.Target, f.Devices, f.ReadingsSent,
			f.ReadingsReceived, f.ReadingsAcked, f.InClusterView, sent, f.AckedPerSecond, f.CPUNsPerReading, f.SpoolHighWater)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	c := r.Consumed
	verdict := "equals what the generator sent: every sample exactly once"
	if !c.Exact() {
		verdict = fmt.Sprintf("DIFFERS: %d missing, %d duplicates, %d unknown", c.Missing, c.Duplicates, c.Unknown)
	}
	pace := "as fast as possible"
	if r.Load != nil && r.Load.RatePerDevice > 0 {
		pace = fmt.Sprintf("%g samples/s per device, sending %.2fs", r.Load.RatePerDevice, r.SendSeconds)
	}
	_, err := fmt.Fprintf(w, "%s; the stream's last message %.2fs after the connect phase; consume: %d rows, %d readings, %d devices: %s\n",
		pace, r.AckSeconds, c.Rows, c.Readings, c.Devices, verdict)
	return err
}

var errBadRow = errors.New("bad row")
