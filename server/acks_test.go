package server

import (
	"bufio"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/fleetwire/fleetwire/codec"
	"github.com/fleetwire/fleetwire/codec/control"
	"github.com/fleetwire/fleetwire/codec/wire"
	"github.com/fleetwire/fleetwire/server/sink"
)

// storedLine waits for the next #stored line on r, skipping others.
func storedLine(t *testing.T, r *bufio.Reader, c net.Conn) string {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		l, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("no #stored: %v", err)
		}
		if strings.HasPrefix(l, "#stored ") {
			return strings.TrimSuffix(l, "\n")
		}
	}
}

// dialAcking connects a text device to srv's TCP listener, sends lines
// (its hello and first frames) and returns the connection and a reader
// of what the server sends back; the connection closes with the test.
func dialAcking(t *testing.T, srv *Server, lines string) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.Dial("tcp", srv.Addr(TCP).String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if _, err := fmt.Fprint(c, lines); err != nil {
		t.Fatal(err)
	}
	return c, bufio.NewReader(c)
}

// TestAckStream: a TCP device that opted in gets #stored lines for what
// the file sink made durable, holes listed as ranges; a resend of a
// sample already stored is counted and not stored again; the device's
// page shows its ack state.
func TestAckStream(t *testing.T) {
	for _, engine := range []string{"gnet", "std"} {
		t.Run(engine, func(t *testing.T) {
			data := t.TempDir()
			srv := startServer(t, func(c *Config) {
				c.Engine, c.Sink, c.AckInterval = engine, files(t, data), 200*time.Millisecond
			})
			c, r := dialAcking(t, srv, "#hello dev-a ack 64\ndev-a;0;1,2,3\n")
			if got := storedLine(t, r, c); got != "#stored dev-a 3" {
				t.Fatalf("first ack %q", got)
			}
			// 3-4 lost on the way; 5-6 arrive, then a resend of 0-2.
			fmt.Fprintf(c, "dev-a;5;6,7\ndev-a;0;1,2,3\n")
			waitFor(t, 5*time.Second, "#stored with the hole", func() bool {
				return storedLine(t, r, c) == "#stored dev-a 3 5-6"
			})
			fmt.Fprintf(c, "dev-a;3;4,5\n")
			waitFor(t, 5*time.Second, "#stored past the hole", func() bool {
				return storedLine(t, r, c) == "#stored dev-a 7"
			})
			d, _ := srv.Device("dev-a")
			if d.Readings != 7 || d.Lost != 0 || d.Ack == nil || d.Ack.Resent != 3 || d.Ack.AckedThrough != 7 {
				t.Fatalf("device %+v ack %+v: want 7 readings, 3 resent, acked through 7", d, d.Ack)
			}
			if st := srv.Stats(); st.Acks.Devices != 1 || st.Acks.Resent != 3 {
				t.Fatalf("ack stats %+v", st.Acks)
			}
			if err := srv.Shutdown(t.Context()); err != nil {
				t.Fatal(err)
			}
			seqs := map[uint64]int{}
			rd, err := sink.OpenReader(data)
			if err != nil {
				t.Fatal(err)
			}
			for rd.Next() {
				seqs[rd.Row().Seq]++
			}
			rd.Close()
			for q := range uint64(7) {
				if seqs[q] != 1 {
					t.Fatalf("sample %d stored %d times: %v", q, seqs[q], seqs)
				}
			}
		})
	}
}

// TestAckDatagrams: a UDP device gets #stored datagrams at its address,
// in binary when it speaks binary; devices behind one address (a gateway)
// share a datagram; #gaveup moves the acknowledgement past a hole and
// counts it as lost.
func TestAckDatagrams(t *testing.T) {
	srv := startServer(t, func(c *Config) { c.AckInterval = 200 * time.Millisecond })
	gw := udpFrom(t, "127.0.0.1", srv.Addr(UDP))
	enc := wire.NewEncoder(codec.Codec{Format: codec.FormatBinary}, 0, nil)
	var dgram []byte
	for _, id := range []string{"gw-1.a", "gw-1.b"} {
		dgram = control.AppendBinary(dgram, &codec.Control{Kind: codec.ControlHello, Device: []byte(id), Ack: true, Window: 100})
		dgram = enc.Append(dgram, &codec.Frame{Device: []byte(id), Seq: 0, Flags: codec.HasSeq, Channels: 1,
			Times: []int64{0, 0}, Values: []codec.Value{codec.Decimal(1, 0), codec.Decimal(2, 0)}})
	}
	if _, err := gw.Write(dgram); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 2048)
	_ = gw.SetReadDeadline(time.Now().Add(10 * time.Second))
	n, err := gw.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	var b codec.Batch
	dec := wire.NewDecoder(codec.Limits{}, 0, nil)
	for off := 0; off < n; {
		total := int(buf[off+1]) + 2 // short frames: one-byte length
		if err := dec.Decode(&b, buf[off:off+total]); err != nil {
			t.Fatalf("decode % x: %v", buf[off:n], err)
		}
		off += total
	}
	if len(b.Controls) != 2 || b.Controls[0].Kind != codec.ControlStored || b.Controls[0].Seq != 2 || b.Controls[1].Seq != 2 {
		t.Fatalf("one datagram with both devices' #stored through 2, got %+v", b.Controls)
	}
	fmt.Fprintf(gw, "gw-1.a;5;6\n#gaveup gw-1.a 5\n")
	_ = gw.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		n, err := gw.Read(buf)
		if err != nil {
			t.Fatal(err)
		}
		if string(buf[:n]) == "#stored gw-1.a 6\n" {
			break
		}
	}
	if d, _ := srv.Device("gw-1.a"); d.Lost != 3 || d.Readings != 3 {
		t.Fatalf("after #gaveup: %+v, want 3 readings and the 3 given up lost", d)
	}
}

// TestAckOnlyWhenDurable: nothing is acknowledged before the sink says it
// is durable; a chunk the sink could not write is never acknowledged and
// its samples are taken again when resent.
func TestAckOnlyWhenDurable(t *testing.T) {
	srv := startServer(t, func(c *Config) { c.Sink, c.AckInterval = files(t, t.TempDir()), 100*time.Millisecond })
	c, err := net.Dial("tcp", srv.Addr(TCP).String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r := bufio.NewReader(c)
	fmt.Fprintf(c, "#hello dev-d ack 64\ndev-d;0;1\n")
	storedLine(t, r, c)
	// A receipt that settles false takes the samples back.
	s := srv.reg.lookup("dev-d")
	rc := srv.acker.receipt()
	s.mu.Lock()
	_, _ = s.ack.received.Add(1, 4, nil)
	s.mu.Unlock()
	rc.entries = append(rc.entries, ackEntry{s: s, lo: 1, hi: 4})
	rc.Settled(false)
	waitFor(t, 5*time.Second, "the failed samples taken back", func() bool { return srv.Stats().Acks.Failed == 4 })
	fmt.Fprintf(c, "dev-d;1;2,3,4,5\n")
	if got := storedLine(t, r, c); got != "#stored dev-d 5" {
		t.Fatalf("after the resend: %q", got)
	}
	if d, _ := srv.Device("dev-d"); d.Ack.Resent != 0 {
		t.Fatalf("the resend of samples the sink lost counted as a duplicate: %+v", d.Ack)
	}
}

// TestAckRestart: what a device was sent no ack for and resends after the
// server restarted on the same data directory is stored once: the
// checkpoint written with the segments, and the rows after it, tell the
// new server what it holds. The device hears so at its hello.
func TestAckRestart(t *testing.T) {
	dir := t.TempDir()
	first := startServer(t, func(c *Config) { c.Sink, c.AckInterval = files(t, dir), 100*time.Millisecond })
	c, err := net.Dial("tcp", first.Addr(TCP).String())
	if err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(c)
	fmt.Fprintf(c, "#hello dev-r ack 500\n")
	for q := range 100 {
		fmt.Fprintf(c, "dev-r;%d;%d\n", q, q)
	}
	waitFor(t, 10*time.Second, "#stored through 100", func() bool { return storedLine(t, r, c) == "#stored dev-r 100" })
	c.Close()
	if err := first.Shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}

	second := startServer(t, func(c *Config) { c.Sink, c.AckInterval = files(t, dir), 100*time.Millisecond })
	c, err = net.Dial("tcp", second.Addr(TCP).String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r = bufio.NewReader(c)
	fmt.Fprintf(c, "#hello dev-r ack 500\n")
	if got := storedLine(t, r, c); got != "#stored dev-r 100" {
		t.Fatalf("at hello after the restart: %q", got)
	}
	for q := 50; q < 150; q++ { // a device that missed the last acks resends
		fmt.Fprintf(c, "dev-r;%d;%d\n", q, q)
	}
	waitFor(t, 10*time.Second, "#stored through 150", func() bool { return storedLine(t, r, c) == "#stored dev-r 150" })
	if d, _ := second.Device("dev-r"); d.Ack.Resent != 50 || d.Readings != 50 {
		t.Fatalf("after the resend: %d readings, ack %+v: want 50 new, 50 resent", d.Readings, d.Ack)
	}
	if err := second.Shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}
	rd, err := sink.OpenReader(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	seqs := map[uint64]int{}
	for rd.Next() {
		seqs[rd.Row().Seq]++
	}
	for q := range uint64(150) {
		if seqs[q] != 1 {
			t.Fatalf("sample %d stored %d times", q, seqs[q])
		}
	}
}

// TestAckRestartDatagrams: a UDP device stops putting its hello in front
// of its datagrams once it heard a #stored, so after a restart the new
// server sees it bare. The state recovered from the data directory says
// it acknowledges: its resends are stored once and it hears #stored
// without a hello; its window is unknown (0) until it sends one again. A
// device the server recovered nothing for stays plain.
func TestAckRestartDatagrams(t *testing.T) {
	dir := t.TempDir()
	cfg := func(c *Config) { c.Sink, c.AckInterval = files(t, dir), 100*time.Millisecond }
	samples := func(from, to int) string {
		var b strings.Builder
		for q := from; q < to; q++ {
			if q > from {
				b.WriteByte(',')
			}
			fmt.Fprint(&b, q)
		}
		return fmt.Sprintf("dev-u;%d;%s\n", from, b.String())
	}
	waitStored := func(c *net.UDPConn, want string) {
		t.Helper()
		buf := make([]byte, 2048)
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		for {
			n, err := c.Read(buf)
			if err != nil {
				t.Fatalf("waiting for %q: %v", want, err)
			}
			if string(buf[:n]) == want+"\n" {
				return
			}
		}
	}
	first := startServer(t, cfg)
	c := udpFrom(t, "127.0.0.1", first.Addr(UDP))
	fmt.Fprint(c, "#hello dev-u ack 500\n"+samples(0, 100))
	waitStored(c, "#stored dev-u 100")
	if err := first.Shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}

	second := startServer(t, cfg)
	c = udpFrom(t, "127.0.0.1", second.Addr(UDP))
	fmt.Fprint(c, samples(50, 150)) // no hello: it heard a #stored before
	waitStored(c, "#stored dev-u 150")
	d, _ := second.Device("dev-u")
	if d.Ack == nil || d.Ack.Resent != 50 || d.Readings != 50 || d.Ack.Window != 0 {
		t.Fatalf("after the bare resend: %d readings, ack %+v: want 50 new, 50 resent, window 0", d.Readings, d.Ack)
	}
	fmt.Fprint(c, "#hello dev-u ack 500\n")
	waitFor(t, 5*time.Second, "the window of the new hello", func() bool {
		d, _ := second.Device("dev-u")
		return d.Ack.Window == 500
	})
	p := udpFrom(t, "127.0.0.1", second.Addr(UDP))
	fmt.Fprint(p, "dev-p;0;1\n")
	waitFor(t, 5*time.Second, "dev-p's reading", func() bool { d, ok := second.Device("dev-p"); return ok && d.Readings == 1 })
	if d, _ := second.Device("dev-p"); d.Ack != nil {
		t.Fatalf("a device the server recovered nothing for opted in: %+v", d.Ack)
	}
}

// TestAckRepeatedForResend: a device that resends samples the server
// holds did not hear the #stored that covered them (it was lost): the
// server says it again, although nothing new became durable.
func TestAckRepeatedForResend(t *testing.T) {
	srv := startServer(t, func(c *Config) { c.Sink, c.AckInterval = files(t, t.TempDir()), 100*time.Millisecond })
	c, r := dialAcking(t, srv, "#hello dev-a ack 64\ndev-a;0;1,2,3,4\n")
	if got := storedLine(t, r, c); got != "#stored dev-a 4" {
		t.Fatalf("first ack: %q", got)
	}
	fmt.Fprintf(c, "dev-a;2;3,4\n") // as if that #stored had been lost
	if got := storedLine(t, r, c); got != "#stored dev-a 4" {
		t.Fatalf("after the resend: %q", got)
	}
	if d, _ := srv.Device("dev-a"); d.Ack.Resent != 2 || d.Readings != 4 {
		t.Fatalf("after the resend: %d readings, ack %+v: want 4 readings, 2 resent", d.Readings, d.Ack)
	}
}

// TestAckRestartCountsGivenUp: after a restart the server counts, as a
// device's lost readings, what it gave up above the samples the server
// recovered, as it would have without the restart, although the #gaveup
// comes before any frame says how many channels the device has: over TCP
// after the hello, over UDP bare (the device heard a #stored before).
func TestAckRestartCountsGivenUp(t *testing.T) {
	for _, tr := range []string{"tcp", "udp"} {
		t.Run(tr, func(t *testing.T) {
			dir := t.TempDir()
			cfg := func(c *Config) { c.Sink, c.AckInterval = files(t, dir), 100*time.Millisecond }
			first := startServer(t, cfg)
			c, err := net.Dial("tcp", first.Addr(TCP).String())
			if err != nil {
				t.Fatal(err)
			}
			r := bufio.NewReader(c)
			fmt.Fprintf(c, "#hello dev-g ack 64\ndev-g;0;1:1,2:2,3:3,4:4,5:5,6:6,7:7,8:8,9:9,10:10\n")
			waitFor(t, 10*time.Second, "#stored through 10", func() bool { return storedLine(t, r, c) == "#stored dev-g 10" })
			c.Close()
			if err := first.Shutdown(t.Context()); err != nil {
				t.Fatal(err)
			}

			// Samples 10-19 were given up during the outage.
			second := startServer(t, cfg)
			const after = "#gaveup dev-g 20\ndev-g;20;21:21,22:22\n"
			if tr == "tcp" {
				c, err := net.Dial("tcp", second.Addr(TCP).String())
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				fmt.Fprint(c, "#hello dev-g ack 64\n"+after)
			} else {
				fmt.Fprint(udpFrom(t, "127.0.0.1", second.Addr(UDP)), after)
			}
			waitFor(t, 5*time.Second, "dev-g's readings", func() bool { d, ok := second.Device("dev-g"); return ok && d.Readings == 4 })
			if d, _ := second.Device("dev-g"); d.Lost != 20 || d.NextSeq != 22 || d.Ack == nil {
				t.Fatalf("lost %d readings, next %d, ack %+v: want the 10 samples of 2 channels given up lost, next 22, acknowledging", d.Lost, d.NextSeq, d.Ack)
			}
		})
	}
}

// TestAckAfterEndOfStream: after a device's #eos the server acknowledges
// at once each time more of it becomes durable, not once per interval:
// the #stored that shows the tail's hole, and the one after the resend
// that fills it, come although the ack interval is an hour.
func TestAckAfterEndOfStream(t *testing.T) {
	srv := startServer(t, func(c *Config) { c.Sink, c.AckInterval = files(t, t.TempDir()), time.Hour })
	c, r := dialAcking(t, srv, "#hello dev-a ack 64\ndev-a;0;1,2,3\n")
	if got := storedLine(t, r, c); got != "#stored dev-a 3" {
		t.Fatalf("first ack %q", got)
	}
	// 3-4 lost on the way, 5-6 arrive, the stream ends at 7.
	fmt.Fprintf(c, "dev-a;5;6,7\n#eos dev-a 7\n")
	waitFor(t, 5*time.Second, "#stored with the tail's hole", func() bool {
		return storedLine(t, r, c) == "#stored dev-a 3 5-6"
	})
	fmt.Fprintf(c, "dev-a;3;4,5\n")
	waitFor(t, 5*time.Second, "#stored after the resend", func() bool {
		return storedLine(t, r, c) == "#stored dev-a 7"
	})
	// Everything up to the end is acknowledged: a resend of it is
	// answered (it did not hear), but new samples past the end wait for
	// the interval again.
	fmt.Fprintf(c, "dev-a;7;8\n")
	_ = c.SetReadDeadline(time.Now().Add(time.Second))
	if l, err := r.ReadString('\n'); err == nil {
		t.Fatalf("a #stored within a second of a new stream past the end: %q", l)
	}
}

// TestAckSolo: a device whose hello says solo (no other device on its
// link) gets #stored without its id, in binary 10 bytes fewer for a
// 10-byte id; a gateway's devices, which do not say it, keep theirs.
func TestAckSolo(t *testing.T) {
	srv := startServer(t, func(c *Config) { c.AckInterval = 200 * time.Millisecond })
	dev := udpFrom(t, "127.0.0.1", srv.Addr(UDP))
	enc := wire.NewEncoder(codec.Codec{Format: codec.FormatBinary}, 0, nil)
	dgram := control.AppendBinary(nil, &codec.Control{Kind: codec.ControlHello, Device: []byte("dev-000001"), Ack: true, Window: 100, Solo: true})
	dgram = enc.Append(dgram, &codec.Frame{Device: []byte("dev-000001"), Seq: 0, Flags: codec.HasSeq, Channels: 1,
		Times: []int64{0, 0}, Values: []codec.Value{codec.Decimal(1, 0), codec.Decimal(2, 0)}})
	if _, err := dev.Write(dgram); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 2048)
	_ = dev.SetReadDeadline(time.Now().Add(10 * time.Second))
	n, err := dev.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	want := control.AppendBinary(nil, &codec.Control{Kind: codec.ControlStored, Seq: 2})
	if string(buf[:n]) != string(want) {
		t.Fatalf("#stored % x, want % x (no id)", buf[:n], want)
	}
	withID := control.AppendBinary(nil, &codec.Control{Kind: codec.ControlStored, Device: []byte("dev-000001"), Seq: 2})
	if len(withID)-len(want) != 10 {
		t.Fatalf("%d bytes with the id, %d without", len(withID), len(want))
	}

	c, r := dialAcking(t, srv, "#hello dev-b ack 64 solo\ndev-b;0;1,2,3\n")
	if got := storedLine(t, r, c); got != "#stored 3" {
		t.Fatalf("text #stored to a solo device %q, want \"#stored 3\"", got)
	}
}

// TestAckSoloStaleAddress: a solo device's #stored leaves out its id only
// on the path its solo hello came over. A UDP device that lost its NAT
// binding sends its next report bare from a new port; once it moves on
// again, that port may be handed to another device (the generator's
// sockets, like a NAT's external ports, reuse ports), and a #stored
// without an id sent there is taken by that device as its own: it frees
// samples the server never stored. Here device b takes the port device a
// reported from last, and must hear a's acknowledgement named as a's.
func TestAckSoloStaleAddress(t *testing.T) {
	srv := startServer(t, func(c *Config) { c.AckInterval = 2 * time.Second })
	enc := wire.NewEncoder(codec.Codec{Format: codec.FormatBinary}, 0, nil)
	hello := func(id string) []byte {
		return control.AppendBinary(nil, &codec.Control{Kind: codec.ControlHello, Device: []byte(id), Ack: true, Window: 100, Solo: true})
	}
	frame := func(dst []byte, id string, seq uint64) []byte {
		return enc.Append(dst, &codec.Frame{Device: []byte(id), Seq: seq, Flags: codec.HasSeq, Channels: 1,
			Times: []int64{0, 0, 0}, Values: []codec.Value{codec.Decimal(1, 0), codec.Decimal(2, 0), codec.Decimal(3, 0)}})
	}
	send := func(c *net.UDPConn, b []byte) {
		t.Helper()
		if _, err := c.Write(b); err != nil {
			t.Fatal(err)
		}
	}
	// Device a: its first report with its solo hello, acknowledged at once.
	a1 := udpFrom(t, "127.0.0.1", srv.Addr(UDP))
	send(a1, frame(hello("dev-a"), "dev-a", 0))
	if got := readStored(t, a1, 5*time.Second); len(got) != 1 || got[0].Device != nil || got[0].Seq != 3 {
		t.Fatalf("a's first #stored: %+v", got)
	}
	// Its next report, bare, from a new socket: acknowledged at the
	// interval, 2 s after the first.
	a2 := udpFrom(t, "127.0.0.1", srv.Addr(UDP))
	send(a2, frame(nil, "dev-a", 3))
	waitFor(t, time.Second, "a's second report received", func() bool {
		d, _ := srv.Device("dev-a")
		return d.Readings == 6
	})
	// a moves on; b gets a2's port and reports 0-2 (its 3-5 were lost).
	port := a2.LocalAddr().(*net.UDPAddr)
	a2.Close()
	b, err := net.DialUDP("udp", port, srv.Addr(UDP).(*net.UDPAddr))
	if err != nil {
		t.Fatalf("b takes a's old port: %v", err)
	}
	defer b.Close()
	send(b, frame(hello("dev-b"), "dev-b", 0))
	var sawA bool
	deadline := time.Now().Add(5 * time.Second)
	for !sawA && time.Now().Before(deadline) {
		for _, c := range readStored(t, b, time.Until(deadline)) {
			switch {
			case c.Device == nil && c.Seq != 3:
				t.Fatalf("b's port got #stored %d without an id: b would take a's acknowledgement as its own", c.Seq)
			case string(c.Device) == "dev-a":
				sawA = true
			}
		}
	}
	if !sawA {
		t.Fatal("a's #stored never went to its last address: the test did not set up the case")
	}
}

// readStored reads one datagram of #stored frames from c.
func readStored(t *testing.T, c *net.UDPConn, wait time.Duration) []codec.Control {
	t.Helper()
	buf := make([]byte, 2048)
	_ = c.SetReadDeadline(time.Now().Add(wait))
	n, err := c.Read(buf)
	if err != nil {
		t.Fatalf("no #stored: %v", err)
	}
	var b codec.Batch
	dec := wire.NewDecoder(codec.Limits{}, 0, nil)
	var out []codec.Control
	for off := 0; off < n; {
		total := int(buf[off+1]) + 2 // short frames: one-byte length
		b.Reset()
		if err := dec.Decode(&b, buf[off:off+total]); err != nil {
			t.Fatalf("decode % x: %v", buf[off:n], err)
		}
		for _, ctl := range b.Controls {
			ctl.Device = append([]byte(nil), ctl.Device...)
			if len(ctl.Device) == 0 {
				ctl.Device = nil
			}
			out = append(out, ctl)
		}
		off += total
	}
	return out
}

// TestAckEndFromNewAddress: a UDP device whose binding was lost may send
// only an #eos or #gaveup from its new port (the report before it was
// lost): the #stored it asks for go to that port, with its id, not to
// the port of its solo hello, which may be another device's by then.
func TestAckEndFromNewAddress(t *testing.T) {
	enc := wire.NewEncoder(codec.Codec{Format: codec.FormatBinary}, 0, nil)
	for _, kind := range []codec.ControlKind{codec.ControlEOS, codec.ControlGaveUp} {
		srv := startServer(t, func(c *Config) { c.AckInterval = time.Hour })
		a1 := udpFrom(t, "127.0.0.1", srv.Addr(UDP))
		dgram := control.AppendBinary(nil, &codec.Control{Kind: codec.ControlHello, Device: []byte("dev-e"), Ack: true, Window: 100, Solo: true})
		dgram = enc.Append(dgram, &codec.Frame{Device: []byte("dev-e"), Seq: 0, Flags: codec.HasSeq, Channels: 1,
			Times: []int64{0, 0, 0}, Values: []codec.Value{codec.Decimal(1, 0), codec.Decimal(2, 0), codec.Decimal(3, 0)}})
		if _, err := a1.Write(dgram); err != nil {
			t.Fatal(err)
		}
		if got := readStored(t, a1, 5*time.Second); len(got) != 1 || got[0].Device != nil || got[0].Seq != 3 {
			t.Fatalf("first #stored: %+v", got)
		}
		a2 := udpFrom(t, "127.0.0.1", srv.Addr(UDP))
		if _, err := a2.Write(control.AppendBinary(nil, &codec.Control{Kind: kind, Device: []byte("dev-e"), Seq: 6})); err != nil {
			t.Fatal(err)
		}
		got := readStored(t, a2, 5*time.Second)
		if len(got) != 1 || string(got[0].Device) != "dev-e" {
			t.Fatalf("after %v from a new port, that port got %+v; want a #stored naming dev-e", kind, got)
		}
	}
}
