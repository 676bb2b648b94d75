package server

import (
	"errors"
	"net/netip"
)

// downlink is how the server reaches a device now: its gnet connection,
// its standard-library (TCP or TLS) connection, or its last UDP address
// through the socket that heard it. One of gc, w and udp is set. It is a
// plain struct rather than a closure so that it can live inside the
// connection's context: no allocation per connection.
type downlink struct {
	transport Transport
	addr      netip.AddrPort
	gc        *gnetConn
	w         *connWriter
	udp       udpSender
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

// linkSession points the session's downlink at where its latest frame
// came from. Called with s.mu held.
func (g *ingester) linkSession(s *Session, st *stream, tr Transport, src netip.AddrPort) {
	changed := false
	if st != nil {
		if st.link != nil && s.link.Load() != st.link {
			s.link.Store(st.link)
			changed = true
		}
	} else if tr == UDP && src.IsValid() && (s.addr != src || s.link.Load() == nil) {
		s.addr = src
		if g.udpLink != nil {
			s.link.Store(g.udpLink(src))
			changed = true
		}
	}
	if changed && s.pendingCmds.Load() > 0 {
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
