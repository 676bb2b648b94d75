package bench

import (
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/fleetwire/fleetwire/codec/ack"
)

// serverAckInterval is fleetwire serve's default --ack-interval, which the
// runner does not change: at most one #stored per device this often,
// sooner for its first, at half its window and after its end-of-stream.
const serverAckInterval = ack.DefaultInterval

// fleet names what makes runs comparable on one link: the same devices,
// rate, channels and length. Choices (transport x codec x batch) differ.
func (s *Scenario) fleet() string {
	f := fmt.Sprintf("%d devices at %g samples/s of %d readings, ", s.Devices, s.Rate, s.Channels)
	switch {
	case s.Samples > 0 && s.Duration > 0:
		f += fmt.Sprintf("%d samples or %v", s.Samples, s.Duration)
	case s.Samples > 0:
		f += fmt.Sprintf("%d samples", s.Samples)
	default:
		f += s.Duration.String()
	}
	if s.UDPSockets > 0 {
		f += fmt.Sprintf(", %d UDP sockets", s.UDPSockets)
	}
	return f
}

// choice is what a fleet picks: transport x codec x batch, and the
// session mode when it is not persistent.
func (s *Scenario) choice() string {
	c := fmt.Sprintf("%s %s b%d", s.Transport, s.Codec, s.Batch)
	if m := s.SessionMode(); m != SessionPersistent {
		c += " " + m
	}
	if s.KeepAlive > 0 {
		c += " keep-alive " + s.KeepAlive.String()
	}
	return c
}

// lostOnAny reports whether scenario id lost readings on any engine it
// ran on.
func (r *Report) lostOnAny(id string) bool {
	for i := range r.Results {
		if x := &r.Results[i]; x.ok() && x.Scenario.ID() == id && x.Figures.Lost != 0 {
			return true
		}
	}
	return false
}

// writeCheapest: per link profile and comparable fleet, the cheapest
// choice in wire bytes per delivered reading with zero loss, and overall
// (gnet runs; zero loss on every engine the scenario ran on).
func (r *Report) writeCheapest(w io.Writer) {
	type key struct{ profile, fleet string }
	var keys []key
	runs := map[key][]*Result{}
	for _, s := range r.scenarios() {
		x := r.find(s.ID(), "gnet")
		if x == nil || !x.ok() || s.Rate == 0 || x.Figures.Delivered == 0 {
			continue
		}
		k := key{s.Profile, s.fleet()}
		if _, ok := runs[k]; !ok {
			keys = append(keys, k)
		}
		runs[k] = append(runs[k], x)
	}
	var rows [][]string
	for _, k := range keys {
		xs := runs[k]
		if len(xs) < 2 {
			continue
		}
		zero, best := r.cheapest(xs, func(x *Result) float64 { return x.Figures.WirePerReading })
		z := []string{"none of " + strconv.Itoa(len(xs)), "-"}
		if zero != nil {
			z = []string{"**" + zero.Scenario.choice() + "**", f2(zero.Figures.WirePerReading)}
		}
		rows = append(rows, []string{k.profile, k.fleet, strconv.Itoa(len(xs)), z[0], z[1],
			best.Scenario.choice(), f2(best.Figures.WirePerReading), pct(best.Figures.LossPct)})
	}
	if len(rows) == 0 {
		return
	}
	fmt.Fprintln(w, "## Headline: the cheapest choice per link")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Per link profile, among runs of the same fleet (devices, rate, readings per sample, length), the choice of transport x codec x batch with the fewest wire bytes per delivered reading (both directions, headers included) that lost no reading on any engine it ran on, and the cheapest whatever it lost. Gnet runs; every run of the suite is in the tables below.")
	fmt.Fprintln(w)
	table(w, []string{"link", "fleet", "choices", "cheapest with 0 lost", "wire B", "cheapest overall", "wire B", "its loss"}, rows)
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// plain returns the run of s's transport without acknowledgements, same
// codec, batch, fleet and link, on engine e; nil if there is none.
func (r *Report) plain(s *Scenario, e string) *Result {
	for i := range r.Results {
		x := &r.Results[i]
		p := &x.Scenario
		if x.Engine == e && x.ok() && !p.Acked() && p.Transport == s.Wire() && p.Codec == s.Codec && p.Batch == s.Batch && p.SessionMode() == s.SessionMode() &&
			p.Profile == s.Profile && p.fleet() == s.fleet() {
			return x
		}
	}
	return nil
}

// writeAck: every run with acknowledged delivery beside the same fleet's
// run without.
func (r *Report) writeAck(w io.Writer) {
	var rows [][]string
	var opts []string
	for i := range r.Results {
		x := &r.Results[i]
		s, f := &x.Scenario, &x.Figures
		if !s.Acked() || !x.ok() || f.Ack == nil {
			continue
		}
		a := f.Ack
		o := fmt.Sprintf("window %d samples, minimum resend timeout %s, wait after end-of-stream %gs", a.Window, secs(a.MinRTOMs), a.DrainSecs)
		if !slices.Contains(opts, o) {
			opts = append(opts, o)
		}
		plainB, more := "-", "-"
		if p := r.plain(s, x.Engine); p != nil {
			plainB = f2(p.Figures.WirePerReading)
			more = signedPct(100 * (f.WirePerReading/p.Figures.WirePerReading - 1))
		}
		rows = append(rows, []string{s.ID(), x.Engine, strconv.FormatUint(f.Sent, 10), strconv.FormatUint(f.Delivered, 10), strconv.FormatInt(f.Lost, 10),
			f2(f.WireUpPerReading), f2(f.WireDownPerReading), f2(f.WirePerReading), plainB, more,
			strconv.FormatUint(a.Acked, 10), strconv.FormatUint(a.Resent, 10), strconv.FormatUint(a.ResentBytes, 10), strconv.FormatUint(f.Duplicates, 10),
			strconv.FormatUint(a.AckBytes, 10), f1(a.AcksPerDevice), strconv.FormatUint(a.GivenUp, 10),
			fmt.Sprintf("%d (%d)", a.UnackedAtEnd, a.DrainTimeout), secs(a.LatencyP50Ms) + " / " + secs(a.LatencyP99Ms) + " / " + secs(a.LatencyMaxMs)})
	}
	if len(rows) == 0 {
		return
	}
	fmt.Fprintln(w, "## Acknowledged delivery: tcp+ack and udp+ack")
	fmt.Fprintln(w)
	fmt.Fprintf(w, "A +ack run is `fleetwire load --ack` against `fleetwire serve --sink files` (a #stored acknowledges only what the file sink wrote and fsynced) at the server's default ack interval (%v: one #stored per device at most that often, sooner for its first, at half its window and after its end-of-stream). The devices ran with %s. Sent is every reading the devices generated (acked + given up + unacknowledged at the end); delivered is what the file sink stored (`sink.stored`: a resent sample is not stored twice); lost = sent - delivered. Wire bytes count both directions at the server's sockets, resends and #stored included. Beside each, the same fleet on the same link without acknowledgements.\n\n",
		serverAckInterval, strings.Join(opts, "; "))
	table(w, []string{"scenario", "engine", "sent", "delivered (sink)", "lost", "wire up B", "wire down B", "wire B", "wire B without ack", "ack costs",
		"acked", "resent readings", "resent B", "dup at server", "#stored B received", "#stored per device", "given up", "unacked at end (devices)", "ack latency p50 / p99 / max"}, rows)
}

func secs(ms float64) string { return strconv.FormatFloat(ms/1000, 'f', 1, 64) + " s" }

func signedPct(v float64) string {
	if v >= 0 {
		return "+" + f1(v) + " %"
	}
	return f1(v) + " %"
}

// ackTarget is one of the acknowledged-delivery targets (bench/results/2026-12-06-acked/notes.md).
type ackTarget struct {
	name    string
	profile string
	// ack and base pick the two runs compared (compact, batch 10, same
	// fleet, gnet).
	ack, base string
	// check says whether the target is met and gives the figures.
	check func(ack, base *Result) (bool, string)
}

var ackTargets = []ackTarget{
	{
		name: "5 % loss, compact, batch 10: udp+ack loses 0 readings at <= 60 % of tcp's wire bytes per delivered reading", profile: "loss-5",
		ack: "udp+ack", base: "tcp",
		check: func(a, b *Result) (bool, string) {
			fa, fb := &a.Figures, &b.Figures
			ratio := fa.WirePerReading / fb.WirePerReading
			return fa.Lost == 0 && ratio <= 0.60, fmt.Sprintf("udp+ack lost %d of %d readings; %s B / %s B = %.1f %% of tcp's wire bytes per delivered reading",
				fa.Lost, fa.Sent, f2(fa.WirePerReading), f2(fb.WirePerReading), 100*ratio)
		},
	},
	{
		name: "clean link, compact, batch 10: udp+ack costs <= 5 % more wire bytes per reading than udp", profile: "clean",
		ack: "udp+ack", base: "udp",
		check: func(a, b *Result) (bool, string) {
			fa, fb := &a.Figures, &b.Figures
			more := 100 * (fa.WirePerReading/fb.WirePerReading - 1)
			return more <= 5, fmt.Sprintf("%s B against %s B: %s", f2(fa.WirePerReading), f2(fb.WirePerReading), signedPct(more))
		},
	},
}

// writeAckTargets checks the targets against this run's figures and,
// where one is missed, says why from the same counters.
func (r *Report) writeAckTargets(w io.Writer) {
	var lines []string
	for _, t := range ackTargets {
		for _, p := range r.targetPairs(t) {
			a, b := p[0], p[1]
			ok, figs := t.check(a, b)
			verdict := "**met**"
			if !ok {
				verdict = "**missed**"
			}
			lines = append(lines, fmt.Sprintf("- %s: %s. %s (%s beside %s, gnet).", t.name, verdict, figs, a.Scenario.ID(), b.Scenario.ID()))
			if !ok {
				lines = append(lines, r.whyMissed(a, b)...)
			}
		}
	}
	if len(lines) == 0 {
		return
	}
	fmt.Fprintln(w, "## Targets: acknowledged delivery")
	fmt.Fprintln(w)
	fmt.Fprintln(w, strings.Join(lines, "\n"))
	fmt.Fprintln(w)
}

// targetPairs finds t's pairs of runs: compact, batch 10, on t.profile,
// the same fleet, gnet; one pair per acked run (a suite may run the same
// fleet with several windows or drains).
func (r *Report) targetPairs(t ackTarget) [][2]*Result {
	var pairs [][2]*Result
	for i := range r.Results {
		x := &r.Results[i]
		s := &x.Scenario
		if x.Engine != "gnet" || !x.ok() || s.Transport != t.ack || s.Profile != t.profile || s.Codec != "compact" || s.Batch != 10 {
			continue
		}
		for j := range r.Results {
			y := &r.Results[j]
			p := &y.Scenario
			if y.Engine == "gnet" && y.ok() && p.Transport == t.base && p.Profile == t.profile && p.Codec == "compact" && p.Batch == 10 && p.fleet() == s.fleet() {
				pairs = append(pairs, [2]*Result{x, y})
				break
			}
		}
	}
	return pairs
}

// whyMissed explains, from the counters of acked run a and run b, where
// a's extra bytes and its lost readings come from.
func (r *Report) whyMissed(a, b *Result) []string {
	fa, fb, ack := &a.Figures, &b.Figures, a.Figures.Ack
	s := &a.Scenario
	var out []string
	if fa.Lost > 0 {
		l := fmt.Sprintf("  - Lost: %d readings never reached the sink.", fa.Lost)
		if ack.GivenUp == 0 && uint64(fa.Lost) <= ack.UnackedAtEnd {
			// Acknowledged readings are stored and none was given up: a
			// lost reading was still held by its device at the end.
			l += fmt.Sprintf(" No device gave any up, so each of them was still held by its device when its wait for acknowledgements after end-of-stream (%gs) ran out: %d devices ran out holding %d readings, of which the sink held %d that no #stored reaching the device had covered.",
				ack.DrainSecs, ack.DrainTimeout, ack.UnackedAtEnd, ack.UnackedAtEnd-uint64(fa.Lost))
		} else {
			l += fmt.Sprintf(" Given up by devices whose window was full: %d; held at the end: %d.", ack.GivenUp, ack.UnackedAtEnd)
		}
		l += fmt.Sprintf(" Resends: %d readings in %d frames, %d of them already stored (dup at server); ack latency p99 %s, max %s; minimum resend timeout %s, doubled with each resend of a flight.",
			ack.Resent, ack.ResentFr, fa.Duplicates, secs(ack.LatencyP99Ms), secs(ack.LatencyMaxMs), secs(ack.MinRTOMs))
		out = append(out, l)
	}
	if b.Scenario.Transport != s.Wire() {
		out = append(out, fmt.Sprintf("  - Bytes: %s up + %s down = %s B per reading with acknowledgements, %s up + %s down = %s B for %s.",
			f2(fa.WireUpPerReading), f2(fa.WireDownPerReading), f2(fa.WirePerReading), f2(fb.WireUpPerReading), f2(fb.WireDownPerReading), f2(fb.WirePerReading), b.Scenario.Transport))
		return out
	}
	// Same transport without acks: split the extra bytes.
	each := div(float64(ack.AckBytesSent+udpHeaders*ack.AckWrites), float64(ack.AckWrites))
	out = append(out, fmt.Sprintf("  - The extra %s B per reading: %s B downlink (%d #stored datagrams, %.1f per device, %.1f B each with its %d B of headers) and %s B uplink (%d hello prefixes until a device's first #stored, %d resent readings).",
		f2(fa.WirePerReading-fb.WirePerReading), f2(fa.WireDownPerReading-fb.WireDownPerReading), ack.AckWrites, ack.AcksPerDevice, each, udpHeaders,
		f2(fa.WireUpPerReading-fb.WireUpPerReading), ack.HelloPrefix, ack.Resent))
	if ack.AckWrites > 0 && s.Rate > 0 && s.Duration > 0 {
		perSec := s.Rate * float64(s.Channels)
		// The server acks at its interval, or sooner once half the
		// device's window waits: whichever comes first.
		every, why := serverAckInterval, "the server's default ack interval"
		if half := time.Duration(float64(ack.Window) / (2 * s.Rate) * float64(time.Second)); ack.Window > 0 && half < every {
			every, why = half, fmt.Sprintf("half the device's %d-sample window at %g samples/s, sooner than the server's %v interval", ack.Window, s.Rate, serverAckInterval)
		}
		steady := each / (every.Seconds() * perSec)
		share := 100 * steady / fb.WirePerReading
		l := fmt.Sprintf("  - One #stored of %.1f B per %v (%s) to a device sending %g readings/s is %.1f / (%g x %g) = %s B per reading, %s of %s's %s B",
			each, every, why, perSec, each, every.Seconds(), perSec, f2(steady), pct(share), b.Scenario.Transport, f2(fb.WirePerReading))
		if share > 5 {
			l += fmt.Sprintf(": the steady state alone misses the target, whatever the length of the run. One such #stored every %.1f s would be 5 %%.", each/(0.05*fb.WirePerReading*perSec))
		} else {
			l += ": the steady state alone meets the target; the first #stored and those after the end-of-stream make the difference."
		}
		l += fmt.Sprintf(" Over the %v run each device got %.1f #stored, against %.1f at one per %v.", s.Duration, ack.AcksPerDevice, s.Duration.Seconds()/every.Seconds(), every)
		out = append(out, l)
	}
	return out
}
