package binary_test

import (
	"fmt"

	"github.com/fleetwire/fleetwire/codec"
	"github.com/fleetwire/fleetwire/codec/binary"
)

// One multihop sample (mote 1, reading 1: humidity 43.82, temperature
// 30.21) as a frame of its own.
func ExampleAppend() {
	f := codec.Frame{
		Device:   []byte("mote-1"),
		Seq:      1,
		Flags:    codec.HasSeq,
		Channels: 2,
		Times:    []int64{0},
		Values:   []codec.Value{codec.Decimal(4382, 2), codec.Decimal(3021, 2)},
	}
	wire := binary.Append(nil, &f)
	fmt.Printf("%d bytes: % x\n", len(wire), wire)

	var dst codec.Batch
	if err := binary.Decode(&dst, wire, nil); err != nil {
		fmt.Println(err)
		return
	}
	g := dst.Frames[0]
	fmt.Printf("%s seq %d: %s %s\n", g.Device, g.Seq, g.Values[0], g.Values[1])
	// Output:
	// 25 bytes: b1 17 01 06 6d 6f 74 65 2d 31 01 00 00 00 01 00 02 02 02 02 02 1e 11 cd 0b
	// mote-1 seq 1: 43.82 30.21
}

// Three samples whose device clock steps backwards, with a fixed-decimal
// channel and a channel whose values are written with different numbers
// of fraction digits, one of them a negative zero.
func ExampleAppend_irregular() {
	t0 := int64(1700000000000)
	f := codec.Frame{
		Device:   []byte("t1"),
		Seq:      7,
		Flags:    codec.HasSeq | codec.HasTime,
		Channels: 2,
		Times:    []int64{t0, t0 + 5000, t0 + 4000},
	}
	for _, s := range []string{"21.50", "30", "21.55", "30.2", "21.60", "-0.0"} {
		v, _ := codec.ParseValue([]byte(s))
		f.Values = append(f.Values, v)
	}
	wire := binary.Append(nil, &f)
	fmt.Printf("%d bytes: % x\n", len(wire), wire)

	var dst codec.Batch
	if err := binary.Decode(&dst, wire, nil); err != nil {
		fmt.Println(err)
		return
	}
	g := dst.Frames[0]
	for i := range g.Samples() {
		s := g.Sample(i)
		fmt.Printf("seq %d t0%+d ms: %s %s\n", g.Seq+uint64(i), g.Times[i]-t0, s[0], s[1])
	}
	// Output:
	// 48 bytes: b1 2e 0b 02 74 31 07 00 00 00 00 68 e5 cf 8b 01 00 00 03 00 02 02 02 22 00 88 13 00 00 18 fc ff ff 66 08 1e 00 00 6b 08 2e 01 01 70 08 00 00 81
	// seq 7 t0+0 ms: 21.50 30
	// seq 8 t0+5000 ms: 21.55 30.2
	// seq 9 t0+4000 ms: 21.60 -0.0
}

// Decode rejects a datagram that was cut short, with the reason and the
// byte offset where the frame ends early.
func ExampleDecode_truncated() {
	f := codec.Frame{Channels: 1, Times: []int64{0}, Values: []codec.Value{codec.Decimal(215, 1)}}
	wire := binary.Append(nil, &f)
	var dst codec.Batch
	err := binary.Decode(&dst, wire[:len(wire)-1], nil)
	fmt.Println(codec.ReasonOf(err), err)
	// Output:
	// truncated fleetwire/codec: binary frame: truncated at byte 10: frame ends before its length field says
}
