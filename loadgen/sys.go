package loadgen

import (
	"fmt"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// fdReserve is what a process needs besides device sockets: epoll and
// eventfds, stdio, the runtime's own, a replay file, a JSON report.
const fdReserve = 64

// raiseFileLimit raises RLIMIT_NOFILE to its hard limit and returns how
// many device sockets a process can then hold. The hard limit itself
// cannot be raised without privileges, so a fleet that does not fit is
// refused up front, with the way out, rather than failing half-way with
// EMFILE.
func raiseFileLimit() (int, error) {
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		return 0, fmt.Errorf("getrlimit: %w", err)
	}
	if lim.Cur < lim.Max {
		lim.Cur = lim.Max
		if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
			return 0, fmt.Errorf("setrlimit NOFILE %d: %w", lim.Max, err)
		}
	}
	return max(int(min(lim.Cur, 1<<30))-fdReserve, 1), nil
}

// checkSockets refuses total sockets spread over procs processes when one
// process's share does not fit its open-file limit.
func checkSockets(total, procs int) error {
	room, err := raiseFileLimit()
	if err != nil {
		return err
	}
	if per := (total + procs - 1) / procs; per > room {
		return fmt.Errorf("%d sockets in %d process(es) is %d per process, but a process may hold %d (hard RLIMIT_NOFILE %d less %d in reserve): use --procs %d or more (or --udp-sockets for UDP)",
			total, procs, per, room, room+fdReserve, fdReserve, (total+room-1)/room)
	}
	return nil
}

// cpuTimes returns the user and system CPU time of the process so far.
func cpuTimes() (user, sys time.Duration) {
	var ru unix.Rusage
	if unix.Getrusage(unix.RUSAGE_SELF, &ru) != nil {
		return 0, 0
	}
	return time.Duration(ru.Utime.Nano()), time.Duration(ru.Stime.Nano())
}

// maxRSS returns the process's peak resident set size in bytes.
func maxRSS() int64 {
	var ru unix.Rusage
	if unix.Getrusage(unix.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return ru.Maxrss * 1024
}

// threadCPU returns the CPU time (user+sys) of the calling OS thread;
// callers lock their goroutine to it.
func threadCPU() time.Duration {
	var ru unix.Rusage
	if unix.Getrusage(unix.RUSAGE_THREAD, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

var noPwait2 atomic.Bool

// epollWait waits up to timeoutNs. It uses epoll_pwait2, whose timeout has
// ns resolution: epoll_wait (and so Go's timers) round a sleep up to the
// next ms, too coarse for frames due every few hundred µs. Kernels before
// 5.11 fall back to ms.
func epollWait(epfd int, events []unix.EpollEvent, timeoutNs int64) (int, error) {
	if !noPwait2.Load() {
		ts := unix.NsecToTimespec(timeoutNs)
		n, _, e := unix.Syscall6(unix.SYS_EPOLL_PWAIT2, uintptr(epfd), uintptr(unsafe.Pointer(&events[0])),
			uintptr(len(events)), uintptr(unsafe.Pointer(&ts)), 0, 0)
		if e == 0 {
			return int(n), nil
		}
		if e != unix.ENOSYS {
			return 0, e
		}
		noPwait2.Store(true)
	}
	return unix.EpollWait(epfd, events, int((timeoutNs+999_999)/1_000_000))
}
