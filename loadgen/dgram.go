package loadgen

import (
	"errors"
	"fmt"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/fleetwire/fleetwire/codec"
	"github.com/fleetwire/fleetwire/codec/framing"
)

// emitDatagrams sends each frame in l.out as its own datagram from d's
// socket. A datagram the kernel refuses is a send error: the device moves
// on, as a real one would, and the receiver sees the gap.
//
// A report (data frames) from a device whose NAT binding is lost
// (Config.NATBinding) leaves from a new socket, so from a new source
// port; its radio-on time is that of its writes.
func (l *loop) emitDatagrams(d *device, now int64) {
	report := l.hasData()
	if report && l.r.cfg.NATBinding == NATLose && d.frames > 0 {
		if err := l.rebind(d); err != nil {
			l.tally.sendErrors["rebind_"+reason(err)]++
		}
	}
	var t0 time.Time
	if report {
		t0 = time.Now()
		defer func() { recordLateness(l.tally.radioOn, int64(time.Since(t0))) }()
	}
	start := 0
	for i := range l.marks {
		m := &l.marks[i]
		b := l.out[start:m.end]
		start = m.end
		if len(b) > MaxDatagram {
			l.dropQueued(d, l.marks[i:i+1], dropTooLarge)
			continue
		}
		if _, err := unix.Write(d.fd, b); err != nil {
			l.sendError(d, m, err)
			if errors.Is(err, unix.ECONNREFUSED) {
				l.udpRefused(d.lid, now)
			}
			continue
		}
		l.account(d, m, now)
	}
}

func (l *loop) sendError(d *device, m *mark, err error) {
	l.tally.sendErrors[reason(err)]++
	l.live.sendErrors.Add(1)
	if m.kind == markData {
		d.skipped++
	}
}

// onDatagrams reads downlink datagrams (commands) of a UDP device.
func (l *loop) onDatagrams(id int32, now int64) {
	d := &l.devs[id]
	for range 16 {
		n, err := unix.Read(d.fd, l.rbuf)
		switch {
		case err == nil:
			if n > 0 {
				l.downlink(id, l.rbuf[:n], true, now)
			}
			if d.state != stUp && d.state != stDraining {
				return
			}
		case errors.Is(err, unix.EAGAIN):
			return
		default:
			// An ICMP error for an earlier datagram (port unreachable when
			// nothing listens). The datagram itself was sent.
			l.tally.downlinkErrors["icmp_"+reason(err)]++
			if errors.Is(err, unix.ECONNREFUSED) {
				l.udpRefused(id, now)
			}
		}
	}
}

// muxSock is one of the --udp-sockets shared sockets. Frames due in a
// tick queue in its arena and leave in sendmmsg batches.
type muxSock struct {
	fd    int
	arena []byte
	items []muxItem
	msgs  []mmsghdr
	iovs  []unix.Iovec
}

type muxItem struct {
	dev int32
	m   mark // end is the offset in arena
}

// mmsghdr is struct mmsghdr of <sys/socket.h>.
type mmsghdr struct {
	hdr unix.Msghdr
	len uint32
	_   [4]byte
}

const muxBatch = 64 // datagrams per sendmmsg

// openMux opens this loop's share of the shared UDP sockets, for each
// target its devices send to, and marks its devices connected: they have
// no socket of their own.
func (l *loop) openMux() error {
	c := l.r.cfg
	n := c.UDPSockets / l.r.nloops
	if l.idx < c.UDPSockets%l.r.nloops {
		n++
	}
	if n == 0 {
		return fmt.Errorf("loop %d has no shared socket", l.idx)
	}
	tgts := l.r.tgts
	first := make([]int32, len(tgts.list)) // per target: index of its first socket, -1 for none
	for ti := range first {
		first[ti] = -1
	}
	for i := range l.devs {
		first[tgts.of(l.devs[i].num)] = 0
	}
	for ti := range first {
		if first[ti] < 0 {
			continue
		}
		first[ti] = int32(len(l.socks))
		for range n {
			if err := l.openMuxSock(ti); err != nil {
				return err
			}
		}
	}
	next := make([]int32, len(tgts.list))
	for i := range l.devs {
		d := &l.devs[i]
		ti := tgts.of(d.num)
		d.sock = first[ti] + next[ti]%int32(n)
		next[ti]++
		l.setState(d, stUp)
		d.everUp = true
		l.live.everConn.Add(1)
	}
	l.connQ = l.connQ[:0]
	return nil
}

func (l *loop) openMuxSock(ti int) error {
	fd, err := unix.Socket(l.r.tgts.list[ti].family(), unix.SOCK_DGRAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("udp socket: %w", err)
	}
	s := &muxSock{fd: fd, msgs: make([]mmsghdr, muxBatch), iovs: make([]unix.Iovec, muxBatch)}
	l.socks = append(l.socks, s)
	// A bigger send buffer absorbs a tick's burst; the kernel caps it
	// at wmem_max, which is fine.
	_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF, 4<<20)
	if err := l.r.prepareSocket(fd, l.r.cfg.IDOffset, ti, unix.SOCK_DGRAM); err != nil {
		return fmt.Errorf("udp socket bind: %w", err)
	}
	if err := unix.Connect(fd, l.sas[ti]); err != nil {
		return fmt.Errorf("udp connect: %w", err)
	}
	return l.ctl(unix.EPOLL_CTL_ADD, fd, int32(evSockMin-len(l.socks)+1), unix.EPOLLIN)
}

// emitMux queues l.out's frames on d's shared socket.
func (l *loop) emitMux(d *device, now int64) {
	s := l.socks[d.sock]
	start := 0
	for i := range l.marks {
		m := l.marks[i]
		b := l.out[start:m.end]
		start = m.end
		if len(b) > MaxDatagram {
			l.dropQueued(d, l.marks[i:i+1], dropTooLarge)
			continue
		}
		s.arena = append(s.arena, b...)
		m.end = len(s.arena)
		s.items = append(s.items, muxItem{d.lid, m})
		if len(s.items) == muxBatch {
			l.flushSock(s)
		}
	}
}

func (l *loop) flushMux() {
	for _, s := range l.socks {
		if len(s.items) > 0 {
			l.flushSock(s)
		}
	}
}

// flushSock sends the queued datagrams with as few sendmmsg calls as the
// kernel allows. A datagram it refuses is a send error and is skipped.
func (l *loop) flushSock(s *muxSock) {
	start := 0
	for i := range s.items {
		m := &s.items[i].m
		s.iovs[i].Base = &s.arena[start]
		s.iovs[i].SetLen(int(m.size))
		s.msgs[i] = mmsghdr{}
		s.msgs[i].hdr.Iov = &s.iovs[i]
		s.msgs[i].hdr.SetIovlen(1)
		start = m.end
	}
	for i := 0; i < len(s.items); {
		n, err := sendmmsg(s.fd, s.msgs[i:len(s.items)])
		now := l.r.now()
		for _, it := range s.items[i : i+n] {
			l.account(&l.devs[it.dev], &it.m, now)
		}
		i += n
		if err != nil && i < len(s.items) {
			it := &s.items[i]
			l.sendError(&l.devs[it.dev], &it.m, err)
			i++
		}
	}
	s.items = s.items[:0]
	s.arena = s.arena[:0]
}

func sendmmsg(fd int, msgs []mmsghdr) (int, error) {
	n, _, e := unix.Syscall6(unix.SYS_SENDMMSG, uintptr(fd), uintptr(unsafe.Pointer(&msgs[0])), uintptr(len(msgs)), 0, 0, 0)
	if e != 0 {
		return 0, e
	}
	return int(n), nil
}

// onMuxEvent drains what arrives on a shared socket. Commands cannot be
// routed to a device here: the receiver saw only the shared address. A
// #stored names its device, so with Ack it goes to that device.
func (l *loop) onMuxEvent(s *muxSock, events uint32) {
	for range 16 {
		n, err := unix.Read(s.fd, l.rbuf)
		if errors.Is(err, unix.EAGAIN) {
			return
		}
		if err != nil {
			l.tally.downlinkErrors["icmp_"+reason(err)]++
			continue
		}
		if l.ack == nil {
			l.tally.downlinkErrors["unroutable"]++
			continue
		}
		l.muxDatagram(l.rbuf[:n], l.r.now())
	}
}

// muxDatagram handles one datagram that arrived on a shared socket.
func (l *loop) muxDatagram(data []byte, now int64) {
	if l.muxSplit == nil {
		l.muxSplit = framing.NewSplitter(l.r.endByte, maxDownlinkFrame)
	}
	l.muxSplit.Reset()
	_, _ = l.muxSplit.Scan(data, true, func(fr []byte, size int, err error) bool {
		if err != nil {
			l.tally.downlinkErrors[codec.ReasonOf(err).String()]++
			return true
		}
		c, why := decodeControl(&l.dl, fr)
		switch {
		case why != "":
			l.tally.downlinkErrors[why]++
		case c.Kind != codec.ControlStored:
			l.tally.downlinkErrors["unroutable"]++
		default:
			if id := l.deviceByID(c.Device); id >= 0 {
				l.onStored(id, c, size, now)
			} else {
				l.tally.downlinkErrors["stored_unknown_device"]++
			}
		}
		return true
	})
}

// udpRefused handles ECONNREFUSED on a UDP device's own socket: its
// target sent ICMP port unreachable. With Ack and several targets the
// device moves to the next (the socket is connected there instead) and
// resends everything unacknowledged, at most ConnectRetries times until
// a #stored arrives again; past that it stays where it is.
func (l *loop) udpRefused(id int32, now int64) {
	d := &l.devs[id]
	if l.ack == nil || len(l.r.tgts.list) < 2 || d.fd < 0 || d.state != stUp {
		return
	}
	a := &l.ack.devs[id]
	if int(a.refused) >= l.r.cfg.ConnectRetries {
		return
	}
	a.refused++
	l.failover(d)
	if err := unix.Connect(d.fd, l.sas[d.tgt]); err != nil {
		l.tally.disconnects[reason(err)]++
		return
	}
	a.snd.Reconnected()
	l.armNext(id, now) // the resends leave on the next tick
}

// hasData reports whether l.out holds a data frame.
func (l *loop) hasData() bool {
	for i := range l.marks {
		if l.marks[i].kind == markData {
			return true
		}
	}
	return false
}

// rebind gives UDP device d a new socket, connected to its target as the
// old one was: a new source port, as after a NAT binding expired. The
// old socket is closed (which takes it out of the epoll set).
func (l *loop) rebind(d *device) error {
	ti := int(d.tgt)
	fd, err := unix.Socket(l.r.tgts.list[ti].family(), unix.SOCK_DGRAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	if err = l.r.prepareSocket(fd, d.num, ti, unix.SOCK_DGRAM); err == nil {
		err = unix.Connect(fd, l.sas[ti])
	}
	if err == nil {
		err = l.ctl(unix.EPOLL_CTL_ADD, fd, d.lid, unix.EPOLLIN)
	}
	if err != nil {
		unix.Close(fd)
		return err
	}
	unix.Close(d.fd)
	d.fd = fd
	l.tally.sessions++
	return nil
}
