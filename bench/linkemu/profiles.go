package linkemu

import (
	"fmt"
	"strings"
	"time"
)

// Profile is a named link with the sources of its figures. Up is the
// device's uplink (client to server), Down its downlink.
//
// Each figure is either cited (Sources) or marked as a judgment
// (Judgments): published measurements of these links vary by operator,
// coverage, load and year by an order of magnitude, so a profile is one
// plausible point, not "the" link.
type Profile struct {
	Name        string
	Description string
	Config      Config
	Sources     []string // publications and standards the figures come from
	Judgments   []string // figures that are our choice, and why
}

// Profiles returns the emulated cellular and satellite links. Their
// names end in "-emu" so they never clash with bench/netns's profiles
// (nbiot, lte-m), which stay as they are.
func Profiles() []Profile {
	return []Profile{
		{
			Name:        "nbiot-emu",
			Description: "NB-IoT (Cat-NB1, 3GPP Rel-13) in normal coverage: 62.5 kbit/s up, 26 kbit/s down, ~0.8 s round trip",
			Config: Config{Name: "nbiot-emu",
				Up: Dir{Delay: 400 * time.Millisecond, Jitter: 100 * time.Millisecond, RateKbit: 62.5, QueueBytes: 16 << 10,
					Loss: GilbertElliott(1, 2)},
				Down: Dir{Delay: 400 * time.Millisecond, Jitter: 100 * time.Millisecond, RateKbit: 26, QueueBytes: 16 << 10,
					Loss: GilbertElliott(1, 2)},
			},
			Sources: []string{
				"rates: Cat-NB1 max TBS 1000 bit UL / 680 bit DL with one HARQ process, ~16 ms UL / ~26 ms DL per block: " +
					"62.5 / 26 kbit/s (Y.-P. E. Wang et al., \"A Primer on 3GPP Narrowband Internet of Things\", IEEE Commun. Mag. 55(3), 2017; the figures of bench/netns's nbiot)",
				"round trip: 837 ms measured on a commercial NB-IoT network (S. Ugwuanyi, G. Paul, J. Irvine, \"Survey of IoT for Developing Countries: " +
					"Performance Analysis of LoRaWAN and Cellular NB-IoT Networks\", Electronics 10(18):2224, 2021, doi:10.3390/electronics10182224)",
				"upper bound: 3GPP TR 45.820 (Cellular system support for ultra-low complexity and low throughput IoT) targets 10 s latency for an exception report in extreme coverage; " +
					"industry tables give NB-IoT latency as 1.6-10 s (e.g. rcrwireless.com, \"NB-IoT and LTE Cat-M1 field measurements and SLA verification\", 2017: 100 ms to ~8 s)",
			},
			Judgments: []string{
				"one-way delay 400 ms each way (800 ms round trip) rounds the 837 ms measurement; a device at the cell edge with repetitions sees seconds",
				"jitter ±100 ms uniform: NB-IoT delays are known to vary widely (B. Martinez et al., \"Exploring the Performance Boundaries of NB-IoT\", IEEE IoT Journal 2019), the width is ours",
				"loss 1 % in bursts of 2 (Gilbert-Elliott): HARQ and RLC AM repair most radio errors, so residual IP loss is small; the figure is an assumption, as in bench/netns",
				"queue 16 KiB each way (2 s up, 5 s down), as bench/netns's nbiot",
			},
		},
		{
			Name:        "ltem-emu",
			Description: "LTE-M (Cat-M1, 3GPP Rel-13) half-duplex FDD modem: 375 kbit/s up, 300 kbit/s down, ~100 ms round trip",
			Config: Config{Name: "ltem-emu",
				Up:   Dir{Delay: 50 * time.Millisecond, Jitter: 10 * time.Millisecond, RateKbit: 375, QueueBytes: 32 << 10, Loss: GilbertElliott(1, 2)},
				Down: Dir{Delay: 50 * time.Millisecond, Jitter: 10 * time.Millisecond, RateKbit: 300, QueueBytes: 32 << 10, Loss: GilbertElliott(1, 2)},
			},
			Sources: []string{
				"rates: Cat-M1 max TBS 1000 bit per 1 ms TTI; with HD-FDD scheduling gaps 375 kbit/s UL / 300 kbit/s DL sustained peak (3GPP Rel-13; the figures of bench/netns's lte-m)",
				"latency: 10-15 ms over the air for Cat-M1 (rcrwireless.com, \"NB-IoT and LTE Cat-M1 field measurements and SLA verification\", 2017); " +
					"0.1 s message latency at the edge of normal coverage, 6.2 s in extreme coverage (\"Evaluation of LTE-M towards 5G IoT requirements\", industry white paper V1.1, March 2018, against 3GPP TR 45.820 and TR 38.913)",
			},
			Judgments: []string{
				"one-way delay 50 ms each way (100 ms round trip): between the 10-15 ms air interface and the 0.1 s message latency at the coverage edge, with a core network and an Internet path added",
				"jitter ±10 ms uniform, loss 1 % in bursts of 2, queue 32 KiB: assumptions (the loss and queue as bench/netns's lte-m)",
			},
		},
		{
			Name:        "lte-emu",
			Description: "LTE (4G) smartphone-class link: 6 Mbit/s up, 13 Mbit/s down, ~60 ms round trip",
			Config: Config{Name: "lte-emu",
				Up:   Dir{Delay: 30 * time.Millisecond, Jitter: 5 * time.Millisecond, RateKbit: 6000, QueueBytes: 256 << 10, Loss: RandomLoss(0.1)},
				Down: Dir{Delay: 30 * time.Millisecond, Jitter: 5 * time.Millisecond, RateKbit: 13000, QueueBytes: 256 << 10, Loss: RandomLoss(0.1)},
			},
			Sources: []string{
				"rates: median 13 Mbit/s down, 6 Mbit/s up measured by 4GTest on commercial LTE (J. Huang et al., \"A Close Examination of Performance and Power Characteristics of 4G LTE Networks\", ACM MobiSys 2012)",
				"round trip: LTE has markedly lower RTTs than 3G (J. Huang et al., \"An In-Depth Study of LTE\", ACM SIGCOMM 2013); the radio's own target is under 5 ms one way for a small packet, unloaded (3GPP TR 25.913, E-UTRA requirements)",
			},
			Judgments: []string{
				"one-way delay 30 ms each way (60 ms round trip): the radio's few ms plus scheduling, core network and an Internet path; not a figure from the cited papers",
				"jitter ±5 ms, loss 0.1 % random, queue 256 KiB (~0.3 s up): assumptions",
			},
		},
		{
			Name:        "3g-emu",
			Description: "3G (UMTS/HSPA) link: 1 Mbit/s up, 2 Mbit/s down, ~120 ms round trip",
			Config: Config{Name: "3g-emu",
				Up:   Dir{Delay: 60 * time.Millisecond, Jitter: 15 * time.Millisecond, RateKbit: 1000, QueueBytes: 128 << 10, Loss: RandomLoss(0.5)},
				Down: Dir{Delay: 60 * time.Millisecond, Jitter: 15 * time.Millisecond, RateKbit: 2000, QueueBytes: 128 << 10, Loss: RandomLoss(0.5)},
			},
			Sources: []string{
				"peak rates: HSDPA category 10 14.4 Mbit/s, HSUPA category 6 5.76 Mbit/s (3GPP TS 25.306, UE radio access capabilities); the profile uses a fraction of them",
				"round trip: HSPA RTT is dominated by the radio access network (C. Serrano et al., \"Latency in Broad-band Mobile Networks\", Vodafone Group Networks; " +
					"M. Laner et al., \"A comparison between one-way delays in operating HSPA and LTE networks\", WINMEE 2012), and LTE's is lower (Huang et al., SIGCOMM 2013)",
			},
			Judgments: []string{
				"rates 1 Mbit/s up / 2 Mbit/s down: a loaded HSPA cell, not a measured figure",
				"one-way delay 60 ms each way (120 ms round trip), twice lte-emu's, in line with the papers' finding that HSPA's RTT exceeds LTE's; jitter ±15 ms, loss 0.5 % random, queue 128 KiB: assumptions",
			},
		},
		{
			Name:        "geo-emu",
			Description: "geostationary satellite broadband: 2 Mbit/s up, 10 Mbit/s down, ~600 ms round trip",
			Config: Config{Name: "geo-emu",
				Up:   Dir{Delay: 300 * time.Millisecond, Jitter: 10 * time.Millisecond, RateKbit: 2000, QueueBytes: 256 << 10, Loss: GilbertElliott(0.5, 3)},
				Down: Dir{Delay: 300 * time.Millisecond, Jitter: 10 * time.Millisecond, RateKbit: 10000, QueueBytes: 512 << 10, Loss: GilbertElliott(0.5, 3)},
			},
			Sources: []string{
				"round trip: at least 477 ms of propagation for a GEO hop (35,786 km), 568 ms at the edge of visibility, and about 600 ms in practice once terrestrial parts are added " +
					"(G. Huston, \"Testing LEO and GEO satellite services in Australia\", APNIC blog, 2 May 2022)",
			},
			Judgments: []string{
				"rates 2 Mbit/s up / 10 Mbit/s down: a modest consumer GEO plan, not a measured figure",
				"jitter ±10 ms, loss 0.5 % in bursts of 3 (rain fade and interference come in bursts), queues 256/512 KiB: assumptions",
			},
		},
	}
}

// ProfileByName returns the named profile.
func ProfileByName(name string) (Profile, error) {
	var names []string
	for _, p := range Profiles() {
		if p.Name == name {
			return p, nil
		}
		names = append(names, p.Name)
	}
	return Profile{}, fmt.Errorf("linkemu: unknown profile %q (have %s)", name, strings.Join(names, ", "))
}
