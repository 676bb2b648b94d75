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
