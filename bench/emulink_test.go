package bench

import (
	"context"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestEmuLink opens an emulated profile through openProfile, pings the
// server side from the client side through the emulator, and reads the
// emulator's counters back as the ends' interface counters.
func TestEmuLink(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("not root: emulated links need network namespaces and TUN devices")
	}
	if _, err := exec.LookPath("ping"); err != nil {
		t.Skip("missing ping (apt-get install -y iputils-ping)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	l, err := openProfile(ctx, "lte-emu")
	if err != nil {
		t.Fatal(err)
	}
	defer l.close()
	if _, ok := l.(*emuLink); !ok || !strings.Contains(l.describe(), "lte-emu") {
		t.Fatalf("openProfile(lte-emu) = %T: %s", l, l.describe())
	}
	out, err := l.command("client", "ping", "-n", "-c", "5", "-i", "0.2", l.serverHost()).CombinedOutput()
	if err != nil && !strings.Contains(string(out), " received") {
		t.Fatalf("ping: %v\n%s", err, out)
	}
	// lte-emu: 30 ms ± 5 ms each way, so no reply under 50 ms.
	for _, m := range regexp.MustCompile(`time=([0-9.]+) ms`).FindAllStringSubmatch(string(out), -1) {
		if v, _ := strconv.ParseFloat(m[1], 64); v < 50 {
			t.Errorf("reply after %v ms through a 60 ms link:\n%s", v, out)
		}
	}
	cli, srv, err := l.ifs()
	if err != nil || cli.TxPackets != 5 || srv.RxPackets+srv.LossDropped+srv.QdiscDrops != 5 {
		t.Fatalf("ifs: client %+v server %+v %v", cli, srv, err)
	}
	if _, hostWide, err := l.snmp(); err != nil || hostWide {
		t.Fatalf("snmp: %v %v", hostWide, err)
	}
	t.Logf("%s\n%s", l.describe(), out)
	// A bench/netns profile still opens through the same call.
	if _, err := openProfile(ctx, "no-such-profile"); err == nil || !strings.Contains(err.Error(), "netns") {
		t.Errorf("unknown profile: %v", err)
	}
}
