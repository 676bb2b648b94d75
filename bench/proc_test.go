package bench

import (
	"os"
	"testing"

	"github.com/fleetwire/fleetwire/internal/procfixture"
)

func TestReadCPU_Fixture(t *testing.T) {
	// A command name with spaces and parentheses; utime 300, stime 12.
	stat := "99 (a) b (c)) R 1 99 99 0 -1 0 0 0 0 0 300 12 0 0 20 0 8 0 100 0 0 18446744073709551615 0 0 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0\n"
	pfs := procfixture.FS(t, map[string]string{
		"99/stat":                stat,
		"99/task/99/schedstat":   "1000 50 7\n",
		"99/task/100/schedstat":  "2500 10 3\n",
		"99/task/101/.gone-here": "", // a thread that exited: no schedstat
	})
	c, err := readCPU(pfs, 99)
	if err != nil {
		t.Fatal(err)
	}
	if want := (CPUSample{SchedNs: 3500, Slices: 10, UserTicks: 300, SysTicks: 12}); c != want {
		t.Fatalf("got %+v, want %+v", c, want)
	}
	if c.StatNs() != 312*10_000_000 {
		t.Fatalf("StatNs %d", c.StatNs())
	}
}

func TestReadMemory_Fixture(t *testing.T) {
	pfs := procfixture.FS(t, map[string]string{
		"7/status": "Name:\tx\nVmHWM:\t  2048 kB\nVmRSS:\t  1024 kB\nThreads:\t4\n",
		"8/status": "Name:\tzombie\nThreads:\t1\n",
	})
	m, err := readMemory(pfs, 7)
	if err != nil || m.RSS != 1<<20 || m.HWM != 2<<20 {
		t.Fatalf("%+v %v", m, err)
	}
	if _, err := readMemory(pfs, 8); err == nil {
		t.Fatal("status without VmRSS accepted")
	}
}

func TestReadSNMP_Fixture(t *testing.T) {
	pfs := procfixture.FS(t, map[string]string{
		"5/net/snmp": "Tcp: RtoAlgorithm RtoMin MaxConn RetransSegs\nTcp: 1 200 -1 7\n" +
			"Udp: InDatagrams RcvbufErrors InErrors\nUdp: 100 3 4\n",
	})
	p, err := pfs.Proc(5)
	if err != nil {
		t.Fatal(err)
	}
	s, err := readSNMP(p)
	if err != nil {
		t.Fatal(err)
	}
	want := SNMP{"Tcp.RtoAlgorithm": 1, "Tcp.RtoMin": 200, "Tcp.MaxConn": -1, "Tcp.RetransSegs": 7,
		"Udp.InDatagrams": 100, "Udp.RcvbufErrors": 3, "Udp.InErrors": 4}
	if len(s) != len(want) {
		t.Fatalf("got %v, want %v", s, want)
	}
	for k, v := range want {
		if s[k] != v {
			t.Fatalf("%s: got %d, want %d (%v)", k, s[k], v, s)
		}
	}
	d := SNMP{"Udp.InErrors": 10}.Sub(SNMP{"Udp.InErrors": 4})
	if d["Udp.InErrors"] != 6 {
		t.Fatalf("sub %v", d)
	}
}

func TestReadProc_Self(t *testing.T) {
	pid := os.Getpid()
	if c, err := ReadCPU(pid); err != nil || c.SchedNs <= 0 {
		t.Fatalf("no CPU time: %+v %v", c, err)
	}
	if m, err := ReadMemory(pid); err != nil || m.RSS <= 0 {
		t.Fatalf("%+v %v", m, err)
	}
	if s, err := ReadSNMP(pid); err != nil || len(s) == 0 {
		t.Fatalf("snmp %v %v", s, err)
	}
}
