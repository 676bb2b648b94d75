//go:build !race

package linkemu

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fleetwire/fleetwire/bench/netns"
)

// reportEnv names a directory where TestThirdPartyTools also writes the
// tools' raw output and the emulator's counters, for a dated report.
const reportEnv = "FWLINKEMU_REPORT"

// TestThirdPartyTools measures emulated links with tools nobody here
// wrote, beside the emulator's own counters: ping for the round trip,
// iperf3 (UDP) for random loss and for the rate. Skips without them
// (apt-get install -y iputils-ping iperf3).
func TestThirdPartyTools(t *testing.T) {
	for _, tool := range []string{"ping", "iperf3"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("missing %s (apt-get install -y iputils-ping iperf3)", tool)
		}
	}
	t.Run("ping", testPing)
	t.Run("iperf3-loss", func(t *testing.T) {
		l := setup(t, Config{Name: "iperf3-loss-1pct", Up: Dir{Loss: RandomLoss(1)}})
		before := udpRcvbufErrors(t, l)
		s := iperf3(t, l, "20M", 1000, 4)
		sockDrops := udpRcvbufErrors(t, l) - before
		up, _ := l.Counters()
		emu := 100 * float64(up.LossDropped) / float64(up.Received)
		sigma := 100 * math.Sqrt(0.01*0.99/float64(s.Packets))
		t.Logf("iperf3: %d of %d datagrams lost = %.3f %%; emulator: %d of %d dropped by the loss model = %.3f %% (set 1 %%, binomial σ for %d packets %.3f pp); the server's socket dropped %d (Udp RcvbufErrors)",
			s.Lost, s.Packets, s.LostPct, up.LossDropped, up.Received, emu, s.Packets, sigma, sockDrops)
		t.Logf("emulator up: %s", up)
		report(t, "iperf3-loss-counters.txt", fmt.Sprintf("%s\nup: %s\nserver Udp RcvbufErrors during the run: %d\n", l.Config.Up, up, sockDrops))
		// iperf3's loss is the emulator's plus what the iperf3 server's
		// socket dropped when the loaded host did not run it in time
		// (counted by the kernel, not guessed). The emulator's share
		// must match the setting.
		if s.Packets < 9000 || math.Abs(100*float64(s.Lost-int64(sockDrops))/float64(s.Packets)-1) > 5*sigma {
			t.Errorf("iperf3 saw %d of %d lost, %d of them by its socket: %.3f %% by the link, set 1 %% (5σ = %.3f pp)",
				s.Lost, s.Packets, sockDrops, 100*float64(s.Lost-int64(sockDrops))/float64(s.Packets), 5*sigma)
		}
	})
	t.Run("iperf3-rate", func(t *testing.T) {
		const kbit = 2000
		// A 1 MiB queue (4 s at the rate): iperf3 is not realtime, and on
		// the loaded host its sender stalls and then catches up in
		// bursts; with the default 64 KiB the bursts overflowed the queue
		// while the link idled between them (measured once: 943 kbit/s,
		// 758 of 1319 dropped). The backlog keeps the link busy, which
		// is what a rate measurement needs.
		l := setup(t, Config{Name: "iperf3-rate-2mbit", Up: Dir{RateKbit: kbit, QueueBytes: 1 << 20}})
		s := iperf3(t, l, "2400k", 1000, 4)
		up, _ := l.Counters()
		// iperf3 counts UDP payload; the limiter counts IP bytes (+28).
		ipKbit := s.BitsPerSecond / 1000 * 1028 / 1000
		t.Logf("iperf3 receiver: %d B payload in %.3f s = %.1f kbit/s payload = %.1f kbit/s IP (set %d, %+.2f %%); %d of %d datagrams lost (%.2f %%); emulator queue-dropped %d of %d",
			s.Bytes, s.Seconds, s.BitsPerSecond/1000, ipKbit, kbit, 100*(ipKbit-kbit)/kbit, s.Lost, s.Packets, s.LostPct, up.QueueDropped, up.Received)
		t.Logf("emulator up: %s", up)
		report(t, "iperf3-rate-counters.txt", fmt.Sprintf("%s\nup: %s\n", l.Config.Up, up))
		// 5 %, not TestRate's 2 %: iperf3 is a normal-priority process
		// on a loaded host, and when its sender falters the queue runs
		// empty and the link idles (measured: -0.02 % in quiet runs, -1.8 %
		// in one where the emulator delivered 8 packets fewer). TestRate,
		// with a realtime sender, holds the 2 % bound.
		if math.Abs(ipKbit-kbit) > 0.05*kbit {
			t.Errorf("iperf3 measured %.1f kbit/s IP, more than 5 %% from %d", ipKbit, kbit)
		}
	})
}

// testPing pings across a link with 25 ms each way, 500 echoes at 100/s.
func testPing(t *testing.T) {
	const oneWay = 25 * time.Millisecond
	l := setup(t, Config{Name: "ping-25ms", Up: Dir{Delay: oneWay}, Down: Dir{Delay: oneWay}})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	args := []string{"-n", "-c", "500", "-i", "0.01", "-s", "56", l.ServerAddr.String()}
	out, err := l.CommandContext(ctx, netns.Client, "ping", args...).CombinedOutput()
	report(t, "ping.txt", fmt.Sprintf("$ ip netns exec CLIENT ping %s\n%s", joinArgs(args), out))
	if err != nil {
		t.Fatalf("ping: %v\n%s", err, out)
	}
	var rtts []time.Duration
	for _, m := range regexp.MustCompile(`time=([0-9.]+) ms`).FindAllSubmatch(out, -1) {
		v, _ := strconv.ParseFloat(string(m[1]), 64)
		rtts = append(rtts, time.Duration(v*float64(time.Millisecond)))
	}
	up, down := l.Counters()
	q := quantiles(rtts, 0, 0.5, 0.99, 1)
	summary := regexp.MustCompile(`(?m)^rtt .*$`).Find(out)
	t.Logf("ping: %d replies; %s; per-reply min %s p50 %s p99 %s max %s (configured 50 ms)", len(rtts), summary, ms(q[0]), ms(q[1]), ms(q[2]), ms(q[3]))
	t.Logf("emulator up: %s", up)
	t.Logf("emulator down: %s", down)
	report(t, "ping-counters.txt", fmt.Sprintf("up %s\ndown %s\nup: %s\ndown: %s\nping per-reply min %s p50 %s p99 %s max %s\n",
		l.Config.Up, l.Config.Down, up, down, ms(q[0]), ms(q[1]), ms(q[2]), ms(q[3])))
	if len(rtts) != 500 {
		t.Errorf("%d of 500 replies", len(rtts))
	}
	// ping prints 3 significant digits and is a normal-priority process
	// on a loaded host: its p99 is logged, not asserted (TestDelay holds
	// the p99 bound under a measured host condition). Its minimum and
	// median are asserted.
	if q[0] < 2*oneWay-50*time.Microsecond || q[1] > 2*oneWay+time.Millisecond {
		t.Errorf("ping round trips min %s p50 %s, configured 50 ms", ms(q[0]), ms(q[1]))
	}
}

// iperf3Sum is the receiving server's view of one UDP test.
type iperf3Sum struct {
	Bytes         int64   `json:"bytes"`
	Seconds       float64 `json:"seconds"`
	BitsPerSecond float64 `json:"bits_per_second"`
	Lost          int64   `json:"lost_packets"`
	Packets       int64   `json:"packets"`
	LostPct       float64 `json:"lost_percent"`
	JitterMs      float64 `json:"jitter_ms"`
}

// iperf3 runs one UDP test from the client side to an iperf3 server on
// the server side and returns the receiver's figures.
func iperf3(t *testing.T, l *Link, bitrate string, length, secs int) iperf3Sum {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(secs+20)*time.Second)
	defer cancel()
	srvArgs := []string{"-s", "-1", "-B", l.ServerAddr.String(), "-p", "5201", "--json"}
	srvCtx, srvCancel := context.WithCancel(ctx)
	defer srvCancel()
	srv := l.CommandContext(srvCtx, netns.Server, "iperf3", srvArgs...)
	var srvOut bytes.Buffer
	srv.Stdout, srv.Stderr = &srvOut, &srvOut
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	srvDone := make(chan error, 1)
	go func() { srvDone <- srv.Wait() }()
	// -w 4M: the server's socket buffer, so that it holds what arrives
	// while the loaded host does not run iperf3.
	cliArgs := []string{"-c", l.ServerAddr.String(), "-p", "5201", "-u", "-b", bitrate, "-l", strconv.Itoa(length), "-t", strconv.Itoa(secs), "-w", "4M", "--json"}
	var cliOut []byte
	var err error
	for range 50 { // until the server listens (with --json, iperf3 3.12 may exit 0 on "unable to connect")
		cliOut, err = l.CommandContext(ctx, netns.Client, "iperf3", cliArgs...).CombinedOutput()
		if !bytes.Contains(cliOut, []byte("unable to connect")) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	// The client's JSON carries the server's receive figures
	// (sum_received); the server's own output is kept for the report. A
	// server that does not exit within 5 s is killed, not waited for.
	select {
	case <-srvDone:
	case <-time.After(5 * time.Second):
		srvCancel()
		<-srvDone
	}
	name := l.Config.Name
	report(t, name+"-client.json", fmt.Sprintf("// ip netns exec CLIENT iperf3 %s\n%s", joinArgs(cliArgs), cliOut))
	report(t, name+"-server.json", fmt.Sprintf("// ip netns exec SERVER iperf3 %s\n%s", joinArgs(srvArgs), srvOut.Bytes()))
	if err != nil {
		t.Fatalf("iperf3 client: %v\n%s", err, cliOut)
	}
	// iperf3 3.12 puts the receiver's bytes in sum_received and the loss
	// in both sums.
	var res struct {
		End struct {
			SumReceived iperf3Sum `json:"sum_received"`
		} `json:"end"`
	}
	if err := json.Unmarshal(cliOut, &res); err != nil || res.End.SumReceived.Packets == 0 {
		t.Fatalf("iperf3 client output (no sum_received: %v):\n%s", err, cliOut)
	}
	return res.End.SumReceived
}

func joinArgs(a []string) string {
	var b bytes.Buffer
	for i, s := range a {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(s)
	}
	return b.String()
}

// report writes one file into $FWLINKEMU_REPORT, if set.
func report(t *testing.T, name, content string) {
	dir := os.Getenv(reportEnv)
	if dir == "" {
		return
	}
	if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
		t.Error(err)
	}
}

// udpRcvbufErrors reads Udp RcvbufErrors in the server's namespace.
func udpRcvbufErrors(t *testing.T, l *Link) uint64 {
	t.Helper()
	var b []byte
	if err := l.InNS(netns.Server, func() (err error) {
		b, err = os.ReadFile("/proc/thread-self/net/snmp")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || f[0] != "Udp:" {
			continue
		}
		if names == nil {
			names = f
			continue
		}
		for i, n := range names {
			if n == "RcvbufErrors" && i < len(f) {
				v, _ := strconv.ParseUint(f[i], 10, 64)
				return v
			}
		}
	}
	t.Fatalf("no Udp RcvbufErrors in /proc/net/snmp:\n%s", b)
	return 0
}
