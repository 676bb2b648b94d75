package plan

import (
	"fmt"
	"io"
	"strconv"
)

// writeKernelRx writes what the veth measurement of the receive path
// did and found, or why it did not run.
func (r *FleetReport) writeKernelRx(w io.Writer) {
	k := r.KernelRx
	if k == nil {
		return
	}
	fmt.Fprintf(w, "## Kernel receive path, measured on a veth pair\n\n")
	if k.Skipped != "" {
		fmt.Fprintf(w, "Not measured: %s.\n\n", k.Skipped)
		return
	}
	if len(k.Rounds) == 0 {
		fmt.Fprintf(w, "Not measured: no round completed (see Errors).\n\n")
		return
	}
	l := &k.Load
	fmt.Fprintf(w, "The server (`fleetwire serve` on CPU %d, GOMAXPROCS=1, --loops 1, --udp-readers 1) in one network namespace, the generator (`fleetwire load` on CPU %d) in another, joined by a %s. It stands for the shape \"%s\": %d devices over %s, %s frames/s, %v of sending per round; %d rounds, each with a fresh server.",
		k.ServerCPU, k.GenCPU, k.Link, k.Shape, l.Devices, l.Transport, num(l.FramesPerSec(), 0), l.Duration, len(k.Rounds))
	if k.Note != "" {
		fmt.Fprintf(w, " Run with %s.", k.Note)
	}
	fmt.Fprintf(w, "\n\nRPS: %s. While the load is steady, the receive processing of the packets arriving at the server alternates between the server's core (RPS on: NET_RX softirq on CPU %d) and the sending core (RPS off, as on loopback). The receive path per packet is CPU %d's non-idle time per packet with RPS on less that with RPS off: the kernel keeps idle time from when the core slept (NO_HZ), so the difference holds all the receive path costs the core (softirq, the steering interrupts, wake-ups), and the work of other processes on the core cancels. Packets are the server veth's receive counter (/proc/net/dev of its namespace); frames the server's count (/api/stats, interpolated between its snapshots at the spans' ends).\n\n",
		k.RPS, k.ServerCPU, k.ServerCPU)
	var rows [][]string
	for i := range k.Rounds {
		rd := &k.Rounds[i]
		rows = append(rows, []string{strconv.Itoa(i + 1), num(float64(rd.On.RxPackets), 0) + " / " + num(float64(rd.Off.RxPackets), 0),
			num(rd.RxPerPacket(), 0), num(rd.On.per(float64(rd.On.ServerNs)), 0), num(rd.Off.per(float64(rd.Off.ServerNs)), 0),
			num(rd.SoftirqPerPacket(), 0), num(rd.NetRxPerPacket(), 2), num(rd.PacketsPerFrame(), 3)})
	}
	t := func(x Term, d int) string { return pm(x.Value, x.StdErr, d, "") }
	rows = append(rows, []string{"**mean ± std. error**", "", t(k.RxPerPacket, 0), t(k.ServerOnPacket, 0), t(k.ServerOffPacket, 0),
		t(k.SoftirqPerPacket, 0), t(k.NetRxPerPacket, 2), t(k.PacketsPerFrame, 3)})
	table(w, []string{"round", "packets, RPS on / off", "receive path ns/packet", "server process ns/packet, RPS on", "server process ns/packet, RPS off",
		"CPU softirq (tick-sampled) ns/packet beyond idle", "NET_RX softirqs/packet beyond idle", "packets/frame"}, rows)
	fmt.Fprintf(w, "Per frame: the receive path %s. The server process took %s per packet with RPS on and %s with it off: a softirq that interrupts the running server is charged to the server's schedstat on this kernel (no IRQ_TIME_ACCOUNTING), so part of the receive path shows there; the receive path figure, the core's whole time, holds it. The softirq column of /proc/stat and NET_RX of /proc/softirqs are compared with an idle baseline (the server up, no traffic) as a check that the steering works; the softirq column is sampled by the scheduler tick (a whole tick to whatever it interrupts), too coarse to price a packet.\n\n",
		pm(k.RxPerFrame.Value, k.RxPerFrame.StdErr, 0, " ns"), pm(k.ServerOnPacket.Value, k.ServerOnPacket.StdErr, 0, " ns"), pm(k.ServerOffPacket.Value, k.ServerOffPacket.StdErr, 0, " ns"))
	if k.Command != "" {
		fmt.Fprintf(w, "Commands (last round):\n\n```\n%s\n```\n\n", k.Command)
	}
}
