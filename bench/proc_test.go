package bench

import (
	"os"
	"testing"
)

func TestParseStatTimes(t *testing.T) {
	f := func(line string, user, sys int64) {
		t.Helper()
		u, s, err := parseStatTimes([]byte(line))
		if err != nil || u != user || s != sys {
			t.Fatalf("%q: got %d %d %v, want %d %d", line, u, s, err, user, sys)
		}
	}
	f("1234 (fleetwire) S 1 1234 1234 0 -1 4194560 100 0 0 0 17 5 0 0 20 0 8 0 100 0 0", 17, 5)
	// A command name with spaces and parentheses.
	f("99 (a) b (c)) R 1 99 99 0 -1 0 0 0 0 0 300 12 0 0 20 0", 300, 12)
	if _, _, err := parseStatTimes([]byte("1 (x) S 1 2")); err == nil {
		t.Fatal("short line accepted")
	}
}

func TestReadCPU_Self(t *testing.T) {
	c, err := ReadCPU(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if c.SchedNs <= 0 {
		t.Fatalf("no CPU time: %+v", c)
	}
}

func TestParseStatus(t *testing.T) {
	m, err := parseStatus([]byte("Name:\tx\nVmHWM:\t  2048 kB\nVmRSS:\t  1024 kB\nThreads:\t4\n"))
	if err != nil || m.RSS != 1<<20 || m.HWM != 2<<20 {
		t.Fatalf("%+v %v", m, err)
	}
	if _, err := parseStatus([]byte("Name:\tx\n")); err == nil {
		t.Fatal("status without VmRSS accepted")
	}
}

func TestParseSNMP(t *testing.T) {
	in := "Tcp: RtoMin RetransSegs\nTcp: 200 7\nUdp: InDatagrams RcvbufErrors InErrors\nUdp: 100 3 4\n"
	s, err := ParseSNMP([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	if s["Tcp.RetransSegs"] != 7 || s["Udp.RcvbufErrors"] != 3 || s["Udp.InErrors"] != 4 {
		t.Fatalf("%v", s)
	}
	d := SNMP{"Udp.InErrors": 10}.Sub(SNMP{"Udp.InErrors": 4})
	if d["Udp.InErrors"] != 6 {
		t.Fatalf("sub %v", d)
	}
	if _, err := ParseSNMP([]byte("Tcp: A B\nTcp: 1\n")); err == nil {
		t.Fatal("mismatched line accepted")
	}
}

func TestParseNetDev(t *testing.T) {
	in := `Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo:     100       2    0    0    0     0          0         0      100       2    0    0    0     0       0          0
veth-cli:  1400     10    0    1    0     0          0         0     2800      20    0    3    0     0       0          0
`
	m, err := parseNetDev([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	want := IfCounters{RxBytes: 1400, RxPackets: 10, RxDropped: 1, TxBytes: 2800, TxPackets: 20, TxDropped: 3}
	if m["veth-cli"] != want || m["lo"].TxBytes != 100 {
		t.Fatalf("%+v", m)
	}
}
