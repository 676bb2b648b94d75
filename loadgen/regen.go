package loadgen

import "github.com/fleetwire/fleetwire/codec"

// A resent sample must carry the values its first transmission carried,
// and 100,000 devices cannot keep every sample they have in the air. The
// signals are therefore regenerated, not stored:
//
//   - replay: sample s of a device is sample (pos0 + s) mod T of its
//     template, and pos0 = d.pos - d.seq (mod T).
//   - walk: each channel step draws one splitmix output, and splitmix's
//     state only grows by a constant per draw, so the generator state
//     before sample s is d.rng - (d.seq-s)*channels*gamma. The walk
//     itself is cumulative, so an acking device keeps a checkpoint: the
//     walk values before sample ckSeq, its lowest sample still held.
//     Resending s replays s-ckSeq steps from there (at most the window),
//     and the checkpoint moves up as acknowledgements free samples (each
//     sample is stepped once more in all).
//
// This holds because nothing but fill draws from d.rng once a device is
// initialised (back-off jitter has its own source): TestRegenerate checks
// that every range regenerates to what fill produced.

const splitmixGamma = 0x9e3779b97f4a7c15

// rngAt returns the state d.rng had before sample s.
func (s *sched) rngAt(d *device, seq uint64) uint64 {
	return d.rng - (d.seq-seq)*uint64(s.channels)*splitmixGamma
}

// regen appends the values of samples seq..seq+n-1 of d to vals. For the
// walk, ck holds the walk before sample ckSeq (ckSeq <= seq) and walk is
// scratch of one value per channel.
func (s *sched) regen(vals []codec.Value, walk []int64, d *device, ck []int64, ckSeq, seq uint64, n int) []codec.Value {
	if s.replay != nil {
		t := &s.replay.templates[d.tpl]
		T := uint64(t.samples)
		pos := int((uint64(d.pos) + T - (d.seq-seq)%T) % T)
		for range n {
			vals = append(vals, s.replay.sample(int(d.tpl), pos)...)
			if pos++; pos == t.samples {
				pos = 0
			}
		}
		return vals
	}
	rng := s.rngAt(d, ckSeq)
	walk = walk[:copy(walk, ck)]
	for range seq - ckSeq {
		for c, x := range walk {
			walk[c] = walkStep(c, x, splitmix(&rng))
		}
	}
	for range n {
		for c, x := range walk {
			x = walkStep(c, x, splitmix(&rng))
			walk[c] = x
			vals = append(vals, walkValue(c, x))
		}
	}
	return vals
}

// advance moves a walk checkpoint ck from before sample from to before
// sample to (from <= to <= d.seq); replay signals have no checkpoint.
func (s *sched) advance(d *device, ck []int64, from, to uint64) {
	if s.replay != nil || to <= from {
		return
	}
	rng := s.rngAt(d, from)
	for range to - from {
		for c, x := range ck {
			ck[c] = walkStep(c, x, splitmix(&rng))
		}
	}
}
