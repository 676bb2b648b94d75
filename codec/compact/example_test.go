package compact_test

import (
	"encoding/hex"
	"fmt"

	"github.com/fleetwire/fleetwire/codec"
	"github.com/fleetwire/fleetwire/codec/compact"
)

// The first three readings of mote 1 in the multihop data set (humidity,
// temperature; written with trailing zeros dropped, as the motes did).
func Example() {
	var vs []codec.Value
	for _, s := range []string{"43.82", "30.21", "43.79", "30.2", "43.79", "30.19"} {
		v, _ := codec.ParseValue([]byte(s))
		vs = append(vs, v)
	}
	f := codec.Frame{Device: []byte("1"), Seq: 1, Flags: codec.HasSeq, Channels: 2, Times: make([]int64, 3), Values: vs}

	frame := compact.Append(nil, &f)
	fmt.Print(hex.Dump(frame))

	var b codec.Batch
	if err := compact.Decode(&b, frame, nil); err != nil {
		fmt.Println(err)
		return
	}
	got := &b.Frames[0]
	fmt.Printf("device %s, seq %d, %d bytes for %d readings\n", got.Device, got.Seq, got.WireBytes, got.Readings())
	for i := range got.Samples() {
		s := got.Sample(i)
		fmt.Println(s[0], s[1])
	}
	// Output:
	// 00000000  c1 0c 49 31 4e 30 78 8a  c3 74 c6 5c 93 b0        |..I1N0x..t.\..|
	// device 1, seq 1, 14 bytes for 6 readings
	// 43.82 30.21
	// 43.79 30.2
	// 43.79 30.19
}
