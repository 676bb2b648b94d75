package loadgen

import (
	"context"
	"crypto/tls"
	"strings"
	"sync"
	"time"

	"github.com/fleetwire/fleetwire/codec"
	"github.com/fleetwire/fleetwire/codec/framing"
)

// tlsConn is one connection of a TLS device and its command reader.
type tlsConn struct {
	conn    *tls.Conn
	closed  chan struct{} // the reader saw the end
	readErr error         // why, valid once closed is
}

// device is the sender goroutine of one TLS device.
func (t *tlsRun) device(ctx context.Context, d *device) {
	c := t.r.cfg
	s := &t.r.sched
	w := &tlsWriter{t: t, d: d, enc: newEncoder(c.Codec, c.End)}
	conn := t.dial(ctx, d)
	if conn != nil {
		w.up(conn)
	}
	t.ready.Done()
	if conn == nil {
		t.live.finished.Add(1)
		return
	}
	select {
	case <-t.started:
	case <-t.stopped:
		<-t.started
	}
	if s.periodNs == 0 {
		// No due times to wait for: start at t0, where the report's
		// duration starts, not when t0 became known.
		sleepUntil(t.r.base.Add(time.Duration(t.t0)), t.stopped)
	}
	for w.c != nil {
		if s.frameSamples(d.k) == 0 {
			break
		}
		if s.periodNs > 0 {
			due := t.t0 + s.due(d, d.k)
			if t.end > 0 && due >= t.end || !sleepUntil(t.r.base.Add(time.Duration(due)), t.stopped) {
				break
			}
		} else if closed(t.stopped) || t.end > 0 && t.r.now() >= t.end {
			break
		}
		w.out, w.marks = w.out[:0], w.marks[:0]
		now := t.r.now()
		for built := 0; built < maxFramesFire; built++ {
			n := s.frameSamples(d.k)
			due := t.t0 + s.due(d, d.k)
			if n == 0 || t.end > 0 && due >= t.end || s.periodNs > 0 && due > now {
				break
			}
			if s.periodNs == 0 {
				due = now
			}
			w.appendFrame(n, due)
			if s.periodNs == 0 && len(w.out) >= bulkBytes {
				break
			}
		}
		if err := w.write(); err != nil {
			w.broken(ctx, err)
		}
	}
	if w.c != nil {
		w.out, w.marks = w.out[:0], w.marks[:0]
		w.appendControl(&codec.Control{Kind: codec.ControlEOS, Device: d.id, Seq: d.seq}, markEOS)
		if err := w.write(); err != nil {
			t.count(func(tl *tally) { tl.disconnects[tlsReason(err)]++ })
		}
		w.c.conn.CloseWrite()
		select {
		case <-w.c.closed:
		case <-time.After(c.DrainTimeout):
			t.count(func(tl *tally) { tl.disconnects["drain_timeout"]++ })
		}
		w.down()
	}
	t.live.finished.Add(1)
}

// tlsWriter is a TLS device's sending side.
type tlsWriter struct {
	t     *tlsRun
	d     *device
	enc   encoder
	c     *tlsConn
	wmu   sync.Mutex // the reader writes acks too
	out   []byte
	marks []mark
	vals  []codec.Value
	times []int64
	frame codec.Frame
}

func (w *tlsWriter) up(conn *tls.Conn) {
	d := w.d
	w.c = &tlsConn{conn: conn, closed: make(chan struct{})}
	w.t.live.connected.Add(1)
	if !d.everUp {
		d.everUp = true
		w.t.live.everConn.Add(1)
	}
	w.out, w.marks = w.out[:0], w.marks[:0]
	w.appendControl(&codec.Control{Kind: codec.ControlHello, Device: d.id}, markHello)
	w.write() // a failure shows on the next write
	go w.read(w.c)
}

func (w *tlsWriter) down() {
	w.c.conn.Close()
	<-w.c.closed
	w.c = nil
	w.t.live.connected.Add(-1)
}

// broken reconnects after a failed write, skipping the frames that fall
// due meanwhile (their sequence numbers are consumed).
func (w *tlsWriter) broken(ctx context.Context, err error) {
	t, d := w.t, w.d
	c := w.c
	w.down()
	// The reader often knows better: with TLS 1.3 a server that rejects the
	// client certificate says so with an alert after the handshake, and
	// the writer only sees the broken pipe that follows.
	why := tlsReason(err)
	if r := tlsReason(c.readErr); strings.HasPrefix(r, "tls_") {
		why = r
	}
	t.count(func(tl *tally) { tl.disconnects[why]++ })
	if !t.r.cfg.Reconnect {
		return
	}
	select {
	case <-t.stopped:
		return
	default:
	}
	conn := t.dial(ctx, d)
	if conn == nil {
		return
	}
	w.up(conn)
	now := t.r.now()
	for {
		n := t.r.sched.frameSamples(d.k)
		if n == 0 || t.t0+t.r.sched.due(d, d.k) >= now {
			break
		}
		w.vals = t.r.sched.fill(w.vals[:0], d, n) // the signal moves on as if sampled
		d.k++
		d.seq += uint64(n)
		d.skipped++
		t.live.dropped.Add(1)
		t.count(func(tl *tally) { tl.dropped[dropDisconnected]++ })
	}
}

func (w *tlsWriter) appendFrame(n int, due int64) {
	s, d := &w.t.r.sched, w.d
	w.vals = s.fill(w.vals[:0], d, n)
	if cap(w.times) < n {
		w.times = make([]int64, n)
	}
	w.times = w.times[:n]
	last := w.t.r.wallMs(due)
	for j := range w.times {
		w.times[j] = last - int64(n-1-j)*s.stepMs
	}
	w.frame = codec.Frame{Device: d.id, Seq: d.seq, Flags: codec.HasSeq | codec.HasTime, Format: w.t.r.cfg.Codec.Format,
		Channels: s.channels, Times: w.times, Values: w.vals}
	start := len(w.out)
	w.out = w.enc.Append(w.out, &w.frame)
	w.marks = append(w.marks, mark{end: len(w.out), size: int32(len(w.out) - start), due: due, samples: int32(n), kind: markData})
	d.k++
	d.seq += uint64(n)
}

func (w *tlsWriter) appendControl(c *codec.Control, kind markKind) {
	start := len(w.out)
	w.out = w.enc.AppendControl(w.out, c)
	w.marks = append(w.marks, mark{end: len(w.out), size: int32(len(w.out) - start), kind: kind})
}

// write writes w.out and counts what the connection accepted. A frame
// the connection took only part of is lost with it.
func (w *tlsWriter) write() error {
	if len(w.out) == 0 {
		return nil
	}
	w.wmu.Lock()
	n, err := w.c.conn.Write(w.out)
	w.wmu.Unlock()
	now := w.t.r.now()
	w.t.mu.Lock()
	defer w.t.mu.Unlock()
	for i := range w.marks {
		if m := &w.marks[i]; m.end <= n {
			w.t.acc.account(w.d, m, now)
		} else {
			w.t.acc.dropQueued(w.d, w.marks[i:i+1], dropConnLost)
		}
	}
	return err
}

// read obeys commands until the connection ends.
func (w *tlsWriter) read(c *tlsConn) {
	var err error
	defer func() {
		c.readErr = err
		close(c.closed)
	}()
	var (
		buf   = make([]byte, 2*maxDownlinkFrame)
		k     int
		split = framing.NewSplitter(w.t.r.endByte, maxDownlinkFrame)
		b     codec.Batch
		ack   []byte
	)
	for {
		var n int
		n, err = c.conn.Read(buf[k:])
		data := buf[:k+n]
		off := 0
		for off < len(data) {
			adv, fr, serr := split.Split(data[off:], false)
			if serr != nil {
				w.t.count(func(tl *tally) { tl.downlinkErrors[codec.ReasonOf(serr).String()]++ })
				if adv == 0 {
					return
				}
			}
			if adv == 0 {
				break
			}
			off += adv
			if fr == nil {
				continue
			}
			cmd, why := decodeCommand(&b, fr)
			if why != "" {
				w.t.count(func(tl *tally) { tl.downlinkErrors[why]++ })
				continue
			}
			w.t.live.commands.Add(1)
			w.t.mu.Lock()
			w.d.commands++
			st := obey(&w.d.led, cmd.Payload)
			if st != codec.AckOK {
				w.t.tally.unknownCommands++
			}
			w.t.mu.Unlock()
			ack = w.enc.AppendControl(ack[:0], &codec.Control{Kind: codec.ControlAck, ID: cmd.ID, Status: st})
			w.wmu.Lock()
			_, werr := c.conn.Write(ack)
			w.wmu.Unlock()
			if werr == nil {
				w.t.mu.Lock()
				w.t.acc.account(w.d, &mark{end: len(ack), size: int32(len(ack)), kind: markAck}, 0)
				w.t.mu.Unlock()
			}
		}
		k = copy(buf, data[off:])
		if err != nil {
			return
		}
	}
}
