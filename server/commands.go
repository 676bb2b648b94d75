package server

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/fleetwire/fleetwire/codec"
	"github.com/fleetwire/fleetwire/codec/control"
)

// CommandState is where a downlink command is in its life.
type CommandState uint8

// Command states.
const (
	CmdQueued  CommandState = iota // waiting for the device to be reachable
	CmdSent                        // written to the device's connection or address
	CmdAcked                       // the device acknowledged it (see Status)
	CmdFailed                      // could not be sent, or no ack within AckTimeout
	CmdExpired                     // waited in the queue longer than its TTL
)

var cmdStateNames = [...]string{"queued", "sent", "acked", "failed", "expired"}

func (s CommandState) String() string { return cmdStateNames[s] }

// MarshalText makes states appear by name in JSON.
func (s CommandState) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText is the inverse of MarshalText, for API clients.
func (s *CommandState) UnmarshalText(b []byte) error {
	for i, n := range cmdStateNames {
		if string(b) == n {
			*s = CommandState(i)
			return nil
		}
	}
	return fmt.Errorf("unknown command state %q", b)
}

// Command is a downlink command and what became of it.
type Command struct {
	ID      uint64       `json:"id"`
	Device  string       `json:"device"`
	Payload string       `json:"payload"`
	State   CommandState `json:"state"`
	Ack     string       `json:"ack,omitempty"`    // ok, error or unknown, once acked
	Detail  string       `json:"detail,omitempty"` // the device's ack detail, or why it failed
	Created time.Time    `json:"created"`
	Sent    time.Time    `json:"sent,omitzero"`
	Done    time.Time    `json:"done,omitzero"`
	Via     string       `json:"via,omitempty"` // tcp, udp or tls
	// Raw: the payload went (or goes) as exactly its bytes, nothing added,
	// and the command is done once written: no ack is expected.
	Raw bool `json:"raw"`

	payload []byte
	rawReq  *bool // what the submitter asked; nil: the device's listener decides
	sentOn  path  // where it was sent: its ack counts only from there
}

// Final reports whether nothing more will happen to c: acked, failed or
// expired, or a raw command once sent.
func (c Command) Final() bool {
	return c.State == CmdAcked || c.State == CmdFailed || c.State == CmdExpired || c.Raw && c.State == CmdSent
}

// Errors of Submit.
var (
	ErrBadCommand    = errors.New("server: command payload must be 1-512 bytes")
	ErrUnknownDev    = errors.New("server: unknown device")
	ErrQueueFull     = errors.New("server: command queue full")
	ErrBadDeviceID   = errors.New("server: invalid device id")
	ErrNoSuchCommand = errors.New("server: no such command")
	// ErrUnframable: the device speaks text, and the payload holds bytes
	// a text command line cannot carry (control bytes, non-ASCII, or the
	// END byte), which a line-based device would read as more lines.
	ErrUnframable = errors.New("server: the device speaks text: a command payload must be printable ASCII without the END byte")
)

// commands tracks downlink commands. Its lock is taken by HTTP handlers,
// by the sweeper, and by an event loop only when a device with queued
// commands becomes reachable: never per reading.
type commands struct {
	srv *Server

	mu      sync.Mutex
	byID    map[uint64]*Command
	order   []uint64                // ids, oldest first, for bounded history
	pending map[*Session][]*Command // queued per device, oldest first
	queued  int
}

func newCommands(srv *Server) *commands {
	return &commands{srv: srv, byID: make(map[uint64]*Command), pending: make(map[*Session][]*Command)}
}

// submit creates a command for device id and sends it now if the device
// is reachable, else queues it. raw nil lets the listener the device is
// on decide whether it goes raw or as a #cmd.
func (c *commands) submit(id string, payload []byte, raw *bool, now time.Time) (Command, error) {
	if !codec.ValidID([]byte(id)) {
		return Command{}, ErrBadDeviceID
	}
	if len(payload) == 0 || len(payload) > control.MaxPayload {
		return Command{}, ErrBadCommand
	}
	s := c.srv.reg.lookup(id)
	if s == nil {
		return Command{}, ErrUnknownDev
	}
	if l := s.link.Load(); l != nil && !isRaw(raw, l) && !c.framable(l, payload) {
		return Command{}, ErrUnframable
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	cfg := &c.srv.cfg
	if len(c.pending[s]) >= cfg.CommandQueuePerDevice || c.queued >= cfg.CommandQueue {
		return Command{}, ErrQueueFull
	}
	cmd := &Command{ID: c.newID(), Device: id, Payload: string(payload), State: CmdQueued, Created: now,
		payload: append([]byte(nil), payload...), rawReq: raw}
	if raw != nil {
		cmd.Raw = *raw
	}
	c.remember(cmd)
	c.pending[s] = append(c.pending[s], cmd)
	c.queued++
	s.pendingCmds.Add(1)
	c.flushLocked(s, now)
	return *cmd, nil
}

// maxCommandID keeps ids exact in JSON numbers (and so in JavaScript).
const maxCommandID = 1<<53 - 1

// newID returns an unused random command id. Ids are not guessable, so a
// peer cannot acknowledge a command it never received; and the ack must
// come from the path the command went on besides (see acked). Call with
// c.mu held.
func (c *commands) newID() uint64 {
	for {
		var b [8]byte
		_, _ = rand.Read(b[:]) // never fails (crypto/rand)
		id := binary.LittleEndian.Uint64(b[:]) & maxCommandID
		if _, used := c.byID[id]; id != 0 && !used {
			return id
		}
	}
}

// isRaw says whether a command goes raw on l: as asked, else as l's
// listener says.
func isRaw(req *bool, l *downlink) bool {
	if req != nil {
		return *req
	}
	return l.ln.raw
}

// framable reports whether payload can go to the device on l: any bytes
// in a binary control frame (length-prefixed), only a safe text line for
// a device that speaks text.
func (c *commands) framable(l *downlink, payload []byte) bool {
	if l.binary.Load() {
		return true
	}
	end := l.ln.dec.End()
	if !control.ValidTextPayload(payload) || bytes.IndexByte(payload, end) >= 0 {
		return false
	}
	// With an END other than '\n' a receiver drops whitespace around a
	// frame: a payload beginning or ending with a space would arrive cut.
	return end == '\n' || payload[0] != ' ' && payload[len(payload)-1] != ' '
}

// remember adds cmd to the history, forgetting the oldest finished ones
// beyond the bound.
func (c *commands) remember(cmd *Command) {
	c.byID[cmd.ID] = cmd
	c.order = append(c.order, cmd.ID)
	for len(c.order) > c.srv.cfg.CommandHistory {
		old := c.byID[c.order[0]]
		if old != nil && (old.State == CmdQueued || old.State == CmdSent && !old.Raw) {
			break // still live: keep it
		}
		delete(c.byID, c.order[0])
		c.order = c.order[1:]
	}
}

// flush sends the queued commands of s if it is reachable. Called by an
// ingester when s's link changes, only if s has queued commands.
func (c *commands) flush(s *Session) {
	c.mu.Lock()
	c.flushLocked(s, time.Now())
	c.mu.Unlock()
}

func (c *commands) flushLocked(s *Session, now time.Time) {
	link := s.link.Load()
	if link == nil {
		return
	}
	q := c.pending[s]
	for len(q) > 0 {
		cmd := q[0]
		cmd.Raw = isRaw(cmd.rawReq, link)
		if cmd.Raw {
			// Exactly its bytes: a device that reads up to its own END
			// byte (an LED reading "128,") gets what the operator typed.
			if err := link.send(cmd.payload); err != nil {
				cmd.Detail = "send: " + err.Error()
				break
			}
			cmd.State, cmd.Sent, cmd.Done, cmd.Via, cmd.Detail = CmdSent, now, now, link.transport.String(), "raw: done when written, no ack expected"
		} else if !c.framable(link, cmd.payload) {
			// Queued for a device that now speaks text: sending it would
			// let the payload's bytes read as lines of their own.
			cmd.State, cmd.Done, cmd.Detail = CmdFailed, now, ErrUnframable.Error()
		} else {
			if err := link.send(c.encode(cmd, link)); err != nil {
				cmd.Detail = "send: " + err.Error()
				break // keep it queued: the device may come back on a new link
			}
			cmd.State, cmd.Sent, cmd.Via, cmd.sentOn = CmdSent, now, link.transport.String(), link.path()
		}
		q = q[1:]
		c.queued--
		s.pendingCmds.Add(-1)
	}
	if len(q) == 0 {
		delete(c.pending, s)
	} else {
		c.pending[s] = q
	}
}

// encode writes cmd as the device on l reads commands: a text line ended
// by the END byte, or a binary control frame.
func (c *commands) encode(cmd *Command, l *downlink) []byte {
	ctl := codec.Control{Kind: codec.ControlCommand, ID: cmd.ID, Payload: cmd.payload}
	if l.binary.Load() {
		return control.AppendBinary(nil, &ctl)
	}
	return control.AppendText(nil, &ctl, l.ln.dec.End())
}

// acked records a device's acknowledgement, which came on path p. Called
// from ingesters. It returns false for an ack of no command sent on p:
// an unknown id, or a command sent elsewhere (a forged ack).
func (c *commands) acked(id uint64, status codec.AckStatus, detail []byte, now int64, p path) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	cmd := c.byID[id]
	if cmd == nil || cmd.State == CmdQueued || cmd.sentOn != p {
		return false
	}
	if cmd.State == CmdAcked {
		return true // a repeat, as UDP devices may send
	}
	cmd.State, cmd.Ack, cmd.Detail, cmd.Done = CmdAcked, status.String(), string(detail), time.Unix(0, now)
	return true
}

// expire ages out queued commands past their TTL and sent ones that were
// never acknowledged.
func (c *commands) expire(now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	cfg := &c.srv.cfg
	for s, q := range c.pending {
		keep := q[:0]
		for _, cmd := range q {
			if now.Sub(cmd.Created) > cfg.CommandTTL {
				cmd.State, cmd.Done, cmd.Detail = CmdExpired, now, fmt.Sprintf("device not reachable within %s", cfg.CommandTTL)
				c.queued--
				s.pendingCmds.Add(-1)
				continue
			}
			keep = append(keep, cmd)
		}
		if len(keep) == 0 {
			delete(c.pending, s)
		} else {
			c.pending[s] = keep
		}
	}
	for _, id := range c.order {
		if cmd := c.byID[id]; cmd != nil && cmd.State == CmdSent && !cmd.Raw && now.Sub(cmd.Sent) > cfg.AckTimeout {
			cmd.State, cmd.Done, cmd.Detail = CmdFailed, now, fmt.Sprintf("no ack within %s", cfg.AckTimeout)
		}
	}
}

func (c *commands) get(id uint64) (Command, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if cmd := c.byID[id]; cmd != nil {
		return *cmd, nil
	}
	return Command{}, ErrNoSuchCommand
}

// forDevice returns the device's commands, newest first, at most n.
func (c *commands) forDevice(id string, n int) []Command {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []Command
	for i := len(c.order) - 1; i >= 0 && len(out) < n; i-- {
		if cmd := c.byID[c.order[i]]; cmd != nil && cmd.Device == id {
			out = append(out, *cmd)
		}
	}
	return out
}
