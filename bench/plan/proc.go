package plan

import (
	"math"
	"strconv"
	"sync"

	"github.com/prometheus/procfs"
)

// procFS is /proc, opened once; tests read fixture trees through the
// unexported readers that take an FS.
var procFS = sync.OnceValues(procfs.NewDefaultFS)

// countFDs counts /proc/<pid>/fd entries.
func countFDs(pid int) (int, error) {
	p, err := proc(pid)
	if err != nil {
		return 0, err
	}
	return p.FileDescriptorsLen()
}

// fdLimit is the soft "Max open files" of /proc/<pid>/limits;
// "unlimited" counts as 1<<30.
func fdLimit(pid int) (int, error) {
	p, err := proc(pid)
	if err != nil {
		return 0, err
	}
	return openFilesLimit(p)
}

func openFilesLimit(p procfs.Proc) (int, error) {
	l, err := p.Limits()
	if err != nil {
		return 0, err
	}
	if l.OpenFiles > 1<<30 {
		return 1 << 30, nil // unlimited (procfs: MaxUint64)
	}
	return int(l.OpenFiles), nil
}

func proc(pid int) (procfs.Proc, error) {
	pfs, err := procFS()
	if err != nil {
		return procfs.Proc{}, err
	}
	return pfs.Proc(pid)
}

// udpSocketDrops sums the drops column of the sockets in
// /proc/<pid>/net/udp bound to port: the kernel's count of datagrams it
// discarded for those sockets (receive buffer full), which unlike
// Udp.RcvbufErrors holds no other process's traffic. /proc/<pid>/net is
// the namespace of that process.
func udpSocketDrops(pid, port int) (drops int64, sockets int, err error) {
	// An FS rooted at /proc/<pid>: its net/udp is the process's.
	pfs, err := procfs.NewFS("/proc/" + strconv.Itoa(pid))
	if err != nil {
		return 0, 0, err
	}
	return readUDPDrops(pfs, port)
}

func readUDPDrops(pfs procfs.FS, port int) (drops int64, sockets int, err error) {
	lines, err := pfs.NetUDP()
	if err != nil {
		return 0, 0, err
	}
	for _, l := range lines {
		if l.LocalPort != uint64(port) {
			continue
		}
		if l.Drops != nil {
			drops += int64(*l.Drops)
		}
		sockets++
	}
	return drops, sockets, nil
}

// coreTimes are one CPU's /proc/stat jiffies.
type coreTimes struct {
	Busy, Steal, Total int64
}

// readCores returns /proc/stat's cpuN lines for the CPUs asked.
func readCores(cpus []int) (map[int]coreTimes, error) {
	pfs, err := procFS()
	if err != nil {
		return nil, err
	}
	return readCoresFS(pfs, cpus)
}

func readCoresFS(pfs procfs.FS, cpus []int) (map[int]coreTimes, error) {
	st, err := pfs.Stat()
	if err != nil {
		return nil, err
	}
	// procfs gives seconds (jiffies / USER_HZ, 100): back to jiffies.
	j := func(s float64) int64 { return int64(math.Round(s * 100)) }
	out := map[int]coreTimes{}
	for _, n := range cpus {
		c, ok := st.CPU[int64(n)]
		if !ok {
			continue
		}
		// user nice system idle iowait irq softirq steal
		busy := j(c.User) + j(c.Nice) + j(c.System) + j(c.IRQ) + j(c.SoftIRQ)
		steal := j(c.Steal)
		out[n] = coreTimes{Busy: busy, Steal: steal, Total: busy + j(c.Idle) + j(c.Iowait) + steal}
	}
	return out, nil
}

// softnetDrops sums the dropped column (the second) of
// /proc/net/softnet_stat over the CPUs: packets dropped because a CPU's
// input backlog (net.core.netdev_max_backlog) was full. Host-wide; on
// loopback the backlog is the sender's CPU's.
func softnetDrops() (int64, error) {
	pfs, err := procFS()
	if err != nil {
		return 0, err
	}
	return readSoftnet(pfs)
}

func readSoftnet(pfs procfs.FS) (int64, error) {
	ss, err := pfs.NetSoftnetStat()
	if err != nil {
		return 0, err
	}
	var n int64
	for _, s := range ss {
		n += int64(s.Dropped)
	}
	return n, nil
}
