package bench

import (
	"fmt"
	"io"
	"strconv"
)

// writeDTLS sets every dtls run beside the plain-UDP run of the same
// fleet, codec, batch and link in the same report: what DTLS costs in
// wire bytes per delivered reading (handshakes included), in loss and in
// server CPU per reading.
func (r *Report) writeDTLS(w io.Writer) {
	var rows [][]string
	for _, s := range r.scenarios() {
		if s.Transport != "dtls" {
			continue
		}
		base := s
		base.Transport = "udp"
		for _, e := range Engines {
			x, u := r.find(s.ID(), e), r.find(base.ID(), e)
			if x == nil || !x.ok() {
				continue
			}
			f := &x.Figures
			c := &x.Counters
			hs := "-"
			if wire := c.Srv.Wire; wire != nil {
				hs = strconv.FormatUint(wire.Handshakes, 10)
			}
			udpWire, udpLoss, udpCPU, over, cpuX := "-", "-", "-", "-", "-"
			if u != nil && u.ok() {
				uf := &u.Figures
				udpWire, udpLoss, udpCPU = f2(uf.WirePerReading), pct(uf.LossPct), ns(uf.ServerCPUNsPerReading)
				over = "+" + f2(f.WirePerReading-uf.WirePerReading) + " (" + f2(div(f.WirePerReading, uf.WirePerReading)) + "x)"
				cpuX = f2(div(f.ServerCPUNsPerReading, uf.ServerCPUNsPerReading)) + "x"
			}
			rows = append(rows, []string{s.Codec, strconv.Itoa(s.Batch), s.fleet(), s.Profile, e,
				udpWire, f2(f.WireUpPerReading), f2(f.WireDownPerReading), f2(f.WirePerReading), over,
				udpLoss, pct(f.LossPct), udpCPU, ns(f.ServerCPUNsPerReading), cpuX, hs, rss(f.RSSPerConn)})
		}
	}
	if len(rows) == 0 {
		return
	}
	fmt.Fprintln(w, "## DTLS against plain UDP, same run")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Per delivered reading. DTLS: `fleetwire serve --listen dtls://...?psk-file=` and `fleetwire load --dtls --dtls-psk-file`: DTLS 1.2, a pre-shared key per device, AES-128-CCM-8, the server's connection ID in every record, one session per device for the run (its handshake, cookie exchange included, is in the bytes), a record per frame. The devices all come from one address, as a fleet behind one NAT does: the listener's per-source handshake rate is lifted (`handshake-rate=1000000`), so that no handshake is refused and resent. Wire bytes are every datagram of the server's socket with 28 bytes of IPv4/UDP headers each, both ways. The DTLS listener is the same on both engines (a goroutine per session); the engine changes only the UDP baseline.")
	fmt.Fprintln(w)
	table(w, []string{"codec", "batch", "fleet", "link", "engine", "UDP wire B", "DTLS up B", "DTLS down B", "DTLS wire B", "DTLS extra B",
		"UDP loss", "DTLS loss", "UDP CPU/reading", "DTLS CPU/reading", "CPU x", "handshakes", "DTLS RSS/session"}, rows)
}
