package loadgen

import (
	"errors"
	"fmt"
	"runtime"
	"time"

	"golang.org/x/sys/unix"

	"github.com/fleetwire/fleetwire/codec"
	"github.com/fleetwire/fleetwire/codec/framing"
)

// loop is one event loop: an epoll instance on a locked OS thread that owns
// a share of the devices. Nothing in it is shared with other goroutines
// except live (atomics) and what runner publishes (t0, stop).
type loop struct {
	framer // frames being written for one device at a time

	sas  []unix.Sockaddr // the targets
	idx  int
	epfd int
	wake int // eventfd the runner writes to when t0 is set or the run stops

	devs   []device
	due    []int64  // per device: when its timer fires (ns, run clock)
	gens   []uint32 // per device: timer generation (see wheel)
	wheel  *wheel
	fired  []int32
	events []unix.EpollEvent
	nstate [stDone + 1]int

	rbuf []byte
	dl   codec.Batch
	free []*pending

	connQ    []int32
	qhead    int
	tokens   float64
	refillAt int64
	connRate float64 // connects per ns for this loop
	inflight int

	ready    []int32 // as-fast-as-possible mode: devices whose socket has room
	socks    []*muxSock
	muxSplit *framing.Splitter // datagrams arriving on socks (Ack)

	started   bool
	stopping  bool
	cancelled bool  // stopped by Runner.stop: no waiting for acknowledgements
	reported  bool  // connect phase over, told the runner
	end       int64 // end of --duration (run clock), 0 for none
	stopAt    int64 // when stopAll ran

	firstAt int64 // first and last data frame written (run clock)
	lastAt  int64

	ack *ackLoop // Config.Ack

	live  *live
	tally *tally
	cpu   time.Duration // this loop's thread CPU time, user+sys
	err   error
}

// Epoll user data of the non-device fds.
const (
	evWake    = -1
	evSockMin = -2 // shared UDP socket i has -2-i
)

// Per-loop bounds.
const (
	maxInflight   = 1024     // connects in flight per loop: stays under the receiver's SYN backlog
	maxFramesFire = 64       // frames one device may send in one wake-up before yielding
	bulkBytes     = 32 << 10 // as-fast-as-possible mode: bytes per write
	readBufSize   = 16 << 10
	yieldEvery    = int64(5 * time.Millisecond)
)

func newLoop(r *runner, idx int, nums []int) (*loop, error) {
	c := r.cfg
	var err error
	l := &loop{
		framer: newFramer(r), idx: idx, epfd: -1, wake: -1,
		devs:   make([]device, len(nums)),
		due:    make([]int64, len(nums)),
		gens:   make([]uint32, len(nums)),
		wheel:  newWheel(r.now(), c.Tick),
		events: make([]unix.EpollEvent, 256),
		rbuf:   make([]byte, readBufSize),
		live:   &live{},
		tally:  newTally(),
	}
	for i := range r.tgts.list {
		l.sas = append(l.sas, r.sockaddr(i))
	}
	for i, n := range nums {
		r.sched.initDevice(&l.devs[i], c, n)
		l.devs[i].lid = int32(i)
		l.devs[i].tgt = int32(r.tgts.of(n))
		l.nstate[stIdle]++
		l.connQ = append(l.connQ, int32(i))
	}
	l.connRate = c.ConnectRate / float64(r.nloops) / float64(time.Second)
	l.tokens = 1
	if c.Ack {
		if err := l.newAckLoop(); err != nil {
			return nil, fmt.Errorf("loop %d: %w", idx, err)
		}
	}
	if l.epfd, err = unix.EpollCreate1(unix.EPOLL_CLOEXEC); err != nil {
		return nil, fmt.Errorf("loop %d: epoll_create1: %w", idx, err)
	}
	if l.wake, err = unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC); err != nil {
		l.close()
		return nil, fmt.Errorf("loop %d: eventfd: %w", idx, err)
	}
	if err = l.ctl(unix.EPOLL_CTL_ADD, l.wake, evWake, unix.EPOLLIN); err != nil {
		l.close()
		return nil, err
	}
	return l, nil
}

func (l *loop) close() {
	for i := range l.devs {
		if d := &l.devs[i]; d.fd >= 0 {
			unix.Close(d.fd)
			d.fd = -1
		}
	}
	for _, s := range l.socks {
		unix.Close(s.fd)
	}
	l.socks = nil
	if l.wake >= 0 {
		unix.Close(l.wake)
		l.wake = -1
	}
	if l.epfd >= 0 {
		unix.Close(l.epfd)
		l.epfd = -1
	}
}

func (l *loop) ctl(op, fd int, data int32, events uint32) error {
	ev := unix.EpollEvent{Events: events, Fd: data}
	if err := unix.EpollCtl(l.epfd, op, fd, &ev); err != nil {
		return fmt.Errorf("epoll_ctl fd %d: %w", fd, err)
	}
	return nil
}

// wakeUp is called from the runner's goroutine.
func (l *loop) wakeUp() {
	var one = [8]byte{1}
	unix.Write(l.wake, one[:])
}

// run drives the loop until every device is done.
func (l *loop) run() {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	cpu0 := threadCPU()
	defer func() { l.cpu = threadCPU() - cpu0 }()

	if l.r.cfg.UDPSockets > 0 {
		if err := l.openMux(); err != nil {
			l.err = err
			l.abandon(reason(err))
		}
	}
	var yielded int64
	for {
		now := l.r.now()
		if now-yielded > yieldEvery {
			// The scheduler takes the P from a goroutine that has not been
			// rescheduled for 10 ms even while it sleeps in a syscall, and
			// every such retake keeps sysmon polling at 20 µs for a while:
			// measured, a quarter of a core for two loops. Yielding now and
			// then is far cheaper.
			runtime.Gosched()
			yielded = now
		}
		if !l.started {
			// Scheduled frames wait for their due times, which start at
			// t0; as-fast-as-possible devices have none, so the loop
			// waits for t0 itself (else the first frames leave before
			// the clock of the report's duration starts).
			if t0 := l.r.t0.Load(); t0 != 0 && (l.s.periodNs > 0 || now >= t0) {
				l.start(t0)
			}
		}
		if !l.stopping && (l.r.stop.Load() || l.end > 0 && now >= l.end) {
			l.stopAll(now)
		} else if l.stopping && !l.cancelled && l.r.stop.Load() {
			l.cancelWait(now)
		}
		l.fired = l.wheel.expire(now, l.due, l.gens, l.fired[:0])
		for _, id := range l.fired {
			l.onTimer(id)
		}
		l.connectSome(now)
		if len(l.ready) > 0 {
			l.pump()
		}
		l.flushMux()
		if !l.reported && l.nstate[stIdle]+l.nstate[stRetry]+l.nstate[stConnecting] == 0 {
			l.reported = true
			l.r.connectDone <- l.idx
		}
		if l.reported && l.nstate[stDone] == len(l.devs) {
			return
		}
		n, err := epollWait(l.epfd, l.events, l.timeout(l.r.now()))
		if err != nil && !errors.Is(err, unix.EINTR) {
			l.err = fmt.Errorf("loop %d: epoll_wait: %w", l.idx, err)
			l.abandon("epoll")
			continue
		}
		for i := range n {
			ev := &l.events[i]
			l.onEvent(ev.Fd, ev.Events)
		}
	}
}

// timeout returns how long epoll may sleep, in ns.
func (l *loop) timeout(now int64) int64 {
	if len(l.ready) > 0 {
		return 0
	}
	wait := int64(time.Second) // the wake fd interrupts earlier for t0 and stop
	if l.qhead < len(l.connQ) && l.inflight < maxInflight {
		if l.r.cfg.Transport == UDP || l.tokens >= 1 {
			return 0
		}
		wait = min(wait, int64((1-l.tokens)/l.connRate)+1)
	}
	if t, ok := l.wheel.nextWake(); ok {
		wait = min(wait, t-now)
	}
	if l.end > 0 && !l.stopping {
		wait = min(wait, l.end-now)
	}
	if t0 := l.r.t0.Load(); !l.started && t0 != 0 {
		wait = min(wait, t0-now)
	}
	return max(wait, 0)
}

// start begins the send phase: the schedule of every connected device.
func (l *loop) start(t0 int64) {
	l.started, l.t0 = true, t0
	if d := l.r.cfg.Duration; d > 0 {
		l.end = t0 + int64(d)
	}
	for i := range l.devs {
		if d := &l.devs[i]; d.state == stUp && !d.finishing {
			l.schedule(int32(i), false)
		}
	}
}

// stopAll ends the run for every device: the connected ones send their
// end-of-stream, the others give up. At the end of --duration a device
// first sends the frames that fell due before it (a loop running behind
// still owes them); when the run is cancelled it stops at once. With Ack
// a device that is down keeps trying to connect, to hand over what it
// holds, until its wait for acknowledgements ends (ackRetry).
func (l *loop) stopAll(now int64) {
	l.stopping, l.stopAt = true, now
	l.ready = l.ready[:0]
	l.cancelled = l.r.stop.Load()
	keep := false
	for i := range l.devs {
		d := &l.devs[i]
		switch d.state {
		case stIdle, stRetry, stConnecting:
			if l.ackRetry(int32(i), now) {
				keep = true
				continue
			}
			if !d.everUp {
				l.tally.connectFailures["stopped"]++
			}
			l.closeDevice(d, stDone)
		case stUp:
			for !l.cancelled && l.s.periodNs > 0 && !d.finishing && d.state == stUp {
				l.sendDue(int32(i)) // due < end <= now: it ends with finish
			}
			switch {
			case !d.finishing && d.state == stUp:
				l.reset()
				l.finish(d)
				l.emit(int32(i), now)
				l.afterFinish(int32(i), now)
			case d.finishing && l.cancelled && l.ack != nil:
				l.afterFinish(int32(i), now) // no more waiting for acknowledgements
			}
		}
	}
	if !keep {
		l.qhead = len(l.connQ)
	}
}

// cancelWait ends the wait for acknowledgements when the run is
// cancelled after its end: devices close at once.
func (l *loop) cancelWait(now int64) {
	l.cancelled = true
	for i := range l.devs {
		d := &l.devs[i]
		switch d.state {
		case stIdle, stRetry, stConnecting:
			if !d.everUp {
				l.tally.connectFailures["stopped"]++
			}
			l.closeDevice(d, stDone)
		case stUp:
			if d.finishing {
				l.afterFinish(int32(i), now)
			}
		}
	}
	l.qhead = len(l.connQ)
}

// abandon closes every device after a loop-level failure.
func (l *loop) abandon(why string) {
	for i := range l.devs {
		d := &l.devs[i]
		if d.state != stDone {
			if !d.everUp {
				l.tally.connectFailures[why]++
			}
			l.closeDevice(d, stDone)
		}
	}
	l.qhead = len(l.connQ)
}

func (l *loop) setState(d *device, st devState) {
	l.nstate[d.state]--
	l.nstate[st]++
	d.state = st
	l.live.connected.Store(int64(l.nstate[stUp] + l.nstate[stDraining]))
	if st == stDone {
		l.live.finished.Add(1)
		if l.ack != nil {
			l.endWait(d.lid)
		}
	}
}

func (l *loop) closeDevice(d *device, st devState) {
	if d.fd >= 0 {
		unix.Close(d.fd)
		d.fd = -1
		if d.state == stConnecting {
			l.inflight--
		}
	}
	if d.pend != nil {
		l.dropQueued(d, d.pend.marks, dropConnLost)
		l.putPending(d.pend)
		d.pend = nil
	}
	d.rx = d.rx[:0]
	if d.split != nil {
		d.split.Reset()
	}
	l.setState(d, st)
	l.gens[d.lid]++ // cancel its timer
}

// arm sets the device's timer, replacing any earlier one.
func (l *loop) arm(id int32, at int64) {
	l.gens[id]++
	l.due[id] = at
	l.wheel.add(id, l.gens[id], at)
}

func (l *loop) onTimer(id int32) {
	d := &l.devs[id]
	switch d.state {
	case stRetry:
		if l.stopping && !l.ackRetry(id, l.r.now()) {
			l.closeDevice(d, stDone)
			return
		}
		l.setState(d, stIdle)
		l.connQ = append(l.connQ, id)
	case stConnecting:
		l.connectFailed(id, unix.ETIMEDOUT, l.r.now())
	case stUp:
		if d.finishing && l.ack != nil && l.ack.devs[id].waiting {
			// Waiting for acknowledgements: resend what is due, or end
			// the wait.
			now := l.r.now()
			l.reset()
			l.ackResend(&l.framer, id, now, nil)
			l.emit(id, now)
			l.afterFinish(id, now)
			return
		}
		if d.finishing {
			// End-of-stream is still queued behind frames the receiver
			// does not read: give up on them.
			l.tally.disconnects["drain_timeout"]++
			l.closeDevice(d, stDone)
			return
		}
		l.sendDue(id)
	case stDraining:
		l.tally.disconnects["drain_timeout"]++
		l.closeDevice(d, stDone)
	}
}

func (l *loop) onEvent(data int32, events uint32) {
	switch {
	case data == evWake:
		var b [8]byte
		unix.Read(l.wake, b[:])
		return
	case data <= evSockMin:
		l.onMuxEvent(l.socks[evSockMin-data], events)
		return
	}
	id := data
	d := &l.devs[id]
	now := l.r.now()
	switch d.state {
	case stConnecting:
		l.onConnectEvent(id, now)
	case stUp, stDraining:
		if l.r.cfg.Transport == UDP {
			l.onDatagrams(id, now)
			return
		}
		if events&unix.EPOLLOUT != 0 && d.pend != nil {
			l.flushPending(id, now)
		}
		if d.state == stUp || d.state == stDraining {
			if events&(unix.EPOLLIN|unix.EPOLLHUP|unix.EPOLLERR) != 0 {
				l.onReadable(id, now)
			}
		}
	}
}

// schedule arms a connected device's next frame. After a reconnect
// (skipPast) the frames that fell due while it was down are skipped: their
// sequence numbers are consumed, as a device that could not send them
// would, so the receiver counts them lost. With Ack they were not skipped
// but kept (catchUp), and the timer also covers the device's resends.
func (l *loop) schedule(id int32, skipPast bool) {
	d := &l.devs[id]
	if l.s.periodNs == 0 {
		l.ready = append(l.ready, id)
		return
	}
	if l.ack != nil {
		l.armNext(id, l.r.now())
		return
	}
	if skipPast {
		now := l.r.now()
		for {
			n := l.s.frameSamples(d.k)
			if n == 0 || l.t0+l.s.due(d, d.k) >= now {
				break
			}
			l.skip(d, n, dropDisconnected)
		}
	}
	l.arm(id, l.t0+l.s.due(d, d.k))
}

// ackRetry reports whether device id, down at the end of its run, keeps
// trying to connect to hand over what it holds: with Ack, until its wait
// for acknowledgements ends (from its end-of-stream, or from the end of
// the run if it never got there), unless the run was cancelled. Before
// that it always does (Config.Reconnect permitting; the retries are
// bounded by ConnectRetries).
func (l *loop) ackRetry(id int32, now int64) bool {
	if l.ack == nil || l.cancelled || !l.r.cfg.Reconnect {
		return false
	}
	a := &l.ack.devs[id]
	switch {
	case a.waiting:
		return now < a.drainAt
	case l.stopping:
		return now < l.stopAt+int64(l.r.cfg.ackDrain())
	}
	return true
}
