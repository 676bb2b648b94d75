package control

import (
	"testing"

	"github.com/fleetwire/fleetwire/codec"
)

// FuzzDecode feeds arbitrary frames to Decode: it must not panic, must
// return a typed error and leave the batch as it was, or accept a control
// that keeps the rules (a #stored's ranges above all) and whose
// re-encoding in the same form decodes to the same control. The seed
// corpus in testdata/fuzz/FuzzDecode holds one frame of each kind and form.
func FuzzDecode(f *testing.F) {
	f.Add([]byte("#hello mote-3"))
	f.Add([]byte("#hello mote-3 ack 256"))
	f.Add([]byte("#eos m 5"))
	f.Add([]byte("#ack 1 error oops"))
	f.Add([]byte("#stored mote-3 4690 4700-4705 4800-4800"))
	f.Add([]byte("#gaveup 17"))
	f.Add(AppendBinary(nil, &codec.Control{Kind: codec.ControlCommand, ID: 1, Payload: []byte("LED ON")}))
	f.Add(AppendBinary(nil, &codec.Control{Kind: codec.ControlHello, Device: []byte("m"), Ack: true, Window: 300}))
	f.Add(AppendBinary(nil, &codec.Control{Kind: codec.ControlStored, Device: []byte("m"), Seq: 1 << 40, Ranges: rs(1<<40+5, 1<<41, 1<<62, 1<<63)}))
	f.Add(AppendBinary(nil, &codec.Control{Kind: codec.ControlGaveUp, Seq: 9}))
	var good codec.Batch
	if err := Decode(&good, []byte("#stored g 1 3-4")); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, frame []byte) {
		if len(frame) == 0 {
			return
		}
		b := good // a batch with one #stored in it already
		b.Controls = append([]codec.Control(nil), good.Controls...)
		before := b.Mark()
		if err := Decode(&b, frame); err != nil {
			e, ok := err.(*codec.Error)
			switch {
			case !ok:
				t.Fatalf("error %T %v, want *codec.Error", err, err)
			case e.Format != codec.FormatControl || e.Reason == codec.ReasonNone || e.Reason >= codec.NumReasons:
				t.Fatalf("bad error %+v", e)
			case e.Offset < 0 || e.Offset > len(frame):
				t.Fatalf("offset %d outside the %d-byte frame", e.Offset, len(frame))
			case b.Mark() != before:
				t.Fatalf("batch not rolled back after %v", err)
			}
			return
		}
		if len(b.Controls) != 2 || b.Controls[0].Ranges[0] != (codec.SeqRange{Lo: 3, Hi: 4}) {
			t.Fatalf("the earlier control changed: %+v", b.Controls)
		}
		c := b.Controls[1]
		checkRules(t, &c)
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
		if !equal(&b2.Controls[0], &c) {
			t.Fatalf("re-encoded %q decodes to %+v, want %+v", again, b2.Controls[0], c)
		}
	})
}

// checkRules checks what the decoder promises about an accepted control,
// independently of how it checked it.
func checkRules(t *testing.T, c *codec.Control) {
	t.Helper()
	if c.Ack && (c.Kind != codec.ControlHello || c.Window < 1 || c.Window > codec.MaxAckWindow) {
		t.Fatalf("ack option out of its rules: %+v", c)
	}
	if len(c.Ranges) > 0 && c.Kind != codec.ControlStored || len(c.Ranges) > codec.MaxStoredRanges {
		t.Fatalf("%d ranges on a %s", len(c.Ranges), c.Kind)
	}
	if cap(c.Ranges) != len(c.Ranges) {
		t.Fatalf("ranges not capped: len %d cap %d", len(c.Ranges), cap(c.Ranges))
	}
	if c.Kind == codec.ControlStored && c.Device != nil && !codec.ValidID(c.Device) {
		t.Fatalf("stored with an invalid device id %q", c.Device)
	}
	if c.Solo && !c.Ack {
		t.Fatalf("solo without ack: %+v", c)
	}
	above := c.Seq // the lowest number the next range may start above
	for _, r := range c.Ranges {
		if r.Lo <= above || r.Hi < r.Lo || r.Hi == 1<<64-1 {
			t.Fatalf("range %v breaks the rules after %d: %+v", r, above, c.Ranges)
		}
		above = r.Hi + 1
	}
}
