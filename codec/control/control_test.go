package control

import (
	"bytes"
	"testing"

	"github.com/fleetwire/fleetwire/codec"
)

func TestRoundTrip(t *testing.T) {
	f := func(c codec.Control, text string) {
		t.Helper()
		line := AppendText(nil, &c, '\n')
		if string(line) != text+"\n" {
			t.Fatalf("AppendText(%+v) = %q, want %q", c, line, text)
		}
		for _, frame := range [][]byte{line[:len(line)-1], AppendBinary(nil, &c)} {
			var b codec.Batch
			if err := Decode(&b, frame); err != nil {
				t.Fatalf("Decode(%q): %v", frame, err)
			}
			got := b.Controls[0]
			if got.Kind != c.Kind || !bytes.Equal(got.Device, c.Device) || got.Seq != c.Seq ||
				got.ID != c.ID || got.Status != c.Status || !bytes.Equal(got.Payload, c.Payload) {
				t.Fatalf("Decode(%q) = %+v, want %+v", frame, got, c)
			}
			if got.Binary != (frame[0] == codec.MagicControl) {
				t.Fatalf("Binary flag wrong for %q", frame)
			}
		}
	}
	f(codec.Control{Kind: codec.ControlHello, Device: []byte("mote-3")}, "#hello mote-3")
	f(codec.Control{Kind: codec.ControlEOS, Device: []byte("mote-3"), Seq: 4690}, "#eos mote-3 4690")
	f(codec.Control{Kind: codec.ControlEOS, Seq: 12}, "#eos 12")
	f(codec.Control{Kind: codec.ControlCommand, ID: 17, Payload: []byte("LED ON")}, "#cmd 17 LED ON")
	f(codec.Control{Kind: codec.ControlAck, ID: 17, Status: codec.AckOK}, "#ack 17 ok")
	f(codec.Control{Kind: codec.ControlAck, ID: 18, Status: codec.AckError, Payload: []byte("no such LED")}, "#ack 18 error no such LED")
}

func TestDecode_Failure(t *testing.T) {
	var b codec.Batch
	f := func(frame string, want codec.Reason) {
		t.Helper()
		for i := 0; i < 2; i++ {
			err := Decode(&b, []byte(frame))
			if got := codec.ReasonOf(err); got != want {
				t.Fatalf("Decode(%q) = %v, want %s", frame, err, want)
			}
			if len(b.Controls) != 0 {
				t.Fatalf("Decode(%q) appended a control despite the error", frame)
			}
		}
	}
	f("#", codec.ReasonBadControl)
	f("#helo x", codec.ReasonBadControl)
	f("#hello", codec.ReasonBadID)
	f("#hello a b", codec.ReasonBadID)
	f("#eos", codec.ReasonBadControl)
	f("#eos x y", codec.ReasonBadControl)
	f("#eos b@d 1", codec.ReasonBadID)
	f("#cmd 1", codec.ReasonBadControl)
	f("#cmd x LED", codec.ReasonBadControl)
	f("#ack 1 maybe", codec.ReasonBadControl)
	f("#ack x ok", codec.ReasonBadControl)
	f("\xa1\x05\x01", codec.ReasonBadLength)
	f("\xa1\x01\x09", codec.ReasonBadControl)
	f("\xa1\x02\x01\x05", codec.ReasonTruncated)
	f("\xa1\x03\x03\x01\x02", codec.ReasonTruncated)
	f("\xa1\x09\x03\x01\x00\x00\x00\x00\x00\x00\x00", codec.ReasonBadControl) // empty command
}

func TestDecode_Truncations(t *testing.T) {
	frames := [][]byte{
		AppendBinary(nil, &codec.Control{Kind: codec.ControlEOS, Device: []byte("dev"), Seq: 9}),
		AppendBinary(nil, &codec.Control{Kind: codec.ControlAck, ID: 3, Status: codec.AckUnknown, Payload: []byte("x")}),
	}
	var b codec.Batch
	for _, fr := range frames {
		for n := 1; n < len(fr); n++ {
			if err := Decode(&b, fr[:n]); err == nil {
				t.Fatalf("truncated at %d of %x: no error", n, fr)
			}
		}
	}
}

func FuzzDecode(f *testing.F) {
	f.Add([]byte("#hello mote-3"))
	f.Add([]byte("#eos m 5"))
	f.Add([]byte("#ack 1 error oops"))
	f.Add(AppendBinary(nil, &codec.Control{Kind: codec.ControlCommand, ID: 1, Payload: []byte("LED ON")}))
	f.Fuzz(func(t *testing.T, frame []byte) {
		if len(frame) == 0 {
			return
		}
		var b codec.Batch
		if err := Decode(&b, frame); err != nil {
			return
		}
		c := b.Controls[0]
		var again []byte
		if c.Binary {
			again = AppendBinary(nil, &c)
		} else {
			again = AppendText(nil, &c, '\n')
			again = again[:len(again)-1]
		}
		var b2 codec.Batch
		if err := Decode(&b2, again); err != nil {
			t.Fatalf("re-encoded %q does not decode: %v", again, err)
		}
	})
}
