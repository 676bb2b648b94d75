package loadgen

import (
	"golang.org/x/sys/unix"

	"github.com/fleetwire/fleetwire/codec"
)

// sendDue builds and writes every frame of d that is due.
func (l *loop) sendDue(id int32) {
	d := &l.devs[id]
	now := l.r.now()
	l.out, l.marks = l.out[:0], l.marks[:0]
	for built := 0; ; built++ {
		n := l.s.frameSamples(d.k)
		if n == 0 {
			l.finish(d)
			break
		}
		due := l.t0 + l.s.due(d, d.k)
		if l.end > 0 && due >= l.end {
			l.finish(d)
			break
		}
		if due > now || built == maxFramesFire {
			l.arm(id, due)
			break
		}
		l.appendFrame(d, n, due)
	}
	l.emit(id, now)
	if d.finishing {
		l.afterFinish(id, now)
	}
}

// appendFrame encodes d's next frame of n samples, due at due, into l.out.
// The last sample carries the due time: a receiver measures latency from
// when the frame should have left, not from when a late generator got to it.
func (l *loop) appendFrame(d *device, n int, due int64) {
	l.vals = l.s.fill(l.vals[:0], d, n)
	times := l.times[:n]
	last := l.r.wallMs(due)
	for j := range times {
		times[j] = last - int64(n-1-j)*l.s.stepMs
	}
	// The frame lives in the loop: through the encoder interface a local
	// one would escape, one allocation per frame.
	f := &l.frame
	*f = codec.Frame{
		Device: d.id, Seq: d.seq, Flags: codec.HasSeq | codec.HasTime, Format: l.format,
		Channels: l.s.channels, Times: times, Values: l.vals,
	}
	start := len(l.out)
	l.out = l.enc.Append(l.out, f)
	l.marks = append(l.marks, mark{end: len(l.out), size: int32(len(l.out) - start), due: due, samples: int32(n), kind: markData})
	d.k++
	d.seq += uint64(n)
}

func (l *loop) appendControl(c codec.Control, kind markKind) {
	start := len(l.out)
	l.ctrl = c
	l.out = l.enc.AppendControl(l.out, &l.ctrl)
	l.marks = append(l.marks, mark{end: len(l.out), size: int32(len(l.out) - start), kind: kind})
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
	l.appendControl(eos, markEOS)
	if l.r.cfg.Transport == UDP {
		for range udpEOSCopies - 1 {
			l.appendControl(eos, markEOSCopy)
		}
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
	if m.kind != markData {
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
