package linkemu

import (
	"math"
	"math/rand/v2"
	"testing"
)

func TestLossRandom(t *testing.T) {
	for _, pct := range []float64{0, 0.1, 1, 5, 50, 100} {
		s := lossState{m: RandomLoss(pct)}
		rng := rand.New(rand.NewPCG(1, 2))
		const n = 1_000_000
		lost := 0
		for range n {
			if s.drop(rng) {
				lost++
			}
		}
		p := pct / 100
		if math.Abs(float64(lost)-p*n) > 5*math.Sqrt(n*p*(1-p))+0.5 {
			t.Fatalf("%g%%: lost %d of %d", pct, lost, n)
		}
	}
}

func TestGilbertElliott(t *testing.T) {
	f := func(lossPct, burst float64) {
		t.Helper()
		m := GilbertElliott(lossPct, burst)
		if err := m.Validate(); err != nil {
			t.Fatal(err)
		}
		if math.Abs(m.MeanPct()-lossPct) > 1e-9 || math.Abs(m.MeanBurst()-burst) > 1e-9 {
			t.Fatalf("GilbertElliott(%g, %g) = %v: mean %g%%, burst %g", lossPct, burst, m, m.MeanPct(), m.MeanBurst())
		}
		s := lossState{m: m}
		rng := rand.New(rand.NewPCG(3, 4))
		const n = 2_000_000
		lost, bursts, run := 0, 0, 0
		for range n {
			if s.drop(rng) {
				lost++
				run++
				continue
			}
			if run > 0 {
				bursts++
				run = 0
			}
		}
		got, gotBurst := 100*float64(lost)/n, float64(lost)/float64(bursts)
		t.Logf("GE(%g%%, %g): measured %.3f%% loss, mean burst %.3f", lossPct, burst, got, gotBurst)
		if math.Abs(got-lossPct) > 0.1*lossPct || math.Abs(gotBurst-burst) > 0.1*burst {
			t.Fatalf("GE(%g%%, %g): measured %.3f%%, burst %.3f", lossPct, burst, got, gotBurst)
		}
	}
	f(1, 1.5)
	f(2, 4)
	f(10, 3)
}

func TestLossValidate(t *testing.T) {
	bad := []Loss{
		{Pct: -1}, {Pct: 101}, {Pct: 1, GE: true}, {GE: true, P: 2}, {GE: true, H: -0.1},
		GilbertElliott(90, 1), // P would be 9
	}
	for _, l := range bad {
		if l.Validate() == nil {
			t.Errorf("%+v: no error", l)
		}
	}
}
