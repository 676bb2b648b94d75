package linkemu

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fleetwire/fleetwire/bench/netns"
	"golang.org/x/sys/unix"
)

// available says why links cannot be built here, fit for t.Skip.
func available() error {
	if uid := os.Geteuid(); uid != 0 {
		return fmt.Errorf("linkemu: not root (uid %d): network namespaces and TUN devices need CAP_NET_ADMIN and CAP_SYS_ADMIN", uid)
	}
	if _, err := exec.LookPath("ip"); err != nil {
		return errors.New("linkemu: missing ip (apt-get install -y iproute2)")
	}
	fd, err := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("linkemu: /dev/net/tun: %w", err)
	}
	unix.Close(fd)
	return nil
}

// setup builds a link for one test and removes it when the test ends.
func setup(t *testing.T, c Config) *Link {
	t.Helper()
	if err := available(); err != nil {
		t.Skip(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	l, err := Setup(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := l.Close(); err != nil {
			t.Error(err)
		}
	})
	t.Logf("%s: up %s; down %s; seed %d; SCHED_FIFO %v", c.Name, c.Up, c.Down, l.Seed, l.Realtime())
	return l
}

// udpSocket opens a blocking UDP socket bound to addr:port inside side's
// namespace, with a large receive buffer and a 100 ms receive timeout so
// loops can notice they should stop.
func udpSocket(t *testing.T, l *Link, side netns.Side, addr netip.Addr, port int) int {
	t.Helper()
	var fd int
	err := l.InNS(side, func() (err error) {
		fd, err = unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return err
		}
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 32<<20); err != nil {
			return err
		}
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, 8<<20); err != nil {
			return err
		}
		tv := unix.NsecToTimeval(int64(100 * time.Millisecond))
		if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
			return err
		}
		return unix.Bind(fd, &unix.SockaddrInet4{Addr: addr.As4(), Port: port})
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	return fd
}

// endpointThread locks the calling goroutine to its thread for good and
// asks for SCHED_FIFO one level below the emulator's, so the instrument's
// own scheduling delay stays out of the figures as far as it can; it
// reports whether it got it.
func endpointThread() bool {
	runtime.LockOSThread()
	return unix.SchedSetAttr(0, &unix.SchedAttr{Size: unix.SizeofSchedAttr, Policy: unix.SCHED_FIFO, Priority: rtPriority - 1}, 0) == nil
}

// echo starts a UDP echo on fd; stop ends it.
func echo(fd int) (stop func()) {
	var done atomic.Bool
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		endpointThread()
		buf := make([]byte, 65536)
		for !done.Load() {
			n, from, err := unix.Recvfrom(fd, buf, 0)
			if err != nil {
				continue // timeout: look at done
			}
			_ = unix.Sendto(fd, buf[:n], 0, from)
		}
	}()
	return func() { done.Store(true); wg.Wait() }
}

// probe is what one datagram of a probe run carries: sequence number and
// send time (ns since the run's epoch), then padding.
const probeHeader = 16

// probeResult is one probe run: per sequence number, the round trip (or
// one-way arrival time) and how many copies arrived.
type probeResult struct {
	sent   int
	rtt    []time.Duration // -1 = not back
	copies []uint16
	order  int // datagrams that arrived after a higher sequence number
	fifo   bool
}

// roundTrips sends n datagrams of size bytes from fd to dst at pps per
// second and records each one's round trip as echoed back. It returns
// after the last one plus wait.
func roundTrips(fd int, dst netip.AddrPort, n, size, pps int, wait time.Duration) probeResult {
	res := probeResult{rtt: make([]time.Duration, n), copies: make([]uint16, n)}
	for i := range res.rtt {
		res.rtt[i] = -1
	}
	epoch := time.Now()
	var done atomic.Bool
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		res.fifo = endpointThread()
		buf := make([]byte, 65536)
		hi := -1
		for !done.Load() {
			m, _, err := unix.Recvfrom(fd, buf, 0)
			if err != nil || m < probeHeader {
				continue
			}
			now := time.Since(epoch)
			i := int(binary.LittleEndian.Uint64(buf))
			if i < 0 || i >= n {
				continue
			}
			if res.copies[i] == 0 {
				res.rtt[i] = now - time.Duration(binary.LittleEndian.Uint64(buf[8:]))
			}
			res.copies[i]++
			if i < hi {
				res.order++
			}
			hi = max(hi, i)
		}
	}()
	send(fd, dst, n, size, pps, epoch)
	res.sent = n
	time.Sleep(wait)
	done.Store(true)
	wg.Wait()
	return res
}

// send paces n datagrams at pps on a locked thread, sleeping to each
// departure time (a burst catches up if the thread was held back).
func send(fd int, dst netip.AddrPort, n, size, pps int, epoch time.Time) {
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		endpointThread()
		sa := &unix.SockaddrInet4{Addr: dst.Addr().As4(), Port: int(dst.Port())}
		buf := make([]byte, max(size, probeHeader))
		gap := time.Second / time.Duration(pps)
		start := time.Since(epoch)
		for i := range n {
			at := start + time.Duration(i)*gap
			if d := at - time.Since(epoch); d > 0 {
				ts := unix.NsecToTimespec(int64(d))
				for unix.Nanosleep(&ts, &ts) == unix.EINTR {
				}
			}
			binary.LittleEndian.PutUint64(buf, uint64(i))
			binary.LittleEndian.PutUint64(buf[8:], uint64(time.Since(epoch)))
			for unix.Sendto(fd, buf, 0, sa) == unix.ENOBUFS {
				time.Sleep(100 * time.Microsecond)
			}
		}
	}()
	wg.Wait()
}

// quantile of the returned round trips (sorted copy), q in [0, 1].
func quantiles(d []time.Duration, qs ...float64) []time.Duration {
	s := make([]time.Duration, 0, len(d))
	for _, x := range d {
		if x >= 0 {
			s = append(s, x)
		}
	}
	slices.Sort(s)
	out := make([]time.Duration, len(qs))
	if len(s) == 0 {
		return out
	}
	for i, q := range qs {
		out[i] = s[min(len(s)-1, int(q*float64(len(s))))]
	}
	return out
}

func ms(d time.Duration) string { return fmt.Sprintf("%.3f ms", float64(d)/1e6) }

// arrivals is what a one-way stream's receiver saw.
type arrivals struct {
	sent   int
	at     []time.Duration // arrival of each sequence number's first copy, -1 = lost
	oneWay []time.Duration // its one-way delay (sender and receiver share this process's clock)
	copies int
	size   int
}

func (a arrivals) received() int {
	n := 0
	for _, x := range a.at {
		if x >= 0 {
			n++
		}
	}
	return n
}

// stream sends n datagrams of size bytes at pps from the client to the
// server side and records the arrivals.
func stream(t *testing.T, l *Link, n, size, pps int, wait time.Duration) arrivals {
	t.Helper()
	srv := udpSocket(t, l, netns.Server, l.ServerAddr, 9100)
	cli := udpSocket(t, l, netns.Client, l.ClientAddr, 9101)
	a := arrivals{sent: n, at: make([]time.Duration, n), oneWay: make([]time.Duration, n), size: size}
	for i := range a.at {
		a.at[i] = -1
	}
	epoch := time.Now()
	var done atomic.Bool
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		endpointThread()
		buf := make([]byte, 65536)
		for !done.Load() {
			m, _, err := unix.Recvfrom(srv, buf, 0)
			if err != nil || m < probeHeader {
				continue
			}
			now := time.Since(epoch)
			i := int(binary.LittleEndian.Uint64(buf))
			if i < 0 || i >= n {
				continue
			}
			if a.at[i] >= 0 {
				a.copies++
				continue
			}
			a.at[i] = now
			a.oneWay[i] = now - time.Duration(binary.LittleEndian.Uint64(buf[8:]))
		}
	}()
	send(cli, netip.AddrPortFrom(l.ServerAddr, 9100), n, size, pps, epoch)
	time.Sleep(wait)
	done.Store(true)
	wg.Wait()
	return a
}
