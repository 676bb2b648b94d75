package loadgen

import (
	"crypto/tls"
	"strconv"
	"strings"
	"testing"
)

// TestSpreadOverTargets drives three receivers from one fleet: device
// number n goes to target n mod 3 and nowhere else, and each target's
// entry of the report equals what that receiver counted, device by device
// and in total.
func TestSpreadOverTargets(t *testing.T) {
	f := func(name string, tr Transport, mod func(c *Config)) {
		t.Run(name, func(t *testing.T) {
			var conf *tls.Config
			var pki *testPKI
			if tr == TLS {
				pki = newTestPKI(t)
				conf = &tls.Config{Certificates: []tls.Certificate{pki.serverCert}}
			}
			sinks := []*sink{newSink(t), newSink(t), newSink(t)}
			var addrs []string
			for _, s := range sinks {
				if tr == UDP {
					addrs = append(addrs, s.listenUDP())
				} else {
					addrs = append(addrs, s.listenTCP(conf))
				}
			}
			c := testConfig(tr, strings.Join(addrs, ","))
			c.Devices = 301 // 101, 100, 100
			if pki != nil {
				c.TLSCA = pki.caFile
			}
			if mod != nil {
				mod(&c)
			}
			rep := runOK(t, c)
			if len(rep.Targets) != 3 {
				t.Fatalf("report has %d targets, want 3: %+v", len(rep.Targets), rep.Targets)
			}
			var sum TargetReport
			for ti, s := range sinks {
				want := 100
				if (ti-c.IDOffset%3+3)%3 == 0 {
					want = 101
				}
				if tr == UDP {
					s.waitEOS(want)
				} else {
					s.waitClosed()
				}
				tgt := rep.Targets[ti]
				if tgt.Target != addrs[ti] || tgt.Devices != want || tgt.DevicesConnected != want || tgt.EOSSent != want {
					t.Errorf("target %d: %+v, want %s with %d devices, all connected and ended", ti, tgt, addrs[ti], want)
				}
				s.checkShare(rep, c, ti, addrs)
				sum.Devices += tgt.Devices
				sum.FramesSent += tgt.FramesSent
				sum.SamplesSent += tgt.SamplesSent
				sum.ReadingsSent += tgt.ReadingsSent
				sum.DataBytesSent += tgt.DataBytesSent
				sum.ReadingsPerSecond += tgt.ReadingsPerSecond
			}
			if sum.Devices != rep.Devices || sum.FramesSent != rep.FramesSent || sum.SamplesSent != rep.SamplesSent ||
				sum.ReadingsSent != rep.ReadingsSent || sum.DataBytesSent != rep.BytesSent-rep.ControlBytesSent {
				t.Errorf("targets add up to %+v; run totals: %d devices, %d frames, %d samples, %d readings, %d data bytes",
					sum, rep.Devices, rep.FramesSent, rep.SamplesSent, rep.ReadingsSent, rep.BytesSent-rep.ControlBytesSent)
			}
			if d := sum.ReadingsPerSecond - rep.ReadingsPerSecond; d > 1e-6*rep.ReadingsPerSecond || -d > 1e-6*rep.ReadingsPerSecond {
				t.Errorf("targets' readings/s add up to %g, the run's is %g", sum.ReadingsPerSecond, rep.ReadingsPerSecond)
			}
		})
	}
	f("tcp", TCP, nil)
	f("udp", UDP, nil)
	f("udp-sockets", UDP, func(c *Config) { c.UDPSockets = 2 })
	f("tls", TLS, nil)
	// Workers split the fleet into ranges; the spread follows the device
	// number, so it is the same as in one process.
	f("tcp-procs", TCP, func(c *Config) { c.Procs, c.WorkerCommand, c.IDOffset = 2, testWorkerCommand, 1000 })
}

// checkShare compares what this sink (target ti of addrs) received with
// the report: exactly the devices whose number is ti mod len(addrs), each
// with the counts the generator reported, and the target's totals.
func (s *sink) checkShare(rep *Report, c Config, ti int, addrs []string) {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.errs) > 0 {
		s.t.Errorf("sink %d errors (%d): %s", ti, len(s.errs), strings.Join(s.errs[:min(len(s.errs), 5)], "; "))
	}
	var frames, readings, devices uint64
	for _, g := range rep.PerDevice {
		n, err := strconv.Atoi(strings.TrimPrefix(g.Device, c.IDPrefix))
		if err != nil {
			s.t.Fatalf("device id %q: %v", g.Device, err)
		}
		want := (n - 1) % len(addrs)
		if g.Target != addrs[want] {
			s.t.Errorf("%s (number %d) reported at %q, want %q", g.Device, n-1, g.Target, addrs[want])
		}
		d := s.devs[g.Device]
		if want != ti {
			if d != nil {
				s.t.Errorf("sink %d received %s, which belongs to target %d", ti, g.Device, want)
			}
			continue
		}
		if d == nil {
			s.t.Errorf("sink %d never heard of %s", ti, g.Device)
			continue
		}
		if d.frames != g.Frames || d.readings != g.Readings || d.samples != g.Samples {
			s.t.Errorf("%s: sink frames/samples/readings %d/%d/%d, generator %d/%d/%d",
				g.Device, d.frames, d.samples, d.readings, g.Frames, g.Samples, g.Readings)
		}
		if !d.eos || d.eosSeq != g.NextSeq || d.gaps != 0 || g.Dropped != 0 {
			s.t.Errorf("%s: eos %v seq %d (next_seq %d), %d gaps, %d dropped", g.Device, d.eos, d.eosSeq, g.NextSeq, d.gaps, g.Dropped)
		}
		devices++
		frames += d.frames
		readings += d.readings
	}
	tgt := rep.Targets[ti]
	if devices != uint64(len(s.devs)) || devices != uint64(tgt.Devices) || frames != tgt.FramesSent || readings != tgt.ReadingsSent {
		s.t.Errorf("sink %d: %d devices (%d known), %d frames, %d readings; report for %s: %d devices, %d frames, %d readings",
			ti, devices, len(s.devs), frames, readings, tgt.Target, tgt.Devices, tgt.FramesSent, tgt.ReadingsSent)
	}
}

// TestBulkStartsAtT0: as-fast-as-possible devices wait for the send
// phase's start like scheduled ones, so a run shorter than the start's
// lead still has a duration and a rate.
func TestBulkStartsAtT0(t *testing.T) {
	for _, tr := range []Transport{TCP, UDP} {
		s := newSink(t)
		addr := ""
		if tr == TCP {
			addr = s.listenTCP(nil)
		} else {
			addr = s.listenUDP()
		}
		c := testConfig(tr, addr)
		c.Devices, c.Rate, c.Samples = 20, 0, 10
		rep := runOK(t, c)
		if rep.DurationSeconds <= 0 || rep.ReadingsPerSecond <= 0 || rep.ReadingsSent != 20*10*2 {
			t.Errorf("%s: %d readings in %gs (%g/s)", tr, rep.ReadingsSent, rep.DurationSeconds, rep.ReadingsPerSecond)
		}
	}
}
