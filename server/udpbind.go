package server

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"

	"github.com/prometheus/procfs"
	"golang.org/x/sys/unix"
)

// bindUDP opens n UDP sockets on addr, one per reader (see udpReader), the
// later ones on the port the first one got. Several sockets share the port
// with SO_REUSEPORT, which would also let another process bind it and
// receive part of the datagrams without an error on either side. So unless
// share (--reuseport), a socket on the port that is not one of ours fails
// the bind, as a taken TCP port does.
//
// What is left open: the check is made once, here. The kernel lets a
// socket join a reuseport group only if it belongs to the same effective
// UID as the group's sockets, so a process of our own user that binds the
// port later with SO_REUSEPORT takes part of the datagrams unnoticed. Such
// a process could take our sockets by other means anyway (ptrace,
// pidfd_getfd). With one socket (n == 1) there is no SO_REUSEPORT and the
// kernel refuses any later bind of the port.
func bindUDP(addr string, n int, share bool, rcvbuf int) ([]*net.UDPConn, error) {
	reuse := n > 1 || share
	conns := make([]*net.UDPConn, 0, n)
	fail := func(err error) ([]*net.UDPConn, error) {
		for _, c := range conns {
			_ = c.Close()
		}
		return nil, err
	}
	for range n {
		conn, err := listenUDP(addr, reuse, rcvbuf)
		if err != nil {
			if !share && errors.Is(err, unix.EADDRINUSE) {
				return fail(fmt.Errorf("udp %s: %s (%w)", addr, inUseByOther, err))
			}
			return fail(fmt.Errorf("udp listen %s: %w", addr, err))
		}
		conns = append(conns, conn)
		addr = conn.LocalAddr().String() // addr may say port 0
	}
	if reuse && !share {
		if err := checkUnshared(conns); err != nil {
			return fail(err)
		}
	}
	return conns, nil
}

const inUseByOther = "address in use by another process; pass --reuseport to share it"

// checkUnshared fails when a UDP socket of our network namespace that is
// none of conns is bound to their port on an address that overlaps
// theirs: /proc/net/udp{,6} list every socket of the namespace with its
// inode, and a socket's inode is that of its descriptor.
func checkUnshared(conns []*net.UDPConn) error {
	local := conns[0].LocalAddr().(*net.UDPAddr).AddrPort()
	ours := make(map[uint64]bool, len(conns))
	for _, c := range conns {
		ino, err := socketInode(c)
		if err != nil {
			return fmt.Errorf("udp %s: %w", local, err)
		}
		ours[ino] = true
	}
	fs, err := procfs.NewDefaultFS()
	if err != nil {
		return fmt.Errorf("udp %s: cannot tell whether another process shares the port: %w", local, err)
	}
	for i, read := range []func() (procfs.NetUDP, error){fs.NetUDP, fs.NetUDP6} {
		lines, err := read()
		if i == 1 && errors.Is(err, os.ErrNotExist) {
			continue // no /proc/net/udp6: IPv6 is off, so no socket of it either
		}
		if err != nil {
			return fmt.Errorf("udp %s: cannot tell whether another process shares the port: %w", local, err)
		}
		for _, l := range lines {
			if l.LocalPort != uint64(local.Port()) || ours[l.Inode] {
				continue
			}
			a, _ := netip.AddrFromSlice(l.LocalAddr)
			if a = a.Unmap(); overlaps(a, local.Addr().Unmap()) {
				return fmt.Errorf("udp %s: %s (socket inode %d of uid %d on %s)",
					local, inUseByOther, l.Inode, l.UID, netip.AddrPortFrom(a, local.Port()))
			}
		}
	}
	return nil
}

// overlaps tells whether datagrams to one address could reach a socket
// bound to the other: the same address, or either a wildcard.
func overlaps(a, b netip.Addr) bool {
	return a == b || a.IsUnspecified() || b.IsUnspecified()
}

func socketInode(c *net.UDPConn) (uint64, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return 0, err
	}
	var st unix.Stat_t
	var serr error
	if err := rc.Control(func(fd uintptr) { serr = unix.Fstat(int(fd), &st) }); err != nil {
		return 0, err
	}
	if serr != nil {
		return 0, fmt.Errorf("fstat: %w", serr)
	}
	return st.Ino, nil
}
