package linkemu

import (
	"errors"
	"fmt"
	"math/rand/v2"
)

// Loss is a packet loss model: independent random loss (Pct), or the
// two-state Gilbert-Elliott model (GE set), not both.
//
// Gilbert-Elliott: the channel is Good or Bad. Before each packet it moves
// Good→Bad with probability P and Bad→Good with probability R; the packet
// is then lost with probability K in Good and H in Bad. In the long run it
// is Bad a fraction πB = P/(P+R) of packets, and
//
//	mean loss          = K·R/(P+R) + H·P/(P+R)
//	mean time in Bad   = 1/R packets, in Good = 1/P packets.
//
// With K = 0 and H = 1 (Gilbert's model, what GilbertElliott builds) every
// packet in Bad is lost, so a burst of losses is a stay in Bad:
//
//	mean burst length B = 1/R        →  R = 1/B
//	mean loss L = P/(P+R)            →  P = L·R/(1-L)
type Loss struct {
	// Pct is the independent per-packet loss in percent.
	Pct float64
	// GE enables the Gilbert-Elliott model below (probabilities 0..1).
	GE         bool
	P, R, K, H float64
}

// RandomLoss is independent loss of pct percent of the packets.
func RandomLoss(pct float64) Loss { return Loss{Pct: pct} }

// GilbertElliott is the bursty loss model with mean loss lossPct percent and
// mean burst length burst packets (K = 0, H = 1; see Loss for the formulas).
// burst must be >= 1; a loss too high for the burst makes P exceed 1, which
// Validate rejects.
func GilbertElliott(lossPct, burst float64) Loss {
	l := lossPct / 100
	r := 1 / burst
	return Loss{GE: true, P: l * r / (1 - l), R: r, K: 0, H: 1}
}

// MeanPct is the long-run loss in percent.
func (l Loss) MeanPct() float64 {
	if !l.GE {
		return l.Pct
	}
	if l.P+l.R == 0 {
		return 100 * l.K
	}
	return 100 * (l.K*l.R + l.H*l.P) / (l.P + l.R)
}

// MeanBurst is the mean length of a run of consecutive losses, in packets.
// For Gilbert-Elliott with K = 0 it is 1/(1-(1-R)·H) (a run ends when the
// channel leaves Bad or a packet in Bad gets through); otherwise it is the
// independent-loss figure 1/(1-p).
func (l Loss) MeanBurst() float64 {
	if !l.GE || l.K != 0 {
		return 1 / (1 - l.MeanPct()/100)
	}
	return 1 / (1 - (1-l.R)*l.H)
}

// Validate reports a probability out of range or both models at once.
func (l Loss) Validate() error {
	if !l.GE {
		if !(l.Pct >= 0 && l.Pct <= 100) {
			return fmt.Errorf("loss %v%% outside [0, 100]", l.Pct)
		}
		return nil
	}
	if l.Pct != 0 {
		return errors.New("loss: both Pct and Gilbert-Elliott set")
	}
	for _, v := range []float64{l.P, l.R, l.K, l.H} {
		if !(v >= 0 && v <= 1) {
			return fmt.Errorf("loss: Gilbert-Elliott P=%v R=%v K=%v H=%v: a probability outside [0, 1]", l.P, l.R, l.K, l.H)
		}
	}
	return nil
}

func (l Loss) String() string {
	if !l.GE {
		return fmt.Sprintf("%g%%", l.Pct)
	}
	return fmt.Sprintf("GE(p=%.4g r=%.4g k=%.4g h=%.4g; mean %.3g%%, burst %.3g)", l.P, l.R, l.K, l.H, l.MeanPct(), l.MeanBurst())
}

// lossState is the model's running state for one direction.
type lossState struct {
	m   Loss
	bad bool
}

// drop decides the fate of the next packet.
func (s *lossState) drop(rng *rand.Rand) bool {
	if !s.m.GE {
		return s.m.Pct > 0 && rng.Float64()*100 < s.m.Pct
	}
	if s.bad {
		if rng.Float64() < s.m.R {
			s.bad = false
		}
	} else if rng.Float64() < s.m.P {
		s.bad = true
	}
	p := s.m.K
	if s.bad {
		p = s.m.H
	}
	return p > 0 && rng.Float64() < p
}
