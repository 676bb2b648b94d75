package ack_test

import (
	"fmt"
	"time"

	"github.com/fleetwire/fleetwire/codec/ack"
	"github.com/fleetwire/fleetwire/codec/control"
)

// A receiver holds what it stored in a Set and acknowledges it with the
// Set's #stored; the device's Sender drops what that covers and resends
// the hole.
func Example() {
	ms := func(v int) int64 { return int64(v) * int64(time.Millisecond) }
	dev, _ := ack.NewSender(&ack.Config{Window: 256}, 0)
	var held ack.Set

	// The device sends three frames of 10 samples; the second is lost.
	for i, at := range []int{0, 100, 200} {
		seq := uint64(10 * i)
		dev.Sent(seq, 10, ms(at))
		if i == 1 {
			continue
		}
		fresh, _ := held.Add(seq, seq+9, nil)
		fmt.Printf("stored %d-%d, %d new\n", seq, seq+9, fresh)
	}

	// Once they are durable, the receiver acknowledges.
	c := held.Stored([]byte("mote-3"))
	fmt.Printf("%s", control.AppendText(nil, &c, '\n'))

	// The device frees what is acknowledged and resends the hole at once.
	resend := dev.OnStored(nil, c.Seq, c.Ranges, ms(260))
	for _, r := range resend {
		fmt.Printf("resend %d-%d\n", r.Lo, r.Hi)
		dev.Resent(r.Lo, r.Hi, ms(260))
		_, _ = held.Add(r.Lo, r.Hi, nil)
	}
	c = held.Stored([]byte("mote-3"))
	fmt.Printf("%s", control.AppendText(nil, &c, '\n'))
	dev.OnStored(nil, c.Seq, c.Ranges, ms(320))
	st := dev.Stats()
	fmt.Printf("acked %d, resent %d, held %d, RTT %v\n", st.Acked, st.Resent, st.Held, st.SRTT)
	// Output:
	// stored 0-9, 10 new
	// stored 20-29, 10 new
	// #stored mote-3 10 20-29
	// resend 10-19
	// #stored mote-3 30
	// acked 30, resent 10, held 0, RTT 260ms
}
