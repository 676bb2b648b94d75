package bench

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

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

// StatNs is user+sys from /proc/<pid>/stat in ns (10 ms resolution).
func (s CPUSample) StatNs() int64 { return (s.UserTicks + s.SysTicks) * (1e9 / clockTick) }

// ReadCPU sums every thread's on-CPU ns and timeslices (fields 1 and 3
// of /proc/<pid>/task/<tid>/schedstat) and reads utime and stime of
// /proc/<pid>/stat.
func ReadCPU(pid int) (CPUSample, error) {
	var c CPUSample
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return c, err
	}
	if c.UserTicks, c.SysTicks, err = parseStatTimes(b); err != nil {
		return c, fmt.Errorf("/proc/%d/stat: %w", pid, err)
	}
	tasks, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/schedstat", pid))
	if err != nil {
		return c, err
	}
	for _, t := range tasks {
		b, err := os.ReadFile(t)
		if err != nil {
			continue // the thread exited between the glob and the read
		}
		f := strings.Fields(string(b))
		if len(f) < 3 {
			continue
		}
		n, err1 := strconv.ParseInt(f[0], 10, 64)
		k, err2 := strconv.ParseInt(f[2], 10, 64)
		if err1 != nil || err2 != nil {
			return c, fmt.Errorf("%s: %q", t, b)
		}
		c.SchedNs += n
		c.Slices += k
	}
	return c, nil
}

// parseStatTimes returns utime and stime of a /proc/<pid>/stat line. The
// command name (field 2) may hold spaces and parentheses, so fields are
// counted from the last ')'.
func parseStatTimes(b []byte) (utime, stime int64, err error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, 0, fmt.Errorf("no ')' in %q", b)
	}
	f := strings.Fields(string(b[i+1:]))
	// f[0] is field 3 (state): utime is field 14, stime 15.
	if len(f) < 13 {
		return 0, 0, fmt.Errorf("short stat line %q", b)
	}
	if utime, err = strconv.ParseInt(f[11], 10, 64); err != nil {
		return 0, 0, err
	}
	if stime, err = strconv.ParseInt(f[12], 10, 64); err != nil {
		return 0, 0, err
	}
	return utime, stime, nil
}

// Memory is VmRSS and VmHWM (peak) of /proc/<pid>/status, in bytes.
type Memory struct {
	RSS int64 `json:"rss_bytes"`
	HWM int64 `json:"hwm_bytes"`
}

// ReadMemory reads VmRSS and VmHWM of /proc/<pid>/status.
func ReadMemory(pid int) (Memory, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return Memory{}, err
	}
	return parseStatus(b)
}

func parseStatus(b []byte) (Memory, error) {
	var m Memory
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok || (k != "VmRSS" && k != "VmHWM") {
			continue
		}
		f := strings.Fields(v)
		if len(f) != 2 || f[1] != "kB" {
			return m, fmt.Errorf("status %s: %q", k, v)
		}
		n, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return m, fmt.Errorf("status %s: %w", k, err)
		}
		if k == "VmRSS" {
			m.RSS = n << 10
		} else {
			m.HWM = n << 10
		}
	}
	if m.RSS == 0 {
		return m, fmt.Errorf("status: no VmRSS")
	}
	return m, nil
}

// SNMP is /proc/net/snmp as "Proto.Field" -> value.
type SNMP map[string]int64

// ReadSNMP reads /proc/<pid>/net/snmp: the counters of pid's network
// namespace.
func ReadSNMP(pid int) (SNMP, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/net/snmp", pid))
	if err != nil {
		return nil, err
	}
	return ParseSNMP(b)
}

// ParseSNMP parses /proc/net/snmp's pairs of header and value lines.
func ParseSNMP(b []byte) (SNMP, error) {
	m := SNMP{}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	for i := 0; i+1 < len(lines); i += 2 {
		hp, hdr, ok1 := strings.Cut(lines[i], ":")
		vp, val, ok2 := strings.Cut(lines[i+1], ":")
		if !ok1 || !ok2 || hp != vp {
			return nil, fmt.Errorf("snmp: unpaired lines %q / %q", lines[i], lines[i+1])
		}
		names, vals := strings.Fields(hdr), strings.Fields(val)
		if len(names) != len(vals) {
			return nil, fmt.Errorf("snmp %s: %d names, %d values", hp, len(names), len(vals))
		}
		for j, n := range names {
			v, err := strconv.ParseInt(vals[j], 10, 64)
			if err != nil {
				return nil, fmt.Errorf("snmp %s.%s: %w", hp, n, err)
			}
			m[hp+"."+n] = v
		}
	}
	return m, nil
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

// parseNetDev returns the counters of every interface in a /proc/net/dev.
func parseNetDev(b []byte) (map[string]IfCounters, error) {
	m := map[string]IfCounters{}
	for i, line := range strings.Split(string(b), "\n") {
		if i < 2 || strings.TrimSpace(line) == "" {
			continue
		}
		name, rest, ok := strings.Cut(line, ":")
		if !ok {
			return nil, fmt.Errorf("net/dev line %d: %q", i+1, line)
		}
		f := strings.Fields(rest)
		if len(f) < 16 {
			return nil, fmt.Errorf("net/dev %s: %d fields", name, len(f))
		}
		var v [16]int64
		for j := range v {
			n, err := strconv.ParseInt(f[j], 10, 64)
			if err != nil {
				return nil, fmt.Errorf("net/dev %s: %w", name, err)
			}
			v[j] = n
		}
		m[strings.TrimSpace(name)] = IfCounters{RxBytes: v[0], RxPackets: v[1], RxDropped: v[3], TxBytes: v[8], TxPackets: v[9], TxDropped: v[11]}
	}
	return m, nil
}
