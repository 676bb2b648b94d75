package loadgen

import (
	"errors"
	"time"

	"golang.org/x/sys/unix"
)

// connectSome starts as many connects as the rate limit allows. UDP
// "connects" are local (they only fix the peer address) and are not
// limited.
func (l *loop) connectSome(now int64) {
	if l.qhead == len(l.connQ) {
		return
	}
	udp := l.r.cfg.Transport == UDP
	if !udp {
		burst := max(1, l.connRate*float64(10*time.Millisecond))
		l.tokens = min(l.tokens+float64(now-l.refillAt)*l.connRate, burst)
		l.refillAt = now
	}
	for l.qhead < len(l.connQ) && l.inflight < maxInflight && (udp || l.tokens >= 1) {
		id := l.connQ[l.qhead]
		l.qhead++
		if !udp {
			l.tokens--
		}
		if d := &l.devs[id]; d.state == stIdle {
			l.connect(id, now)
		}
	}
	if l.qhead == len(l.connQ) {
		l.connQ, l.qhead = l.connQ[:0], 0
	}
}

// connect opens d's socket: bound to its source address (port chosen at
// connect time, IP_BIND_ADDRESS_NO_PORT, so one source address serves as
// many connections as the 4-tuple allows), non-blocking.
func (l *loop) connect(id int32, now int64) {
	d := &l.devs[id]
	typ := unix.SOCK_STREAM
	if l.r.cfg.Transport == UDP {
		typ = unix.SOCK_DGRAM
	}
	ti := int(d.tgt)
	fd, err := unix.Socket(l.r.tgts.list[ti].family(), typ|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		l.connectFailed(id, err, now)
		return
	}
	d.fd = fd
	if err = l.r.prepareSocket(fd, d.num, ti, typ); err == nil {
		err = unix.Connect(fd, l.sas[ti])
	}
	switch {
	case err == nil:
		if err = l.ctl(unix.EPOLL_CTL_ADD, fd, id, unix.EPOLLIN); err != nil {
			l.connectFailed(id, err, now)
			return
		}
		l.connected(id, now)
	case errors.Is(err, unix.EINPROGRESS):
		if err = l.ctl(unix.EPOLL_CTL_ADD, fd, id, unix.EPOLLOUT); err != nil {
			l.connectFailed(id, err, now)
			return
		}
		l.setState(d, stConnecting)
		l.inflight++
		l.arm(id, now+int64(l.r.cfg.ConnectTimeout))
	default:
		l.connectFailed(id, err, now)
	}
}

// prepareSocket sets the options of a new socket and binds it to device
// num's source address for target ti.
func (r *runner) prepareSocket(fd, num, ti, typ int) error {
	if n := r.cfg.SocketBuffer; n > 0 {
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF, n); err != nil {
			return err
		}
	}
	if typ == unix.SOCK_STREAM && r.cfg.NoDelay {
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1); err != nil {
			return err
		}
	}
	if typ == unix.SOCK_STREAM {
		if err := r.setKeepAlive(fd); err != nil {
			return err
		}
	}
	src, ok := r.tgts.source(num, ti)
	if !ok {
		return nil
	}
	if typ == unix.SOCK_STREAM {
		// Without this, bind picks a port before the destination is known
		// and each source address runs out after ~28k connections in total.
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_BIND_ADDRESS_NO_PORT, 1); err != nil {
			return err
		}
	}
	return unix.Bind(fd, &unix.SockaddrInet4{Addr: src.As4()})
}

func (l *loop) onConnectEvent(id int32, now int64) {
	d := &l.devs[id]
	soerr, err := unix.GetsockoptInt(d.fd, unix.SOL_SOCKET, unix.SO_ERROR)
	if err == nil && soerr != 0 {
		err = unix.Errno(soerr)
	}
	if err != nil {
		l.connectFailed(id, err, now)
		return
	}
	if err := l.ctl(unix.EPOLL_CTL_MOD, d.fd, id, unix.EPOLLIN); err != nil {
		l.connectFailed(id, err, now)
		return
	}
	l.inflight--
	l.connected(id, now)
}

// connected starts a device on a fresh connection: hello first on
// streams, then its schedule if the send phase has begun. With Ack the
// hello asks for acknowledgements, and a device that held samples (it
// reconnected, or its frames fell due while it was down) sends, after the
// hello, its #gaveup and everything unacknowledged at once (see
// ack.Sender.Reconnected).
func (l *loop) connected(id int32, now int64) {
	d := &l.devs[id]
	l.setState(d, stUp)
	l.gens[id]++ // cancel the connect deadline
	d.attempts = 0
	if !d.everUp {
		d.everUp = true
		l.live.everConn.Add(1)
	}
	l.reset()
	if l.ack != nil {
		if l.started {
			l.catchUp(id, now)
		}
		l.ack.devs[id].snd.Reconnected()
	}
	if l.r.cfg.Transport != UDP {
		l.appendControl(l.helloControl(d), markHello)
	}
	if l.ack != nil {
		l.ackResend(&l.framer, id, now, nil)
	}
	if l.stopping || d.finishing {
		l.finish(d)
		l.emit(id, now)
		l.afterFinish(id, now)
		return
	}
	l.emit(id, now)
	if d.state == stUp && l.started {
		l.schedule(id, true)
	}
}

// connectFailed counts a failed attempt and retries with exponential
// back-off, or gives up after ConnectRetries retries. With Ack and
// several targets the next attempt goes to the next target (failover).
func (l *loop) connectFailed(id int32, err error, now int64) {
	d := &l.devs[id]
	why := reason(err)
	l.live.connErrors.Add(1)
	if d.fd >= 0 {
		unix.Close(d.fd)
		d.fd = -1
		if d.state == stConnecting {
			l.inflight--
		}
	}
	d.attempts++
	d.lastErr = why
	if int(d.attempts) > l.r.cfg.ConnectRetries || l.stopping && !l.ackRetry(id, now) {
		l.tally.connectFailures[why]++
		l.setState(d, stDone)
		l.gens[id]++
		return
	}
	l.tally.connectRetries[why]++
	l.failover(d)
	l.setState(d, stRetry)
	l.arm(id, now+backoff(d.attempts, mix(uint64(d.num)^l.s.seed, uint64(now))))
}

// failover moves an acknowledging device to the next target of the list
// after its target refused or dropped it: it resends there everything
// not acknowledged (connected). Without Ack a device keeps its target.
func (l *loop) failover(d *device) {
	if n := len(l.r.tgts.list); l.ack != nil && n > 1 {
		d.tgt = (d.tgt + 1) % int32(n)
		d.failovers++
		l.tally.failovers++
	}
}

// backoff returns the wait before attempt n+1: 100 ms doubling up to 5 s,
// with ±50 % jitter (from the random r) so that a fleet refused at once
// does not return at once. The jitter does not come from a device's
// signal generator: that must depend on its samples alone (regen.go).
func backoff(n uint8, r uint64) int64 {
	b := int64(100 * time.Millisecond)
	for i := uint8(1); i < n && b < int64(5*time.Second); i++ {
		b *= 2
	}
	b = min(b, int64(5*time.Second))
	return b/2 + int64(uniform(r, uint64(b)))
}

// broken handles a connection that failed mid-run: what it had queued is
// lost, and it reconnects (if allowed) while its schedule keeps running.
// With Ack what was lost is still held, and the device also reconnects
// at the end of its run (ackRetry), to another target if it has several.
func (l *loop) broken(id int32, err error, now int64) {
	d := &l.devs[id]
	why := reason(err)
	l.tally.disconnects[why]++
	wasDraining := d.state == stDraining
	l.closeDevice(d, stIdle)
	again := l.r.cfg.Reconnect && !d.finishing && !l.stopping
	if l.ack != nil {
		again = l.ackRetry(id, now)
	}
	if wasDraining || !again {
		l.setState(d, stDone)
		return
	}
	d.attempts = 1
	l.failover(d)
	l.setState(d, stRetry)
	l.arm(id, now+backoff(d.attempts, mix(uint64(d.num)^l.s.seed, uint64(now))))
}
