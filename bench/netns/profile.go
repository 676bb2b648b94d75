package netns

import (
	"fmt"
	"math"
	"strings"
)

// Profile describes one emulated link. It is a rate and loss model only:
// this kernel has no netem, so there is no added delay or jitter, and the
// only queueing delay is what a full tbf queue adds at the profile's rate.
//
// Rates are per direction because cellular IoT uplinks and downlinks differ
// (NB-IoT Rel-13: 62.5 kbit/s up, 26 kbit/s down). "Up" is client to server,
// the device's uplink, which carries the readings.
type Profile struct {
	Name        string
	Description string // what it models, for the report
	Source      string // where its numbers come from, for the report

	UpKbit   float64 // client->server rate in kbit/s (1000 bit/s) at L2; 0 = unlimited
	DownKbit float64 // server->client rate in kbit/s; 0 = unlimited

	// BurstBytes is the tbf bucket. 0 means one full frame (MTU+14): a link
	// that never sends faster than its rate, even after being idle.
	BurstBytes int
	// QueueBytes is the tbf limit, per direction: the bounded buffer in
	// front of the bottleneck (a base station's or a modem's) that drops
	// what does not fit. 0 means 64 KiB.
	QueueBytes int

	// LossPct is the random per-packet loss in each direction, 0 <= LossPct < 100.
	LossPct float64

	// MTU of both veth ends; 0 keeps 1500.
	MTU int
}

// ethHeader is what tbf and the interface counters add to every IP packet
// on a veth: skb->len includes the Ethernet header (no FCS, no preamble).
const ethHeader = 14

const (
	defaultMTU   = 1500
	defaultQueue = 64 << 10
)

// Limited reports whether either direction is rate limited.
func (p Profile) Limited() bool { return p.UpKbit > 0 || p.DownKbit > 0 }

func (p Profile) mtu() int {
	if p.MTU == 0 {
		return defaultMTU
	}
	return p.MTU
}

func (p Profile) burst() int {
	if p.BurstBytes == 0 {
		return p.mtu() + ethHeader
	}
	return p.BurstBytes
}

func (p Profile) queue() int {
	if p.QueueBytes == 0 {
		return defaultQueue
	}
	return p.QueueBytes
}

// Validate reports the first parameter that tc, ip or the loss rule would
// reject or silently misapply.
func (p Profile) Validate() error {
	frame := p.mtu() + ethHeader
	switch {
	case p.Name == "":
		return fmt.Errorf("netns: profile has no name")
	case p.UpKbit < 0 || p.DownKbit < 0 || math.IsNaN(p.UpKbit) || math.IsNaN(p.DownKbit):
		return fmt.Errorf("netns: profile %q: negative rate", p.Name)
	case !(p.LossPct >= 0 && p.LossPct < 100):
		return fmt.Errorf("netns: profile %q: LossPct %v outside [0, 100)", p.Name, p.LossPct)
	case p.MTU != 0 && (p.MTU < 68 || p.MTU > 65535):
		return fmt.Errorf("netns: profile %q: MTU %d outside [68, 65535]", p.Name, p.MTU)
	case p.BurstBytes < 0 || p.QueueBytes < 0:
		return fmt.Errorf("netns: profile %q: negative burst or queue", p.Name)
	// tbf drops every packet larger than its bucket, and a queue smaller
	// than one frame drops everything: both are configuration mistakes.
	case p.Limited() && p.burst() < frame:
		return fmt.Errorf("netns: profile %q: burst %d B is below one frame (%d B)", p.Name, p.burst(), frame)
	case p.Limited() && p.queue() < frame:
		return fmt.Errorf("netns: profile %q: queue %d B is below one frame (%d B)", p.Name, p.queue(), frame)
	}
	return nil
}

// String is a one-line summary for logs and reports.
func (p Profile) String() string {
	var b strings.Builder
	b.WriteString(p.Name)
	rate := func(k float64) string {
		if k == 0 {
			return "unlimited"
		}
		return fmt.Sprintf("%gkbit", k)
	}
	fmt.Fprintf(&b, " up=%s down=%s", rate(p.UpKbit), rate(p.DownKbit))
	if p.Limited() {
		fmt.Fprintf(&b, " burst=%dB queue=%dB", p.burst(), p.queue())
	}
	fmt.Fprintf(&b, " loss=%g%% mtu=%d", p.LossPct, p.mtu())
	return b.String()
}

// lossOnly is a profile that only drops packets, for loss sweeps.
func lossOnly(pct float64, name string) Profile {
	return Profile{
		Name:        name,
		Description: fmt.Sprintf("unlimited veth with %g%% random loss per packet in each direction", pct),
		Source:      "sweep point, not a measured link",
		LossPct:     pct,
	}
}

// Profiles returns the named set. The rates of the cellular profiles are
// the sustained peaks that 3GPP Rel-13 device categories allow once
// scheduling gaps are counted; real devices at the cell edge see less.
// Loss figures of the named profiles are assumptions, not measurements:
// cellular radios repair most errors with HARQ (and RLC AM), so residual
// IP loss is small in good coverage; the loss-N profiles sweep the range.
func Profiles() []Profile {
	return []Profile{
		{
			Name:        "clean",
			Description: "veth pair, no rate limit, no loss: the wire without impairment",
			Source:      "baseline",
		},
		{
			Name: "lossy-wifi",
			Description: "802.11n, 20 MHz, one spatial stream at the edge of coverage (MCS1), " +
				"after retries still losing 2% of packets",
			// MCS1 is 13 Mbit/s PHY (IEEE 802.11n-2009 MCS table, 800 ns GI);
			// half of it at the IP layer is an assumption for MAC overhead
			// without aggregation. Half duplex is not modelled: the two
			// directions do not share the 6.5 Mbit/s.
			Source:     "IEEE 802.11n-2009 MCS1 PHY rate 13 Mbit/s, ~50% MAC efficiency assumed; 2% loss assumed",
			UpKbit:     6500,
			DownKbit:   6500,
			QueueBytes: 64 << 10, // ~80 ms at 6.5 Mbit/s
			LossPct:    2,
		},
		{
			Name: "lte-m",
			Description: "LTE-M (Cat-M1, 3GPP Rel-13) half-duplex FDD modem: 375 kbit/s up, " +
				"300 kbit/s down, 1% residual loss",
			// Cat-M1: max TBS 1000 bits per 1 ms TTI in both directions,
			// 1 Mbit/s instantaneous; with the HD-FDD scheduling gaps
			// (control and data in different subframes, guard subframes
			// for switching) the commonly cited sustained peaks are
			// 375 kbit/s UL and 300 kbit/s DL (as tabulated e.g. by
			// rfwireless-world, "LTE-M device categories Cat-0, Cat-M1,
			// Cat-M2"). FD-FDD devices reach 1 Mbit/s UL / 800 kbit/s DL.
			Source:     "3GPP Rel-13 Cat-M1 HD-FDD peak 375 kbit/s UL / 300 kbit/s DL; 1% loss assumed",
			UpKbit:     375,
			DownKbit:   300,
			QueueBytes: 32 << 10, // ~0.7 s at the uplink rate
			LossPct:    1,
		},
		{
			Name: "nbiot",
			Description: "NB-IoT (Cat-NB1, 3GPP Rel-13) modem, multi-tone uplink: 62.5 kbit/s up, " +
				"26 kbit/s down, 1% residual loss",
			// Cat-NB1: max TBS 680 bits DL, 1000 bits UL, one HARQ
			// process, so one transport block per scheduling cycle
			// (NPDCCH, the mandatory gaps, data, HARQ-ACK): ~26 ms per
			// 680 bits DL (~26 kbit/s) and ~16 ms per 1000 bits UL
			// multi-tone (62.5 kbit/s; single-tone ~17 kbit/s), the
			// figures of Wang et al., "A Primer on 3GPP Narrowband
			// Internet of Things", IEEE Commun. Mag. 2017. The 170-250
			// kbit/s often quoted are per-TTI instantaneous rates.
			Source:     "3GPP Rel-13 Cat-NB1 peak ~62.5 kbit/s UL (multi-tone) / ~26 kbit/s DL; 1% loss assumed",
			UpKbit:     62.5,
			DownKbit:   26,
			QueueBytes: 16 << 10, // ~2 s at the uplink rate, ~5 s down
			LossPct:    1,
		},
		lossOnly(0.1, "loss-0.1"),
		lossOnly(1, "loss-1"),
		lossOnly(5, "loss-5"),
	}
}

// ProfileByName returns the named profile from Profiles.
func ProfileByName(name string) (Profile, error) {
	var names []string
	for _, p := range Profiles() {
		if p.Name == name {
			return p, nil
		}
		names = append(names, p.Name)
	}
	return Profile{}, fmt.Errorf("netns: unknown profile %q (have %s)", name, strings.Join(names, ", "))
}
