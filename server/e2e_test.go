package server

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fleetwire/fleetwire/codec"
	"github.com/fleetwire/fleetwire/codec/wire"
	"github.com/fleetwire/fleetwire/server/sink"
)

// startServer runs a server on loopback port 0 with the given engine and
// sink, and shuts it down at the end of the test.
func startServer(t testing.TB, mutate func(*Config)) *Server {
	t.Helper()
	cfg := Config{
		TCPAddr: "127.0.0.1:0", UDPAddr: "127.0.0.1:0", Engine: "gnet", UDPRcvBuf: 4 << 20, Loops: 2, UDPReaders: 2,
	}
	if mutate != nil {
		mutate(&cfg)
	}
	srv, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if !srv.closing.Load() {
			_ = srv.Shutdown(context.Background())
		}
	})
	return srv
}

// files opens a file sink in dir for a test server, which closes it.
func files(t testing.TB, dir string) sink.Sink {
	t.Helper()
	fs, err := sink.OpenFiles(sink.FileConfig{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	return fs
}

// simDevice is what a test device sent: ground truth to compare against.
type simDevice struct {
	id     string
	codec  codec.Codec
	frames []*codec.Frame
}

func (d *simDevice) readings() int {
	n := 0
	for _, f := range d.frames {
		n += f.Readings()
	}
	return n
}

// makeDevice builds frames of a random walk with the written decimals a
// device prints, batch samples per frame, channels per sample.
func makeDevice(id string, c codec.Codec, frames, batch, channels int, rng *rand.Rand) *simDevice {
	d := &simDevice{id: id, codec: c}
	seq := uint64(0)
	t := int64(1_700_000_000_000)
	vals := make([]int64, channels)
	for i := range vals {
		vals[i] = rng.Int64N(4000) - 1000
	}
	for range frames {
		f := &codec.Frame{Device: []byte(id), Seq: seq, Flags: codec.HasSeq | codec.HasTime, Channels: channels}
		for range batch {
			f.Times = append(f.Times, t)
			t += 1000
			for c := range vals {
				vals[c] += rng.Int64N(7) - 3
				f.Values = append(f.Values, codec.Decimal(vals[c], uint8(1+c%3)))
			}
		}
		seq += uint64(batch)
		d.frames = append(d.frames, f)
	}
	return d
}

var allCodecs = codec.Codecs()

// sendTCP plays one device over TCP: hello, frames, end-of-stream.
func sendTCP(addr string, d *simDevice) error {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	enc := wire.NewEncoder(d.codec, '\n', nil)
	buf := enc.AppendControl(nil, &codec.Control{Kind: codec.ControlHello, Device: []byte(d.id)})
	for _, f := range d.frames {
		buf = enc.Append(buf, f)
	}
	next := d.frames[len(d.frames)-1].Seq + uint64(d.frames[len(d.frames)-1].Samples())
	buf = enc.AppendControl(buf, &codec.Control{Kind: codec.ControlEOS, Device: []byte(d.id), Seq: next})
	_, err = c.Write(buf)
	return err
}

// sendUDP plays one device over UDP, a frame per datagram, paced so a
// test on a busy machine stays under the socket buffers.
func sendUDP(addr string, d *simDevice) error {
	c, err := net.Dial("udp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	enc := wire.NewEncoder(d.codec, '\n', nil)
	for _, f := range d.frames {
		if _, err := c.Write(enc.Append(nil, f)); err != nil {
			return err
		}
		time.Sleep(time.Millisecond)
	}
	next := d.frames[len(d.frames)-1].Seq + uint64(d.frames[len(d.frames)-1].Samples())
	_, err = c.Write(enc.AppendControl(nil, &codec.Control{Kind: codec.ControlEOS, Device: []byte(d.id), Seq: next}))
	return err
}

// runFleet sends every device concurrently (bounded) and waits.
func runFleet(t testing.TB, devs []*simDevice, send func(*simDevice) error) {
	t.Helper()
	var wg sync.WaitGroup
	sem := make(chan struct{}, 200)
	errs := make(chan error, len(devs))
	for _, d := range devs {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if err := send(d); err != nil {
				errs <- fmt.Errorf("%s: %w", d.id, err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestEndToEnd(t *testing.T) {
	for _, engine := range []string{"gnet", "std"} {
		t.Run(engine, func(t *testing.T) {
			testEndToEnd(t, func(c *Config) { c.Engine = engine })
		})
	}
	// The recvmmsg readers without coalescing: a wait per empty socket.
	t.Run("gnet/udp-coalesce=0", func(t *testing.T) {
		testEndToEnd(t, func(c *Config) { c.UDPCoalesce = 0 })
	})
}

func testEndToEnd(t *testing.T, configure func(*Config)) {
	const perTransport, frames, batch = 1000, 5, 4
	data := t.TempDir()
	srv := startServer(t, func(c *Config) {
		configure(c)
		c.Sink = files(t, data)
	})
	rng := rand.New(rand.NewPCG(1, 2))
	var tcpDevs, udpDevs []*simDevice
	want := 0
	for i := range perTransport {
		c := allCodecs[i%len(allCodecs)]
		tcpDevs = append(tcpDevs, makeDevice(fmt.Sprintf("tcp-%04d", i), c, frames, batch, 1+i%3, rng))
		udpDevs = append(udpDevs, makeDevice(fmt.Sprintf("udp-%04d", i), c, frames, batch, 1+i%3, rng))
		want += tcpDevs[i].readings() + udpDevs[i].readings()
	}
	tcpAddr, udpAddr := srv.Addr(TCP).String(), srv.Addr(UDP).String()
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); runFleet(t, tcpDevs, func(d *simDevice) error { return sendTCP(tcpAddr, d) }) }()
	go func() { defer wg.Done(); runFleet(t, udpDevs, func(d *simDevice) error { return sendUDP(udpAddr, d) }) }()
	wg.Wait()

	waitFor(t, 30*time.Second, "every end-of-stream", func() bool { return srv.Stats().EOS == 2*perTransport })
	st := srv.Stats()
	if st.Readings != uint64(want) || st.Lost != 0 || st.Duplicates != 0 || st.Reordered != 0 || st.Devices != 2*perTransport {
		t.Fatalf("server counted readings=%d lost=%d dups=%d reordered=%d devices=%d; want %d readings, 0 lost, %d devices; errors %v",
			st.Readings, st.Lost, st.Duplicates, st.Reordered, st.Devices, want, 2*perTransport, st.Errors)
	}
	if len(st.Errors) != 0 || len(st.Dropped) != 0 {
		t.Fatalf("errors %v dropped %v", st.Errors, st.Dropped)
	}
	for _, tr := range []string{"tcp", "udp"} {
		if ts := st.Transports[tr]; ts.Devices != perTransport || ts.Readings != uint64(want/2) {
			t.Fatalf("%s: devices=%d readings=%d, want %d and %d", tr, ts.Devices, ts.Readings, perTransport, want/2)
		}
	}
	if err := srv.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if st := srv.Stats(); st.Stored != uint64(want) || st.Sink.Stored != uint64(want) {
		t.Fatalf("stored %d (sink %d), want %d", st.Stored, st.Sink.Stored, want)
	}
	checkSink(t, data, append(tcpDevs, udpDevs...))
}

// checkSink reads every stored row back and compares it, as text, with
// what the devices sent.
func checkSink(t *testing.T, dataDir string, devs []*simDevice) {
	t.Helper()
	r, err := sink.OpenReader(dataDir)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	got := map[string][]string{}
	for r.Next() {
		row := r.Row()
		var sb strings.Builder
		fmt.Fprintf(&sb, "%d;%d;", row.Seq, row.Time)
		for i, v := range row.Values {
			if i > 0 {
				sb.WriteByte(':')
			}
			sb.WriteString(v.String())
		}
		got[string(row.Device)] = append(got[string(row.Device)], sb.String())
	}
	if err := r.Err(); err != nil {
		t.Fatal(err)
	}
	if d := r.Damage(); len(d) > 0 {
		t.Fatalf("sink damage: %v", d)
	}
	for _, d := range devs {
		var want []string
		for _, f := range d.frames {
			for i := 0; i < f.Samples(); i++ {
				var sb strings.Builder
				fmt.Fprintf(&sb, "%d;%d;", f.Seq+uint64(i), f.Times[i])
				for c, v := range f.Sample(i) {
					if c > 0 {
						sb.WriteByte(':')
					}
					sb.WriteString(v.String())
				}
				want = append(want, sb.String())
			}
		}
		if g := got[d.id]; strings.Join(g, "\n") != strings.Join(want, "\n") {
			t.Fatalf("device %s (%s): sink holds\n%s\nwant\n%s", d.id, d.codec, strings.Join(g, "\n"), strings.Join(want, "\n"))
		}
		delete(got, d.id)
	}
	if len(got) != 0 {
		t.Fatalf("sink holds rows of %d unknown devices", len(got))
	}
}

// TestTCPInfo: closed connections' kernel counters reach the stats, so a
// benchmark can count on-wire bytes from counters.
func TestTCPInfo(t *testing.T) {
	for _, engine := range []string{"gnet", "std"} {
		t.Run(engine, func(t *testing.T) {
			srv := startServer(t, func(c *Config) { c.Engine = engine })
			line := []byte("dev-ti;0;1.5,2.5,3.5\n")
			c, err := net.Dial("tcp", srv.Addr(TCP).String())
			if err != nil {
				t.Fatal(err)
			}
			if _, err := c.Write(line); err != nil {
				t.Fatal(err)
			}
			c.Close()
			waitFor(t, 5*time.Second, "TCP_INFO of the closed connection", func() bool {
				ti := srv.Stats().Transports["tcp"].TCPInfo
				return ti != nil && ti.Conns == 1
			})
			ti := srv.Stats().Transports["tcp"].TCPInfo
			// tcpi_bytes_received counts the peer's FIN as one byte of
			// sequence space once the FIN was read before the close.
			if got := ti.BytesReceived; (got != uint64(len(line)) && got != uint64(len(line))+1) || ti.SegsIn < 2 || ti.DataSegsIn != 1 {
				t.Fatalf("tcp_info %+v: want %d bytes received in 1 data segment", ti, len(line))
			}
		})
	}
}
