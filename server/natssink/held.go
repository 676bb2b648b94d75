package natssink

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/fleetwire/fleetwire/codec/ack"
)

// HeaderHeld is the header of an acking device's messages that names
// what the stream holds of the device: "<next> <lo>-<hi> ...", as the
// payload of a #stored reads (ack.Set). doc.go says what it promises.
const HeaderHeld = "Fleetwire-Held"

// heldSets are, per acking device (its id as the message ids spell it),
// the samples this sink knows to be in the stream: what JetStream
// acknowledged, and what HeldSet read. The writer adds to them and reads
// them for each acking message; HeldSet merges into them from the
// caller's goroutine, hence the lock. One ack.Set per acking device the
// node has seen (32 bytes, plus 16 per range once a hole appears, at
// most ack.MaxRanges), kept for the life of the sink, as the server keeps
// its own two per device.
type heldSets struct {
	mu sync.Mutex
	m  map[string]*ack.Set
}

// get returns device's set, creating it.
func (h *heldSets) get(device []byte) *ack.Set {
	h.mu.Lock()
	defer h.mu.Unlock()
	set := h.m[string(device)]
	if set == nil {
		if h.m == nil {
			h.m = map[string]*ack.Set{}
		}
		set = new(ack.Set)
		h.m[string(device)] = set
	}
	return set
}

// add holds run [lo, hi] in set, a set of h.
func (h *heldSets) add(set *ack.Set, lo, hi uint64) {
	h.mu.Lock()
	holdRun(set, lo, hi)
	h.mu.Unlock()
}

// copyTo makes dst a copy of set, a set of h.
func (h *heldSets) copyTo(dst, set *ack.Set) {
	h.mu.Lock()
	dst.Reset(set.Next())
	for _, r := range set.Ranges(ack.MaxRanges) {
		_, _ = dst.Add(r.Lo, r.Hi, nil)
	}
	h.mu.Unlock()
}

// merge adds what src holds to device's set.
func (h *heldSets) merge(device []byte, src *ack.Set) {
	set := h.get(device)
	h.mu.Lock()
	defer h.mu.Unlock()
	if src.Next() > 0 {
		holdRun(set, 0, src.Next()-1)
	}
	for _, r := range src.Ranges(ack.MaxRanges) {
		holdRun(set, r.Lo, r.Hi)
	}
}

// holdRun adds [lo, hi] to set. When that needs a range more than
// ack.MaxRanges (holes the device gave up never fill), it forgets the
// lowest range first: a held set may say less than the stream holds,
// never more, and the newest runs are the ones a device may still
// resend.
func holdRun(set *ack.Set, lo, hi uint64) {
	if _, err := set.Add(lo, hi, nil); errors.Is(err, ack.ErrFull) {
		low := set.Ranges(1)[0]
		_, _ = set.Remove(low.Lo, low.Hi)
		_, _ = set.Add(lo, hi, nil)
	}
}

// appendHeld appends set as the Fleetwire-Held header says it.
func appendHeld(dst []byte, set *ack.Set) []byte {
	dst = strconv.AppendUint(dst, set.Next(), 10)
	for _, r := range set.Ranges(ack.MaxRanges) {
		dst = append(dst, ' ')
		dst = strconv.AppendUint(dst, r.Lo, 10)
		dst = append(dst, '-')
		dst = strconv.AppendUint(dst, r.Hi, 10)
	}
	return dst
}

var errBadHeld = errors.New("natssink: " + HeaderHeld + " header: want \"<next> <lo>-<hi> ...\", ranges ascending, apart and above next, at most 64")

// parseHeld reads a Fleetwire-Held header.
func parseHeld(v string) (*ack.Set, error) {
	f := strings.Fields(v)
	if len(f) == 0 || len(f) > 1+ack.MaxRanges {
		return nil, errBadHeld
	}
	next, rest, ok := cutUint([]byte(f[0]))
	if !ok || len(rest) > 0 {
		return nil, errBadHeld
	}
	set := new(ack.Set)
	set.Reset(next)
	prev := next // the next range must start above prev
	for _, r := range f[1:] {
		lo, rest, ok1 := cutUint([]byte(r))
		if !ok1 || len(rest) < 2 || rest[0] != '-' {
			return nil, errBadHeld
		}
		hi, rest, ok2 := cutUint(rest[1:])
		if !ok2 || len(rest) > 0 || lo <= prev || hi < lo || hi == 1<<64-1 {
			return nil, errBadHeld
		}
		if _, err := set.Add(lo, hi, nil); err != nil {
			return nil, errBadHeld
		}
		prev = hi + 1
	}
	return set, nil
}

// HeldSet returns the samples of an acking device that the stream holds,
// as the header of the device's last message in the stream names them
// (doc.go, "Acknowledging devices"), or nil when the stream has no
// message of the device, or the last message on its subject is not one
// of its acking runs, or the stream does not exist. It also adds them to what this sink knows of the
// device, so that the sink's next messages of the device name them too.
//
// The server calls it the first time it sees an acking device it has no
// state for (the device moved here from a node that died), on a
// goroutine of its own: it is one JetStream request, answered by the
// stream's leader (by any replica when the stream allows direct gets),
// and ctx bounds it. The set is the caller's. Safe for concurrent use.
//
// The set may say less than the stream holds (never more): the samples
// missing from it are stored twice if the device resends them.
func (s *Sink) HeldSet(ctx context.Context, device []byte) (*ack.Set, error) {
	st, err := s.streamHandle(ctx)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil, nil // no stream, nothing held: it is about to be created, or was deleted
	}
	if err != nil {
		return nil, err
	}
	dev := idBytes(nil, device)
	subj := string(SubjectToken([]byte(s.cfg.Subject+"."), dev))
	m, err := st.GetLastMsgForSubject(ctx, subj)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("natssink: last message of %s: %w", subj, err)
	}
	// Devices whose ids differ only in '.' and '_' share a subject: the
	// message id says whose run it is.
	if got, _, _, ok := parseRunID([]byte(m.Header.Get(jetstream.MsgIDHeader))); !ok || !bytes.Equal(got, dev) {
		return nil, nil
	}
	set, err := parseHeld(m.Header.Get(HeaderHeld))
	if err != nil {
		return nil, fmt.Errorf("%w (stream seq %d)", err, m.Sequence)
	}
	s.held.merge(dev, set)
	return set, nil
}

// streamHandle returns the stream, looked up once.
func (s *Sink) streamHandle(ctx context.Context) (jetstream.Stream, error) {
	if st := s.stream.Load(); st != nil {
		return *st, nil
	}
	st, err := s.js.Stream(ctx, s.cfg.Stream)
	if err != nil {
		return nil, fmt.Errorf("natssink: stream %s: %w", s.cfg.Stream, err)
	}
	s.stream.Store(&st)
	return st, nil
}
