package server

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"

	"github.com/fleetwire/fleetwire/codec"
	"github.com/fleetwire/fleetwire/codec/ack"
)

// What recognises a resend must survive the server: after a kill -9 or a
// power cut, a device resends what it was never acknowledged, some of
// which the sink had stored. The file sink keeps, with its segments, a
// checkpoint of every acking device's durable set, written after each
// sealed segment (sink.FileConfig.Checkpoint); at start the server reads
// it back and adds the rows of the segments written after it
// (sink.FileSink.Recover). Those sets wait in recovered until their
// device opts in again, and go into every later checkpoint meanwhile.

// ackCheckpointMagic starts a checkpoint's body; the sink adds its own
// header with a checksum.
const ackCheckpointMagic = "fleetwire acks 1\n"

// writeAckCheckpoint is the file sink's Checkpoint: it runs on the sink's
// writer goroutine right after the receipts of the sealed segment
// settled, so it first applies them, then writes every acking device's
// durable set. A receipt still waiting (a durable range that did not fit
// its set yet) is left out: at worst its samples are stored twice after
// a restart, never acknowledged without being stored.
func (s *Server) writeAckCheckpoint(w io.Writer) error {
	s.acker.applySettled()
	bw := bufio.NewWriterSize(w, 64<<10)
	if _, err := bw.WriteString(ackCheckpointMagic); err != nil {
		return err
	}
	var buf []byte
	put := func(id string, set *ack.Set) {
		buf = appendSet(buf[:0], id, set)
		_, _ = bw.Write(buf)
	}
	seen := map[string]bool{}
	s.reg.each(func(x *Session) {
		x.mu.Lock()
		if x.ack != nil {
			put(x.ID, &x.ack.durable)
			seen[x.ID] = true
		}
		x.mu.Unlock()
	})
	for id, set := range s.recovered {
		if !seen[id] {
			put(id, set)
		}
	}
	return bw.Flush()
}

// appendSet appends one device's entry: id length (u8), id, next and the
// ranges as uvarints (count, then each as its distance from the end of
// the previous one and its length).
func appendSet(dst []byte, id string, set *ack.Set) []byte {
	dst = append(dst, byte(len(id)))
	dst = append(dst, id...)
	dst = binary.AppendUvarint(dst, set.Next())
	rs := set.Ranges(ack.MaxRanges)
	dst = binary.AppendUvarint(dst, uint64(len(rs)))
	prev := set.Next()
	for _, r := range rs {
		dst = binary.AppendUvarint(dst, r.Lo-prev)
		dst = binary.AppendUvarint(dst, r.Hi-r.Lo)
		prev = r.Hi + 1
	}
	return dst
}

var errBadAckCheckpoint = errors.New("server: ack checkpoint body does not parse")

// readAckCheckpoint parses a checkpoint body into sets by device id.
func readAckCheckpoint(b []byte) (map[string]*ack.Set, error) {
	body, ok := cutPrefix(b, ackCheckpointMagic)
	if !ok {
		return nil, errBadAckCheckpoint
	}
	sets := map[string]*ack.Set{}
	for len(body) > 0 {
		n := int(body[0])
		if n == 0 || len(body) < 1+n || !codec.ValidID(body[1:1+n]) {
			return nil, errBadAckCheckpoint
		}
		id := string(body[1 : 1+n])
		body = body[1+n:]
		next, k := binary.Uvarint(body)
		if k <= 0 {
			return nil, errBadAckCheckpoint
		}
		body = body[k:]
		count, k := binary.Uvarint(body)
		if k <= 0 || count > ack.MaxRanges {
			return nil, errBadAckCheckpoint
		}
		body = body[k:]
		set := new(ack.Set)
		set.Reset(next)
		prev := next
		for range count {
			gap, k1 := binary.Uvarint(body)
			if k1 <= 0 {
				return nil, errBadAckCheckpoint
			}
			length, k2 := binary.Uvarint(body[k1:])
			if k2 <= 0 {
				return nil, errBadAckCheckpoint
			}
			body = body[k1+k2:]
			lo := prev + gap
			if lo < prev || lo+length < lo {
				return nil, errBadAckCheckpoint
			}
			if _, err := set.Add(lo, lo+length, nil); err != nil {
				return nil, errBadAckCheckpoint
			}
			prev = lo + length + 1
		}
		sets[id] = set
	}
	return sets, nil
}

func cutPrefix(b []byte, p string) ([]byte, bool) {
	if len(b) < len(p) || string(b[:len(p)]) != p {
		return nil, false
	}
	return b[len(p):], true
}

// recoverAcks reads the file sink's checkpoint and replays the rows
// written after it, into s.recovered. A device whose replayed rows hold
// more holes than a set can is dropped from it: it cannot have been
// acking (its sessions never let it open that many), so nothing is lost.
func (s *Server) recoverAcks(fs ackStore) error {
	overflow := map[string]bool{}
	sets := map[string]*ack.Set{}
	ckpt, err := fs.Recover(func(device []byte, seq uint64, n int) {
		if n <= 0 || overflow[string(device)] || seq > seq+uint64(n-1) {
			return
		}
		set := sets[string(device)]
		if set == nil {
			set = new(ack.Set)
			sets[string(device)] = set
		}
		if _, err := set.Add(seq, seq+uint64(n-1), nil); err != nil {
			overflow[string(device)] = true
			delete(sets, string(device))
		}
	})
	if err != nil {
		return fmt.Errorf("recover acknowledged delivery: %w", err)
	}
	if ckpt != nil {
		base, err := readAckCheckpoint(ckpt)
		if err != nil {
			// The sink checked its checksum: a body that does not parse is
			// a bug of ours, not a torn write. Start without it.
			slog.Error("ack checkpoint unreadable: resends of what it covered may be stored twice", "err", err)
		}
		for id, set := range base {
			// Rows written after the checkpoint add to what it held.
			if replayed := sets[id]; replayed != nil {
				if replayed.Next() > 0 {
					_, _ = set.Add(0, replayed.Next()-1, nil)
				}
				for _, r := range replayed.Ranges(ack.MaxRanges) {
					_, _ = set.Add(r.Lo, r.Hi, nil)
				}
			}
			sets[id] = set
		}
	}
	s.recovered = sets
	if len(sets) > 0 {
		slog.Info("acknowledged delivery: recovered what devices may resend", "devices", len(sets), "checkpoint", ckpt != nil)
	}
	return nil
}

// recoveredSet returns a copy of what was recovered for device id, nil if
// nothing. s.recovered is written once, in New, and only read after.
func (s *Server) recoveredSet(id string) *ack.Set {
	set := s.recovered[id]
	if set == nil {
		return nil
	}
	c := new(ack.Set)
	c.Reset(set.Next())
	for _, r := range set.Ranges(ack.MaxRanges) {
		_, _ = c.Add(r.Lo, r.Hi, nil)
	}
	return c
}
