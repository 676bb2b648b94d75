package loadgen

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fleetwire/fleetwire/codec"
	"github.com/fleetwire/fleetwire/codec/ack"
	"github.com/fleetwire/fleetwire/codec/framing"
)

// ackFake is a test-only receiver of acknowledged delivery, until the
// server's side exists: a loopback TCP or UDP listener that splits with
// codec/framing, decodes with codec/wire, keeps an ack.Set per device
// (what it "stored"), and answers every read (TCP) or datagram (UDP) with
// a #stored for each acknowledging device it touched. It stores each
// sample once (the Set tells resends from new samples), counts how often
// each sequence number was stored, and checks that a sample received
// twice carries the same values and time both times (regeneration).
//
// Loss: with drop > 0 a seeded generator drops received data frames
// (TCP: one frame; UDP: the whole datagram) and, separately, acks. While
// dark (an outage) it drops everything it receives and acks nothing.
type ackFake struct {
	t    testing.TB
	drop float64
	tcp  net.Listener
	udp  *net.UDPConn

	mu     sync.Mutex
	rng    *rand.Rand
	dark   bool
	closed bool
	devs   map[string]*fakeDev
	conns  map[net.Conn]bool
	open   int
	errs   []string
}

type fakeDev struct {
	set      ack.Set
	stored   map[uint64]int    // seq: times stored (must stay 1)
	first    map[uint64]string // seq: time and values as first received
	ackHello bool
	window   uint32
	binary   bool
	conn     net.Conn
	addr     *net.UDPAddr
	hellos   int // hellos received (UDP: datagrams that carried one)
	frames   int // data frames received (dropped ones included)
	dups     uint64
	full     uint64 // samples refused: the set would need a 65th range
	gaveUp   uint64 // highest #gaveup
	eos      bool
	eosSeq   uint64
	touched  bool
}

func newAckFake(t testing.TB, drop float64, seed uint64) *ackFake {
	return &ackFake{t: t, drop: drop, rng: rand.New(rand.NewPCG(seed, 7)), devs: map[string]*fakeDev{}, conns: map[net.Conn]bool{}}
}

func (f *ackFake) dev(id []byte) *fakeDev {
	d := f.devs[string(id)]
	if d == nil {
		d = &fakeDev{stored: map[uint64]int{}, first: map[uint64]string{}}
		f.devs[string(id)] = d
	}
	return d
}

func (f *ackFake) fail(format string, args ...any) {
	f.errs = append(f.errs, fmt.Sprintf(format, args...))
}

// lose reports whether to drop one more thing; f.mu is held.
func (f *ackFake) lose() bool { return f.drop > 0 && f.rng.Float64() < f.drop }

func (f *ackFake) setDark(dark bool) {
	f.mu.Lock()
	f.dark = dark
	f.mu.Unlock()
}

func (f *ackFake) listenTCP(conf *tls.Config) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		f.t.Fatal(err)
	}
	if conf != nil {
		ln = tls.NewListener(ln, conf)
	}
	f.tcp = ln
	f.t.Cleanup(f.close)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			f.mu.Lock()
			if f.closed {
				f.mu.Unlock()
				c.Close()
				return
			}
			f.open++
			f.conns[c] = true
			f.mu.Unlock()
			go f.serveConn(c)
		}
	}()
	return ln.Addr().String()
}

func (f *ackFake) listenUDP() string {
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		f.t.Fatal(err)
	}
	c.SetReadBuffer(8 << 20)
	f.udp = c
	f.t.Cleanup(f.close)
	go func() {
		buf := make([]byte, 64<<10)
		var b codec.Batch
		split := framing.NewSplitter('\n', codec.DefaultMaxFrame)
		var acks []fakeAck
		for {
			n, addr, err := c.ReadFromUDP(buf)
			if err != nil {
				return
			}
			f.mu.Lock()
			acks = acks[:0]
			if !f.dark && !f.lose() {
				split.Reset()
				hello := false
				for off := 0; off < n; {
					adv, fr, err := split.Split(buf[off:n], true)
					if err != nil {
						f.fail("udp split: %v", err)
					}
					if adv == 0 {
						break
					}
					off += adv
					if fr != nil {
						hello = f.frame(&b, fr, nil, addr, hello) || hello
					}
				}
				acks = f.acks(acks)
			}
			f.mu.Unlock()
			for _, a := range acks {
				c.WriteToUDP(a.b, a.addr)
			}
		}
	}()
	return c.LocalAddr().String()
}

// close stops the fake as a crashed server would: the listener refuses,
// connections are cut.
func (f *ackFake) close() {
	f.mu.Lock()
	f.closed = true
	conns := slices.Collect(func(yield func(net.Conn) bool) {
		for c := range f.conns {
			if !yield(c) {
				return
			}
		}
	})
	f.mu.Unlock()
	if f.tcp != nil {
		f.tcp.Close()
	}
	if f.udp != nil {
		f.udp.Close()
	}
	for _, c := range conns {
		c.Close()
	}
}

type fakeAck struct {
	b    []byte
	addr *net.UDPAddr
	conn net.Conn
}

// serveConn reads one stream to its end, then closes it.
func (f *ackFake) serveConn(c net.Conn) {
	defer func() {
		c.Close()
		f.mu.Lock()
		f.open--
		delete(f.conns, c)
		f.mu.Unlock()
	}()
	if tc, ok := c.(*tls.Conn); ok && tc.Handshake() != nil {
		return // a handshake the device gave up on: it retries
	}
	buf := make([]byte, 0, 128<<10)
	var b codec.Batch
	split := framing.NewSplitter('\n', codec.DefaultMaxFrame)
	var acks []fakeAck
	for {
		n, err := c.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		f.mu.Lock()
		off := 0
		for off < len(buf) {
			adv, fr, serr := split.Split(buf[off:], err != nil)
			if serr != nil {
				f.fail("tcp split: %v", serr)
				if adv == 0 {
					f.mu.Unlock()
					return
				}
			}
			if adv == 0 {
				break
			}
			off += adv
			if fr != nil && !f.dark {
				f.frame(&b, fr, c, nil, false)
			}
		}
		acks = acks[:0]
		if !f.dark {
			acks = f.acks(acks)
		}
		f.mu.Unlock()
		for _, a := range acks {
			a.conn.Write(a.b)
		}
		buf = buf[:copy(buf, buf[off:])]
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) && !strings.Contains(err.Error(), "reset") {
				f.mu.Lock()
				f.fail("read: %v", err)
				f.mu.Unlock()
			}
			return
		}
	}
}

// frame handles one frame; f.mu is held. It returns whether the frame
// was a hello (UDP: the prefix of the datagram's frame).
func (f *ackFake) frame(b *codec.Batch, fr []byte, c net.Conn, addr *net.UDPAddr, afterHello bool) bool {
	b.Reset()
	if err := decodeFrame(b, fr); err != nil {
		f.fail("decode %q: %v", fr[:min(len(fr), 40)], err)
		return false
	}
	for i := range b.Controls {
		ctl := &b.Controls[i]
		switch ctl.Kind {
		case codec.ControlHello:
			d := f.dev(ctl.Device)
			d.hellos++
			d.ackHello, d.window, d.binary = ctl.Ack, ctl.Window, ctl.Binary
			if c != nil {
				d.conn = c
			}
			return true
		case codec.ControlEOS:
			d := f.dev(ctl.Device)
			if d.eos && d.eosSeq != ctl.Seq {
				f.fail("%s: end-of-stream at %d, then at %d", ctl.Device, d.eosSeq, ctl.Seq)
			}
			d.eos, d.eosSeq = true, ctl.Seq
		case codec.ControlGaveUp:
			if ctl.Device == nil {
				f.fail("#gaveup without device")
				continue
			}
			d := f.dev(ctl.Device)
			d.gaveUp = max(d.gaveUp, ctl.Seq)
			d.set.Advance(ctl.Seq)
			d.touched = true
		case codec.ControlAck:
		default:
			f.fail("unexpected control %v", ctl.Kind)
		}
	}
	for i := range b.Frames {
		fm := &b.Frames[i]
		d := f.dev(fm.Device)
		d.frames++
		if addr != nil {
			d.addr = addr
			d.binary = fm.Format != codec.FormatText
		}
		if fm.Flags&codec.HasSeq == 0 || !d.ackHello {
			f.fail("%s: frame without seq, or before an ack hello", fm.Device)
			continue
		}
		if f.lose() && c != nil { // UDP loses whole datagrams, above
			continue
		}
		d.touched = true
		n := fm.Samples()
		for j := range n {
			seq := fm.Seq + uint64(j)
			v := fmt.Sprint(fm.Times[j], fm.Values[j*fm.Channels:(j+1)*fm.Channels])
			if w, ok := d.first[seq]; !ok {
				d.first[seq] = v
			} else if w != v {
				f.fail("%s: sample %d came back as %s, first %s", fm.Device, seq, v, w)
			}
		}
		added, err := d.set.Add(fm.Seq, fm.Seq+uint64(n)-1, func(lo, hi uint64) {
			for s := lo; s <= hi; s++ {
				d.stored[s]++
			}
		})
		if errors.Is(err, ack.ErrFull) {
			d.full += uint64(n)
			continue
		}
		d.dups += uint64(n) - added
	}
	return false
}

// acks returns a #stored for every acknowledging device touched since the
// last call, in the device's form, minus the lost ones; f.mu is held.
func (f *ackFake) acks(dst []fakeAck) []fakeAck {
	for id, d := range f.devs {
		if !d.touched || !d.ackHello {
			continue
		}
		d.touched = false
		if f.lose() {
			continue
		}
		ctl := d.set.Stored([]byte(id))
		var b []byte
		if d.binary {
			b = appendBinaryControl(nil, &ctl)
		} else {
			b = appendTextControl(nil, &ctl)
		}
		dst = append(dst, fakeAck{b: b, addr: d.addr, conn: d.conn})
	}
	return dst
}

// holes returns the samples below next that the fake never stored, as
// inclusive ranges.
func (d *fakeDev) holes(next uint64) [][2]uint64 {
	var out [][2]uint64
	for s := uint64(0); s < next; s++ {
		if d.stored[s] > 0 {
			continue
		}
		if n := len(out); n > 0 && out[n-1][1]+1 == s {
			out[n-1][1] = s
		} else {
			out = append(out, [2]uint64{s, s})
		}
	}
	return out
}

func (f *ackFake) waitFor(timeout time.Duration, what string, cond func() bool) {
	f.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		f.mu.Lock()
		ok := cond()
		f.mu.Unlock()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			f.t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (f *ackFake) checkErrors() {
	f.t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.errs) > 0 {
		f.t.Errorf("fake receiver errors (%d): %s", len(f.errs), strings.Join(f.errs[:min(len(f.errs), 5)], "; "))
	}
}
