package bench

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"time"

	"github.com/prometheus/procfs"

	"github.com/fleetwire/fleetwire/bench/linkemu"
	"github.com/fleetwire/fleetwire/bench/netns"
)

// link is where a scenario's two processes run and how the runner reaches
// and observes them: the host's loopback, a private namespace with only a
// loopback, or a veth pair between two namespaces (bench/netns).
type link interface {
	// command runs name inside side's namespace ("server" or "client").
	command(side, name string, args ...string) *exec.Cmd
	// serverHost is the address the server listens on and the
	// generator targets.
	serverHost() string
	// dial reaches addr from inside the server's namespace (the HTTP API).
	dial(ctx context.Context, network, addr string) (net.Conn, error)
	// snmp reads /proc/net/snmp of the server's namespace; hostWide says
	// it is the host's, shared with every other process.
	snmp() (s SNMP, hostWide bool, err error)
	// ifs reads the veth ends' counters; nil, nil without a veth.
	ifs() (client, server *IfCounters, err error)
	// ports returns TCP, UDP, TLS and HTTP ports free in the server's
	// namespace.
	ports() ([4]int, error)
	describe() string
	close() error
}

// radioLink is a link that can watch the client's radio-on time, the
// bursts of its packets (bench/linkemu's RadioStats): the emulated links.
type radioLink interface {
	watchRadio(gap time.Duration)
	radio() linkemu.RadioStats
}

// hostLoopback runs both processes on the host's 127.0.0.1.
type hostLoopback struct{}

func (hostLoopback) command(_, name string, args ...string) *exec.Cmd {
	return exec.Command(name, args...)
}
func (hostLoopback) serverHost() string { return "127.0.0.1" }
func (hostLoopback) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	var d net.Dialer
	return d.DialContext(ctx, network, addr)
}
func (hostLoopback) snmp() (SNMP, bool, error) {
	s, err := ReadSNMP(os.Getpid()) // /proc/net/snmp: this process's namespace, the host's
	return s, true, err
}
func (hostLoopback) ifs() (*IfCounters, *IfCounters, error) { return nil, nil, nil }
func (hostLoopback) describe() string {
	return "host loopback 127.0.0.1 (shared with the machine's other processes: SNMP deltas are host-wide)"
}
func (hostLoopback) close() error { return nil }

// ports binds port 0 for each and hands the numbers back: another process
// could take one before the server binds it; the server then fails to
// start and the run reports it.
func (hostLoopback) ports() ([4]int, error) {
	var p [4]int
	var closers []func() error
	defer func() {
		for _, c := range closers {
			_ = c()
		}
	}()
	for i := range p {
		var port int
		if i == 1 {
			pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
			if err != nil {
				return p, err
			}
			closers = append(closers, pc.Close)
			port = pc.LocalAddr().(*net.UDPAddr).Port
		} else {
			ln, err := net.Listen("tcp4", "127.0.0.1:0")
			if err != nil {
				return p, err
			}
			closers = append(closers, ln.Close)
			port = ln.Addr().(*net.TCPAddr).Port
		}
		p[i] = port
	}
	return p, nil
}

// nsLoopback is a network namespace of our own with only lo up: both
// processes inside, nothing else on the machine shares its counters or
// ports.
type nsLoopback struct{ name string }

func newNSLoopback(ctx context.Context) (*nsLoopback, error) {
	l := &nsLoopback{name: fmt.Sprintf("fwbench-%d-lo", os.Getpid())}
	if out, err := exec.CommandContext(ctx, "ip", "netns", "add", l.name).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("ip netns add %s: %w: %s", l.name, err, out)
	}
	if out, err := exec.CommandContext(ctx, "ip", "-n", l.name, "link", "set", "lo", "up").CombinedOutput(); err != nil {
		_ = l.close()
		return nil, fmt.Errorf("ip -n %s link set lo up: %w: %s", l.name, err, out)
	}
	return l, nil
}

func (l *nsLoopback) command(_, name string, args ...string) *exec.Cmd {
	return exec.Command("ip", append([]string{"netns", "exec", l.name, name}, args...)...)
}
func (l *nsLoopback) serverHost() string { return "127.0.0.1" }
func (l *nsLoopback) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	return netns.DialInNS(ctx, l.name, network, addr)
}
func (l *nsLoopback) snmp() (SNMP, bool, error) {
	var s SNMP
	err := netns.ProcInNS(l.name, func(t procfs.Proc) (err error) {
		s, err = readSNMP(t)
		return err
	})
	return s, false, err
}
func (l *nsLoopback) ifs() (*IfCounters, *IfCounters, error) { return nil, nil, nil }
func (l *nsLoopback) ports() ([4]int, error)                 { return [4]int{7070, 7071, 7443, 7080}, nil }
func (l *nsLoopback) describe() string {
	return "loopback inside a private network namespace (" + l.name + ", only lo): no other traffic in its counters"
}
func (l *nsLoopback) close() error {
	if out, err := exec.Command("ip", "netns", "del", l.name).CombinedOutput(); err != nil {
		return fmt.Errorf("ip netns del %s: %w: %s", l.name, err, out)
	}
	return nil
}

func hostPort(host string, port int) string { return net.JoinHostPort(host, strconv.Itoa(port)) }
