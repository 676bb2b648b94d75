package loadgen

import (
	"golang.org/x/sys/unix"

	"github.com/fleetwire/fleetwire/codec"
)

// sendDue builds and writes every frame of d that is due (at most
// maxFramesFire: a device that fell behind goes on at the next tick),
// with Ack the resends and #gaveup that are due too, and end-of-stream
// when d has sent all it was asked to.
func (l *loop) sendDue(id int32) {
	d := &l.devs[id]
	now := l.r.now()
	l.reset()
	last := false
	for range maxFramesFire {
		n := l.s.frameSamples(d.k)
		due := l.t0 + l.s.due(d, d.k)
		if n == 0 || l.end > 0 && due >= l.end {
			last = true
			break
		}
		if due > now {
			break
		}
		l.dataFrame(id, n, due, now)
	}
	if l.ack != nil {
		l.ackResend(&l.framer, id, now, nil)
	}
	if last {
		l.finish(d)
	}
	l.emit(id, now)
	switch {
	case d.finishing:
		l.afterFinish(id, now)
	case d.state == stUp:
		l.armNext(id, now)
	}
}

// dataFrame appends device id's next frame, of n samples due at due, and
// with Ack records it in the device's Sender as sent at now.
func (l *loop) dataFrame(id int32, n int, due, now int64) {
	d := &l.devs[id]
	seq := d.seq
	pre := l.helloPrefix(&l.framer, id)
	l.appendFrame(d, n, due)
	l.joinHello(&l.framer, pre)
	if l.ack != nil {
		l.ackSent(id, seq, n, now)
	}
}

// udpEOSCopies is how many times a UDP device sends its end-of-stream.
// The server takes it once (it is idempotent), and on a lossy link the
// tail loss it reveals is only counted if one copy arrives: at 5 % loss
// per packet, three copies miss 1 in 8,000 devices instead of 1 in 20.
const udpEOSCopies = 3

// finish stops d's frames and queues its end-of-stream.
func (l *loop) finish(d *device) {
	d.finishing = true
	eos := codec.Control{Kind: codec.ControlEOS, Device: d.id, Seq: d.seq}
	copies := 1
	if l.r.cfg.Transport == UDP {
		copies = udpEOSCopies
	}
	for i := range copies {
		kind := markEOS
		if i > 0 || d.eosSent {
			kind = markEOSCopy // a repeat, or again on a new connection (Ack)
		}
		pre := l.helloPrefix(&l.framer, d.lid)
		l.appendControl(eos, kind)
		l.joinHello(&l.framer, pre)
	}
	if l.ack != nil {
		l.ack.devs[d.lid].snd.Ended(l.r.now())
	}
}

// afterFinish closes what can be closed once end-of-stream is out: a
// stream shuts its write side and waits for the receiver to close, so
// that nothing it sent is cut off by a reset.
func (l *loop) afterFinish(id int32, now int64) {
	d := &l.devs[id]
	if d.state != stUp {
		return
	}
	if l.ack != nil && !l.ackSettled(id, now) {
		l.armNext(id, now) // resends and the end of the wait
		return
	}
	if !d.pend.empty() {
		if !d.drainArmed {
			d.drainArmed = true
			l.arm(id, now+int64(l.r.cfg.DrainTimeout))
		}
		return
	}
	switch {
	case d.sock >= 0 || d.fd < 0: // shared UDP socket: nothing to close
		l.setState(d, stDone)
		l.gens[id]++
	case l.r.cfg.Transport == UDP:
		l.closeDevice(d, stDone)
	default:
		if err := unix.Shutdown(d.fd, unix.SHUT_WR); err != nil {
			l.tally.disconnects[reason(err)]++
			l.closeDevice(d, stDone)
			return
		}
		l.setState(d, stDraining)
		l.arm(id, now+int64(l.r.cfg.DrainTimeout))
	}
}

// account counts a mark whose bytes the socket accepted.
func (l *loop) account(d *device, m *mark, now int64) {
	size := uint64(m.size)
	l.live.bytes.Add(size)
	if m.pre > 0 { // the hello in front of a UDP datagram (ack)
		l.tally.controlFrames++
		l.tally.controlBytes += uint64(m.pre)
		l.tally.helloPrefixes++
		size -= uint64(m.pre)
	}
	switch m.kind {
	case markData:
	case markResend:
		r := uint64(m.samples) * uint64(l.s.channels)
		l.ack.devs[d.lid].resent += uint64(m.samples)
		l.tally.resentFrames++
		l.tally.resentBytes += size
		l.live.resent.Add(r)
		return
	default:
		l.tally.controlFrames++
		l.tally.controlBytes += size
		switch m.kind {
		case markEOS:
			l.tally.eos++
			d.eosSent = true
		case markEOSCopy: // a control frame sent, not another device ending
		case markAck:
			d.acks++
			l.live.acks.Add(1)
		case markGaveUp:
			l.tally.gaveUpFrames++
		}
		return
	}
	r := uint64(m.samples) * uint64(l.s.channels)
	d.frames++
	d.samples += uint64(m.samples)
	d.readings += r
	d.bytes += size
	l.live.frames.Add(1)
	l.live.readings.Add(r)
	if l.firstAt == 0 {
		l.firstAt = now
	}
	l.lastAt = now
	if l.s.periodNs > 0 {
		late := now - m.due
		recordLateness(l.tally.lateness, late)
		if late > int64(l.r.cfg.LateAfter) {
			l.live.late.Add(1)
		}
	}
}

// dropQueued counts the data frames among marks as skipped.
func (l *loop) dropQueued(d *device, marks []mark, why string) {
	for i := range marks {
		if marks[i].kind == markData {
			d.skipped++
			l.tally.dropped[why]++
			l.live.dropped.Add(1)
		}
	}
}

func (l *loop) getPending() *pending {
	if n := len(l.free); n > 0 {
		p := l.free[n-1]
		l.free = l.free[:n-1]
		return p
	}
	return &pending{}
}

// putPending keeps a few small queues for reuse; a big one goes back to
// the GC so one burst does not pin memory for the rest of the run.
func (l *loop) putPending(p *pending) {
	p.buf, p.off, p.marks = p.buf[:0], 0, p.marks[:0]
	if len(l.free) < 64 && cap(p.buf) <= 64<<10 {
		l.free = append(l.free, p)
	}
}

// skip consumes frame d.k without sending it.
func (l *loop) skip(d *device, n int, why string) {
	l.vals = l.s.fill(l.vals[:0], d, n) // the signal moves on as if sampled
	d.k++
	d.seq += uint64(n)
	d.skipped++
	l.tally.dropped[why]++
	l.live.dropped.Add(1)
}

// pump is the as-fast-as-possible mode (Rate 0): every device whose
// socket has room gets frames, about bulkBytes per write on a stream, one
// datagram per visit on UDP, until its socket is full or it is done.
func (l *loop) pump() {
	now := l.r.now()
	udp := l.r.cfg.Transport == UDP
	keep := l.ready[:0]
	for _, id := range l.ready {
		d := &l.devs[id]
		if d.state != stUp || d.finishing {
			continue
		}
		l.out, l.marks = l.out[:0], l.marks[:0]
		for {
			n := l.s.frameSamples(d.k)
			if n == 0 {
				l.finish(d)
				break
			}
			l.appendFrame(d, n, now)
			if udp || len(l.out) >= bulkBytes {
				break
			}
		}
		l.emit(id, now)
		switch {
		case d.finishing:
			l.afterFinish(id, now)
		case d.state == stUp && d.pend.empty():
			keep = append(keep, id)
		}
	}
	l.ready = keep
}
