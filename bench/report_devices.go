package bench

import (
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"
)

// A device-profile scenario (its group's name starts with "device") is
// a fleet of duty-cycled devices: each reports every Batch/Rate, one
// frame of Batch samples, so Batch x Channels readings per report.

func (s *Scenario) isDevice() bool { return strings.HasPrefix(s.Name, "device") && s.Rate > 0 }

// radioGap is the silence that ends a radio burst (bench/linkemu): half
// the report interval, at most 5 s, the order of a cellular modem's
// inactivity timer; 0 (no watch) for other scenarios.
func (s *Scenario) radioGap() time.Duration {
	if !s.isDevice() {
		return 0
	}
	return min(5*time.Second, s.reportInterval()/2)
}

// steadyRadio keeps the radio bursts of the steady state: those that
// began from one report interval after the send phase started (every
// device has made its first report, its connect behind it) to one
// interval before the sending ended (a device sends its end-of-stream
// right after its last report, in the same burst).
func (s *Scenario) steadyRadio(c *Counters) {
	if c.Radio == nil {
		return
	}
	t0 := c.Gen.Started.Add(time.Duration(c.Gen.ConnectSeconds * float64(time.Second)))
	iv := s.reportInterval()
	*c.Radio = c.Radio.Between(t0.Add(iv), t0.Add(s.Duration-iv))
}

// steadyReports is how many reports the devices made in steadyRadio's
// window: each device one per interval but its first and its last,
// exactly when the duration is a whole number of intervals (the devices'
// phases are spread over the first), on average otherwise.
func steadyReports(x *Result) float64 {
	s := &x.Scenario
	iv := s.reportInterval()
	if iv <= 0 {
		return 0
	}
	return float64(x.Counters.Gen.DevicesConnected) * (float64(s.Duration)/float64(iv) - 2)
}

func (s *Scenario) reportInterval() time.Duration {
	return time.Duration(float64(s.Batch) / s.Rate * float64(time.Second)).Round(time.Millisecond)
}

// device names the profile: its interval and readings per report.
func (s *Scenario) device() string {
	return fmt.Sprintf("every %v, %d readings", s.reportInterval(), s.Batch*s.Channels)
}

// linkPerReading is what crossed the link per delivered reading, both
// ways: the link's counters when the profile has them (netns veth, the
// emulator's TUN; handshakes, teardowns, keep-alives, retransmissions
// and acknowledgements all included), else the server's socket figures.
func linkPerReading(x *Result) float64 {
	f := &x.Figures
	if f.VethUpPerReading != nil && f.VethDownPerReading != nil {
		return *f.VethUpPerReading + *f.VethDownPerReading
	}
	return f.WirePerReading
}

// cheapest returns the result with the fewest bytes that lost nothing on
// any engine it ran on, and the one with the fewest bytes whatever it
// lost; xs is sorted by bytes on return.
func (r *Report) cheapest(xs []*Result, bytes func(*Result) float64) (zero, best *Result) {
	slices.SortStableFunc(xs, func(a, b *Result) int { return cmpFloat(bytes(a), bytes(b)) })
	for _, x := range xs {
		if !r.lostOnAny(x.Scenario.ID()) {
			zero = x
			break
		}
	}
	return zero, xs[0]
}

// deviceBytes is what the device table ranks choices by: the steady
// state's bytes per delivered reading when the emulated link watched the
// radio (the bursts of the steady window: devices x (duration /
// interval - 1) reports of batch x channels readings, less the run's
// loss), else the whole run's link bytes per delivered reading, connects
// and ends included.
func deviceBytes(x *Result) float64 {
	r := x.Counters.Radio
	n := steadyReports(x) * float64(x.Scenario.Batch*x.Scenario.Channels) * (1 - x.Figures.LossPct/100)
	if r == nil || r.Bytes == 0 || n <= 0 { // Bytes: not in reports written before it was counted
		return linkPerReading(x)
	}
	return float64(r.Bytes) / n
}

// radioOn is the radio-on figures of x: from the emulated link's watch
// when it had one (every packet, both ways: wakes per report, radio-on
// time per report and per burst), else the generator's own measure
// (per report, its side only; no wakes).
func radioOn(x *Result) (wakes, perReport, p50, p99 string) {
	ms := func(d float64) string { return strconv.FormatFloat(d/1e6, 'f', 1, 64) }
	if r := x.Counters.Radio; r != nil && r.Bursts > 0 {
		reports := steadyReports(x)
		if reports <= 0 {
			return "-", "-", ms(float64(r.P50)), ms(float64(r.P99))
		}
		return strconv.FormatFloat(float64(r.Bursts)/reports, 'f', 2, 64), ms(float64(r.Total) / reports),
			ms(float64(r.P50)), ms(float64(r.P99))
	}
	s := x.Counters.Gen.Session
	if s == nil || s.RadioOn.Count == 0 {
		return "-", "-", "-", "-"
	}
	return "-", ms(s.RadioOn.MeanUs * 1000), ms(float64(s.RadioOn.P50Us) * 1000), ms(float64(s.RadioOn.P99Us) * 1000)
}

// writeDevices: the device-profile table, every choice per device and
// link, then the cheapest with zero loss and the cheapest in bytes.
func (r *Report) writeDevices(w io.Writer) {
	type key struct{ device, link string }
	var keys []key
	runs := map[key][]*Result{}
	for _, s := range r.scenarios() {
		x := r.find(s.ID(), "gnet")
		if !s.isDevice() || x == nil || !x.ok() || x.Figures.Delivered == 0 {
			continue
		}
		k := key{s.device(), s.Profile}
		if _, ok := runs[k]; !ok {
			keys = append(keys, k)
		}
		runs[k] = append(runs[k], x)
	}
	if len(keys) == 0 {
		return
	}
	fmt.Fprintln(w, "## Device profiles")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Duty-cycled devices: each reports every *interval* one frame of *batch* samples (so the batch is fixed by the profile: N = batch x channels readings per report). The choices are transport x codec x session mode: *persistent* keeps one connection (UDP: one socket, the NAT binding kept); *per-report* connects for each report (TCP: SYN, hello, frame, FIN both ways; TLS: a full handshake too; UDP: a new socket, a new source port, the binding lost), *per-report+resume* resumes the TLS session from a ticket. **link B** is what crossed the link per delivered reading in the steady state, both directions, counted by the emulated link packet by packet (IP bytes: handshakes, teardowns, retransmissions, acknowledgements and keep-alives are in it): the bytes of the radio bursts described next, over the readings of the reports in their window less the run's loss. It is what a device that runs for months pays; *run link B* beside it is the whole run's, the device's connect, hello, end-of-stream and FIN included, from the link's counters (on bench/netns links, which have no radio watch, it is the only one). **Radio on** is counted by the emulated link, which sees every packet of the device both ways (bench/linkemu, `radio` in results.json): a *burst* runs from the device's first packet (sent) to its last (received) and ends after a silence of half the report interval, at most 5 s; each burst is a *wake*. Only the steady state counts: the bursts that began from one report interval after the sending started (each device's connect and first report behind it) until one interval before it ended (a device sends its end-of-stream right after its last report, in the same burst); *wakes per report* and *radio on per report* divide them and their summed time by the reports the devices made in that window (devices x (duration / interval - 2)). Keep-alives and an acknowledgement that arrives after the device went quiet are wakes of their own. A modem's inactivity tail after the last packet (its RRC timer) is the same for every choice and is not in the figures. On the bench/netns links (no emulator) the figures are the generator's own, per report and from its side only. Gnet runs.")
	fmt.Fprintln(w)
	bytes := deviceBytes
	var rows, best [][]string
	for _, k := range keys {
		xs := runs[k]
		zero, least := r.cheapest(xs, bytes)
		for _, x := range xs {
			wakes, perReport, p50, p99 := radioOn(x)
			var connects string
			if s := x.Counters.Gen.Session; s != nil {
				connects = strconv.FormatUint(s.Connects, 10)
			}
			rows = append(rows, []string{k.device, k.link, x.Scenario.choice(), f2(bytes(x)), f2(linkPerReading(x)), f2(x.Figures.WirePerReading),
				pct(x.Figures.LossPct), wakes, perReport, p50, p99, connects})
		}
		z := []string{"none of " + strconv.Itoa(len(xs)), "-"}
		if zero != nil {
			z = []string{"**" + zero.Scenario.choice() + "**", f2(bytes(zero))}
		}
		best = append(best, []string{k.device, k.link, strconv.Itoa(len(xs)), z[0], z[1],
			least.Scenario.choice(), f2(bytes(least)), pct(least.Figures.LossPct)})
	}
	fmt.Fprintln(w, "### The cheapest choice per device and link")
	fmt.Fprintln(w)
	table(w, []string{"device", "link", "choices", "cheapest with 0 lost", "link B", "least bytes", "link B", "its loss"}, best)
	fmt.Fprintln(w, "### Every choice")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "*server B* is the server socket's figure over the whole run (wire B of the tables below: TCP_INFO segments x 52 + bytes, datagrams x 28 + bytes), a cross-check of *run link B*; *connects* counts per-report connections (TCP/TLS) or sockets opened for a report (UDP, binding lost), the end-of-stream's own included.")
	fmt.Fprintln(w)
	table(w, []string{"device", "link", "choice", "link B", "run link B", "server B", "loss", "wakes per report", "radio on per report ms", "burst p50 ms", "burst p99 ms", "connects"}, rows)
	if !slices.ContainsFunc(r.scenarios(), func(s Scenario) bool { return s.isDevice() && s.reportInterval() >= 10*time.Minute }) {
		fmt.Fprintln(w, "**A device that reports every 10 minutes** is not run (it needs runs of 20 minutes or more); it is scaled from the runs above. A per-report exchange does not depend on how long the device slept, so per-report TCP/TLS and UDP with its binding lost cost per reading and per report what they cost here. A persistent UDP device that sleeps 10 minutes has lost its NAT binding anyway (typical UDP binding timeouts are 30 s to a few minutes): it is the per-report UDP row. A persistent TCP/TLS device behind NAT must keep its binding alive: at keep-alive interval K it adds 600/K probes and their ACKs per report (about 2 x 52 B each at TCP/IP headers, `--keepalive` in `fleetwire load`), i.e. 600/K x 104 B / N per reading on top of its row here, and its radio wakes for each.")
	}
	fmt.Fprintln(w)
}
