package plan

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// KernelSockets is the kernel memory of the server's sockets on its port
// at one moment, from socket diagnostics (ss -m: the skmem of each
// socket), beside the transport's host-wide /proc/net/sockstat.
type KernelSockets struct {
	At      time.Time `json:"at"`
	Sockets int       `json:"sockets"`
	// Bytes sums rmem_alloc (received, not yet read), wmem_queued
	// (written, not yet acknowledged) and forward_alloc (reserved for
	// the socket) over the sockets: what the kernel charges to socket
	// memory, and what tcp_mem bounds. The sock structures themselves
	// (slab) are not in it.
	Bytes   int64 `json:"bytes"`
	RmemMax int64 `json:"rmem_alloc_max"` // the fullest receive queue
	// SockstatPages: /proc/net/sockstat "<TCP|UDP>: ... mem" (pages),
	// host-wide; SockstatBefore the same before the load.
	SockstatPages  int64 `json:"sockstat_mem_pages"`
	SockstatBefore int64 `json:"sockstat_mem_pages_before"`
	// SlabPerSocket: what one more server socket holds in the kernel's
	// slab caches besides its buffers, from /proc/slabinfo object sizes:
	// the sock (TCP), its inode (sock_inode_cache), file (filp), dentry
	// and epoll entry (eventpoll_epi). Derived, not counted: 0 when
	// slabinfo cannot be read.
	SlabPerSocket int64 `json:"slab_bytes_per_socket"`
}

// slabCaches: the slab objects one accepted, polled TCP socket holds.
var slabCaches = []string{"TCP", "sock_inode_cache", "filp", "dentry", "eventpoll_epi"}

// readSlabPerSocket sums the object sizes of slabCaches in
// /proc/slabinfo (readable by root only).
func readSlabPerSocket() (int64, error) {
	b, err := os.ReadFile("/proc/slabinfo")
	if err != nil {
		return 0, err
	}
	return parseSlabPerSocket(string(b))
}

func parseSlabPerSocket(s string) (int64, error) {
	size := map[string]int64{}
	for _, line := range strings.Split(s, "\n") {
		f := strings.Fields(line)
		if len(f) > 3 {
			if n, err := strconv.ParseInt(f[3], 10, 64); err == nil {
				size[f[0]] = n
			}
		}
	}
	var sum int64
	for _, c := range slabCaches {
		n, ok := size[c]
		if !ok {
			return 0, fmt.Errorf("slabinfo: no %s", c)
		}
		sum += n
	}
	return sum, nil
}

var skmemRe = regexp.MustCompile(`skmem:\(r(\d+),rb\d+,t\d+,tb\d+,f(\d+),w(\d+),`)

// readKernelSockets runs ss for the server's sockets on port: TCP
// connections established to it, or UDP sockets bound to it.
func readKernelSockets(ctx context.Context, transport string, port int) (KernelSockets, error) {
	k := KernelSockets{At: time.Now()}
	args := []string{"-tmnH", "state", "established", fmt.Sprintf("( sport = :%d )", port)}
	if transport == "udp" {
		args = []string{"-umnaH", fmt.Sprintf("( sport = :%d )", port)}
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "ss", args...).Output()
	if err != nil {
		return k, fmt.Errorf("ss %s: %w", strings.Join(args, " "), err)
	}
	k.parse(string(out))
	k.SockstatPages, _ = sockstatPages(transport)
	if transport == "tcp" {
		k.SlabPerSocket, _ = readSlabPerSocket()
	}
	return k, nil
}

func (k *KernelSockets) parse(ss string) {
	for _, m := range skmemRe.FindAllStringSubmatch(ss, -1) {
		r, _ := strconv.ParseInt(m[1], 10, 64)
		f, _ := strconv.ParseInt(m[2], 10, 64)
		w, _ := strconv.ParseInt(m[3], 10, 64)
		k.Sockets++
		k.Bytes += r + f + w
		k.RmemMax = max(k.RmemMax, r)
	}
}

// sockstatPages reads the mem field (pages) of the transport's line of
// /proc/net/sockstat.
func sockstatPages(transport string) (int64, error) {
	b, err := os.ReadFile("/proc/net/sockstat")
	if err != nil {
		return 0, err
	}
	return parseSockstat(string(b), strings.ToUpper(transport))
}

func parseSockstat(s, proto string) (int64, error) {
	for _, line := range strings.Split(s, "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || f[0] != proto+":" {
			continue
		}
		for i := 1; i+1 < len(f); i += 2 {
			if f[i] == "mem" {
				return strconv.ParseInt(f[i+1], 10, 64)
			}
		}
	}
	return 0, fmt.Errorf("sockstat: no %s mem", proto)
}
