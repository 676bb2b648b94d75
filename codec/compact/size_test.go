package compact

import (
	"fmt"
	"strings"
	"testing"

	"github.com/fleetwire/fleetwire/codec"
	"github.com/fleetwire/fleetwire/codec/text"
)

// varintDeltaFrame is the baseline compact is measured against: the same
// envelope, flags byte and id, then uvarint seq and sample count, and per
// channel a scale byte, the first mantissa and every delta as zigzag
// varints (mantissas at the channel's largest scale, as modeTrimmed).
func varintDeltaFrame(f *codec.Frame) int {
	n := 2 + 1 + len(f.Device)
	n += uvarintLen(f.Seq) + uvarintLen(uint64(f.Samples()))
	m := make([]int64, f.Samples())
	for c := range f.Channels {
		analyze(m, f.Values, c, f.Channels, desc{})
		n++
		prev := int64(0)
		for _, x := range m {
			n += uvarintLen(zigzag(x - prev))
			prev = x
		}
	}
	if n-2 >= 128 {
		n += uvarintLen(uint64(n-2)) - 1
	}
	return n
}

// TestMultihopSize measures wire bytes per reading on multihop (frame of
// batch samples per mote, envelope and header included) and holds compact
// to its target at batch 60. The table goes into PROTOCOL-compact.md:
//
//	go test -run MultihopSize -v ./codec/compact/
func TestMultihopSize(t *testing.T) {
	var sb strings.Builder
	fmt.Fprintf(&sb, "\n| batch | text | plain varint deltas | compact | compact bytes/frame |\n|---|---|---|---|---|\n")
	for _, batch := range []int{1, 10, 60, 600} {
		frames := multihopFrames(t, batch)
		var txt, vd, cp, readings int
		var buf []byte
		for i := range frames {
			f := &frames[i]
			readings += f.Readings()
			buf = text.Append(buf[:0], f, '\n')
			txt += len(buf)
			vd += varintDeltaFrame(f)
			buf = Append(buf[:0], f)
			cp += len(buf)
		}
		r := float64(readings)
		fmt.Fprintf(&sb, "| %d | %.3f | %.3f | %.3f | %.1f |\n", batch, float64(txt)/r, float64(vd)/r, float64(cp)/r, float64(cp)/float64(len(frames)))
		if got := float64(cp) / r; batch == 60 && got > 0.8 {
			t.Errorf("batch 60: %.3f B/reading, target <= 0.8", got)
		}
	}
	t.Log(sb.String())
}
