package loadgen

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/fleetwire/fleetwire/codec"
)

// TestRegenerate: a resent sample carries exactly what its first
// transmission carried. A device's signal is played forward with fill (as
// frames are built, in uneven steps); then every range is regenerated
// from a checkpoint that moves up as a Sender's Low would, for the walk
// and for a replay, and must equal what fill produced.
func TestRegenerate(t *testing.T) {
	walk := DefaultConfig()
	walk.Channels, walk.Samples = 3, 1
	replay := DefaultConfig()
	replay.Samples = 1
	for name, c := range map[string]*Config{"walk": &walk, "replay": &replay} {
		t.Run(name, func(t *testing.T) {
			s := testSched(t, c)
			if name == "replay" {
				// Three templates of 7, 5 and 11 samples of 2 channels:
				// short, so that regeneration wraps around them.
				s.replay = &replaySet{channels: []string{"a", "b"}}
				for i, n := range []int{7, 5, 11} {
					tp := template{samples: n}
					for j := range 2 * n {
						tp.values = append(tp.values, codec.Value{Mant: int64(100*i + j), Scale: 1})
					}
					s.replay.templates = append(s.replay.templates, tp)
				}
				s.channels = 2
			}
			rng := rand.New(rand.NewPCG(1, 2))
			for num := range 5 {
				var d device
				s.initDevice(&d, c, num)
				ck := slices.Clone(d.walk)
				ch := s.channels
				var sent []codec.Value // sample i is sent[i*ch : (i+1)*ch]
				var ckSeq uint64
				for range 50 {
					n := 1 + rng.IntN(9)
					sent = s.fill(sent, &d, n)
					d.seq += uint64(n) // as appendFrame and skip do
					// The lowest held sample moves up (here below next, so that
					// something is left to resend).
					to := ckSeq + uint64(rng.IntN(int(d.seq-ckSeq)))
					s.advance(&d, ck, ckSeq, to)
					ckSeq = to
					lo := ckSeq + uint64(rng.IntN(int(d.seq-ckSeq)))
					n = 1 + rng.IntN(int(d.seq-lo))
					got := s.regen(nil, make([]int64, ch), &d, ck, ckSeq, lo, n)
					want := sent[int(lo)*ch : (int(lo)+n)*ch]
					if !sameValues(got, want) {
						t.Fatalf("device %d: samples %d+%d (checkpoint at %d, next %d): regenerated %v, sent %v",
							num, lo, n, ckSeq, d.seq, got, want)
					}
				}
			}
		})
	}
}
