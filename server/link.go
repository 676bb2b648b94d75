package server

import (
	"errors"
	"net/netip"
	"sync/atomic"
)

// downlink is how the server reaches a device now: its gnet connection,
// its standard-library (TCP or TLS) connection, or its last UDP address
// through the socket that heard it. One of gc, w and udp is set. It is a
// plain struct rather than a closure so that it can live inside the
// connection's context: no allocation per connection.
type downlink struct {
	ln        *listener // whose END byte and framing commands use
	transport Transport
	addr      netip.AddrPort // the peer: the device's UDP address, or the connection's remote end
	strength  uint8          // what the path proves about its peer (strengthDatagram...)
	// binary: the last frame on this path was not text, so commands go
	// as binary control frames. Kept per path, so that frames on one path
	// never decide how another path's commands are framed.
	binary atomic.Bool
	gc     *gnetConn
	w      *connWriter
	udp    udpSender
}

// udpSender is the socket a UDP device was heard on: a *net.UDPConn on
// the std engine, a *udpSocket on the recvmmsg readers.
type udpSender interface {
	WriteToUDPAddrPort(b []byte, to netip.AddrPort) (int, error)
}

// send writes frame to the device. Safe from any goroutine; it never
// waits on the network from an event loop (gnet writes are queued on the
// connection's loop; UDP sends do not block).
func (l *downlink) send(frame []byte) error {
	switch {
	case l.gc != nil:
		return l.gc.write(frame)
	case l.w != nil:
		return l.w.write(frame)
	case l.udp != nil:
		_, err := l.udp.WriteToUDPAddrPort(frame, l.addr)
		return err
	}
	return errors.New("server: downlink with no route")
}

// path names where a frame came from or a command went: a connection's
// downlink, or a UDP address. An ack counts only from the path its
// command was sent on.
type path struct {
	link *downlink      // stream paths
	addr netip.AddrPort // datagram paths
}

func pathOf(st *stream, src netip.AddrPort) path {
	if st != nil {
		return path{link: st.link}
	}
	return path{addr: src}
}

// path returns the path l sends on.
func (l *downlink) path() path {
	if l.transport == UDP {
		return path{addr: l.addr}
	}
	return path{link: l}
}

// linkSession points the session's downlink at the path of its latest
// frame, if that path is at least as strong as the one it has (a forged
// datagram must not take the downlink of a device on a connection), and
// notes whether the path speaks binary. Called with s.mu held.
func (g *ingester) linkSession(s *Session, st *stream, tr Transport, src netip.AddrPort, binary bool) {
	cur := s.link.Load()
	var nl *downlink
	switch {
	case st != nil:
		nl = st.link
	case tr == UDP && src.IsValid():
		s.addr = src
		if cur != nil && cur.transport == UDP && cur.addr == src {
			nl = cur // Fast path: the same address as before.
		} else if g.udpLink != nil {
			nl = g.udpLink(src)
		}
	}
	if nl == nil {
		return
	}
	if nl.binary.Load() != binary {
		nl.binary.Store(binary)
	}
	if nl == cur || (cur != nil && nl.strength < cur.strength) {
		return
	}
	s.link.Store(nl)
	if s.pendingCmds.Load() > 0 {
		// Sending queues the write on the connection's loop or is one
		// non-blocking UDP send: nothing here waits on the network.
		g.srv.cmds.flush(s)
	}
}

// unlinkStream forgets a closed stream's downlink in the sessions that
// used it, so commands wait in the queue rather than go to a dead socket.
func unlinkStream(st *stream) {
	if st.link == nil {
		return
	}
	if s := st.session; s != nil {
		s.link.CompareAndSwap(st.link, nil)
	}
}
