//go:build !race

package linkemu

import (
	"math"
	"strconv"
	"testing"
	"time"

	"github.com/fleetwire/fleetwire/bench/netns"
)

// TestLoss sends 100,000 datagrams through a link with 1 % random loss
// and checks the loss the receiver sees is within 0.2 percentage points
// of it (6.4 standard deviations of the binomial: a false alarm once in
// 10^10 runs), and that every packet the emulator did not drop arrived.
// Then the same through Gilbert-Elliott loss (2 %, bursts of 4).
func TestLoss(t *testing.T) {
	const n, size, pps = 100_000, 64, 25_000
	f := func(name string, loss Loss, bound float64) {
		t.Helper()
		l := setup(t, Config{Name: name, Up: Dir{Loss: loss}})
		a := stream(t, l, n, size, pps, 300*time.Millisecond)
		up, _ := l.Counters()
		got := a.received()
		t.Logf("%s: up: %s", name, up)
		if out, err := l.Command(netns.Client, "ip", "-s", "link", "show", Iface).CombinedOutput(); err == nil {
			t.Logf("%s: client TUN: %s", name, out)
		}
		if up.Received != uint64(n) || up.Delivered != uint64(got) || a.copies != 0 {
			t.Fatalf("%s: sent %d, emulator read %d and delivered %d, receiver got %d (+%d copies): loss outside the emulator spoils the measurement",
				name, n, up.Received, up.Delivered, got, a.copies)
		}
		lossPct := 100 * float64(n-got) / n
		bursts, run, lostRun := 0, 0, 0
		for _, x := range a.at {
			if x < 0 {
				run++
				continue
			}
			if run > 0 {
				bursts++
				lostRun += run
				run = 0
			}
		}
		burst := float64(lostRun) / float64(max(1, bursts))
		t.Logf("%s: %d of %d lost: %.3f %% (set %.3g %%, bound ±%.2f pp), mean burst %.2f (model %.2f)",
			name, n-got, n, lossPct, loss.MeanPct(), bound, burst, loss.MeanBurst())
		if math.Abs(lossPct-loss.MeanPct()) > bound {
			t.Errorf("%s: loss %.3f %% is more than %.2f pp from %.3g %%", name, lossPct, bound, loss.MeanPct())
		}
		if loss.GE && math.Abs(burst-loss.MeanBurst()) > 0.25*loss.MeanBurst() {
			t.Errorf("%s: mean burst %.2f, model %.2f", name, burst, loss.MeanBurst())
		}
	}
	f("loss-1pct", RandomLoss(1), 0.2)
	// Gilbert-Elliott losses come in runs, so the count varies more than
	// a binomial's: the variance is about (1+λ)/(1-λ) times larger, with
	// λ = 1-P-R = 0.745 here (σ ≈ 0.115 pp); the bound is 5σ.
	f("ge-2pct-burst4", GilbertElliott(2, 4), 0.58)
}

// TestRate offers 1.3 times the rate for 2 s and checks the rate the
// receiver sees while the queue is never empty is within 2 % of the
// setting (IP bytes, as the limiter counts), that the queue dropped the
// excess, and that no packet was scheduled to wait longer than the queue
// holds.
func TestRate(t *testing.T) {
	f := func(kbit float64, size, queue int) {
		t.Helper()
		ip := size + 28 // UDP and IPv4 headers
		pps := int(math.Ceil(1.3 * kbit * 1000 / 8 / float64(ip)))
		n := 2 * pps
		name := "rate-" + formatKbit(kbit)
		l := setup(t, Config{Name: name, Up: Dir{RateKbit: kbit, QueueBytes: queue}})
		a := stream(t, l, n, size, pps, time.Duration(float64(queue*8)/kbit*float64(time.Millisecond))+300*time.Millisecond)
		up, _ := l.Counters()
		t.Logf("%s: up: %s", name, up)
		var first, last time.Duration = -1, -1
		var bytes, got int
		var maxDelay time.Duration
		for i, x := range a.at {
			if x < 0 {
				continue
			}
			got++
			maxDelay = max(maxDelay, a.oneWay[i])
			// Window: from the first arrival to the last one sent
			// while the sender was still offering more than the rate.
			if first < 0 {
				first = x
				continue
			}
			last = x
			bytes += ip
		}
		if first < 0 || last <= first || up.QueueDropped == 0 {
			t.Fatalf("%s: %d arrivals, queue drops %d: the link was not saturated", name, got, up.QueueDropped)
		}
		rate := float64(bytes) * 8 / (last - first).Seconds() / 1000
		drain := time.Duration(float64(queue*8) / kbit * float64(time.Millisecond))
		t.Logf("%s: offered %d pps of %d B IP for 2 s; received %d; %.3f kbit/s over %s (set %g, %+.3f %%); queue dropped %d; longest scheduled stay %s, longest one-way delay seen %s (queue drains in %s)",
			name, pps, ip, got, rate, (last - first).Round(time.Millisecond), kbit, 100*(rate-kbit)/kbit, up.QueueDropped, ms(up.SojournMax), ms(maxDelay), ms(drain))
		if math.Abs(rate-kbit) > 0.02*kbit {
			t.Errorf("%s: rate %.3f kbit/s is more than 2 %% from %g", name, rate, kbit)
		}
		// The queue holds at most its size: no packet may be scheduled
		// to stay longer than the queue takes to drain (the emulator's
		// own figure; the one-way delay the receiver saw adds the host's
		// stalls and is logged only).
		if up.SojournMax > drain+time.Microsecond { // +1 µs: ns rounding
			t.Errorf("%s: a packet was scheduled to wait %s, longer than the %d B queue takes to drain (%s)",
				name, ms(up.SojournMax), queue, ms(drain))
		}
	}
	f(62.5, 200, 4<<10) // NB-IoT uplink
	f(2000, 1000, 64<<10)
	f(20000, 1400, 64<<10)
}

func formatKbit(k float64) string { return strconv.FormatFloat(k, 'f', -1, 64) + "kbit" }
