package control_test

import (
	"encoding/hex"
	"fmt"

	"github.com/fleetwire/fleetwire/codec"
	"github.com/fleetwire/fleetwire/codec/control"
)

// The control frames quoted in PROTOCOL.md, text and binary.
func ExampleAppendBinary() {
	for _, c := range []codec.Control{
		{Kind: codec.ControlHello, Device: []byte("mote-3")},
		{Kind: codec.ControlEOS, Device: []byte("mote-3"), Seq: 4690},
		{Kind: codec.ControlCommand, ID: 17, Payload: []byte("LED ON")},
		{Kind: codec.ControlAck, ID: 17, Status: codec.AckOK},
	} {
		fmt.Printf("%q\n%s", control.AppendText(nil, &c, '\n'), hex.Dump(control.AppendBinary(nil, &c)))
	}
	// Output:
	// "#hello mote-3\n"
	// 00000000  a1 08 01 06 6d 6f 74 65  2d 33                    |....mote-3|
	// "#eos mote-3 4690\n"
	// 00000000  a1 10 02 06 6d 6f 74 65  2d 33 52 12 00 00 00 00  |....mote-3R.....|
	// 00000010  00 00                                             |..|
	// "#cmd 17 LED ON\n"
	// 00000000  a1 0f 03 11 00 00 00 00  00 00 00 4c 45 44 20 4f  |...........LED O|
	// 00000010  4e                                                |N|
	// "#ack 17 ok\n"
	// 00000000  a1 0a 04 11 00 00 00 00  00 00 00 00              |............|
}

// The frames of acknowledged delivery quoted in PROTOCOL.md: a hello that
// asks for acks with a 256-sample window, the server's #stored (everything
// below 4690 stored, and 4700-4705 and 4800), and the device giving up
// everything below 4600 it has not seen acknowledged.
func ExampleAppendBinary_acknowledgedDelivery() {
	for _, c := range []codec.Control{
		{Kind: codec.ControlHello, Device: []byte("mote-3"), Ack: true, Window: 256},
		{Kind: codec.ControlStored, Device: []byte("mote-3"), Seq: 4690, Ranges: []codec.SeqRange{{Lo: 4700, Hi: 4705}, {Lo: 4800, Hi: 4800}}},
		{Kind: codec.ControlGaveUp, Device: []byte("mote-3"), Seq: 4600},
		{Kind: codec.ControlGaveUp, Seq: 4600},
		// A device alone on its link, and a #stored for it.
		{Kind: codec.ControlHello, Device: []byte("mote-3"), Ack: true, Window: 256, Solo: true},
		{Kind: codec.ControlStored, Seq: 4690},
	} {
		fmt.Printf("%q\n%s", control.AppendText(nil, &c, '\n'), hex.Dump(control.AppendBinary(nil, &c)))
	}
	// Output:
	// "#hello mote-3 ack 256\n"
	// 00000000  a1 0b 01 06 6d 6f 74 65  2d 33 01 80 02           |....mote-3...|
	// "#stored mote-3 4690 4700-4705 4800-4800\n"
	// 00000000  a1 0f 05 06 6d 6f 74 65  2d 33 d2 24 02 0a 06 5e  |....mote-3.$...^|
	// 00000010  01                                                |.|
	// "#gaveup mote-3 4600\n"
	// 00000000  a1 10 06 06 6d 6f 74 65  2d 33 f8 11 00 00 00 00  |....mote-3......|
	// 00000010  00 00                                             |..|
	// "#gaveup 4600\n"
	// 00000000  a1 0a 06 00 f8 11 00 00  00 00 00 00              |............|
	// "#hello mote-3 ack 256 solo\n"
	// 00000000  a1 0b 01 06 6d 6f 74 65  2d 33 03 80 02           |....mote-3...|
	// "#stored 4690\n"
	// 00000000  a1 05 05 00 d2 24 00                              |.....$.|
}
