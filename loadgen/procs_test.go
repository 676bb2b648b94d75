package loadgen

import "testing"

// TestProcsMerge runs the fleet as two worker processes: disjoint device
// ranges, one merged report whose per-device counts match the sink.
func TestProcsMerge(t *testing.T) {
	for _, tr := range []Transport{TCP, UDP} {
		t.Run(string(tr), func(t *testing.T) {
			s := newSink(t)
			addr := ""
			if tr == TCP {
				addr = s.listenTCP(nil)
			} else {
				addr = s.listenUDP()
			}
			c := testConfig(tr, addr)
			c.Devices, c.Procs, c.IDOffset = 301, 2, 1000
			c.WorkerCommand = testWorkerCommand
			rep := runOK(t, c)
			s.waitClosed()
			s.waitEOS(c.Devices)
			s.check(rep)
			if rep.Procs != 2 || rep.Devices != 301 || rep.PerDevice[0].Device != "dev-001001" || rep.PerDevice[300].Device != "dev-001301" {
				t.Fatalf("procs %d devices %d first %s last %s", rep.Procs, rep.Devices, rep.PerDevice[0].Device, rep.PerDevice[len(rep.PerDevice)-1].Device)
			}
			if rep.Lateness.Count != int64(rep.FramesSent) {
				t.Fatalf("merged lateness histogram holds %d frames, sent %d", rep.Lateness.Count, rep.FramesSent)
			}
			if rep.CPUUserSeconds+rep.CPUSysSeconds <= 0 || rep.MaxRSSBytes <= 0 {
				t.Fatalf("cpu %v+%v rss %d", rep.CPUUserSeconds, rep.CPUSysSeconds, rep.MaxRSSBytes)
			}
		})
	}
}
