package bench

import (
	"errors"
	"fmt"
	"io/fs"
	"reflect"
	"sync"
	"syscall"

	"github.com/prometheus/procfs"
)

// procFS is /proc, opened once; tests read fixture trees through the
// unexported readers that take an FS.
var procFS = sync.OnceValues(procfs.NewDefaultFS)

// CPUSample is a process's CPU time at one moment, from two counters:
// SchedNs sums the on-CPU time of every thread (field 1 of
// /proc/<pid>/task/<tid>/schedstat, ns, the sum_exec_runtime that the
// kernel scales utime and stime from) and UserTicks/SysTicks are
// /proc/<pid>/stat fields 14 and 15 (clock ticks of 10 ms here). Slices
// is field 3 of the same schedstat files: how many times the threads were
// switched onto a CPU (wake-ups and preemptions), what an event loop pays
// per epoll round.
type CPUSample struct {
	SchedNs   int64 `json:"sched_ns"`
	Slices    int64 `json:"timeslices"`
	UserTicks int64 `json:"user_ticks"`
	SysTicks  int64 `json:"sys_ticks"`
}

// clockTick is USER_HZ: the unit of /proc/<pid>/stat times. Linux fixes it
// at 100 on every architecture Go runs on.
const clockTick = 100

// Sub returns the CPU used between o and s.
func (s CPUSample) Sub(o CPUSample) CPUSample {
	return CPUSample{SchedNs: s.SchedNs - o.SchedNs, Slices: s.Slices - o.Slices, UserTicks: s.UserTicks - o.UserTicks, SysTicks: s.SysTicks - o.SysTicks}
}

// Add returns s + o.
func (s CPUSample) Add(o CPUSample) CPUSample {
	return CPUSample{SchedNs: s.SchedNs + o.SchedNs, Slices: s.Slices + o.Slices, UserTicks: s.UserTicks + o.UserTicks, SysTicks: s.SysTicks + o.SysTicks}
}

// StatNs is user+sys from /proc/<pid>/stat in ns (10 ms resolution).
func (s CPUSample) StatNs() int64 { return (s.UserTicks + s.SysTicks) * (1e9 / clockTick) }

// ReadCPU sums every thread's on-CPU ns and timeslices (fields 1 and 3
// of /proc/<pid>/task/<tid>/schedstat) and reads utime and stime of
// /proc/<pid>/stat.
func ReadCPU(pid int) (CPUSample, error) {
	pfs, err := procFS()
	if err != nil {
		return CPUSample{}, err
	}
	return readCPU(pfs, pid)
}

func readCPU(pfs procfs.FS, pid int) (CPUSample, error) {
	var c CPUSample
	p, err := pfs.Proc(pid)
	if err != nil {
		return c, err
	}
	st, err := p.Stat()
	if err != nil {
		return c, fmt.Errorf("/proc/%d/stat: %w", pid, err)
	}
	c.UserTicks, c.SysTicks = int64(st.UTime), int64(st.STime)
	threads, err := pfs.AllThreads(pid)
	if err != nil {
		return c, err
	}
	for _, t := range threads {
		ss, err := t.Schedstat()
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ESRCH) {
			continue // the thread exited between the listing and the read
		}
		if err != nil {
			return c, fmt.Errorf("/proc/%d/task/%d/schedstat: %w", pid, t.PID, err)
		}
		c.SchedNs += int64(ss.RunningNanoseconds)
		c.Slices += int64(ss.RunTimeslices)
	}
	return c, nil
}

// Memory is VmRSS and VmHWM (peak) of /proc/<pid>/status, in bytes.
type Memory struct {
	RSS int64 `json:"rss_bytes"`
	HWM int64 `json:"hwm_bytes"`
}

// ReadMemory reads VmRSS and VmHWM of /proc/<pid>/status.
func ReadMemory(pid int) (Memory, error) {
	pfs, err := procFS()
	if err != nil {
		return Memory{}, err
	}
	return readMemory(pfs, pid)
}

func readMemory(pfs procfs.FS, pid int) (Memory, error) {
	p, err := pfs.Proc(pid)
	if err != nil {
		return Memory{}, err
	}
	st, err := p.NewStatus()
	if err != nil {
		return Memory{}, err
	}
	if st.VmRSS == 0 {
		return Memory{}, fmt.Errorf("/proc/%d/status: no VmRSS", pid)
	}
	return Memory{RSS: int64(st.VmRSS), HWM: int64(st.VmHWM)}, nil
}

// SNMP is /proc/net/snmp as "Proto.Field" -> value.
type SNMP map[string]int64

// ReadSNMP reads /proc/<pid>/net/snmp: the counters of pid's network
// namespace.
func ReadSNMP(pid int) (SNMP, error) {
	pfs, err := procFS()
	if err != nil {
		return nil, err
	}
	p, err := pfs.Proc(pid)
	if err != nil {
		return nil, err
	}
	return readSNMP(p)
}

// readSNMP reads net/snmp of p, a process or a thread: a thread's is
// that of the namespace the thread is in.
func readSNMP(p procfs.Proc) (SNMP, error) {
	s, err := p.Snmp()
	if err != nil {
		return nil, err
	}
	return snmpMap(&s), nil
}

// snmpMap flattens procfs's sections (Ip, Icmp, IcmpMsg, Tcp, Udp,
// UdpLite, named as in the file) into "Proto.Field" keys; a counter the
// kernel does not have is left out.
func snmpMap(s *procfs.ProcSnmp) SNMP {
	m := SNMP{}
	v := reflect.ValueOf(s).Elem()
	for i := range v.NumField() {
		sf := v.Type().Field(i)
		if !sf.Anonymous || sf.Type.Kind() != reflect.Struct {
			continue // PID
		}
		sec := v.Field(i)
		for j := range sec.NumField() {
			if p, ok := sec.Field(j).Interface().(*float64); ok && p != nil {
				m[sf.Name+"."+sec.Type().Field(j).Name] = int64(*p)
			}
		}
	}
	return m
}

// Sub returns s - o for every key of s.
func (s SNMP) Sub(o SNMP) SNMP {
	d := SNMP{}
	for k, v := range s {
		d[k] = v - o[k]
	}
	return d
}

// IfCounters are one interface's /proc/net/dev counters. Bytes include
// each frame's 14-byte Ethernet header on a veth.
type IfCounters struct {
	RxBytes   int64 `json:"rx_bytes"`
	RxPackets int64 `json:"rx_packets"`
	RxDropped int64 `json:"rx_dropped"`
	TxBytes   int64 `json:"tx_bytes"`
	TxPackets int64 `json:"tx_packets"`
	TxDropped int64 `json:"tx_dropped"`
	// Netns links only: packets the loss rule dropped as they arrived at
	// this end, and packets the tbf shaping the direction that arrives
	// here dropped.
	LossDropped int64 `json:"loss_rule_dropped"`
	QdiscDrops  int64 `json:"qdisc_dropped"`
}

// Sub returns c - o.
func (c IfCounters) Sub(o IfCounters) IfCounters {
	return IfCounters{RxBytes: c.RxBytes - o.RxBytes, RxPackets: c.RxPackets - o.RxPackets, RxDropped: c.RxDropped - o.RxDropped,
		TxBytes: c.TxBytes - o.TxBytes, TxPackets: c.TxPackets - o.TxPackets, TxDropped: c.TxDropped - o.TxDropped,
		LossDropped: c.LossDropped - o.LossDropped, QdiscDrops: c.QdiscDrops - o.QdiscDrops}
}
