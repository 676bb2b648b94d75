package compact

import (
	"testing"

	"github.com/fleetwire/fleetwire/codec"
)

func TestSmoke(t *testing.T) {
	for _, batch := range []int{1, 10, 60, 600} {
		frames := multihopFrames(t, batch)
		var b codec.Batch
		var buf []byte
		total, readings := 0, 0
		for i := range frames {
			buf = Append(buf[:0], &frames[i])
			total += len(buf)
			readings += frames[i].Readings()
			b.Reset()
			if err := Decode(&b, buf, nil); err != nil {
				t.Fatalf("batch %d frame %d: %v", batch, i, err)
			}
			if d := sameFrame(&b.Frames[0], &frames[i]); d != "" {
				t.Fatalf("batch %d frame %d: %s", batch, i, d)
			}
		}
		t.Logf("batch %d: %.4f B/reading", batch, float64(total)/float64(readings))
	}
}
