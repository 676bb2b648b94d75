package natssink_test

import (
	"fmt"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/fleetwire/fleetwire/codec"
	"github.com/fleetwire/fleetwire/codec/wire"
)

// feeder simulates devices with codec/wire alone (the server's tests do
// not import loadgen, and neither do these): each device sends a frame of
// samplesPerFrame samples of channels values per round, with seq and
// time, over TCP (a connection per device) or UDP (a datagram per
// frame), in one of several codecs. It remembers what was written
// successfully, so a test can compare the stream with it.
type feeder struct {
	t        testing.TB
	devices  []*device
	samples  int
	channels int

	mu   sync.Mutex
	sent int // readings written
}

type device struct {
	mu     sync.Mutex // a test redials devices while the feeder runs
	id     string
	udp    bool
	enc    *wire.Encoder
	conn   net.Conn
	target string // address conn goes to
	next   uint64 // seq of the next sample
	sentTo []span // seq ranges written, by target generation
	buf    []byte
	frame  codec.Frame
	idx    int
	broken bool
}

type span struct {
	from, to uint64 // seqs [from, to)
	phase    int
}

var codecs = []string{"text", "binary", "compact", "compact+zstd", "binary+s2"}

// newFeeder makes n devices (n/raceScale under the race detector),
// every udpEvery-th of them on UDP.
func newFeeder(t testing.TB, prefix string, n, udpEvery, samples, channels int) *feeder {
	n /= raceScale
	fd := &feeder{t: t, samples: samples, channels: channels}
	for i := range n {
		c, err := codec.ParseCodec(codecs[i%len(codecs)])
		if err != nil {
			t.Fatal(err)
		}
		d := &device{id: fmt.Sprintf("%s-%04d", prefix, i), udp: udpEvery > 0 && i%udpEvery == 0, enc: wire.NewEncoder(c, 0, nil), idx: i}
		fd.devices = append(fd.devices, d)
	}
	return fd
}

// value is what device idx sends as channel ch of sample seq.
func value(idx int, seq uint64, ch int) codec.Value {
	return codec.Value{Mant: int64(seq)*7 + int64(ch) + int64(idx)*1000, Scale: uint8(1 + ch%2)}
}

func (d *device) dial(tcp, udp string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.conn != nil {
		d.conn.Close()
	}
	d.broken = false
	addr, network := tcp, "tcp"
	if d.udp {
		addr, network = udp, "udp"
	}
	c, err := net.DialTimeout(network, addr, 5*time.Second)
	if err != nil {
		d.broken = true
		return err
	}
	d.conn, d.target = c, addr
	return nil
}

// round sends one frame from every device in devs; phase tags what was
// written, so a test can tell readings sent before an event from those
// after it.
func (fd *feeder) round(devs []*device, phase int) {
	for _, d := range devs {
		fd.send(d, phase)
	}
}

func (fd *feeder) send(d *device, phase int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.broken || d.conn == nil {
		return
	}
	f := &d.frame
	*f = codec.Frame{Device: []byte(d.id), Seq: d.next, Flags: codec.HasSeq | codec.HasTime, Channels: fd.channels,
		Times: f.Times[:0], Values: f.Values[:0]}
	for i := range fd.samples {
		s := d.next + uint64(i)
		f.Times = append(f.Times, baseMs+int64(s)*100)
		for c := range fd.channels {
			f.Values = append(f.Values, value(d.idx, s, c))
		}
	}
	d.buf = d.enc.Append(d.buf[:0], f)
	d.conn.SetWriteDeadline(time.Now().Add(2 * time.Second))
	if _, err := d.conn.Write(d.buf); err != nil {
		// Not written (or not wholly): the device counts it as
		// unsent and stops until redialled; its seq moves on, as a
		// real device's would.
		d.broken = true
		d.next += uint64(fd.samples)
		return
	}
	from := d.next
	d.next += uint64(fd.samples)
	if n := len(d.sentTo); n > 0 && d.sentTo[n-1].to == from && d.sentTo[n-1].phase == phase {
		d.sentTo[n-1].to = d.next
	} else {
		d.sentTo = append(d.sentTo, span{from, d.next, phase})
	}
	fd.mu.Lock()
	fd.sent += fd.samples * fd.channels
	fd.mu.Unlock()
}

// run sends rounds from devs every interval until stop is closed, in
// `workers` goroutines.
func (fd *feeder) run(devs []*device, interval time.Duration, workers int, phase func() int, stop <-chan struct{}) *sync.WaitGroup {
	var wg sync.WaitGroup
	per := (len(devs) + workers - 1) / workers
	for w := 0; w < len(devs); w += per {
		part := devs[w:min(w+per, len(devs))]
		wg.Add(1)
		go func() {
			defer wg.Done()
			t := time.NewTicker(interval)
			defer t.Stop()
			for {
				fd.round(part, phase())
				select {
				case <-stop:
					return
				case <-t.C:
				}
			}
		}()
	}
	return &wg
}

func (fd *feeder) close() {
	for _, d := range fd.devices {
		d.mu.Lock()
		if d.conn != nil {
			d.conn.Close()
		}
		d.mu.Unlock()
	}
}

// rows returns the CSV rows written in the given phases (all when none),
// sorted, as consume prints them (8 value columns).
func (fd *feeder) rows(phases ...int) []string {
	var out []string
	for _, d := range fd.devices {
		for _, s := range d.sentTo {
			if len(phases) > 0 && !slices.Contains(phases, s.phase) {
				continue
			}
			for seq := s.from; seq < s.to; seq++ {
				b := fmt.Appendf(nil, "%s,%d,%d", d.id, seq, baseMs+int64(seq)*100)
				for c := range fd.channels {
					b = append(b, ',')
					b = codec.AppendValue(b, value(d.idx, seq, c))
				}
				for c := fd.channels; c < 8; c++ {
					b = append(b, ',')
				}
				out = append(out, string(b))
			}
		}
	}
	slices.Sort(out)
	return out
}

func (fd *feeder) sentReadings() int {
	fd.mu.Lock()
	defer fd.mu.Unlock()
	return fd.sent
}
