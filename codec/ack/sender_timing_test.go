package ack

import (
	"testing"

	"github.com/fleetwire/fleetwire/codec"
)

// BenchmarkSender: what a device (or a load generator, per simulated
// device) pays per frame of 10 samples, with a cumulative #stored every
// 10 frames and a timer check per frame.
func BenchmarkSender(b *testing.B) {
	s, err := NewSender(&Config{}, 0)
	if err != nil {
		b.Fatal(err)
	}
	var runs []codec.SeqRange
	b.ReportAllocs()
	now := int64(0)
	for i := 0; b.Loop(); i++ {
		now += ms(1)
		s.Sent(s.Next(), 10, now)
		if i%10 == 9 {
			runs = s.OnStored(runs[:0], s.Next(), nil, now+ms(30))
		}
		runs = s.Due(runs[:0], now)
	}
}
