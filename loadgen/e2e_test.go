package loadgen

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fleetwire/fleetwire/codec"
)

func TestTCPCountsMatchSink(t *testing.T) {
	s := newSink(t)
	c := testConfig(TCP, s.listenTCP(nil))
	rep := runOK(t, c)
	s.waitClosed()
	s.check(rep)
	want := uint64(c.Devices * c.Samples * c.Channels)
	if rep.ReadingsSent != want || rep.EOSSent != uint64(c.Devices) || rep.ConnectFailuresTotal != 0 {
		t.Fatalf("readings %d (want %d), eos %d, connect failures %v", rep.ReadingsSent, want, rep.EOSSent, rep.ConnectFailures)
	}
}

func TestUDPCountsMatchSink(t *testing.T) {
	s := newSink(t)
	c := testConfig(UDP, s.listenUDP())
	rep := runOK(t, c)
	s.waitEOS(c.Devices)
	s.check(rep)
	if rep.SendErrors != 0 || rep.FramesSent != uint64(c.Devices*c.Samples/c.Batch) {
		t.Fatalf("send errors %v, frames %d", rep.SendErrorsByReason, rep.FramesSent)
	}
}

// TestCommands sends commands from the sink while the fleet runs: every
// command is acknowledged and the LEDs end in the state they were told.
func TestCommands(t *testing.T) {
	for _, tr := range []Transport{TCP, UDP} {
		for _, name := range []string{"text", "binary"} {
			t.Run(string(tr)+"/"+name, func(t *testing.T) {
				s := newSink(t)
				addr := ""
				if tr == TCP {
					addr = s.listenTCP(nil)
				} else {
					addr = s.listenUDP()
				}
				c := testConfig(tr, addr)
				c.Devices, c.Rate, c.Samples = 40, 20, 40 // 2 s of sending
				c.Codec, _ = codec.ParseCodec(name)
				done := make(chan *Report, 1)
				go func() { done <- runOK(t, c) }()
				s.waitFor(10*time.Second, "every device", func() bool {
					n := 0
					for _, d := range s.devs {
						if d.conn != nil || d.addr != nil {
							n++
						}
					}
					return n == c.Devices
				})
				payloads := []string{"LED ON", "LED TOGGLE", "led on", "BLINK 3"}
				for i := range c.Devices {
					id := c.deviceID(i)
					p := payloads[i%len(payloads)]
					if err := s.command(id, uint64(100+i), p); err != nil {
						t.Fatal(err)
					}
					if i%len(payloads) == 1 { // toggled twice: back off
						if err := s.command(id, uint64(1000+i), "LED TOGGLE"); err != nil {
							t.Fatal(err)
						}
					}
				}
				rep := <-done
				s.waitClosed()
				s.waitEOS(c.Devices)
				s.waitFor(5*time.Second, "every ack", func() bool {
					n := 0
					for _, d := range s.devs {
						n += len(d.acks)
					}
					return n == c.Devices+c.Devices/len(payloads)
				})
				s.check(rep)
				// Repeated UDP end-of-stream copies may still be arriving.
				s.mu.Lock()
				defer s.mu.Unlock()
				for i, d := range rep.PerDevice {
					wantLED, wantAck := "on", codec.AckOK
					switch i % len(payloads) {
					case 1:
						wantLED = "off"
					case 3:
						wantLED, wantAck = "off", codec.AckUnknown
					}
					if d.LED != wantLED {
						t.Errorf("%s: LED %s, want %s", d.Device, d.LED, wantLED)
					}
					if got := s.devs[d.Device].acks[uint64(100+i)]; got != wantAck {
						t.Errorf("%s: ack %v, want %v", d.Device, got, wantAck)
					}
				}
				wantCmds := uint64(c.Devices + c.Devices/len(payloads))
				if rep.CommandsReceived != wantCmds || rep.AcksSent != wantCmds || rep.CommandsUnknown != uint64(c.Devices/len(payloads)) {
					t.Fatalf("commands %d acks %d unknown %d, want %d %d %d", rep.CommandsReceived, rep.AcksSent, rep.CommandsUnknown, wantCmds, wantCmds, c.Devices/len(payloads))
				}
			})
		}
	}
}

func TestEveryCodec(t *testing.T) {
	for _, cd := range codec.Codecs() {
		for _, tr := range []Transport{TCP, UDP} {
			t.Run(cd.String()+"/"+string(tr), func(t *testing.T) {
				s := newSink(t)
				addr := ""
				if tr == TCP {
					addr = s.listenTCP(nil)
				} else {
					addr = s.listenUDP()
				}
				c := testConfig(tr, addr)
				c.Devices, c.Batch, c.Samples, c.Rate = 30, 10, 50, 500
				c.Codec = cd
				rep := runOK(t, c)
				s.waitClosed()
				s.waitEOS(c.Devices)
				s.check(rep)
			})
		}
	}
}

func TestRefusesRemoteTarget(t *testing.T) {
	f := func(addr string, allow bool, want string) {
		t.Helper()
		c := testConfig(TCP, addr)
		c.AllowRemote = allow
		c.Devices, c.ConnectRetries, c.ConnectTimeout = 1, 0, 200*time.Millisecond
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, err := Run(ctx, c)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("%s (allow %v): err %v, want it to mention %q", addr, allow, err, want)
		}
	}
	f("192.0.2.1:7070", false, "not a loopback address")
	f("[2001:db8::1]:7070", false, "not a loopback address")
	f("10.0.0.1:7070", false, "--allow-remote")
}

func TestUnboundedRunRefused(t *testing.T) {
	c := testConfig(TCP, "127.0.0.1:1")
	c.Samples, c.Duration = 0, 0
	_, err := Run(context.Background(), c)
	if err == nil || !strings.Contains(err.Error(), "unbounded") {
		t.Fatalf("err %v", err)
	}
}

// TestConnectFailuresByReason points the fleet at a closed port: every
// device retries, then gives up, counted as refused.
func TestConnectFailuresByReason(t *testing.T) {
	c := testConfig(TCP, "127.0.0.1:1")
	c.Devices, c.ConnectRetries = 10, 1
	rep, err := Run(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	if rep.ConnectFailures["refused"] != 10 || rep.ConnectRetries["refused"] != 10 || rep.FramesSent != 0 {
		t.Fatalf("failures %v retries %v frames %d", rep.ConnectFailures, rep.ConnectRetries, rep.FramesSent)
	}
}

func TestDurationStopsTheRun(t *testing.T) {
	s := newSink(t)
	c := testConfig(TCP, s.listenTCP(nil))
	c.Samples, c.Duration, c.Rate, c.Devices = 0, 500*time.Millisecond, 100, 50
	start := time.Now()
	rep := runOK(t, c)
	s.waitClosed()
	s.check(rep)
	if el := time.Since(start); el > 5*time.Second {
		t.Fatalf("a 0.5 s run took %v", el)
	}
	// 100 samples/s for 0.5 s in batches of 2: about 25 frames each.
	per := float64(rep.FramesSent) / float64(c.Devices)
	if per < 20 || per > 26 {
		t.Fatalf("%.1f frames per device, want about 25", per)
	}
}

func TestCancelEndsStreams(t *testing.T) {
	s := newSink(t)
	c := testConfig(TCP, s.listenTCP(nil))
	c.Samples, c.Duration = 0, time.Hour
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	type result struct {
		rep *Report
		err error
	}
	done := make(chan result, 1)
	go func() {
		rep, err := Run(ctx, c)
		done <- result{rep, err}
	}()
	// Cancel mid-run once every device is sending, not after a fixed
	// time: on a loaded machine the fleet may not even have connected.
	s.waitFor(30*time.Second, "every device sending", func() bool {
		n := 0
		for _, d := range s.devs {
			if d.frames > 0 {
				n++
			}
		}
		return n == c.Devices
	})
	cancel()
	var r result
	select {
	case r = <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return within 30 s of its context's cancel")
	}
	rep, err := r.rep, r.err
	if err != nil {
		t.Fatal(err)
	}
	s.waitClosed()
	s.check(rep)
	if rep.FramesSent == 0 {
		t.Fatal("nothing sent")
	}
}

func ExampleRun() {
	c := DefaultConfig()
	c.Transport, c.Addr = UDP, "127.0.0.1:7071"
	c.Devices, c.Rate, c.Batch, c.Samples = 1000, 10, 5, 100
	rep, err := Run(context.Background(), c)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(rep.ReadingsSent) // 1000 devices x 100 samples x 2 channels, if nothing failed
}

// TestBackpressureIsOpenLoop: a receiver that never reads does not slow
// the schedule down. Frames that do not fit the device's buffer are
// dropped (their sequence numbers consumed), the run ends on time, and
// end-of-stream gives up after the drain timeout.
func TestBackpressureIsOpenLoop(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var conns []net.Conn
	var mu sync.Mutex
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.(*net.TCPConn).SetReadBuffer(4096)
			mu.Lock()
			conns = append(conns, c) // held open, never read
			mu.Unlock()
		}
	}()
	defer func() {
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
	}()
	c := testConfig(TCP, ln.Addr().String())
	c.Devices, c.Rate, c.Batch, c.Samples = 5, 10000, 10, 10000 // 1000 frames/s each for 1 s
	c.SendBuffer, c.SocketBuffer, c.DrainTimeout = 4<<10, 4<<10, 300*time.Millisecond
	start := time.Now()
	rep := runOK(t, c)
	if el := time.Since(start); el > 4*time.Second {
		t.Fatalf("took %v: the schedule waited for the receiver", el)
	}
	if rep.FramesSent+rep.FramesDropped != 5000 || rep.DroppedByReason[dropBackpressure] == 0 {
		t.Fatalf("sent %d + dropped %v, want 5000 with backpressure drops", rep.FramesSent, rep.DroppedByReason)
	}
	if rep.Disconnects["drain_timeout"] != 5 || rep.LateSends == 0 {
		t.Fatalf("disconnects %v, late %d", rep.Disconnects, rep.LateSends)
	}
	for _, d := range rep.PerDevice {
		if d.NextSeq != 10000 {
			t.Fatalf("%s: next_seq %d, want 10000: skipped frames consume their sequence numbers", d.Device, d.NextSeq)
		}
	}
}

// TestReconnect: the receiver drops one device's connection mid-run; the
// device reconnects, says hello again, skips the frames due while it was
// away and ends its stream with the right sequence number.
func TestReconnect(t *testing.T) {
	s := newSink(t)
	s.kick = "dev-000003"
	c := testConfig(TCP, s.listenTCP(nil))
	c.Devices, c.Rate, c.Samples = 10, 50, 100 // 2 s
	rep := runOK(t, c)
	s.waitClosed()
	s.mu.Lock()
	defer s.mu.Unlock()
	g := rep.PerDevice[2]
	d := s.devs[g.Device]
	if rep.Disconnects["eof"]+rep.Disconnects["reset"] != 1 || g.Dropped == 0 || d.gaps == 0 {
		t.Fatalf("disconnects %v, %s dropped %d, sink gaps %d", rep.Disconnects, g.Device, g.Dropped, d.gaps)
	}
	// A frame the kernel took just before the receiver closed is lost
	// with the connection: the sink may have a few less, never more.
	if d.frames > g.Frames || g.Frames-d.frames > 3 || !d.eos || d.eosSeq != g.NextSeq || g.NextSeq != 100 {
		t.Fatalf("%s: sink %d frames eos %v@%d, generator %d frames next_seq %d", g.Device, d.frames, d.eos, d.eosSeq, g.Frames, g.NextSeq)
	}
	if g.Frames+g.Dropped != 50 {
		t.Fatalf("%s: %d sent + %d dropped, want 50 frames", g.Device, g.Frames, g.Dropped)
	}
}

// TestRefusesMoreSocketsThanFiles: a fleet that does not fit the
// open-file limit is refused before any connect, with the way out.
func TestRefusesMoreSocketsThanFiles(t *testing.T) {
	room, err := raiseFileLimit()
	if err != nil {
		t.Fatal(err)
	}
	if room > 1<<20 {
		t.Skip("open-file limit too large to exceed in a test")
	}
	c := testConfig(TCP, "127.0.0.1:1")
	c.Devices = room + 1
	_, err = Run(context.Background(), c)
	if err == nil || !strings.Contains(err.Error(), "use --procs 2") {
		t.Fatalf("err %v", err)
	}
	c.Procs, c.Devices = 2, 2*room+2
	c.WorkerCommand = testWorkerCommand
	_, err = Run(context.Background(), c)
	if err == nil || !strings.Contains(err.Error(), "use --procs 3") {
		t.Fatalf("err %v", err)
	}
}
