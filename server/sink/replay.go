package sink

import (
	"bytes"
	"errors"
	"fmt"
)

// Recover returns the node's last checkpoint (FileConfig.Checkpoint) and
// replays the rows stored after it: it calls fn for every run of rows
// with a sequence number in the node's segments numbered after the one
// the checkpoint covers, in storage order. A run is consecutive rows of
// one device with consecutive sequence numbers: fn(device, first, n)
// stands for samples first to first+n-1. device is valid only during the
// call. Rows without a sequence number are skipped. A server rebuilds
// what it holds of each acknowledging device from the checkpoint, then
// adds the runs.
//
// checkpoint is nil when there is none, or when it is torn or corrupt:
// then that is logged as a warning and counted (Stats.ReplayDamaged), and
// every segment of the node is replayed. Damaged frames and rows are
// skipped, logged and counted in Stats.ReplayDamaged, never fatal; err
// is an I/O error.
//
// Call it once, after OpenFiles and before the first Submit. It reads the
// segments that existed at open (OpenFiles sealed the .partial ones a
// crash left, cutting their torn ends), none this run writes, and holds
// the checkpoint in memory.
func (s *FileSink) Recover(fn func(device []byte, seq uint64, n int)) (checkpoint []byte, err error) {
	log := s.cfg.Logger
	body, ck, ok, err := readCheckpoint(s.dir, s.cfg.Node)
	if err != nil {
		if !errors.Is(err, errBadCheckpoint) {
			return nil, fmt.Errorf("sink: %w", err)
		}
		log.Warn("sink: checkpoint is torn or corrupt: ignoring it, replaying every segment of this node", "err", err)
		s.c.replayDamaged.Add(1)
	}
	var after uint64
	if ok {
		after = ck.counter
	}
	node, last := s.cfg.Node, s.startCounter
	r, err := openReader(s.dir, func(seg segFile) bool {
		return seg.node == node && seg.counter > after && seg.counter <= last
	})
	if err != nil {
		return nil, err
	}
	defer r.Close()
	var run struct {
		dev []byte
		seq uint64
		n   int
	}
	rows := 0
	for r.Next() {
		row := r.Row()
		if !row.HasSeq {
			continue
		}
		rows++
		if run.n > 0 && row.Seq > run.seq && row.Seq-run.seq == uint64(run.n) && bytes.Equal(row.Device, run.dev) {
			run.n++
			continue
		}
		if run.n > 0 {
			fn(run.dev, run.seq, run.n)
		}
		run.dev = append(run.dev[:0], row.Device...)
		run.seq, run.n = row.Seq, 1
	}
	if run.n > 0 {
		fn(run.dev, run.seq, run.n)
	}
	if err := r.Err(); err != nil {
		return nil, err
	}
	var damaged uint64
	for _, st := range r.Segments() {
		damaged += uint64(st.BadFrames + st.BadRows)
		if st.Torn {
			damaged++
		}
	}
	for _, d := range r.Damage() {
		log.Warn("sink: replay skipped damaged data", "err", d)
	}
	s.c.replayDamaged.Add(damaged)
	covered := "none"
	if ok {
		covered = ck.name
	}
	log.Info("sink: replayed the rows stored after the checkpoint", "checkpoint_covers", covered,
		"segments", len(r.Segments()), "rows", rows, "damaged", damaged)
	return body, nil
}
