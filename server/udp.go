package server

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/fleetwire/fleetwire/codec"
)

// udpBatch is how many datagrams one recvmmsg call may return.
const udpBatch = 64

// listenUDP opens one UDP socket on addr with SO_REUSEPORT (when
// reusePort: several readers, or several server processes, share the
// port and the kernel spreads datagrams by source) and a receive buffer of
// rcvbuf bytes, forced past rmem_max when the process may (root).
func listenUDP(addr string, reusePort bool, rcvbuf int) (*net.UDPConn, error) {
	lc := net.ListenConfig{Control: reusePortControl(reusePort)}
	pc, err := lc.ListenPacket(context.Background(), "udp", addr)
	if err != nil {
		return nil, err
	}
	uc := pc.(*net.UDPConn)
	if rcvbuf > 0 {
		if rc, err := uc.SyscallConn(); err == nil {
			_ = rc.Control(func(fd uintptr) {
				if unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, rcvbuf) != nil {
					_ = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF, rcvbuf)
				}
			})
		}
	}
	return uc, nil
}

// reusePortControl sets SO_REUSEPORT on a listening socket when on.
func reusePortControl(on bool) func(_, _ string, c syscall.RawConn) error {
	return func(_, _ string, c syscall.RawConn) error {
		if !on {
			return nil
		}
		var serr error
		if err := c.Control(func(fd uintptr) {
			serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
		}); err != nil {
			return err
		}
		return serr
	}
}

// udpReader drains one socket with recvmmsg: up to udpBatch datagrams per
// system call. It owns its ingester, buffers and headers: nothing is
// allocated per datagram.
//
// Waking up costs more than reading. A profile of 300k datagrams/s from
// 1,000 devices showed about half the server's CPU in scheduling: the
// reader woke every datagram or so, and each wake-up (epoll_wait, futex, a
// context switch) cost more than the datagram it brought. Two things fix
// that:
//
//   - The socket is not in the runtime's netpoller, whose edge-triggered
//     registration wakes a thread on every arriving datagram whether or not
//     anyone waits for it. It is in an epoll instance of the reader's own
//     (wait), registered one-shot: when the socket is empty the reader arms
//     it and parks on the netpoller until wait is readable. One datagram
//     wakes the reader; later ones wake nobody until it drains the socket
//     and arms again. Arming checks the socket at once, so a datagram that
//     came before it is not missed. (Blocking in poll(2) instead costs a
//     processor hand-off per wake-up: 3-4 µs per reading at 500
//     datagrams/s against 2 with the netpoller.)
//   - When a drain found more than one datagram, they arrive faster than a
//     wake-up takes, so the reader sleeps `coalesce` and drains again
//     rather than waiting; the kernel's receive buffer (8 MiB by default:
//     thousands of datagrams, against hundreds per millisecond at this
//     machine's peak) holds what arrives meanwhile. The first drain after a
//     quiet spell finds at most one datagram and the reader waits again, so
//     a light load keeps its per-datagram latency.
type udpReader struct {
	srv      *Server
	lis      *listener
	sock     *udpSocket
	local    net.Addr
	wait     *os.File // epoll instance: the socket (one-shot) and the stop eventfd
	waitRC   syscall.RawConn
	events   [2]unix.EpollEvent
	ready    func(fd uintptr) bool
	g        *ingester
	bufs     [udpBatch][]byte
	iovs     [udpBatch]unix.Iovec
	names    [udpBatch]unix.RawSockaddrInet6
	hdrs     [udpBatch]unix.Mmsghdr
	coalesce time.Duration // 0: wait whenever the socket is empty
	napsOff  int           // drains to go before napping again
	stopping atomic.Bool
}

func newUDPReader(srv *Server, lis *listener, conn *net.UDPConn, bufSize int, stop int) (*udpReader, error) {
	local := conn.LocalAddr()
	sock, err := detachUDP(conn)
	if err != nil {
		return nil, err
	}
	wait, err := newWait(sock.fd, stop)
	if err != nil {
		sock.close()
		return nil, err
	}
	waitRC, err := wait.SyscallConn()
	if err != nil {
		wait.Close()
		sock.close()
		return nil, err
	}
	sh := newShard()
	srv.hub.register(&sh.ctr)
	srv.addShard(sh)
	r := &udpReader{srv: srv, sock: sock, local: local, wait: wait, waitRC: waitRC,
		lis: lis, g: newIngester(srv, sh, lis), coalesce: srv.cfg.UDPCoalesce}
	r.g.lazyShrink = true
	// One backing array for all buffers; +1 byte so a datagram of exactly
	// bufSize is told apart from a longer one that the kernel cut.
	mem := make([]byte, udpBatch*(bufSize+1))
	for i := range r.bufs {
		r.bufs[i] = mem[i*(bufSize+1) : (i+1)*(bufSize+1)]
		r.iovs[i] = unix.Iovec{Base: &r.bufs[i][0], Len: uint64(len(r.bufs[i]))}
		r.hdrs[i].Hdr.Iov = &r.iovs[i]
		r.hdrs[i].Hdr.Iovlen = 1
		r.hdrs[i].Hdr.Name = (*byte)(unsafe.Pointer(&r.names[i]))
	}
	r.ready = r.waitReady
	r.g.udpLink = r.link
	return r, nil
}

// newWait returns an epoll instance, in the netpoller, watching stop
// (level-triggered) and fd (one-shot, not yet armed).
func newWait(fd, stop int) (*os.File, error) {
	ep, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("udp: epoll_create1: %w", err)
	}
	for _, ev := range []unix.EpollEvent{{Events: unix.EPOLLONESHOT, Fd: int32(fd)}, {Events: unix.EPOLLIN, Fd: int32(stop)}} {
		if err := unix.EpollCtl(ep, unix.EPOLL_CTL_ADD, int(ev.Fd), &ev); err != nil {
			unix.Close(ep)
			return nil, fmt.Errorf("udp: epoll_ctl: %w", err)
		}
	}
	if err := unix.SetNonblock(ep, true); err != nil {
		unix.Close(ep)
		return nil, fmt.Errorf("udp: epoll nonblock: %w", err)
	}
	// Non-blocking, so os.NewFile puts it in the netpoller: an epoll
	// instance is readable while one of its registrations is ready.
	return os.NewFile(uintptr(ep), "udp-wait"), nil
}

// maxIdleWait bounds a wait even with nothing due: a wake-up lost to a
// bug of ours or the kernel's would cost this much, not a stalled socket.
const maxIdleWait = time.Second

// waitReadable waits until the socket has a datagram, the engine stops,
// or timeout passes (negative: maxIdleWait).
func (r *udpReader) waitReadable(timeout time.Duration) error {
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLONESHOT, Fd: int32(r.sock.fd)}
	var err error
	if cerr := r.waitRC.Control(func(ep uintptr) {
		err = unix.EpollCtl(int(ep), unix.EPOLL_CTL_MOD, r.sock.fd, &ev)
	}); cerr != nil {
		return cerr
	}
	if err != nil {
		return fmt.Errorf("udp: arm: %w", err)
	}
	if timeout < 0 || timeout > maxIdleWait {
		timeout = maxIdleWait
	}
	_ = r.wait.SetReadDeadline(time.Now().Add(timeout))
	if err := r.waitRC.Read(r.ready); err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
		return err
	}
	return nil
}

// waitReady is wait's RawConn.Read callback: false means "nothing yet,
// park on the netpoller".
func (r *udpReader) waitReady(ep uintptr) bool {
	n, err := unix.EpollWait(int(ep), r.events[:], 0)
	return n > 0 || (err != nil && err != unix.EINTR)
}

// recvmmsg reads what the socket holds, without waiting, processing each
// batch, and returns how many datagrams it read; errno is set when the
// socket failed (closed) rather than ran empty.
func (r *udpReader) recvmmsg() (got int, errno error) {
	for {
		for i := range r.hdrs {
			r.hdrs[i].Hdr.Namelen = unix.SizeofSockaddrInet6
			r.hdrs[i].Hdr.Flags = 0
		}
		n, _, e := unix.Syscall6(unix.SYS_RECVMMSG, uintptr(r.sock.fd), uintptr(unsafe.Pointer(&r.hdrs[0])), udpBatch, unix.MSG_DONTWAIT, 0, 0)
		switch e {
		case 0:
			got += int(n)
			r.process(int(n), time.Now().UnixNano())
		case unix.EAGAIN:
			return got, nil
		case unix.EINTR, unix.ECONNREFUSED, unix.EHOSTUNREACH, unix.ENETUNREACH:
			// An ICMP error queued on the socket: nothing was read.
		default:
			return got, e
		}
	}
}

// run reads until stop. While decoded readings wait in a chunk its wait
// has a timeout, so they go to the sink on time even if no datagram comes.
func (r *udpReader) run() {
	defer r.close()
	for {
		got, err := r.recvmmsg()
		if err != nil {
			slog.Error("udp: reader stops", "addr", r.local, "err", err)
			return
		}
		if r.stopping.Load() {
			return // the drain above took what the kernel held
		}
		if got > 1 && r.coalesce > 0 && r.napsOff == 0 {
			// chunkAge is far longer than a nap, and the drains around
			// it flush aged chunks, so readings reach the sink on time.
			time.Sleep(r.coalesce)
			if used, size := r.sock.rcvbufFill(); used > size/4 {
				// The nap, or the wait to be scheduled after it, let a
				// quarter of the buffer fill: on a host this busy a
				// longer one would drop datagrams. Wake per drain for a
				// while, as with coalescing off.
				r.napsOff = 256
				r.g.sh.ctr.napBackoffs.Add(1)
			}
			continue
		}
		if r.napsOff > 0 {
			r.napsOff--
		}
		timeout := time.Duration(-1)
		if r.g.unshrunk {
			timeout = chunkAge // then finish lets go of a burst's memory
		}
		if r.g.chunk != nil {
			timeout = time.Duration(r.g.chunkBorn+int64(chunkAge)-time.Now().UnixNano()) + time.Millisecond
			if timeout < 0 {
				timeout = 0
			}
		}
		if err := r.waitReadable(timeout); err != nil {
			slog.Error("udp: reader stops", "addr", r.local, "err", err)
			return
		}
		r.g.finish(UDP, time.Now().UnixNano()) // flushes the chunk if it aged
	}
}

// close sends on what the reader holds and closes its socket.
func (r *udpReader) close() {
	r.g.finish(UDP, time.Now().UnixNano())
	r.g.flushChunk(UDP)
	_ = r.wait.Close()
	r.sock.close()
}

func (r *udpReader) process(n int, now int64) {
	for i := 0; i < n; i++ {
		h := &r.hdrs[i]
		size := int(h.Len)
		if h.Hdr.Flags&unix.MSG_TRUNC != 0 || size >= len(r.bufs[i]) {
			// Longer than the largest legal frame: the kernel cut it.
			r.g.sh.ctr.datagrams.Add(1)
			r.g.countError(UDP, nil, ErrReason(codec.ReasonTooLong), nil, now)
			continue
		}
		r.g.feedDatagram(r.bufs[i][:size], sockaddrToAddrPort(&r.names[i]), now)
	}
	r.g.finish(UDP, now)
}

// link returns a downlink to src through this reader's socket. It is
// called only when a device's address changes, and nothing keeps it but
// the session: memory follows devices, not the addresses they came from.
func (r *udpReader) link(src netip.AddrPort) *downlink {
	return &downlink{ln: r.lis, transport: UDP, addr: src, strength: strengthDatagram, udp: r.sock}
}

func sockaddrToAddrPort(sa *unix.RawSockaddrInet6) netip.AddrPort {
	switch sa.Family {
	case unix.AF_INET:
		sa4 := (*unix.RawSockaddrInet4)(unsafe.Pointer(sa))
		port := uint16(sa4.Port>>8) | uint16(sa4.Port<<8)
		return netip.AddrPortFrom(netip.AddrFrom4(sa4.Addr), port)
	case unix.AF_INET6:
		port := uint16(sa.Port>>8) | uint16(sa.Port<<8)
		return netip.AddrPortFrom(netip.AddrFrom16(sa.Addr).Unmap(), port)
	}
	return netip.AddrPort{}
}

// udpEngine runs the recvmmsg readers: one per socket, one socket per
// reader with SO_REUSEPORT.
type udpEngine struct {
	srv     *Server
	lis     *listener
	readers []*udpReader
	stopFD  int // eventfd in every reader's wait: readable once the engine stops
	wg      sync.WaitGroup
}

func startUDP(srv *Server, lis *listener, n int) (*udpEngine, error) {
	efd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		return nil, fmt.Errorf("udp: eventfd: %w", err)
	}
	e := &udpEngine{srv: srv, lis: lis, stopFD: efd}
	conns, err := bindUDP(lis.cfg.Addr, n, srv.cfg.ReusePort, srv.cfg.UDPRcvBuf)
	if err != nil {
		e.closeAll()
		return nil, fmt.Errorf("listener %s: %w", lis.cfg.Name, err)
	}
	for i, conn := range conns {
		r, err := newUDPReader(srv, lis, conn, udpBufSize(srv), efd) // closes conn even on error
		if err != nil {
			for _, c := range conns[i+1:] {
				_ = c.Close()
			}
			e.closeAll()
			return nil, err
		}
		e.readers = append(e.readers, r)
	}
	for _, r := range e.readers {
		e.wg.Add(1)
		go func() {
			defer e.wg.Done()
			r.run()
		}()
	}
	return e, nil
}

func udpBufSize(srv *Server) int { return min(srv.limits.MaxFrame, 65535) }

// closeAll closes sockets of readers that never ran (a failed start).
func (e *udpEngine) closeAll() {
	for _, r := range e.readers {
		_ = r.wait.Close()
		r.sock.close()
	}
	_ = unix.Close(e.stopFD)
}

// addr implements engine.
func (e *udpEngine) addr(ln *listener) net.Addr {
	if ln != e.lis {
		return nil
	}
	return e.readers[0].local
}

// stop drains each socket of what the kernel already holds, then closes
// it and waits for the readers.
func (e *udpEngine) stop(context.Context) {
	for _, r := range e.readers {
		r.stopping.Store(true)
	}
	// Readable from now on: wakes every reader, which drains and closes.
	var one [8]byte
	binary.NativeEndian.PutUint64(one[:], 1)
	_, _ = unix.Write(e.stopFD, one[:])
	e.wg.Wait()
	_ = unix.Close(e.stopFD)
}
