package loadgen

import (
	"errors"
	"io"

	"golang.org/x/sys/unix"
)

// emit writes what l.out holds for d. A stream gets one write; what the
// socket does not take is queued and goes out on EPOLLOUT. Datagram
// devices send one datagram per frame.
func (l *loop) emit(id int32, now int64) {
	if len(l.marks) == 0 {
		return
	}
	d := &l.devs[id]
	switch {
	case d.state != stUp:
		l.dropQueued(d, l.marks, dropDisconnected)
		return
	case d.sock >= 0:
		l.emitMux(d, now)
		return
	case l.r.cfg.Transport == UDP:
		l.emitDatagrams(d, now)
		return
	case !d.pend.empty():
		l.enqueue(d, 0, 0)
		return
	}
	n, err := unix.Write(d.fd, l.out)
	if err != nil {
		if !errors.Is(err, unix.EAGAIN) {
			l.dropQueued(d, l.marks, dropConnLost)
			l.broken(id, err, now)
			return
		}
		n = 0
	}
	i := 0
	for i < len(l.marks) && l.marks[i].end <= n {
		l.account(d, &l.marks[i], now)
		i++
	}
	if i < len(l.marks) {
		l.enqueue(d, i, n)
	}
}

// enqueue copies l.out[from:], described by l.marks[i:], to d's queue. A
// frame the socket took part of must follow whole, and control frames are
// never dropped; a data frame that would push the queue past SendBuffer is
// skipped, as a device with a full buffer would.
func (l *loop) enqueue(d *device, i, from int) {
	p := d.pend
	if p == nil {
		p = l.getPending()
		d.pend = p
		if err := l.ctl(unix.EPOLL_CTL_MOD, d.fd, d.lid, unix.EPOLLIN|unix.EPOLLOUT); err != nil {
			l.err = err
		}
	}
	if p.off > 0 && p.off >= len(p.buf)/2 {
		n := copy(p.buf, p.buf[p.off:])
		for j := range p.marks {
			p.marks[j].end -= p.off
		}
		p.buf, p.off = p.buf[:n], 0
	}
	limit := l.r.cfg.SendBuffer
	for ; i < len(l.marks); i++ {
		m := l.marks[i]
		start := m.end - int(m.size)
		if start < from {
			start = from
		} else if (m.kind == markData || m.kind == markResend) && len(p.buf)-p.off+int(m.size) > limit {
			// With Ack the samples stay held and are resent later.
			if m.kind == markData {
				d.skipped++
				l.tally.dropped[dropBackpressure]++
				l.live.dropped.Add(1)
			}
			continue
		}
		p.buf = append(p.buf, l.out[start:m.end]...)
		m.end = len(p.buf)
		p.marks = append(p.marks, m)
	}
}

// flushPending writes d's queue when the socket has room again.
func (l *loop) flushPending(id int32, now int64) {
	d := &l.devs[id]
	p := d.pend
	n, err := unix.Write(d.fd, p.buf[p.off:])
	if err != nil {
		if !errors.Is(err, unix.EAGAIN) {
			l.broken(id, err, now)
		}
		return
	}
	p.off += n
	i := 0
	for i < len(p.marks) && p.marks[i].end <= p.off {
		l.account(d, &p.marks[i], now)
		i++
	}
	p.marks = p.marks[:copy(p.marks, p.marks[i:])]
	if p.off < len(p.buf) {
		return
	}
	l.putPending(p)
	d.pend = nil
	if err := l.ctl(unix.EPOLL_CTL_MOD, d.fd, id, unix.EPOLLIN); err != nil {
		l.err = err
	}
	switch {
	case d.finishing:
		l.afterFinish(id, now)
	case l.s.periodNs == 0 && l.started && !l.stopping:
		l.ready = append(l.ready, id)
	}
}

// onReadable reads downlink bytes: commands while the device is up, the
// receiver's close while it drains.
func (l *loop) onReadable(id int32, now int64) {
	d := &l.devs[id]
	for range 4 {
		k := copy(l.rbuf, d.rx)
		n, err := unix.Read(d.fd, l.rbuf[k:])
		switch {
		case n > 0:
			d.rx = d.rx[:0]
			l.downlink(id, l.rbuf[:k+n], false, now)
			if d.state != stUp && d.state != stDraining || k+n < len(l.rbuf) {
				return
			}
		case err == nil: // EOF
			if d.state == stDraining {
				l.closeDevice(d, stDone)
				return
			}
			l.broken(id, io.EOF, now)
			return
		case errors.Is(err, unix.EAGAIN):
			return
		default:
			l.broken(id, err, now)
			return
		}
	}
}
