package loadgen

import (
	"fmt"
	"io"
	"time"
)

// Progress is a snapshot of a running generator's counters. Workers send
// them to their parent as JSON lines.
type Progress struct {
	Elapsed    time.Duration `json:"elapsed"`
	Devices    int           `json:"devices"`
	Connected  int64         `json:"connected"`
	EverConn   int64         `json:"ever_connected"`
	Finished   int64         `json:"finished"`
	Frames     uint64        `json:"frames"`
	Readings   uint64        `json:"readings"`
	Bytes      uint64        `json:"bytes"`
	SendErrors uint64        `json:"send_errors"`
	Dropped    uint64        `json:"dropped"`
	Late       uint64        `json:"late"`
	ConnErrors uint64        `json:"conn_errors"`
	Commands   uint64        `json:"commands"`
	Acks       uint64        `json:"acks"`
	// Ack, in readings (AckWaiting: devices waiting for acknowledgements
	// after their end-of-stream).
	Acked      uint64 `json:"acked,omitempty"`
	Resent     uint64 `json:"resent,omitempty"`
	GaveUp     uint64 `json:"gave_up,omitempty"`
	Unacked    int64  `json:"unacked,omitempty"`
	AckWaiting int64  `json:"ack_waiting,omitempty"`
}

func snapshot(lives []*live, devices int, elapsed time.Duration) Progress {
	p := Progress{Elapsed: elapsed, Devices: devices}
	for _, l := range lives {
		p.add(Progress{
			Connected: l.connected.Load(), EverConn: l.everConn.Load(), Finished: l.finished.Load(),
			Frames: l.frames.Load(), Readings: l.readings.Load(), Bytes: l.bytes.Load(),
			SendErrors: l.sendErrors.Load(), Dropped: l.dropped.Load(), Late: l.late.Load(),
			ConnErrors: l.connErrors.Load(), Commands: l.commands.Load(), Acks: l.acks.Load(),
			Acked: l.acked.Load(), Resent: l.resent.Load(), GaveUp: l.gaveUp.Load(), Unacked: l.unacked.Load(),
			AckWaiting: l.ackWaiting.Load(),
		})
	}
	return p
}

func (p *Progress) add(q Progress) {
	p.Connected += q.Connected
	p.EverConn += q.EverConn
	p.Finished += q.Finished
	p.Frames += q.Frames
	p.Readings += q.Readings
	p.Bytes += q.Bytes
	p.SendErrors += q.SendErrors
	p.Dropped += q.Dropped
	p.Late += q.Late
	p.ConnErrors += q.ConnErrors
	p.Commands += q.Commands
	p.Acks += q.Acks
	p.Acked += q.Acked
	p.Resent += q.Resent
	p.GaveUp += q.GaveUp
	p.Unacked += q.Unacked
	p.AckWaiting += q.AckWaiting
}

// newTextProgress returns a function that prints one line per snapshot
// to w, with rates over the interval since the previous one; with ack the
// line ends with the acknowledged-delivery counters (readings).
func newTextProgress(w io.Writer, ack bool) func(Progress) {
	if w == nil {
		return func(Progress) {}
	}
	var prev Progress
	return func(p Progress) {
		dt := (p.Elapsed - prev.Elapsed).Seconds()
		if dt <= 0 {
			return
		}
		fmt.Fprintf(w, "[%6.1fs] connected %d/%d  frames/s %.0f  readings/s %.0f  MB/s %.2f  late %d  dropped %d  send_err %d  conn_err %d  cmds %d/%d",
			p.Elapsed.Seconds(), p.Connected, p.Devices,
			float64(p.Frames-prev.Frames)/dt, float64(p.Readings-prev.Readings)/dt, float64(p.Bytes-prev.Bytes)/dt/1e6,
			p.Late, p.Dropped, p.SendErrors, p.ConnErrors, p.Commands, p.Acks)
		if ack {
			fmt.Fprintf(w, "  acked %d  unacked %d  resent %d  gaveup %d  waiting %d", p.Acked, p.Unacked, p.Resent, p.GaveUp, p.AckWaiting)
		}
		fmt.Fprintln(w)
		prev = p
	}
}

// drainLog wraps a progress function to log, every 5 s at most while
// devices wait for acknowledgements after their end-of-stream, how many
// wait and for how many readings.
func (r *runner) drainLog(progress func(Progress)) func(Progress) {
	if !r.cfg.Ack {
		return progress
	}
	var last time.Duration
	return func(p Progress) {
		progress(p)
		if p.AckWaiting > 0 && (last == 0 || p.Elapsed-last >= 5*time.Second) {
			last = p.Elapsed
			r.log().Info("load: waiting for acknowledgements", "waiting", p.AckWaiting,
				"unacked_readings", p.Unacked, "drain", r.cfg.AckDrain)
		}
	}
}
