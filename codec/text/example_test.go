package text_test

import (
	"encoding/hex"
	"fmt"

	"github.com/fleetwire/fleetwire/codec"
	"github.com/fleetwire/fleetwire/codec/text"
)

// Decoding a line as nc would send it (the END byte is the splitter's).
func ExampleDecode() {
	var b codec.Batch
	line := []byte("mote-3;42;1700000000000;21.5:40,21.6:41@5000")
	if err := text.Decode(&b, line, &codec.DefaultLimits); err != nil {
		panic(err)
	}
	f := &b.Frames[0]
	for i := 0; i < f.Samples(); i++ {
		fmt.Println(string(f.Device), f.Seq+uint64(i), f.Times[i], f.Sample(i))
	}
	// Output:
	// mote-3 42 1700000000000 [21.5 40]
	// mote-3 43 1700000005000 [21.6 41]
}

// The hex dumps quoted in PROTOCOL.md: each frame as it travels.
func ExampleAppend() {
	frames := []codec.Frame{
		{Channels: 1, Times: make([]int64, 3), Values: []codec.Value{codec.Decimal(215, 1), codec.Decimal(217, 1), codec.Decimal(219, 1)}},
		{Device: []byte("mote-3"), Seq: 42, Flags: codec.HasSeq, Channels: 2, Times: make([]int64, 2),
			Values: []codec.Value{codec.Decimal(215, 1), codec.Decimal(40, 0), codec.Decimal(216, 1), codec.Decimal(41, 0)}},
		{Device: []byte("1"), Seq: 7, Flags: codec.HasSeq | codec.HasTime, Channels: 2, Times: []int64{1278720000000, 1278720005000, 1278720010000},
			Values: []codec.Value{codec.Decimal(4382, 2), codec.Decimal(3021, 2), codec.Decimal(4379, 2), codec.Decimal(302, 1), codec.Decimal(4379, 2), codec.Decimal(3019, 2)}},
	}
	for _, f := range frames {
		wire := text.Append(nil, &f, '\n')
		fmt.Printf("%q\n%s", wire, hex.Dump(wire))
	}
	// Output:
	// "21.5,21.7,21.9\n"
	// 00000000  32 31 2e 35 2c 32 31 2e  37 2c 32 31 2e 39 0a     |21.5,21.7,21.9.|
	// "mote-3;42;21.5:40,21.6:41\n"
	// 00000000  6d 6f 74 65 2d 33 3b 34  32 3b 32 31 2e 35 3a 34  |mote-3;42;21.5:4|
	// 00000010  30 2c 32 31 2e 36 3a 34  31 0a                    |0,21.6:41.|
	// "1;7;1278720000000;43.82:30.21,43.79:30.2@5000,43.79:30.19\n"
	// 00000000  31 3b 37 3b 31 32 37 38  37 32 30 30 30 30 30 30  |1;7;127872000000|
	// 00000010  30 3b 34 33 2e 38 32 3a  33 30 2e 32 31 2c 34 33  |0;43.82:30.21,43|
	// 00000020  2e 37 39 3a 33 30 2e 32  40 35 30 30 30 2c 34 33  |.79:30.2@5000,43|
	// 00000030  2e 37 39 3a 33 30 2e 31  39 0a                    |.79:30.19.|
}
