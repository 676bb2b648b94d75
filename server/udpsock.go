package server

import (
	"fmt"
	"net"
	"net/netip"
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"
)

// udpSocket is a UDP socket kept outside the runtime's netpoller (see
// udpReader). Its reader receives on fd; downlink commands are sent
// through it too, under a read lock, so that close never races a send
// onto a descriptor number the process has meanwhile reused.
type udpSocket struct {
	fd     int // -1 once closed
	family int // AF_INET or AF_INET6 (then IPv4 peers are v4-mapped)
	mu     sync.RWMutex
}

// detachUDP takes conn's socket out of the netpoller: it keeps a
// duplicate of the descriptor, non-blocking, and closes conn, which
// deregisters conn's own descriptor. conn is closed even on error.
func detachUDP(conn *net.UDPConn) (*udpSocket, error) {
	defer conn.Close()
	rc, err := conn.SyscallConn()
	if err != nil {
		return nil, fmt.Errorf("udp: %w", err)
	}
	fd := -1
	if cerr := rc.Control(func(s uintptr) {
		fd, err = unix.FcntlInt(s, unix.F_DUPFD_CLOEXEC, 0)
	}); cerr != nil {
		return nil, fmt.Errorf("udp: %w", cerr)
	}
	if err != nil {
		return nil, fmt.Errorf("udp: dup: %w", err)
	}
	s := &udpSocket{fd: fd, family: unix.AF_INET}
	if err := unix.SetNonblock(fd, true); err != nil {
		s.close()
		return nil, fmt.Errorf("udp: nonblock: %w", err)
	}
	if sa, err := unix.Getsockname(fd); err == nil {
		if _, ok := sa.(*unix.SockaddrInet6); ok {
			s.family = unix.AF_INET6
		}
	}
	return s, nil
}

// WriteToUDPAddrPort sends b to to without waiting: a full send buffer is
// an error, not a stall.
func (s *udpSocket) WriteToUDPAddrPort(b []byte, to netip.AddrPort) (int, error) {
	var sa unix.Sockaddr
	if s.family == unix.AF_INET6 {
		sa = &unix.SockaddrInet6{Port: int(to.Port()), Addr: to.Addr().As16()}
	} else {
		if !to.Addr().Unmap().Is4() {
			return 0, fmt.Errorf("udp send to %v: not an IPv4 address", to)
		}
		sa = &unix.SockaddrInet4{Port: int(to.Port()), Addr: to.Addr().Unmap().As4()}
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.fd < 0 {
		return 0, net.ErrClosed
	}
	if err := unix.Sendto(s.fd, b, unix.MSG_DONTWAIT, sa); err != nil {
		return 0, fmt.Errorf("udp send to %v: %w", to, err)
	}
	return len(b), nil
}

// rcvbufFill returns the bytes the socket's receive queue holds and the
// most it may hold (SO_MEMINFO; both as the kernel accounts them, so
// size is twice SO_RCVBUF). Only the reader calls it.
func (s *udpSocket) rcvbufFill() (used, size int) {
	var mi [unix.SK_MEMINFO_VARS]uint32
	n := uint32(unsafe.Sizeof(mi))
	_, _, e := unix.Syscall6(unix.SYS_GETSOCKOPT, uintptr(s.fd), unix.SOL_SOCKET, unix.SO_MEMINFO,
		uintptr(unsafe.Pointer(&mi[0])), uintptr(unsafe.Pointer(&n)), 0)
	if e != 0 {
		return 0, 1
	}
	return int(mi[unix.SK_MEMINFO_RMEM_ALLOC]), int(mi[unix.SK_MEMINFO_RCVBUF])
}

func (s *udpSocket) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fd >= 0 {
		_ = unix.Close(s.fd)
		s.fd = -1
	}
}
