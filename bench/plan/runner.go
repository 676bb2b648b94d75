package plan

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Options say where a Runner's processes run.
type Options struct {
	Exe     string // the fleetwire binary: `serve` and `load`
	WorkDir string // one directory per step under it, removed after the step
	// ServerCPUs and GenCPUs pin the server and the generator with
	// taskset; nil runs unpinned. The server also gets GOMAXPROCS,
	// --loops and --udp-readers equal to ServerCores, so it uses exactly
	// the cores it is measured against.
	ServerCPUs, GenCPUs []int
	ServerCores         int    // default len(ServerCPUs), else 1
	Sink                string // the server's --sink: files (default) or none
	// UDPSockets > 0 sends UDP through that many shared sockets with
	// sendmmsg: the generator then offers more datagrams per core.
	UDPSockets  int
	ConnectRate float64 // generator --connect-rate (default 20000)
	// SocketDiag: sample the kernel memory of the server's sockets
	// (ss -m, /proc/net/sockstat) at the highest connection count.
	SocketDiag bool
	Drain      time.Duration // how long the server may take to count everything after the generator ends (default 10s)
	// ServerCommand builds the server's command; nil runs
	// `Exe serve`. Tests plant a throttled stub here.
	ServerCommand func(a Addrs) *exec.Cmd
	Logger        *slog.Logger
}

// Addrs are what a server command is given: where to listen and what to
// use.
type Addrs struct {
	TCP, UDP, HTTP string // "" = transport off
	Data           string // a directory of its own
	Cores          int
	Sink           string
}

// Defaults fills the zero fields; it pins when this process may use two
// or more cores and none were given: the server on the first, the
// generator on the second.
func (o *Options) Defaults() error {
	if o.Exe == "" && o.ServerCommand == nil {
		return errors.New("plan: no fleetwire binary")
	}
	if o.WorkDir == "" {
		return errors.New("plan: no work directory")
	}
	if o.ServerCores == 0 {
		o.ServerCores = max(1, len(o.ServerCPUs))
	}
	if o.Sink == "" {
		o.Sink = "files"
	}
	if o.ConnectRate == 0 {
		o.ConnectRate = 20000
	}
	if o.Drain == 0 {
		o.Drain = 10 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return nil
}

// AutoPin pins the server to the first cores cores this process may use
// and the generator to the next one; it leaves both unpinned (and says
// why) when there are not that many.
func (o *Options) AutoPin(cores int) error {
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err != nil {
		return fmt.Errorf("sched_getaffinity: %w", err)
	}
	var cpus []int
	for i := 0; i < 1024; i++ {
		if set.IsSet(i) {
			cpus = append(cpus, i)
		}
	}
	if len(cpus) < cores+1 {
		return fmt.Errorf("%d usable cores: the server's %d and the generator's 1 do not fit", len(cpus), cores)
	}
	o.ServerCPUs, o.GenCPUs, o.ServerCores = cpus[:cores], cpus[cores:cores+1], cores
	return nil
}

// GenCores is how many cores the generator may use.
func (o *Options) GenCores() int {
	if len(o.GenCPUs) > 0 {
		return len(o.GenCPUs)
	}
	return runtime.NumCPU()
}

// Pinning describes the placement for a report.
func (o *Options) Pinning() string {
	if len(o.ServerCPUs) == 0 {
		return fmt.Sprintf("unpinned; server limited to %d core(s) by GOMAXPROCS, --loops, --udp-readers only", o.ServerCores)
	}
	return fmt.Sprintf("server on CPU %s (taskset; GOMAXPROCS=%d, --loops %d, --udp-readers %d), generator on CPU %s (taskset)",
		cpuList(o.ServerCPUs), o.ServerCores, o.ServerCores, o.ServerCores, cpuList(o.GenCPUs))
}

func cpuList(cpus []int) string {
	s := make([]string, len(cpus))
	for i, c := range cpus {
		s[i] = strconv.Itoa(c)
	}
	return strings.Join(s, ",")
}

// Runner measures one Load at a time.
type Runner struct{ o Options }

// NewRunner checks o and fills its defaults.
func NewRunner(o Options) (*Runner, error) {
	if err := o.Defaults(); err != nil {
		return nil, err
	}
	return &Runner{o: o}, nil
}

// Options returns the runner's options with their defaults.
func (r *Runner) Options() Options { return r.o }

func (r *Runner) serverCommand(a Addrs) *exec.Cmd {
	if r.o.ServerCommand != nil {
		return r.o.ServerCommand(a)
	}
	n := strconv.Itoa(a.Cores)
	args := []string{r.o.Exe, "serve", "--engine", "gnet", "--sink", a.Sink, "--data", a.Data, "--log-level", "warn",
		"--http", a.HTTP, "--tcp", a.TCP, "--udp", a.UDP, "--loops", n, "--udp-readers", n,
		// Every device of the generator comes from one address: the
		// per-source bound would drop a fleet of more than 16,384.
		"--max-devices-per-source", "1000000"}
	cmd := pinned(r.o.ServerCPUs, args)
	cmd.Env = append(os.Environ(), "GOMAXPROCS="+n)
	return cmd
}

func pinned(cpus []int, args []string) *exec.Cmd {
	if len(cpus) == 0 {
		return exec.Command(args[0], args[1:]...)
	}
	// taskset execs the command: the PID we get is the command's.
	return exec.Command("taskset", append([]string{"-c", cpuList(cpus)}, args...)...)
}

// freePorts returns a free TCP port for tcp and http and a free UDP port
// by binding port 0 and closing; another process may take one before the
// server binds it, and the step then fails to start and is retried.
func freePorts() (tcp, udp, http int, err error) {
	var ports [3]int
	for i := range ports {
		if i == 1 {
			pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
			if err != nil {
				return 0, 0, 0, err
			}
			ports[i] = pc.LocalAddr().(*net.UDPAddr).Port
			defer pc.Close()
			continue
		}
		ln, err := net.Listen("tcp4", "127.0.0.1:0")
		if err != nil {
			return 0, 0, 0, err
		}
		ports[i] = ln.Addr().(*net.TCPAddr).Port
		defer ln.Close()
	}
	return ports[0], ports[1], ports[2], nil
}

// socketsPerProc is the most sockets the plan gives one generator
// process: below the open-file limit of 20,000 this machine has, with
// room for the process's own descriptors.
const socketsPerProc = 16000

// genArgs is the generator's command line for l against target.
func (r *Runner) genArgs(l *Load, target, jsonPath string) []string {
	args := []string{r.o.Exe, "load", "--" + l.Transport, target, "--devices", strconv.Itoa(l.Devices),
		"--rate", strconv.FormatFloat(l.Rate, 'g', -1, 64), "--batch", strconv.Itoa(l.Batch), "--codec", l.Codec,
		"--channels", strconv.Itoa(l.Channels), "--duration", l.Duration.String(), "--json", jsonPath,
		"--progress", "0", "--log-level", "warn", "--connect-rate", strconv.FormatFloat(r.o.ConnectRate, 'g', -1, 64),
		"--drain-timeout", "5s"}
	if l.Transport == "udp" && r.o.UDPSockets > 0 {
		args = append(args, "--udp-sockets", strconv.Itoa(r.o.UDPSockets))
	}
	if l.Transport == "udp" && r.o.UDPSockets == 0 && l.Devices > socketsPerProc {
		// A socket per device: more than one process may hold.
		args = append(args, "--procs", strconv.Itoa((l.Devices+socketsPerProc-1)/socketsPerProc))
	}
	if l.Ack {
		args = append(args, "--ack", "--ack-drain", "5s")
	}
	return args
}
