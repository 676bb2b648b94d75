package loadgen

import (
	"bytes"
	"context"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/fleetwire/fleetwire/codec"
	"github.com/fleetwire/fleetwire/codec/framing"
)

// secConn is a TLS connection (*tls.Conn) or a DTLS session (*dtlsConn):
// with DTLS each Write is one record.
type secConn interface {
	io.ReadWriter
	Close() error
	CloseWrite() error
}

// tlsConn is one connection of a TLS or DTLS device and its downlink
// reader.
type tlsConn struct {
	conn    secConn
	closed  chan struct{} // the reader saw the end
	readErr error         // why, valid once closed is
}

// device is the sender goroutine of one TLS device. With Ack its Sender
// lives in t.acc and every use of it, and of the device's signal state
// (which regeneration reads), is under t.mu; the reader applies #stored
// there and hands the fast resends over in w.fast, kicking the sender.
func (t *tlsRun) device(ctx context.Context, d *device) {
	c := t.r.cfg
	s := &t.r.sched
	w := &tlsWriter{t: t, d: d, framer: newFramer(t.r), kick: make(chan struct{}, 1)}
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
	w.t0 = t.t0
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
			if t.end > 0 && due >= t.end || !w.sleep(min(due, w.ackDeadline())) {
				break
			}
		} else if closed(t.stopped) || t.end > 0 && t.r.now() >= t.end {
			break
		}
		w.sendDue()
		if err := w.write(); err != nil {
			w.broken(ctx, err)
		}
	}
	if w.c != nil {
		w.finishing = true
		w.reset()
		w.appendEOS()
		if c.Ack {
			t.mu.Lock()
			t.acc.ack.devs[w.d.lid].snd.Ended(t.r.now())
			t.mu.Unlock()
		}
		if err := w.write(); err != nil {
			t.count(func(tl *tally) { tl.disconnects[tlsReason(err)]++ })
		}
		if c.Ack {
			w.awaitAcks(ctx)
		}
	}
	if w.c != nil {
		w.c.conn.CloseWrite()
		select {
		case <-w.c.closed:
		case <-time.After(c.DrainTimeout):
			t.count(func(tl *tally) { tl.disconnects["drain_timeout"]++ })
		}
		w.down()
	}
	if c.Ack {
		t.mu.Lock()
		t.acc.endWait(d.lid)
		t.mu.Unlock()
	}
	t.live.finished.Add(1)
}

// tlsWriter is a TLS device's sending side.
type tlsWriter struct {
	framer
	t         *tlsRun
	d         *device
	c         *tlsConn
	wmu       sync.Mutex // the reader writes acks too
	finishing bool       // end-of-stream is out (or going)

	// Ack: fast resends from the reader (under t.mu), and the reader's
	// nudge to look at them.
	fast []codec.SeqRange
	kick chan struct{}
}

// sendDue builds the frames that are due, with Ack the resends and
// #gaveup that are due too.
func (w *tlsWriter) sendDue() {
	t, d, s := w.t, w.d, &w.t.r.sched
	ack := t.r.cfg.Ack
	if ack {
		t.mu.Lock()
		defer t.mu.Unlock()
	}
	w.reset()
	now := t.r.now()
	for range maxFramesFire {
		n := s.frameSamples(d.k)
		due := t.t0 + s.due(d, d.k)
		if n == 0 || t.end > 0 && due >= t.end || s.periodNs > 0 && due > now {
			break
		}
		if s.periodNs == 0 {
			due = now
		}
		seq := d.seq
		w.appendFrame(d, n, due)
		if ack {
			t.acc.ackSent(d.lid, seq, n, now)
		}
		if s.periodNs == 0 && len(w.out) >= bulkBytes {
			break
		}
	}
	if ack {
		w.resends(now)
	}
}

// resends appends what the Sender says is due, fast resends first; t.mu
// is held.
func (w *tlsWriter) resends(now int64) {
	w.t.acc.ackResend(&w.framer, w.d.lid, now, w.fast)
	w.fast = w.fast[:0]
}

// ackDeadline returns when the Sender next wants to resend (run clock),
// far away without Ack or without anything to resend.
func (w *tlsWriter) ackDeadline() int64 {
	if !w.t.r.cfg.Ack {
		return 1<<63 - 1
	}
	w.t.mu.Lock()
	defer w.t.mu.Unlock()
	if len(w.fast) > 0 {
		return 0
	}
	at, ok := w.t.acc.ack.devs[w.d.lid].snd.NextDeadline()
	if !ok {
		return 1<<63 - 1
	}
	return max(at, 0)
}

// sleep waits until at (run clock), or until the reader has fast resends;
// false when the run was cancelled.
func (w *tlsWriter) sleep(at int64) bool {
	d := time.Until(w.t.r.base.Add(time.Duration(at)))
	if d <= 0 {
		return !closed(w.t.stopped)
	}
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-tm.C:
		return true
	case <-w.kick:
		return true
	case <-w.t.stopped:
		return false
	}
}

// awaitAcks waits after end-of-stream until everything is acknowledged
// or given up, resending on the Sender's timers, at most Config.AckDrain
// (see loop.ackSettled). A broken connection is reconnected, to the next
// target with several.
func (w *tlsWriter) awaitAcks(ctx context.Context) {
	t, id := w.t, w.d.lid
	for w.c != nil {
		t.mu.Lock()
		now := t.r.now()
		if t.acc.ackSettled(id, now) {
			t.mu.Unlock()
			return
		}
		w.reset()
		w.resends(now)
		at := t.acc.ack.devs[id].drainAt
		if next, ok := t.acc.ack.devs[id].snd.NextDeadline(); ok {
			at = min(at, max(next, now))
		}
		t.mu.Unlock()
		if err := w.write(); err != nil {
			w.broken(ctx, err)
			continue
		}
		w.sleep(at) // a cancelled run settles at once
	}
}

func (w *tlsWriter) appendEOS() {
	kind := markEOS
	if w.d.eosSent {
		kind = markEOSCopy // again, on a new connection
	}
	w.appendControl(codec.Control{Kind: codec.ControlEOS, Device: w.d.id, Seq: w.d.seq}, kind)
}

// attach makes conn the device's connection and counts it connected.
func (w *tlsWriter) attach(conn secConn) {
	w.c = &tlsConn{conn: conn, closed: make(chan struct{})}
	w.t.live.connected.Add(1)
	if !w.d.everUp {
		w.d.everUp = true
		w.t.live.everConn.Add(1)
	}
}

// up starts a connection: hello, and with Ack the frames that fell due
// while the device was down, a #gaveup and everything unacknowledged
// (loop.connected does the same).
func (w *tlsWriter) up(conn secConn) {
	t, d := w.t, w.d
	w.attach(conn)
	w.reset()
	w.appendControl(t.acc.helloControl(d), markHello)
	if t.r.cfg.Ack {
		t.mu.Lock()
		now := t.r.now()
		if closed(t.started) {
			t.acc.catchUp(d.lid, now)
		}
		t.acc.ack.devs[d.lid].snd.Reconnected()
		w.resends(now)
		t.mu.Unlock()
	}
	if w.finishing {
		w.appendEOS()
	}
	w.write() // a failure shows on the next write
	go w.read(w.c)
}

func (w *tlsWriter) down() {
	w.c.conn.Close()
	<-w.c.closed
	w.c = nil
	w.t.live.connected.Add(-1)
}

// broken reconnects after a failed write. Without Ack the frames that
// fall due meanwhile are skipped (their sequence numbers are consumed);
// with Ack they are kept (up), and with several targets the device tries
// the next one.
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
	t.mu.Lock()
	t.tally.disconnects[why]++
	t.acc.failover(d)
	t.mu.Unlock()
	if !t.r.cfg.Reconnect || closed(t.stopped) {
		return
	}
	conn := t.dial(ctx, d)
	if conn == nil {
		return
	}
	w.up(conn)
	if t.r.cfg.Ack {
		return
	}
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

// write writes w.out and counts what the connection accepted. A frame
// the connection took only part of is lost with it.
func (w *tlsWriter) write() error {
	if len(w.out) == 0 {
		return nil
	}
	w.wmu.Lock()
	var n int
	var err error
	if w.t.dtls != nil {
		n, err = w.writeRecords()
	} else {
		n, err = w.c.conn.Write(w.out)
	}
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

// read obeys commands and, with Ack, applies #stored until the
// connection ends.
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
		out   []byte
	)
	for {
		var n int
		n, err = c.conn.Read(buf[k:])
		data := buf[:k+n]
		off, serr := split.Scan(data, false, func(fr []byte, size int, serr error) bool {
			if serr != nil {
				w.t.count(func(tl *tally) { tl.downlinkErrors[codec.ReasonOf(serr).String()]++ })
				return true
			}
			ctl, why := decodeControl(&b, fr)
			switch {
			case why != "":
			case ctl.Kind == codec.ControlStored && w.t.r.cfg.Ack:
				if ctl.Device != nil && !bytes.Equal(ctl.Device, w.d.id) {
					why = "stored_other_device"
					break
				}
				w.onStored(ctl, size)
				return true
			case ctl.Kind != codec.ControlCommand:
				why = "unexpected_" + ctl.Kind.String()
			}
			if why != "" {
				w.t.count(func(tl *tally) { tl.downlinkErrors[why]++ })
				return true
			}
			out = w.obey(c, ctl, out)
			return true
		})
		if serr != nil { // a stream that cannot be resynchronised
			w.t.count(func(tl *tally) { tl.downlinkErrors[codec.ReasonOf(serr).String()]++ })
			return
		}
		k = copy(buf, data[off:])
		if err != nil {
			return
		}
	}
}

// onStored applies a #stored and hands its fast resends to the sender.
func (w *tlsWriter) onStored(ctl *codec.Control, size int) {
	w.t.mu.Lock()
	fast := w.t.acc.applyStored(w.d.lid, ctl, size, w.t.r.now())
	w.fast = append(w.fast, fast...)
	w.t.mu.Unlock()
	select {
	case w.kick <- struct{}{}:
	default:
	}
}

// obey applies a command and acknowledges it on c; out is scratch.
func (w *tlsWriter) obey(c *tlsConn, cmd *codec.Control, out []byte) []byte {
	w.t.live.commands.Add(1)
	w.t.mu.Lock()
	w.d.commands++
	st := obey(&w.d.led, cmd.Payload)
	if st != codec.AckOK {
		w.t.tally.unknownCommands++
	}
	w.t.mu.Unlock()
	out = w.enc.AppendControl(out[:0], &codec.Control{Kind: codec.ControlAck, ID: cmd.ID, Status: st})
	w.wmu.Lock()
	_, werr := c.conn.Write(out)
	w.wmu.Unlock()
	if werr == nil {
		w.t.mu.Lock()
		w.t.acc.account(w.d, &mark{end: len(out), size: int32(len(out)), kind: markAck}, 0)
		w.t.mu.Unlock()
	}
	return out
}

// writeRecords writes w.out as DTLS records of whole frames, each at most
// dtlsMaxRecord bytes (a frame larger than that alone in its record), and
// returns the bytes of the records written.
func (w *tlsWriter) writeRecords() (int, error) {
	start := 0
	for i := 0; i < len(w.marks); {
		end := w.marks[i].end
		for i++; i < len(w.marks) && w.marks[i].end-start <= dtlsMaxRecord; i++ {
			end = w.marks[i].end
		}
		if _, err := w.c.conn.Write(w.out[start:end]); err != nil {
			return start, err
		}
		start = end
	}
	return start, nil
}
