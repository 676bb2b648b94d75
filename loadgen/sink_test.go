package loadgen

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fleetwire/fleetwire/codec"
	"github.com/fleetwire/fleetwire/codec/framing"
)

// sink is a test-only receiver: it splits and decodes what devices send
// with the codec packages and counts per device, independently of the
// generator's own bookkeeping. It can send commands and collects acks.
type sink struct {
	t   testing.TB
	tcp net.Listener
	udp *net.UDPConn

	mu       sync.Mutex
	devs     map[string]*sinkDev
	open     int    // streams being served
	kick     string // close this device's first connection after 5 frames
	kicked   bool
	errs     []string
	datagram int
	accepts  int                     // TCP and TLS connections accepted
	ports    map[string]map[int]bool // UDP: each device's source ports
}

type sinkDev struct {
	frames, samples, readings uint64
	nextSeq                   uint64 // expected next sequence number
	gaps                      uint64 // frames whose seq was not the expected one
	eos                       bool
	eosSeq                    uint64
	hello                     bool
	binary                    bool // speaks binary control frames
	conn                      net.Conn
	addr                      *net.UDPAddr
	acks                      map[uint64]codec.AckStatus
	lastTime                  int64
}

func newSink(t testing.TB) *sink {
	return &sink{t: t, devs: map[string]*sinkDev{}}
}

func (s *sink) dev(id []byte) *sinkDev {
	d := s.devs[string(id)]
	if d == nil {
		d = &sinkDev{acks: map[uint64]codec.AckStatus{}}
		s.devs[string(id)] = d
	}
	return d
}

func (s *sink) fail(format string, args ...any) {
	s.errs = append(s.errs, fmt.Sprintf(format, args...))
}

// listenTCP accepts streams (TLS when conf is set) on a loopback port.
func (s *sink) listenTCP(conf *tls.Config) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		s.t.Fatal(err)
	}
	if conf != nil {
		ln = tls.NewListener(ln, conf)
	}
	s.tcp = ln
	s.t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.open++
			s.accepts++
			s.mu.Unlock()
			go s.serveConn(c)
		}
	}()
	return ln.Addr().String()
}

func (s *sink) listenUDP() string {
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		s.t.Fatal(err)
	}
	c.SetReadBuffer(8 << 20)
	s.udp = c
	s.t.Cleanup(func() { c.Close() })
	go func() {
		buf := make([]byte, 64<<10)
		var b codec.Batch
		split := framing.NewSplitter('\n', codec.DefaultMaxFrame)
		for {
			n, addr, err := c.ReadFromUDP(buf)
			if err != nil {
				return
			}
			s.mu.Lock()
			s.datagram++
			for off := 0; off < n; {
				adv, fr, err := split.Split(buf[off:n], true)
				if err != nil {
					s.fail("udp split: %v", err)
				}
				if adv == 0 {
					break
				}
				off += adv
				if fr != nil {
					s.frame(&b, fr, nil, addr)
				}
			}
			s.mu.Unlock()
		}
	}()
	return c.LocalAddr().String()
}

// serveConn reads one stream to its end, then closes it: the generator
// waits for that close after its end-of-stream.
func (s *sink) serveConn(c net.Conn) {
	defer func() {
		c.Close()
		s.mu.Lock()
		s.open--
		s.mu.Unlock()
	}()
	// A TLS handshake the generator gave up on (its connect timeout
	// covers the handshake, which a loaded machine can stretch past it)
	// is a connect attempt it retries and counts, not a stream: whether
	// the device got through shows in its counts.
	if tc, ok := c.(*tls.Conn); ok && tc.Handshake() != nil {
		return
	}
	buf := make([]byte, 0, 128<<10)
	var b codec.Batch
	split := framing.NewSplitter('\n', codec.DefaultMaxFrame)
	for {
		n, err := c.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		s.mu.Lock()
		off := 0
		for off < len(buf) {
			adv, fr, serr := split.Split(buf[off:], err != nil)
			if serr != nil {
				s.fail("tcp split: %v", serr)
				if adv == 0 {
					s.mu.Unlock()
					return
				}
			}
			if adv == 0 {
				break
			}
			off += adv
			if fr != nil {
				s.frame(&b, fr, c, nil)
			}
		}
		s.mu.Unlock()
		buf = buf[:copy(buf, buf[off:])]
		if err != nil {
			s.mu.Lock()
			if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
				s.fail("read: %v", err)
			}
			s.mu.Unlock()
			return
		}
	}
}

// frame counts one frame; s.mu is held.
func (s *sink) frame(b *codec.Batch, fr []byte, c net.Conn, addr *net.UDPAddr) {
	b.Reset()
	if err := decodeFrame(b, fr); err != nil {
		s.fail("decode %q: %v", fr[:min(len(fr), 40)], err)
		return
	}
	for i := range b.Controls {
		ctl := &b.Controls[i]
		switch ctl.Kind {
		case codec.ControlHello:
			d := s.dev(ctl.Device)
			d.hello, d.conn, d.binary = true, c, ctl.Binary
		case codec.ControlEOS:
			d := s.dev(ctl.Device)
			// UDP devices repeat their end-of-stream (udpEOSCopies): the
			// copies must agree.
			if d.eos && d.eosSeq != ctl.Seq {
				s.fail("%s: end-of-stream at %d, then at %d", ctl.Device, d.eosSeq, ctl.Seq)
			}
			d.eos, d.eosSeq = true, ctl.Seq
		case codec.ControlAck:
			// Acks name no device: find the sender by connection/address.
			for _, d := range s.devs {
				if c != nil && d.conn == c || addr != nil && d.addr != nil && d.addr.String() == addr.String() {
					d.acks[ctl.ID] = ctl.Status
				}
			}
		default:
			s.fail("unexpected control %v", ctl.Kind)
		}
	}
	for i := range b.Frames {
		f := &b.Frames[i]
		if f.Device == nil {
			s.fail("frame without device")
			continue
		}
		d := s.dev(f.Device)
		if addr != nil {
			d.addr, d.binary = addr, f.Format != codec.FormatText
			if s.ports == nil {
				s.ports = map[string]map[int]bool{}
			}
			if s.ports[string(f.Device)] == nil {
				s.ports[string(f.Device)] = map[int]bool{}
			}
			s.ports[string(f.Device)][addr.Port] = true
		}
		if f.Seq != d.nextSeq {
			d.gaps++
		}
		d.nextSeq = f.Seq + uint64(f.Samples())
		d.frames++
		if c != nil && string(f.Device) == s.kick && !s.kicked && d.frames == 5 {
			s.kicked = true
			c.Close() // serveConn's next read fails and ends it
		}
		d.samples += uint64(f.Samples())
		d.readings += uint64(f.Readings())
		if f.Samples() > 0 {
			d.lastTime = f.Times[f.Samples()-1]
		}
	}
}

// command sends a command to a device over its connection or to its
// last address, in the control form the device speaks.
func (s *sink) command(device string, id uint64, payload string) error {
	// The reader goroutines rewrite a device's address and form with
	// every frame, so they are copied under the lock.
	s.mu.Lock()
	d := s.devs[device]
	var (
		conn   net.Conn
		addr   *net.UDPAddr
		binary bool
	)
	if d != nil {
		conn, addr, binary = d.conn, d.addr, d.binary
	}
	s.mu.Unlock()
	if d == nil {
		return fmt.Errorf("no device %s", device)
	}
	ctl := codec.Control{Kind: codec.ControlCommand, ID: id, Payload: []byte(payload)}
	var b []byte
	if binary {
		b = appendBinaryControl(b, &ctl)
	} else {
		b = appendTextControl(b, &ctl)
	}
	if conn != nil {
		_, err := conn.Write(b)
		return err
	}
	_, err := s.udp.WriteToUDP(b, addr)
	return err
}

// waitFor polls until cond holds (under s.mu) or the timeout passes.
func (s *sink) waitFor(timeout time.Duration, what string, cond func() bool) {
	s.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		s.mu.Lock()
		ok := cond()
		s.mu.Unlock()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// waitClosed waits until every stream has ended. The generator returns
// once the sink has closed its streams, a moment before serveConn is done.
func (s *sink) waitClosed() {
	s.t.Helper()
	s.waitFor(10*time.Second, "every stream closed", func() bool { return s.open == 0 })
}

// waitEOS waits for the end-of-stream of n devices: datagrams may still
// be queued at the sink when the generator returns.
func (s *sink) waitEOS(n int) {
	s.t.Helper()
	s.waitFor(10*time.Second, "every end-of-stream", func() bool {
		k := 0
		for _, d := range s.devs {
			if d.eos {
				k++
			}
		}
		return k == n
	})
}

// check compares the sink's counts with the generator's report: exact
// equality per device, no gaps, an end-of-stream with the right seq.
func (s *sink) check(rep *Report) {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.errs) > 0 {
		s.t.Errorf("sink errors (%d): %s", len(s.errs), strings.Join(s.errs[:min(len(s.errs), 5)], "; "))
	}
	if len(rep.PerDevice) != rep.Devices {
		s.t.Errorf("report lists %d devices, want %d", len(rep.PerDevice), rep.Devices)
	}
	var frames, readings uint64
	for _, g := range rep.PerDevice {
		d := s.devs[g.Device]
		if d == nil {
			s.t.Errorf("%s: the sink never heard of it", g.Device)
			continue
		}
		if d.frames != g.Frames || d.readings != g.Readings || d.samples != g.Samples {
			s.t.Errorf("%s: sink frames/samples/readings %d/%d/%d, generator %d/%d/%d",
				g.Device, d.frames, d.samples, d.readings, g.Frames, g.Samples, g.Readings)
		}
		if !d.eos || d.eosSeq != g.NextSeq || !g.EOS {
			s.t.Errorf("%s: end-of-stream %v seq %d, generator next_seq %d eos_sent %v", g.Device, d.eos, d.eosSeq, g.NextSeq, g.EOS)
		}
		if d.gaps != 0 || g.Dropped != 0 {
			s.t.Errorf("%s: %d gaps at the sink, %d frames dropped by the generator", g.Device, d.gaps, g.Dropped)
		}
		frames += d.frames
		readings += d.readings
	}
	if frames != rep.FramesSent || readings != rep.ReadingsSent {
		s.t.Errorf("sink totals %d frames %d readings, report %d / %d", frames, readings, rep.FramesSent, rep.ReadingsSent)
	}
	if len(s.devs) != rep.Devices {
		s.t.Errorf("sink saw %d devices, want %d", len(s.devs), rep.Devices)
	}
}
