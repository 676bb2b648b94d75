package plan

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/fleetwire/fleetwire/bench"
)

// The readers below repeat what bench/proc.go does unexported (readCPU,
// readMemory, parseSNMP): plan measures processes it starts itself, so it
// needs them outside package bench. They fill bench's exported types so
// bench.Compute can turn plan's counters into the same figures a bench
// report shows.

// readCPU sums every thread's on-CPU ns and timeslices (fields 1 and 3 of
// /proc/<pid>/task/<tid>/schedstat) and reads utime/stime of
// /proc/<pid>/stat.
func readCPU(pid int) (bench.CPUSample, error) {
	var c bench.CPUSample
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

// parseStatTimes returns fields 14 and 15 (utime, stime) of a
// /proc/<pid>/stat line, counting from the last ')' because the command
// name may hold spaces and parentheses.
func parseStatTimes(b []byte) (utime, stime int64, err error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, 0, fmt.Errorf("no ')' in %q", b)
	}
	f := strings.Fields(string(b[i+1:]))
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

// readMemory reads VmRSS and VmHWM of /proc/<pid>/status.
func readMemory(pid int) (bench.Memory, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return bench.Memory{}, err
	}
	return parseStatus(b)
}

func parseStatus(b []byte) (bench.Memory, error) {
	var m bench.Memory
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

// countFDs counts /proc/<pid>/fd entries.
func countFDs(pid int) (int, error) {
	es, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	return len(es), err
}

// fdLimit is the soft "Max open files" of /proc/<pid>/limits.
func fdLimit(pid int) (int, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/limits", pid))
	if err != nil {
		return 0, err
	}
	return parseFDLimit(b)
}

func parseFDLimit(b []byte) (int, error) {
	for _, l := range strings.Split(string(b), "\n") {
		rest, ok := strings.CutPrefix(l, "Max open files")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) < 1 {
			break
		}
		if f[0] == "unlimited" {
			return 1 << 30, nil
		}
		return strconv.Atoi(f[0])
	}
	return 0, fmt.Errorf("limits: no Max open files")
}

// udpSocketDrops sums the drops column (the last) of the sockets in
// /proc/<pid>/net/udp bound to port: the kernel's count of datagrams it
// discarded for those sockets (receive buffer full), which unlike
// Udp.RcvbufErrors holds no other process's traffic. /proc/<pid>/net is
// the namespace of that process.
func udpSocketDrops(pid, port int) (drops int64, sockets int, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/net/udp", pid))
	if err != nil {
		return 0, 0, err
	}
	return parseUDPDrops(b, port)
}

func parseUDPDrops(b []byte, port int) (drops int64, sockets int, err error) {
	want := fmt.Sprintf(":%04X", port)
	for i, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		f := strings.Fields(l)
		if i == 0 || len(f) < 13 {
			continue // header
		}
		if !strings.HasSuffix(f[1], want) {
			continue
		}
		n, err := strconv.ParseInt(f[len(f)-1], 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("net/udp drops %q: %w", f[len(f)-1], err)
		}
		drops += n
		sockets++
	}
	return drops, sockets, nil
}

// readSNMP reads /proc/<pid>/net/snmp: the counters of pid's network
// namespace, as "Proto.Field".
func readSNMP(pid int) (bench.SNMP, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/net/snmp", pid))
	if err != nil {
		return nil, err
	}
	return parseSNMP(b)
}

func parseSNMP(b []byte) (bench.SNMP, error) {
	m := bench.SNMP{}
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

// coreTimes are one CPU's /proc/stat jiffies.
type coreTimes struct {
	Busy, Steal, Total int64
}

// readCores returns /proc/stat's cpuN lines for the CPUs asked.
func readCores(cpus []int) (map[int]coreTimes, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return nil, err
	}
	return parseCores(b, cpus)
}

func parseCores(b []byte, cpus []int) (map[int]coreTimes, error) {
	out := map[int]coreTimes{}
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) < 9 || !strings.HasPrefix(f[0], "cpu") || f[0] == "cpu" {
			continue
		}
		n, err := strconv.Atoi(f[0][3:])
		if err != nil {
			continue
		}
		want := false
		for _, c := range cpus {
			want = want || c == n
		}
		if !want {
			continue
		}
		var v [8]int64
		for i := range v {
			if v[i], err = strconv.ParseInt(f[1+i], 10, 64); err != nil {
				return nil, fmt.Errorf("/proc/stat %s: %w", f[0], err)
			}
		}
		// user nice system idle iowait irq softirq steal
		total := v[0] + v[1] + v[2] + v[3] + v[4] + v[5] + v[6] + v[7]
		out[n] = coreTimes{Busy: total - v[3] - v[4] - v[7], Steal: v[7], Total: total}
	}
	return out, nil
}

// softnetDrops sums the second column of /proc/net/softnet_stat over the
// CPUs: packets dropped because a CPU's input backlog
// (net.core.netdev_max_backlog) was full. Host-wide; on loopback the
// backlog is the sender's CPU's.
func softnetDrops() (int64, error) {
	b, err := os.ReadFile("/proc/net/softnet_stat")
	if err != nil {
		return 0, err
	}
	return parseSoftnet(b)
}

func parseSoftnet(b []byte) (int64, error) {
	var n int64
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		f := strings.Fields(l)
		if len(f) < 2 {
			continue
		}
		v, err := strconv.ParseInt(f[1], 16, 64)
		if err != nil {
			return 0, fmt.Errorf("softnet_stat %q: %w", f[1], err)
		}
		n += v
	}
	return n, nil
}
