package plan

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

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
