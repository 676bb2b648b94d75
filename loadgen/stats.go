package loadgen

import (
	"errors"
	"io"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
	"golang.org/x/sys/unix"
)

// live holds the counters the progress line reads while loops run. Each
// is written by one loop only; atomics keep the reader honest, and cost a
// few ns per frame.
type live struct {
	connected  atomic.Int64 // devices connected now
	everConn   atomic.Int64 // devices that connected at least once
	finished   atomic.Int64 // devices that are done (closed or given up)
	frames     atomic.Uint64
	readings   atomic.Uint64
	bytes      atomic.Uint64
	sendErrors atomic.Uint64
	dropped    atomic.Uint64
	late       atomic.Uint64
	connErrors atomic.Uint64 // failed connect attempts
	commands   atomic.Uint64
	acks       atomic.Uint64
	// Ack, in readings.
	acked      atomic.Uint64
	resent     atomic.Uint64
	gaveUp     atomic.Uint64
	unacked    atomic.Int64
	ackWaiting atomic.Int64 // devices waiting for acknowledgements after end-of-stream
	_          [64]byte     // keep loops' counters on separate cache lines
}

// tally holds what only the loop touches, read after it has stopped.
type tally struct {
	connectRetries  map[string]uint64 // failed attempts that were retried
	connectFailures map[string]uint64 // devices that gave up, by last reason
	disconnects     map[string]uint64
	sendErrors      map[string]uint64
	dropped         map[string]uint64 // frames skipped, by why
	downlinkErrors  map[string]uint64
	controlFrames   uint64 // hello, eos and acks written
	controlBytes    uint64
	eos             uint64
	unknownCommands uint64
	lateness        *hdrhistogram.Histogram // µs

	// Ack.
	ackFrames, ackBytes       uint64 // #stored received
	resentFrames, resentBytes uint64
	gaveUpFrames              uint64 // #gaveup sent
	helloPrefixes             uint64 // hellos in front of UDP datagrams
	ackDrainTimeouts          uint64 // devices whose wait for acknowledgements ran out
	failovers                 uint64
	ackLatency                *hdrhistogram.Histogram // µs, per acknowledged flight

	// Sessions (session.go).
	sessions, resumed uint64                  // per-report connections or UDP sockets opened; TLS resumptions
	radioOn           *hdrhistogram.Histogram // µs, per report
}

func newTally() *tally {
	return &tally{
		connectRetries:  map[string]uint64{},
		connectFailures: map[string]uint64{},
		disconnects:     map[string]uint64{},
		sendErrors:      map[string]uint64{},
		dropped:         map[string]uint64{},
		downlinkErrors:  map[string]uint64{},
		lateness:        newLatenessHist(),
		ackLatency:      newLatenessHist(),
		radioOn:         newLatenessHist(),
	}
}

// Lateness is tracked from 1 µs to 1 h with 3 significant digits.
const maxLatenessUs = int64(time.Hour / time.Microsecond)

func newLatenessHist() *hdrhistogram.Histogram { return hdrhistogram.New(1, maxLatenessUs, 3) }

func recordLateness(h *hdrhistogram.Histogram, ns int64) {
	us := ns / 1000
	if us < 0 {
		us = 0
	}
	_ = h.RecordValue(min(us, maxLatenessUs)) // in range by construction
}

// Why a frame was skipped.
const (
	dropBackpressure = "backpressure" // the device's send buffer was full
	dropDisconnected = "disconnected" // the device had no connection
	dropConnLost     = "conn_lost"    // queued when the connection broke
	dropTooLarge     = "too_large"    // bigger than a datagram
)

// reason names an error for the report: the errno's short name where
// there is one, so runs can be compared by key.
func reason(err error) string {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		switch errno {
		case syscall.ECONNREFUSED:
			return "refused"
		case syscall.ETIMEDOUT:
			return "timeout"
		case syscall.EADDRNOTAVAIL:
			return "addr_not_avail"
		case syscall.EADDRINUSE:
			return "addr_in_use"
		case syscall.EMFILE:
			return "emfile"
		case syscall.ENFILE:
			return "enfile"
		case syscall.ENETUNREACH, syscall.EHOSTUNREACH:
			return "unreachable"
		case syscall.ECONNRESET:
			return "reset"
		case syscall.EPIPE:
			return "broken_pipe"
		case syscall.EAGAIN:
			return "eagain"
		case syscall.ENOBUFS:
			return "enobufs"
		case syscall.ENOMEM:
			return "enomem"
		case syscall.EMSGSIZE:
			return "msgsize"
		}
		if name := unix.ErrnoName(errno); name != "" {
			return strings.ToLower(name)
		}
		return "errno_" + strconv.Itoa(int(errno))
	}
	switch {
	case errors.Is(err, io.EOF):
		return "eof"
	case errors.Is(err, os.ErrDeadlineExceeded):
		return "timeout"
	}
	return "other"
}
