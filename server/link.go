package server

import (
	"net/netip"
)

// downlink is how the server reaches a device now: its TCP or TLS
// connection, or its last UDP address through the socket that heard it.
// send must be safe to call from any goroutine and must not block on the
// network: event-loop engines queue the write on the loop.
type downlink struct {
	transport Transport
	addr      netip.AddrPort
	send      func(frame []byte) error
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
