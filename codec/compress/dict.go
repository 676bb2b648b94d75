package compress

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	"github.com/klauspost/compress/zstd"

	"github.com/fleetwire/fleetwire/codec"
)

// Dict is a zstd dictionary and the wire id that names it.
//
// An id names one dictionary content forever: a retrained dictionary gets
// a new id, and a decoder keeps the old one for as long as senders in the
// field may use it.
type Dict struct {
	// ID is the id on the wire, 1 to 2^32-1. For a dictionary in zstd
	// format it may be 0, meaning the id inside the dictionary; if set,
	// the two must agree.
	ID uint32
	// Format is the base format of the frames the dictionary was trained
	// on (FormatText, FormatBinary, FormatCompact): Append encodes frames
	// of that format with it. FormatUnknown makes a decode-only dictionary.
	Format codec.Format
	// Data is a dictionary in zstd format (TrainDict, "zstd --train";
	// starts with 37 A4 30 EC) or, without that magic, raw content used as
	// history only.
	Data []byte
}

var zstdDictMagic = []byte{0x37, 0xa4, 0x30, 0xec}

// load makes d's encoder and the decoder option that registers it.
func (d Dict) load(eopts []zstd.EOption) (dictEntry, zstd.DOption, error) {
	e := dictEntry{id: d.ID, format: d.Format}
	var eo zstd.EOption
	var do zstd.DOption
	if len(d.Data) >= 8 && string(d.Data[:4]) == string(zstdDictMagic) {
		inner := binary.LittleEndian.Uint32(d.Data[4:8])
		if e.id == 0 {
			e.id = inner
		}
		if inner != e.id {
			return e, nil, fmt.Errorf("id %d inside the dictionary", inner)
		}
		eo, do = zstd.WithEncoderDict(d.Data), zstd.WithDecoderDicts(d.Data)
	} else {
		if len(d.Data) == 0 {
			return e, nil, errors.New("empty dictionary")
		}
		eo, do = zstd.WithEncoderDictRaw(e.id, d.Data), zstd.WithDecoderDictRaw(e.id, d.Data)
	}
	if e.id == 0 {
		return e, nil, errors.New("dictionary id 0")
	}
	var err error
	e.enc, err = zstd.NewWriter(nil, append(eopts[:len(eopts):len(eopts)], eo)...)
	return e, do, err
}

// TrainDict builds a zstd dictionary with the given id from samples (whole
// bare frames, as Append will see them), with about size bytes of history.
//
// The history is chosen like zstd's COVER trainer: the samples are cut
// into size/segment epochs, and from each the segment whose 8-byte
// substrings occur in the most samples (not counting those already taken)
// is kept; the best segments end up last, where offsets are cheapest. Then
// zstd.BuildDict fits the entropy tables to the samples. Everything is
// deterministic: the same samples give the same bytes, which is what lets
// the embedded dictionaries be regenerated and checked.
func TrainDict(samples [][]byte, id uint32, size int) ([]byte, error) {
	return trainDict(samples, id, size, DefaultLevel)
}

// Training parameters: substring length, segment length.
const (
	trainK       = 8
	trainSegment = 48
)

func trainDict(samples [][]byte, id uint32, size int, level zstd.EncoderLevel) ([]byte, error) {
	if id == 0 {
		return nil, errors.New("compress: dictionary id 0")
	}
	if size < 256 {
		return nil, errors.New("compress: dictionary size below 256 bytes")
	}
	hist := coverHistory(samples, size, trainK, trainSegment)
	if len(hist) < 8 {
		return nil, errors.New("compress: samples too small or too few to train on")
	}
	d, err := zstd.BuildDict(zstd.BuildDictOptions{
		ID:       id,
		Contents: samples,
		History:  hist,
		Offsets:  [3]int{1, 4, 8},
		Level:    level,
	})
	if err != nil {
		return nil, fmt.Errorf("compress: building dictionary: %w", err)
	}
	return d, nil
}

// coverHistory picks segments of samples that cover the substrings most
// samples share (see TrainDict).
func coverHistory(samples [][]byte, size, k, seg int) []byte {
	freq := map[uint64]uint32{} // samples a k-mer occurs in
	seen := map[uint64]struct{}{}
	total := 0
	for _, s := range samples {
		clear(seen)
		for i := 0; i+k <= len(s); i++ {
			h := kmer(s[i:], k)
			if _, ok := seen[h]; !ok {
				seen[h] = struct{}{}
				freq[h]++
			}
		}
		total += len(s)
	}
	epochs := max(size/seg, 1)
	type segment struct {
		b     []byte
		score uint64
	}
	var picked []segment
	used := 0
	win := map[uint64]struct{}{}
	for e := 0; e < epochs && used < size; e++ {
		lo, hi := e*len(samples)/epochs, (e+1)*len(samples)/epochs
		var best []byte
		bestScore := uint64(0)
		for _, s := range samples[lo:hi] {
			for i := 0; i+k <= len(s); i++ {
				end := min(i+seg, len(s))
				clear(win)
				score := uint64(0)
				for j := i; j+k <= end; j++ {
					h := kmer(s[j:], k)
					if _, ok := win[h]; !ok {
						win[h] = struct{}{}
						score += uint64(freq[h])
					}
				}
				if score > bestScore {
					best, bestScore = s[i:end], score
				}
			}
		}
		if best == nil {
			continue
		}
		for j := 0; j+k <= len(best); j++ {
			delete(freq, kmer(best[j:], k))
		}
		picked = append(picked, segment{best, bestScore})
		used += len(best)
	}
	// Best segments last: the encoder reaches them with the shortest offsets.
	slices.SortStableFunc(picked, func(a, b segment) int { return cmp.Compare(a.score, b.score) })
	hist := make([]byte, 0, used)
	for _, s := range picked {
		hist = append(hist, s.b...)
	}
	if len(hist) > size {
		hist = hist[len(hist)-size:]
	}
	return hist
}

func kmer(b []byte, k int) uint64 {
	var x uint64
	for i := range k {
		x |= uint64(b[i]) << (8 * i)
	}
	return x
}
