package server

import (
	"context"
	"errors"
	"fmt"
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
// system call, parked on the runtime's netpoller when the socket is empty.
// It owns its ingester, buffers and headers: nothing is allocated per
// datagram.
type udpReader struct {
	srv      *Server
	conn     *net.UDPConn
	rc       syscall.RawConn
	g        *ingester
	bufs     [udpBatch][]byte
	iovs     [udpBatch]unix.Iovec
	names    [udpBatch]unix.RawSockaddrInet6
	hdrs     [udpBatch]unix.Mmsghdr
	n        int   // datagrams returned by the last call
	errno    error // error of the last call
	recv     func(fd uintptr) bool
	stopping atomic.Bool
	links    sync.Map // netip.AddrPort -> *downlink, so a device's address maps to one link
}

func newUDPReader(srv *Server, conn *net.UDPConn, bufSize int) (*udpReader, error) {
	rc, err := conn.SyscallConn()
	if err != nil {
		return nil, err
	}
	sh := newShard()
	srv.hub.register(&sh.ctr)
	srv.addShard(sh)
	r := &udpReader{srv: srv, conn: conn, rc: rc, g: newIngester(srv, sh)}
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
	r.recv = r.recvmmsg
	r.g.udpLink = r.link
	return r, nil
}

// recvmmsg is the RawConn.Read callback: false means "would block, park".
func (r *udpReader) recvmmsg(fd uintptr) bool {
	for i := range r.hdrs {
		r.hdrs[i].Hdr.Namelen = unix.SizeofSockaddrInet6
		r.hdrs[i].Hdr.Flags = 0
	}
	n, _, e := unix.Syscall6(unix.SYS_RECVMMSG, fd, uintptr(unsafe.Pointer(&r.hdrs[0])), udpBatch, unix.MSG_DONTWAIT, 0, 0)
	r.n, r.errno = 0, nil
	switch {
	case e == unix.EAGAIN || e == unix.EWOULDBLOCK:
		return false
	case e != 0:
		r.errno = e
	default:
		r.n = int(n)
	}
	return true
}

// run reads until stop. While decoded readings wait in a chunk it sets a
// read deadline, so they go to the sink on time even if no datagram comes.
func (r *udpReader) run() {
	deadline := false
	for {
		if pending := r.g.chunk != nil; pending != deadline {
			if pending {
				_ = r.conn.SetReadDeadline(time.Now().Add(chunkAge))
			} else {
				_ = r.conn.SetReadDeadline(time.Time{})
			}
			deadline = pending
		}
		err := r.rc.Read(r.recv)
		if err != nil {
			if r.stopping.Load() || !errors.Is(err, os.ErrDeadlineExceeded) {
				r.drain()
				return
			}
			r.g.flushChunk(UDP)
			continue
		}
		r.process(time.Now().UnixNano())
	}
}

// drain reads, without waiting, what the kernel still holds, so that
// datagrams received before shutdown are counted and stored, then closes.
func (r *udpReader) drain() {
	for {
		err := r.rc.Control(func(fd uintptr) { r.recvmmsg(fd) })
		if err != nil || (r.n == 0 && r.errno == nil) {
			break
		}
		r.process(time.Now().UnixNano())
	}
	r.g.finish(UDP, time.Now().UnixNano())
	r.g.flushChunk(UDP)
	_ = r.conn.Close()
}

func (r *udpReader) process(now int64) {
	if r.errno != nil {
		return // e.g. ECONNREFUSED from an ICMP error: nothing was read
	}
	for i := 0; i < r.n; i++ {
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

// link returns the downlink to src through this reader's socket.
func (r *udpReader) link(src netip.AddrPort) *downlink {
	if l, ok := r.links.Load(src); ok {
		return l.(*downlink)
	}
	l := &downlink{transport: UDP, addr: src, udp: r.conn}
	actual, _ := r.links.LoadOrStore(src, l)
	return actual.(*downlink)
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
	readers []*udpReader
	wg      sync.WaitGroup
}

func startUDP(srv *Server, addr string, n int) (*udpEngine, error) {
	e := &udpEngine{srv: srv}
	reuse := n > 1 || srv.cfg.ReusePort
	for i := 0; i < n; i++ {
		conn, err := listenUDP(addr, reuse, srv.cfg.UDPRcvBuf)
		if err != nil {
			e.closeAll()
			return nil, fmt.Errorf("udp listen %s: %w", addr, err)
		}
		if i == 0 && n > 1 {
			// Bind the rest to the port the first one got (addr may say :0).
			addr = conn.LocalAddr().String()
		}
		r, err := newUDPReader(srv, conn, udpBufSize(srv))
		if err != nil {
			conn.Close()
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

func udpBufSize(srv *Server) int { return min(srv.dec.Limits().MaxFrame, 65535) }

// closeAll closes sockets of readers that never ran (a failed start).
func (e *udpEngine) closeAll() {
	for _, r := range e.readers {
		_ = r.conn.Close()
	}
}

func (e *udpEngine) addr() net.Addr { return e.readers[0].conn.LocalAddr() }

// stop drains each socket of what the kernel already holds, then closes
// it and waits for the readers.
func (e *udpEngine) stop() {
	for _, r := range e.readers {
		r.stopping.Store(true)
		_ = r.conn.SetReadDeadline(time.Now()) // wakes the reader, which drains and closes
	}
	e.wg.Wait()
}
