package plan

import (
	"os"
	"testing"

	"github.com/fleetwire/fleetwire/bench"
	"github.com/fleetwire/fleetwire/internal/procfixture"
)

func TestReadUDPDrops(t *testing.T) {
	pfs := procfixture.FS(t, map[string]string{"net/udp": `   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops
  120: 0100007F:1B9F 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 9001 2 0000000000000000 17
  121: 0100007F:1B9F 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 9002 2 0000000000000000 3
  122: 0100007F:1BA0 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 9003 2 0000000000000000 99
`})
	// 0x1B9F = 7071: two SO_REUSEPORT sockets on it.
	if drops, n, err := readUDPDrops(pfs, 7071); err != nil || drops != 20 || n != 2 {
		t.Fatalf("got %d drops over %d sockets, %v", drops, n, err)
	}
	if drops, n, _ := readUDPDrops(pfs, 9999); drops != 0 || n != 0 {
		t.Fatalf("got %d over %d for an unused port", drops, n)
	}
}

func TestReadCores(t *testing.T) {
	pfs := procfixture.FS(t, map[string]string{"stat": "cpu  10 0 10 100 0 0 0 0 0 0\ncpu0 300 5 80 266 6 1 9 2 0 0\ncpu1 1 1 1 1 1 1 1 1 0 0\n" +
		"intr 1 2\nctxt 10\nbtime 1700000000\nprocesses 5\nprocs_running 1\nprocs_blocked 0\n"})
	m, err := readCoresFS(pfs, []int{0})
	// busy = user+nice+system+irq+softirq = 300+5+80+1+9; total adds idle, iowait, steal.
	if err != nil || len(m) != 1 || m[0] != (coreTimes{Busy: 395, Steal: 2, Total: 669}) {
		t.Fatalf("%+v %v", m, err)
	}
}

func TestReadSoftnet(t *testing.T) {
	pfs := procfixture.FS(t, map[string]string{"net/softnet_stat": "021ee161 00000eb3 00000001 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000\n" +
		"061e5019 00000010 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000001\n"})
	if n, err := readSoftnet(pfs); err != nil || n != 0xeb3+0x10 {
		t.Fatalf("%d %v", n, err)
	}
}

func TestOpenFilesLimit(t *testing.T) {
	const head = "Limit                     Soft Limit           Hard Limit           Units     \n"
	pfs := procfixture.FS(t, map[string]string{
		"1/limits": head + "Max open files            20000                20000                files     \n",
		"2/limits": head + "Max open files            unlimited            unlimited            files     \n",
	})
	f := func(pid, want int) {
		t.Helper()
		p, err := pfs.Proc(pid)
		if err != nil {
			t.Fatal(err)
		}
		if n, err := openFilesLimit(p); err != nil || n != want {
			t.Fatalf("pid %d: %d %v, want %d", pid, n, err, want)
		}
	}
	f(1, 20000)
	f(2, 1<<30)
}

func TestReadProc_Self(t *testing.T) {
	pid := os.Getpid()
	c, err := bench.ReadCPU(pid)
	if err != nil || c.SchedNs <= 0 {
		t.Fatalf("%+v %v", c, err)
	}
	if m, err := bench.ReadMemory(pid); err != nil || m.RSS <= 0 {
		t.Fatalf("%+v %v", m, err)
	}
	if n, err := countFDs(pid); err != nil || n < 3 {
		t.Fatalf("%d fds, %v", n, err)
	}
	if n, err := fdLimit(pid); err != nil || n <= 0 {
		t.Fatalf("fd limit %d, %v", n, err)
	}
	if s, err := bench.ReadSNMP(pid); err != nil || len(s) == 0 {
		t.Fatalf("snmp %v", err)
	}
	if _, err := softnetDrops(); err != nil {
		t.Fatalf("softnet: %v", err)
	}
	if m, err := readCores([]int{0}); err != nil || m[0].Total <= 0 {
		t.Fatalf("cores %+v %v", m, err)
	}
	if _, _, err := udpSocketDrops(pid, 1); err != nil {
		t.Fatalf("udp drops: %v", err)
	}
}
