package plan

import (
	"os"
	"testing"

	"github.com/fleetwire/fleetwire/bench"
)

func TestParseUDPDrops(t *testing.T) {
	b := []byte(`   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops
  120: 0100007F:1B9F 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 9001 2 0000000000000000 17
  121: 0100007F:1B9F 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 9002 2 0000000000000000 3
  122: 0100007F:1BA0 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 9003 2 0000000000000000 99
`)
	// 0x1B9F = 7071: two SO_REUSEPORT sockets on it.
	if drops, n, err := parseUDPDrops(b, 7071); err != nil || drops != 20 || n != 2 {
		t.Fatalf("got %d drops over %d sockets, %v", drops, n, err)
	}
	if drops, n, _ := parseUDPDrops(b, 9999); drops != 0 || n != 0 {
		t.Fatalf("got %d over %d for an unused port", drops, n)
	}
}

func TestParseCores(t *testing.T) {
	b := []byte("cpu  10 0 10 100 0 0 0 0 0 0\ncpu0 300 5 80 266 6 1 9 2 0 0\ncpu1 1 1 1 1 1 1 1 1 0 0\nintr 1 2\n")
	m, err := parseCores(b, []int{0})
	// busy = user+nice+system+irq+softirq = 300+5+80+1+9; total adds idle, iowait, steal.
	if err != nil || len(m) != 1 || m[0] != (coreTimes{Busy: 395, Steal: 2, Total: 669}) {
		t.Fatalf("%+v %v", m, err)
	}
}

func TestParseFDLimit(t *testing.T) {
	f := func(in string, want int, ok bool) {
		t.Helper()
		n, err := parseFDLimit([]byte(in))
		if (err == nil) != ok || n != want {
			t.Fatalf("%q: %d %v", in, n, err)
		}
	}
	f("Limit  Soft  Hard  Units\nMax open files            20000                20000                files\n", 20000, true)
	f("Max open files  unlimited unlimited files\n", 1<<30, true)
	f("Max processes 10 10 processes\n", 0, false)
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
	if s, err := bench.ReadSNMP(pid); err != nil || len(s) == 0 {
		t.Fatalf("snmp %v", err)
	}
}

func TestParseSoftnet(t *testing.T) {
	b := []byte("021ee161 00000eb3 00000001 00000000\n061e5019 00000010 00000000 00000000\n")
	if n, err := parseSoftnet(b); err != nil || n != 0xeb3+0x10 {
		t.Fatalf("%d %v", n, err)
	}
}
