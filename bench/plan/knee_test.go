package plan

import (
	"context"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"
)

// TestSearch_FindsPlantedKnee sweeps the throttled stub, which keeps at
// most 30,000 readings/s, with the real generator (`fleetwire load`): with
// a 1 % loss limit the planted knee is where loss reaches 1 %, 30,000 /
// 0.99 = 30,303 readings/s offered (the bucket's 10 ms burst moves it up
// by 1 % in a 1 s step). The search must bracket it between its knee and
// first bad step, within 10 % (its resolution), and name loss as the
// limit crossed and the server's own drops as the resource.
func TestSearch_FindsPlantedKnee(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	const budget, devices = 30000.0, 10
	exe := fleetwireBin(t)
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	runner, err := NewRunner(Options{Exe: exe, WorkDir: t.TempDir(), Drain: 5 * time.Second, Logger: quiet(),
		ServerCommand: func(a Addrs) *exec.Cmd {
			cmd := exec.Command(self)
			cmd.Env = append(os.Environ(), envStub+"=30000", envStubDevices+"="+strconv.Itoa(devices), envStubUDP+"="+a.UDP, envStubHTTP+"="+a.HTTP)
			return cmd
		}})
	if err != nil {
		t.Fatal(err)
	}
	lim := DefaultLimits()
	// Other packages' tests share the machine: a stalled generator
	// catches up late (the stub keeps by each device's frame timestamps,
	// so what it keeps does not change), and a failing step is re-run
	// once.
	lim.MaxLossPct, lim.MaxP99, lim.MaxGenLate, lim.MinSentFraction = 1, 0, 0, 0.5
	s := Search{Base: Load{Transport: "udp", Codec: "compact", Batch: 5, Channels: 2, Devices: devices, Duration: time.Second},
		Limits: lim, Start: 10000, Factor: 2, Resolution: 0.1, MaxSteps: 12, Confirm: 1, Logger: quiet()}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	t0 := time.Now()
	r := s.Run(ctx, runner.Measure, 1)
	for _, st := range r.Steps {
		t.Logf("step %d %s: offered %.0f, delivered %d of %d, loss %.2f %%, %s %s", st.N, st.Phase, st.Load.Offered(),
			st.Figures.Delivered, st.Figures.OfferedReadings, st.Figures.LossPct, st.Verdict, st.Err)
	}
	t.Logf("%s in %v", r.Outcome, time.Since(t0))
	k, b := r.KneeStep(), r.BadStep()
	if r.Outcome != OutcomeKnee || k == nil || b == nil {
		t.Fatalf("outcome %q, knee %d, first bad %d: %s", r.Outcome, r.Knee, r.FirstBad, r.Note)
	}
	planted := budget / 0.99
	lo, hi := k.Load.Offered(), b.Load.Offered()
	if lo > 1.02*planted || hi < planted || hi/lo > 1.1 {
		t.Fatalf("knee %.0f, first bad %.0f: do not bracket the planted %.0f within 10 %%", lo, hi, planted)
	}
	if len(b.Verdict.Crossed) == 0 || b.Verdict.Crossed[0][:4] != "loss" || b.Verdict.GeneratorLimited || b.Verdict.Resource != ResDropped {
		t.Fatalf("first bad step's verdict %+v", b.Verdict)
	}
	// Below the budget the stub keeps everything: the knee step lost
	// nothing, and the first bad one lost what exceeds the budget.
	if k.Figures.LossPct != 0 {
		t.Fatalf("knee step lost %.3f %%", k.Figures.LossPct)
	}
	if want := 100 * (1 - budget/hi); b.Figures.LossPct < want-1.5 || b.Figures.LossPct > want+1 {
		t.Fatalf("first bad step lost %.2f %%, want about %.2f %%", b.Figures.LossPct, want)
	}
}
