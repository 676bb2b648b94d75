package loadgen

import (
	"context"
	"crypto/tls"
	"fmt"
	"slices"
	"testing"
	"time"
)

// ackConfig is testConfig with acknowledged delivery.
func ackConfig(tr Transport, addr string, pki *testPKI) Config {
	c := testConfig(tr, addr)
	if tr == TLS {
		c.TLSCA = pki.caFile
	}
	c.Ack = true
	c.Devices, c.Rate, c.Batch, c.Samples = 50, 50, 2, 40 // 0.8 s of sending
	// One loop leaves the fake receiver a core: a loop thread asleep in
	// epoll keeps its P until sysmon takes it, which delays the fake's
	// goroutines (and so the acks) by milliseconds on two cores.
	c.Loops = 1
	c.AckDrain = 20 * time.Second
	return c
}

// listen starts f on a loopback port: TLS with pki's server certificate.
func (f *ackFake) listen(tr Transport, pki *testPKI) string {
	switch tr {
	case TCP:
		return f.listenTCP(nil)
	case TLS:
		return f.listenTCP(&tls.Config{Certificates: []tls.Certificate{pki.serverCert}})
	}
	return f.listenUDP()
}

// checkAcked checks a run in which nothing may be lost: every sample
// acknowledged and stored exactly once, nothing given up or left.
func checkAcked(t *testing.T, rep *Report, c *Config, fakes ...*ackFake) {
	t.Helper()
	want := uint64(c.Devices * c.Samples * rep.Channels)
	a := rep.AckReport
	if a == nil {
		t.Fatal("no ack report")
	}
	if a.ReadingsAcked != want || a.ReadingsGivenUp != 0 || a.ReadingsUnackedAtEnd != 0 || a.DevicesUnackedAtEnd != 0 {
		t.Fatalf("acked %d of %d readings, given up %d, unacked at end %d (%d devices)",
			a.ReadingsAcked, want, a.ReadingsGivenUp, a.ReadingsUnackedAtEnd, a.DevicesUnackedAtEnd)
	}
	if a.AcksReceived == 0 || a.AckBytesReceived == 0 || a.AckLatency.Count == 0 {
		t.Fatalf("acks received %d (%d bytes), ack latency count %d", a.AcksReceived, a.AckBytesReceived, a.AckLatency.Count)
	}
	for _, f := range fakes {
		f.checkErrors()
		f.mu.Lock()
		defer f.mu.Unlock()
	}
	for _, g := range rep.PerDevice {
		if g.ReadingsAcked != uint64(c.Samples*rep.Channels) || g.NextSeq != uint64(c.Samples) {
			t.Errorf("%s: %d readings acked, next_seq %d", g.Device, g.ReadingsAcked, g.NextSeq)
		}
		for s := range uint64(c.Samples) {
			n := 0
			for _, f := range fakes {
				if d := f.devs[g.Device]; d != nil {
					n += d.stored[s]
				}
			}
			// One receiver stores a sample once; after a failover the
			// other may store it again (its ack was lost with the first).
			if n == 0 || len(fakes) == 1 && n != 1 {
				t.Fatalf("%s: sample %d stored %d times", g.Device, s, n)
			}
		}
	}
}

// TestAckDelivery: over TCP and UDP, clean and with 5 % seeded loss of
// frames and of acks at the receiver, every sample is acknowledged and
// stored exactly once, nothing is given up, and samples are resent only
// when something was lost.
func TestAckDelivery(t *testing.T) {
	pki := newTestPKI(t)
	for _, tr := range []Transport{TCP, UDP, TLS, "udp-sockets"} {
		for _, drop := range []float64{0, 0.05} {
			t.Run(fmt.Sprintf("%s/drop=%g", tr, drop), func(t *testing.T) {
				f := newAckFake(t, drop, 42)
				name, tr, sockets := tr, tr, 0
				if tr == "udp-sockets" {
					// Devices share 2 sockets: #stored are told apart by
					// the device they name.
					tr, sockets = UDP, 2
				}
				c := ackConfig(tr, f.listen(tr, pki), pki)
				c.UDPSockets = sockets
				if drop > 0 {
					// The default (here 256/(2*50) s + 2 s) is right for a
					// server that acks every 10 s; the fake acks at once.
					c.AckMinRTO = 100 * time.Millisecond
				}
				rep := runOK(t, c)
				checkAcked(t, rep, &c, f)
				a := rep.AckReport
				t.Logf("%s drop %g: %d readings sent, %d resent in %d frames (%d bytes of %d), %d acks (%d bytes), ack latency p50 %dµs p99 %dµs max %dµs",
					name, drop, rep.ReadingsSent, a.ReadingsResent, a.ResentFrames, a.ResentBytes, rep.BytesSent,
					a.AcksReceived, a.AckBytesReceived, a.AckLatency.P50Us, a.AckLatency.P99Us, a.AckLatency.MaxUs)
				if (a.ReadingsResent > 0) != (drop > 0) || (a.ResentBytes > 0) != (drop > 0) {
					t.Fatalf("drop %g: %d readings resent (%d bytes)", drop, a.ReadingsResent, a.ResentBytes)
				}
				if tr == UDP {
					// The hello goes in front of each datagram until the
					// first #stored: on a clean loopback, the first one only.
					f.mu.Lock()
					defer f.mu.Unlock()
					for id, d := range f.devs {
						if drop == 0 && d.hellos != 1 || d.hellos == 0 {
							t.Errorf("%s: %d datagrams with a hello", id, d.hellos)
						}
					}
					if a.UDPHelloPrefixes < uint64(c.Devices) {
						t.Errorf("%d hello prefixes", a.UDPHelloPrefixes)
					}
				}
			})
		}
	}
}

// TestAckOverflow: the receiver goes dark (drops everything, acks
// nothing) for longer than a device's window lasts; devices give up
// their oldest samples, and list them exactly: every hole the receiver
// ends with is in that list, and everything else is acknowledged. The
// list may hold more than the holes: after the outage a device whose
// window is still full gives up the oldest as each new sample comes,
// until acknowledgements of its resends return, so a sample whose resend
// was on its way is given up and stored (not lost: the receiver holds
// it). On an idle machine that is none; the test logs how many.
func TestAckOverflow(t *testing.T) {
	pki := newTestPKI(t)
	for _, tr := range []Transport{TCP, UDP, TLS} {
		t.Run(string(tr), func(t *testing.T) {
			f := newAckFake(t, 0, 1)
			c := ackConfig(tr, f.listen(tr, pki), pki)
			c.Devices, c.Rate, c.Batch, c.Samples = 20, 100, 2, 400 // 4 s
			// 1.2 s of samples: acks (at once here) come back well within
			// it, even under the race detector on a machine busy with
			// other tests, so that only the outage makes devices give up.
			// (With 0.4 s, a loaded CI machine starved the loop long
			// enough to give up samples the receiver had stored.)
			c.AckWindow = 120
			c.AckMinRTO = 50 * time.Millisecond
			done := make(chan *Report, 1)
			go func() { done <- runOK(t, c) }()
			f.waitFor(10*time.Second, "40 samples stored of every device", func() bool {
				n := 0
				for _, d := range f.devs {
					if d.set.Next() >= 40 {
						n++
					}
				}
				return n == c.Devices
			})
			f.setDark(true)
			time.Sleep(2 * time.Second) // 200 samples: 80 more than the window
			f.setDark(false)
			rep := <-done
			f.checkErrors()
			a := rep.AckReport
			all := uint64(c.Devices * c.Samples * rep.Channels)
			if a.ReadingsGivenUp == 0 || a.ReadingsAcked+a.ReadingsGivenUp != all || a.ReadingsUnackedAtEnd != 0 || a.GaveUpSent == 0 {
				t.Fatalf("acked %d + given up %d of %d readings, unacked at end %d, #gaveup sent %d",
					a.ReadingsAcked, a.ReadingsGivenUp, all, a.ReadingsUnackedAtEnd, a.GaveUpSent)
			}
			t.Logf("%s: %d readings given up, %d resent", tr, a.ReadingsGivenUp, a.ReadingsResent)
			f.mu.Lock()
			defer f.mu.Unlock()
			var storedAnyway, exact int
			for _, g := range rep.PerDevice {
				d := f.devs[g.Device]
				holes := d.holes(uint64(c.Samples))
				var n uint64
				for _, r := range g.GivenUp {
					n += r[1] - r[0] + 1
				}
				inGivenUp := func(q uint64) bool {
					for _, r := range g.GivenUp {
						if r[0] <= q && q <= r[1] {
							return true
						}
					}
					return false
				}
				var nh uint64
				for _, h := range holes {
					nh += h[1] - h[0] + 1
					for q := h[0]; q <= h[1]; q++ {
						if !inGivenUp(q) {
							t.Errorf("%s: sample %d lost but not given up: gave up %v, the receiver's holes are %v", g.Device, q, g.GivenUp, holes)
							break
						}
					}
				}
				if g.GivenUpTruncated || g.GivenUpInexact || n*uint64(rep.Channels) != g.ReadingsGivenUp {
					t.Errorf("%s: gave up %v (%d readings), truncated %v, inexact %v", g.Device, g.GivenUp, g.ReadingsGivenUp, g.GivenUpTruncated, g.GivenUpInexact)
				}
				storedAnyway += int(n - nh)
				if slices.Equal(holes, g.GivenUp) {
					exact++
				}
				if g.ReadingsAcked+g.ReadingsGivenUp != uint64(c.Samples*rep.Channels) {
					t.Errorf("%s: %d acked + %d given up readings", g.Device, g.ReadingsAcked, g.ReadingsGivenUp)
				}
				for s, k := range d.stored {
					if k != 1 {
						t.Errorf("%s: sample %d stored %d times", g.Device, s, k)
					}
				}
			}
			t.Logf("%s: %d of %d devices gave up exactly the receiver's holes; %d samples given up were stored all the same", tr, exact, len(rep.PerDevice), storedAnyway)
		})
	}
}

// TestAckFailover: two receivers, one closed mid-run. Its devices move to
// the other (TCP: the connection drops and reconnects are refused; UDP:
// ICMP port unreachable) and hand over everything not acknowledged;
// every sample is acknowledged.
func TestAckFailover(t *testing.T) {
	pki := newTestPKI(t)
	for _, tr := range []Transport{TCP, UDP, TLS} {
		t.Run(string(tr), func(t *testing.T) {
			fa, fb := newAckFake(t, 0, 1), newAckFake(t, 0, 2)
			addrA, addrB := fa.listen(tr, pki), fb.listen(tr, pki)
			c := ackConfig(tr, addrA+","+addrB, pki)
			c.Devices, c.Samples = 20, 100 // 2 s
			c.AckMinRTO = 100 * time.Millisecond
			done := make(chan *Report, 1)
			go func() { done <- runOK(t, c) }()
			fa.waitFor(10*time.Second, "30 samples of every device at A", func() bool {
				n := 0
				for _, d := range fa.devs {
					if d.set.Next() >= 30 {
						n++
					}
				}
				return n == c.Devices/2
			})
			fa.close()
			rep := <-done
			checkAcked(t, rep, &c, fa, fb)
			if rep.Failovers < uint64(c.Devices/2) {
				t.Fatalf("%d failovers, want at least %d", rep.Failovers, c.Devices/2)
			}
			for i, g := range rep.PerDevice {
				if i%2 == 0 && (g.LastTarget != addrB || g.Failovers == 0) {
					t.Errorf("%s (of %s): last target %q after %d failovers, want %s", g.Device, g.Target, g.LastTarget, g.Failovers, addrB)
				}
			}
			t.Logf("%s: %d failovers, %d readings resent", tr, rep.Failovers, rep.ReadingsResent)
		})
	}
}

// TestAckDrainBounded: a receiver that never acknowledges. Devices resend
// on their timers after end-of-stream, give up waiting after --ack-drain,
// and the report says what was left unacknowledged.
func TestAckDrainBounded(t *testing.T) {
	c := ackConfig(TCP, newAckFakeDark(t).listen(TCP, nil), nil)
	c.Devices = 10
	c.AckMinRTO = 100 * time.Millisecond
	c.AckDrain = 500 * time.Millisecond
	start := time.Now()
	rep := runOK(t, c)
	wall := time.Since(start)
	a := rep.AckReport
	all := uint64(c.Devices * c.Samples * rep.Channels)
	if a.ReadingsAcked != 0 || a.ReadingsUnackedAtEnd != all || a.DevicesUnackedAtEnd != c.Devices ||
		a.AckDrainTimeouts != uint64(c.Devices) || a.ReadingsResent == 0 {
		t.Fatalf("acked %d, unacked at end %d of %d (%d devices), drain timeouts %d, resent %d",
			a.ReadingsAcked, a.ReadingsUnackedAtEnd, all, a.DevicesUnackedAtEnd, a.AckDrainTimeouts, a.ReadingsResent)
	}
	// 0.8 s of sending, then the drain: not the 20 s of a stuck run.
	if wall > 8*time.Second {
		t.Fatalf("the run took %v", wall)
	}
}

// TestAckCancelEndsDrain: cancelling the run while devices wait for
// acknowledgements ends it at once, not at their next resend timer (30 s
// here).
func TestAckCancelEndsDrain(t *testing.T) {
	pki := newTestPKI(t)
	for _, tr := range []Transport{TCP, UDP, TLS} {
		t.Run(string(tr), func(t *testing.T) {
			c := ackConfig(tr, newAckFakeDark(t).listen(tr, pki), pki)
			c.Devices = 10
			c.AckDrain, c.AckMinRTO = time.Hour, 30*time.Second
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			done := make(chan *Report, 1)
			go func() {
				rep, err := Run(ctx, c)
				if err != nil {
					t.Error(err)
				}
				done <- rep
			}()
			time.Sleep(2 * time.Second) // 0.8 s of sending, then waiting
			cancel()
			cancelled := time.Now()
			var rep *Report
			select {
			case rep = <-done:
			case <-time.After(60 * time.Second):
				t.Fatal("Run did not return within 60 s of its context's cancel")
			}
			if d := time.Since(cancelled); d > 10*time.Second {
				t.Fatalf("Run returned %v after its context's cancel", d)
			}
			if rep == nil || rep.AckReport.ReadingsUnackedAtEnd != uint64(c.Devices*c.Samples*rep.Channels) {
				t.Fatalf("unacknowledged at the end: %+v", rep.AckReport)
			}
		})
	}
}

func newAckFakeDark(t *testing.T) *ackFake {
	f := newAckFake(t, 0, 1)
	f.setDark(true)
	return f
}

// TestAckProcs: two worker processes; the merged report's acknowledged
// delivery adds up, ack latency histograms included.
func TestAckProcs(t *testing.T) {
	f := newAckFake(t, 0.05, 3)
	c := ackConfig(TCP, f.listen(TCP, nil), nil)
	c.Devices, c.Procs, c.Loops = 41, 2, 0
	c.AckMinRTO = 100 * time.Millisecond
	c.WorkerCommand = testWorkerCommand
	rep := runOK(t, c)
	checkAcked(t, rep, &c, f)
	a := rep.AckReport
	if rep.Procs != 2 || a.ReadingsResent == 0 || a.AckLatency.Count == 0 || a.AckLatency.Count > int64(rep.FramesSent+a.ResentFrames) {
		t.Fatalf("procs %d: resent %d, ack latency count %d for %d frames", rep.Procs, a.ReadingsResent, a.AckLatency.Count, rep.FramesSent)
	}
}
