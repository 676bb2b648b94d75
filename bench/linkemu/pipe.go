package linkemu

import (
	"errors"
	"log/slog"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// pipe moves one direction: a reader takes packets from the near TUN and
// runs them through sched into the delay line; a deliverer writes each to
// the far TUN when it is due.
//
// Both run on their own OS thread and wait in ppoll(2), never in the Go
// runtime's timers or netpoller: a Go timer below 1 ms rounds up to about
// 1 ms here, while ppoll's timeout is an hrtimer, and the thread is woken
// by the kernel directly. With realtime set, the threads ask for
// SCHED_FIFO, so the other processes of a loaded machine cannot hold a
// due packet back (the lateness counters show what is left).
type pipe struct {
	name     string
	in, out  int // TUN fds; the pipe reads in and writes out
	wake     int // eventfd: the reader tells the deliverer of a new head
	stop     int // eventfd shared by the link: readable once Close starts
	epoch    time.Time
	s        *sched
	line     *line
	c        counters
	mtu      int
	realtime bool
	rtOK     chan bool // each thread reports whether it got SCHED_FIFO
	log      *slog.Logger
	// radio, when a watch is on, sees the client's packets: the uplink's
	// as the reader takes them (sent), the downlink's as they are
	// written (received).
	radio *atomic.Pointer[radio]
	up    bool
}

// observe hands b to the radio watch, if any.
func (p *pipe) observe(b []byte, now time.Duration) {
	if r := p.radio.Load(); r != nil {
		if k, ok := clientFlow(b, p.up); ok {
			r.packet(k, now, len(b))
		}
	}
}

func (p *pipe) now() time.Duration { return time.Since(p.epoch) }

// rtPriority is the SCHED_FIFO priority of the emulator's threads: above
// every normal process, below the kernel's own realtime threads
// (migration, watchdog at 99). The kernel's RT throttling
// (sched_rt_runtime_us) still leaves normal tasks 5 % of each CPU.
const rtPriority = 10

// lockThread pins the calling goroutine to its OS thread for good (the
// thread is discarded when the goroutine ends, so its priority never
// leaks to other goroutines) and asks for SCHED_FIFO if wanted.
func (p *pipe) lockThread() {
	runtime.LockOSThread()
	if !p.realtime {
		p.rtOK <- false
		return
	}
	err := unix.SchedSetAttr(0, &unix.SchedAttr{Size: unix.SizeofSchedAttr, Policy: unix.SCHED_FIFO, Priority: rtPriority}, 0)
	if err != nil {
		p.log.Warn("linkemu: SCHED_FIFO refused, running at normal priority", "dir", p.name, "err", err)
	}
	p.rtOK <- err == nil
}

// wait blocks in ppoll on fd and the stop eventfd, for at most timeout
// (< 0: no limit). It reports false once the link is stopping.
func (p *pipe) wait(fds []unix.PollFd, timeout time.Duration) bool {
	var ts *unix.Timespec
	if timeout >= 0 {
		t := unix.NsecToTimespec(int64(timeout))
		ts = &t
	}
	fds[0].Revents, fds[1].Revents = 0, 0
	if _, err := unix.Ppoll(fds, ts, nil); err != nil && !errors.Is(err, unix.EINTR) {
		p.log.Error("linkemu: ppoll", "dir", p.name, "err", err)
		return false
	}
	return fds[1].Revents == 0
}

// read is the reader thread.
func (p *pipe) read(wg *sync.WaitGroup) {
	defer wg.Done()
	p.lockThread()
	fds := []unix.PollFd{{Fd: int32(p.in), Events: unix.POLLIN}, {Fd: int32(p.stop), Events: unix.POLLIN}}
	one := []byte{1, 0, 0, 0, 0, 0, 0, 0}
	var buf *[]byte
	for {
		if buf == nil {
			buf = p.line.pool.Get().(*[]byte)
		}
		n, err := unix.Read(p.in, *buf)
		if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR) {
			if !p.wait(fds, -1) {
				return
			}
			continue
		}
		if err != nil {
			p.log.Error("linkemu: read", "dir", p.name, "err", err)
			return
		}
		now := p.now()
		if p.up {
			p.observe((*buf)[:n], now)
		}
		p.c.received.Add(1)
		p.c.receivedBytes.Add(uint64(n))
		dec, v := p.s.admit(now, n)
		switch v {
		case lossDrop:
			p.c.lossDropped.Add(1)
			continue
		case queueDrop:
			p.c.queueDropped.Add(1)
			continue
		}
		if dec.reordered {
			p.c.reordered.Add(1)
		}
		storeMax(&p.c.sojournMax, dec.due-now)
		if dec.due <= now && !dec.dup && p.line.idle() {
			// Fast path: due already and nothing waits or is being
			// written before it (a link without delay), so it leaves
			// from this thread and skips a wakeup of the deliverer.
			p.write((*buf)[:n], dec.due)
			continue // buf is reused
		}
		var dup *[]byte
		if dec.dup {
			dup = p.line.pool.Get().(*[]byte)
			copy(*dup, (*buf)[:n])
		}
		ok, head := p.line.push(packet{buf: buf, n: n, due: dec.due})
		if !ok {
			p.c.lineDropped.Add(1)
			if dup != nil {
				p.line.pool.Put(dup)
			}
			continue // buf is reused
		}
		buf = nil
		if dup != nil {
			if ok2, _ := p.line.push(packet{buf: dup, n: n, due: dec.due}); ok2 {
				p.c.duplicated.Add(1)
			} else {
				p.line.pool.Put(dup)
			}
		}
		if head {
			if _, err := unix.Write(p.wake, one); err != nil && !errors.Is(err, unix.EAGAIN) {
				p.log.Error("linkemu: eventfd", "dir", p.name, "err", err)
				return
			}
		}
	}
}

// write hands one packet to the far TUN and counts it.
func (p *pipe) write(b []byte, due time.Duration) {
	_, err := unix.Write(p.out, b)
	if err != nil {
		p.c.writeErrors.Add(1)
		return
	}
	now := p.now()
	if !p.up {
		p.observe(b, now)
	}
	p.c.delivered.Add(1)
	p.c.deliveredBytes.Add(uint64(len(b)))
	p.c.late(now - due)
}

// deliver is the deliverer thread.
func (p *pipe) deliver(wg *sync.WaitGroup) {
	defer wg.Done()
	p.lockThread()
	fds := []unix.PollFd{{Fd: int32(p.wake), Events: unix.POLLIN}, {Fd: int32(p.stop), Events: unix.POLLIN}}
	var drain [8]byte
	batch := make([]packet, 0, 256)
	for {
		var next time.Duration
		batch, next = p.line.popDue(batch[:0], p.now())
		if len(batch) > 0 {
			for i := range batch {
				pk := &batch[i]
				p.write((*pk.buf)[:pk.n], pk.due)
				p.line.pool.Put(pk.buf)
				*pk = packet{}
			}
			p.line.written()
			continue // writing took time: look again before sleeping
		}
		// No spinning before a due time: on the loaded 2-core host,
		// spinning the last 100-300 µs at SCHED_FIFO starved the
		// normal-priority threads the Go runtime and the network stack
		// need, and made the worst lateness 40-120 ms instead of 3-8 ms.
		if !p.wait(fds, next) {
			return
		}
		if fds[0].Revents != 0 {
			_, _ = unix.Read(p.wake, drain[:])
		}
	}
}
