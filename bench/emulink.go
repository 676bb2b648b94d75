package bench

import (
	"context"
	"fmt"
	"net"
	"os/exec"
	"time"

	"github.com/fleetwire/fleetwire/bench/linkemu"
	"github.com/fleetwire/fleetwire/bench/netns"
)

// emuLink is a bench/linkemu link: server and generator in two
// namespaces joined by TUN devices, with the profile's delay, jitter,
// rate, loss (random or bursty) emulated in this process.
type emuLink struct {
	l *linkemu.Link
	p linkemu.Profile
}

// openProfile opens a link for a profile name: a bench/linkemu profile
// ("nbiot-emu", "ltem-emu", "lte-emu", "3g-emu", "geo-emu") or else a
// bench/netns one.
func openProfile(ctx context.Context, profile string) (link, error) {
	p, err := linkemu.ProfileByName(profile)
	if err != nil {
		return openNetns(ctx, profile)
	}
	l, err := linkemu.Setup(ctx, p.Config)
	if err != nil {
		return nil, fmt.Errorf("emulated link unavailable, profile %s skipped: %w", profile, err)
	}
	return &emuLink{l: l, p: p}, nil
}

func (e *emuLink) command(s, name string, args ...string) *exec.Cmd {
	return e.l.Command(side(s), name, args...)
}
func (e *emuLink) serverHost() string { return e.l.ServerAddr.String() }
func (e *emuLink) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	var c net.Conn
	err := e.l.InNS(netns.Server, func() (err error) {
		var d net.Dialer
		c, err = d.DialContext(ctx, network, addr)
		return err
	})
	return c, err
}

// snmp merges both namespaces as vethLink does.
func (e *emuLink) snmp() (SNMP, bool, error) { return nsSNMP(e.l.ServerNS, e.l.ClientNS) }

// ifs reports the emulator's counters as the two ends' interfaces: what
// an end sent is what the emulator read from its TUN, what it received
// is what the emulator delivered to it (copies included), and the
// direction arriving at an end owns its loss and queue drops (the delay
// line's overflow counts as a queue drop). Bytes are IP bytes: a TUN has
// no Ethernet header.
func (e *emuLink) ifs() (*IfCounters, *IfCounters, error) {
	up, down := e.l.Counters()
	end := func(sent, arriving linkemu.Counters) *IfCounters {
		return &IfCounters{
			TxBytes: int64(sent.ReceivedBytes), TxPackets: int64(sent.Received),
			RxBytes: int64(arriving.DeliveredBytes), RxPackets: int64(arriving.Delivered),
			LossDropped: int64(arriving.LossDropped), QdiscDrops: int64(arriving.QueueDropped + arriving.LineDropped),
		}
	}
	return end(up, down), end(down, up), nil
}

// ports: the server namespace is ours alone, so the defaults are free.
func (e *emuLink) ports() ([4]int, error) { return [4]int{7070, 7071, 7443, 7080}, nil }
func (e *emuLink) describe() string {
	return fmt.Sprintf("user-space link emulator (bench/linkemu, TUN between two namespaces): %s: %s; up %s; down %s",
		e.p.Name, e.p.Description, e.p.Config.Up, e.p.Config.Down)
}
func (e *emuLink) close() error { return e.l.Close() }

func (e *emuLink) watchRadio(gap time.Duration) { e.l.WatchRadio(gap) }
func (e *emuLink) radio() linkemu.RadioStats    { return e.l.Radio() }
