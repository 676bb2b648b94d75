package linkemu

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fleetwire/fleetwire/bench/netns"
	"golang.org/x/sys/unix"
)

// Config is a whole link: one Dir per direction. Up is client to server,
// the device's uplink, as in bench/netns.
type Config struct {
	Name     string
	Up, Down Dir
	// MTU of both TUN devices; 0 keeps 1500.
	MTU int
	// Seed makes the random draws (loss, jitter, reorder, duplicate)
	// repeatable; 0 draws a seed (logged, and in Link.Seed).
	Seed uint64
	// MaxInFlight bounds each direction's delay line, in packets; what
	// arrives while it is full is dropped (LineDropped). 0 means 16384.
	MaxInFlight int
	// NoRealtime keeps the emulator's threads at normal priority instead
	// of SCHED_FIFO.
	NoRealtime bool
}

// Validate reports the first parameter out of range.
func (c Config) Validate() error {
	switch {
	case c.Name == "":
		return errors.New("linkemu: config has no name")
	case c.MTU != 0 && (c.MTU < 68 || c.MTU > 65535):
		return fmt.Errorf("linkemu: %s: MTU %d outside [68, 65535]", c.Name, c.MTU)
	case c.MaxInFlight < 0:
		return fmt.Errorf("linkemu: %s: negative MaxInFlight", c.Name)
	}
	if err := c.Up.Validate(); err != nil {
		return fmt.Errorf("linkemu: %s: up: %w", c.Name, err)
	}
	if err := c.Down.Validate(); err != nil {
		return fmt.Errorf("linkemu: %s: down: %w", c.Name, err)
	}
	for _, d := range []Dir{c.Up, c.Down} {
		if d.RateKbit > 0 && d.queue() < c.mtu()+d.Overhead {
			return fmt.Errorf("linkemu: %s: queue %d B is below one packet (%d B)", c.Name, d.queue(), c.mtu()+d.Overhead)
		}
	}
	return nil
}

func (c Config) mtu() int {
	if c.MTU == 0 {
		return 1500
	}
	return c.MTU
}

func (c Config) maxInFlight() int {
	if c.MaxInFlight == 0 {
		return 16384
	}
	return c.MaxInFlight
}

// Iface is the TUN device's name in both namespaces.
const Iface = "emu0"

// Link is one emulated link between two network namespaces. Its methods
// are safe for concurrent use.
type Link struct {
	Config             Config
	ServerNS, ClientNS string
	ServerAddr         netip.Addr
	ClientAddr         netip.Addr
	Seed               uint64

	fds      []int // TUNs and eventfds, closed by Close after the threads end
	radio    atomic.Pointer[radio]
	stop     int
	up, down *pipe
	wg       sync.WaitGroup
	realtime bool
	procs    bool // ensureProcs counted this link

	closeOnce sync.Once
	closeErr  error
}

var seq atomic.Uint32

// Setup creates two namespaces with a TUN device each, addresses them as
// a point-to-point pair and starts the emulator's threads, which run in
// this process (in the caller's namespace; only the TUN fds belong to the
// link's namespaces). Namespaces are named like bench/netns's
// (netns.Prefix + pid + "-emu" + n + "-s|-c"), so netns.CleanupStale
// removes those of a crashed run. On error nothing is left behind.
func Setup(ctx context.Context, c Config) (l *Link, err error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	n := seq.Add(1)
	base := fmt.Sprintf("%s%d-emu%d", netns.Prefix, os.Getpid(), n)
	k := (n - 1) % (1 << 14)
	net4 := [4]byte{10, 214, byte(k >> 6), byte(k&63) << 2}
	l = &Link{
		Config:     c,
		ServerNS:   base + "-s",
		ClientNS:   base + "-c",
		ServerAddr: netip.AddrFrom4([4]byte{net4[0], net4[1], net4[2], net4[3] + 1}),
		ClientAddr: netip.AddrFrom4([4]byte{net4[0], net4[1], net4[2], net4[3] + 2}),
		Seed:       c.Seed,
		stop:       -1,
	}
	if l.Seed == 0 {
		var b [8]byte
		_, _ = rand.Read(b[:])
		l.Seed = binary.LittleEndian.Uint64(b[:]) | 1
	}
	defer func() {
		if err != nil {
			err = errors.Join(fmt.Errorf("linkemu: setup %s: %w", c.Name, err), l.Close())
			l = nil
		}
	}()
	return l, l.build(ctx)
}

func (l *Link) build(ctx context.Context) error {
	c := l.Config
	var tun [2]int // server, client
	for i, ns := range []string{l.ServerNS, l.ClientNS} {
		if _, err := run(ctx, "", "ip", "netns", "add", ns); err != nil {
			return err
		}
		// Before the TUN exists, so it is born without IPv6 and the link
		// carries only what the run sends.
		for _, k := range []string{"default", "all"} {
			if err := netns.InNS(ns, func() error {
				return os.WriteFile("/proc/sys/net/ipv6/conf/"+k+"/disable_ipv6", []byte("1"), 0)
			}); err != nil {
				return err
			}
		}
		var fd int
		if err := netns.InNS(ns, func() (err error) { fd, err = openTUN(Iface); return err }); err != nil {
			return fmt.Errorf("tun in %s: %w", ns, err)
		}
		l.fds = append(l.fds, fd)
		tun[i] = fd
	}
	ends := []struct {
		ns         string
		addr, peer netip.Addr
	}{{l.ServerNS, l.ServerAddr, l.ClientAddr}, {l.ClientNS, l.ClientAddr, l.ServerAddr}}
	for _, e := range ends {
		// txqueuelen sizes the TUN's ring, the packets the kernel
		// holds for the emulator's reader: 16384 is 0.65 s at 25,000
		// packets/s. With 4096 a loss run at that rate once lost 13.7 %
		// of its packets before the emulator read them, on the loaded
		// host.
		batch := fmt.Sprintf("link set lo up\naddr add %s peer %s/32 dev %s\nlink set %s mtu %d txqueuelen 16384 up\n",
			e.addr, e.peer, Iface, Iface, c.mtu())
		if _, err := run(ctx, batch, "ip", "-n", e.ns, "-batch", "-"); err != nil {
			return err
		}
	}
	stop, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		return fmt.Errorf("eventfd: %w", err)
	}
	l.fds = append(l.fds, stop)
	l.stop = stop
	epoch := time.Now()
	log := slog.Default().With("link", c.Name, "seed", l.Seed)
	mk := func(name string, d Dir, in, out int, seed uint64) (*pipe, error) {
		wake, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
		if err != nil {
			return nil, fmt.Errorf("eventfd: %w", err)
		}
		l.fds = append(l.fds, wake)
		return &pipe{
			name: name, in: in, out: out, wake: wake, stop: stop, epoch: epoch,
			s: newSched(d, seed), line: newLine(c.maxInFlight(), c.mtu()+64), mtu: c.mtu(),
			realtime: !c.NoRealtime, rtOK: make(chan bool, 2), log: log,
			radio: &l.radio, up: name == "up",
		}, nil
	}
	// What the client writes to its TUN is the uplink.
	if l.up, err = mk("up", c.Up, tun[1], tun[0], l.Seed); err != nil {
		return err
	}
	if l.down, err = mk("down", c.Down, tun[0], tun[1], l.Seed*0x9e3779b97f4a7c15+1); err != nil {
		return err
	}
	ensureProcs() // undone by Close
	l.procs = true
	l.realtime = true
	for _, p := range []*pipe{l.up, l.down} {
		l.wg.Add(2)
		go p.read(&l.wg)
		go p.deliver(&l.wg)
		for range 2 {
			if !<-p.rtOK {
				l.realtime = false
			}
		}
	}
	log.Info("linkemu: link up", "server", l.ServerNS, "client", l.ClientNS,
		"up", c.Up.String(), "down", c.Down.String(), "realtime", l.realtime)
	return nil
}

// procsPerLink is how many Ps a link's threads may want at once: its four
// locked threads.
const procsPerLink = 4

var (
	procsMu    sync.Mutex
	procsLinks int
	procsOrig  int // GOMAXPROCS before the first live link raised it; 0 = not raised
)

// ensureProcs raises GOMAXPROCS so that every emulator thread of every
// live link can hold a P at the same time. The threads are locked
// and spend their life in ppoll, but each needs a P for the few
// microseconds it runs; with GOMAXPROCS = 2 on this host a thread back
// from ppoll often found both Ps taken (by goroutines whose threads the
// kernel had preempted) and waited: lateness up to 100 ms, p99 round trip
// 139 ms for 50 ms configured. With GOMAXPROCS = 16 the same run had a
// 6 ms worst case. Extra Ps cost nothing while idle. When the last link
// closes, GOMAXPROCS goes back to what it was (releaseProcs).
func ensureProcs() {
	procsMu.Lock()
	defer procsMu.Unlock()
	procsLinks++
	want := runtime.NumCPU() + procsPerLink*procsLinks + 4 // +4: the caller's own goroutines
	if have := runtime.GOMAXPROCS(0); have < want {
		if procsOrig == 0 {
			procsOrig = have
		}
		runtime.GOMAXPROCS(want)
		slog.Info("linkemu: raised GOMAXPROCS so every emulator thread can run at once", "from", have, "to", want)
	}
}

// releaseProcs undoes ensureProcs for one link.
func releaseProcs() {
	procsMu.Lock()
	defer procsMu.Unlock()
	procsLinks--
	if procsLinks == 0 && procsOrig != 0 {
		runtime.GOMAXPROCS(procsOrig)
		procsOrig = 0
	}
}

// Realtime reports whether all of the emulator's threads run SCHED_FIFO.
func (l *Link) Realtime() bool { return l.realtime }

// Counters returns the uplink's and the downlink's counters.
func (l *Link) Counters() (up, down Counters) {
	up, down = l.up.c.snapshot(), l.down.c.snapshot()
	up.Pending, down.Pending = uint64(l.up.line.len()), uint64(l.down.line.len())
	return up, down
}

// WatchRadio starts a watch of the client's radio-on time (radio.go):
// bursts of its packets, a burst ending after gap of silence on its
// flow. A watch already on is replaced, its bursts discarded.
func (l *Link) WatchRadio(gap time.Duration) { l.radio.Store(newRadio(gap, l.up.epoch)) }

// Radio ends the watch and returns its bursts; the zero RadioStats
// without a watch.
func (l *Link) Radio() RadioStats {
	r := l.radio.Swap(nil)
	if r == nil {
		return RadioStats{}
	}
	return r.stats()
}

// Command returns a command that runs name inside side's namespace.
func (l *Link) Command(side netns.Side, name string, args ...string) *exec.Cmd {
	return exec.Command("ip", append([]string{"netns", "exec", l.ns(side), name}, args...)...)
}

// CommandContext is Command with a context that kills the process.
func (l *Link) CommandContext(ctx context.Context, side netns.Side, name string, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", l.ns(side), name}, args...)...)
}

func (l *Link) ns(side netns.Side) string {
	if side == netns.Server {
		return l.ServerNS
	}
	return l.ClientNS
}

// InNS runs fn on a fresh OS thread inside side's namespace: a socket fn
// opens belongs to that namespace, whichever thread uses it later. The
// thread is discarded afterwards.
func (l *Link) InNS(side netns.Side, fn func() error) error { return netns.InNS(l.ns(side), fn) }

// Close stops the emulator's threads, closes the TUNs and deletes both
// namespaces (killing what still runs inside). Idempotent.
func (l *Link) Close() error {
	l.closeOnce.Do(func() {
		var errs []error
		if l.stop >= 0 {
			if _, err := unix.Write(l.stop, []byte{1, 0, 0, 0, 0, 0, 0, 0}); err != nil {
				errs = append(errs, fmt.Errorf("stop: %w", err))
			} else {
				l.wg.Wait()
			}
		}
		for _, fd := range l.fds {
			_ = unix.Close(fd)
		}
		if l.procs {
			releaseProcs()
		}
		for _, ns := range []string{l.ServerNS, l.ClientNS} {
			if err := removeNS(ns); err != nil {
				errs = append(errs, err)
			}
		}
		l.closeErr = errors.Join(errs...)
	})
	return l.closeErr
}
