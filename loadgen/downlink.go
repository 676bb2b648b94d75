package loadgen

import (
	"bytes"

	"github.com/fleetwire/fleetwire/codec"
	"github.com/fleetwire/fleetwire/codec/control"
	"github.com/fleetwire/fleetwire/codec/framing"
)

// maxDownlinkFrame bounds what a device buffers of a downlink frame: a
// command is at most control.MaxPayload bytes plus its header.
const maxDownlinkFrame = 4 << 10

// obey applies a command to a device's LED. Payloads are matched without
// regard to case and surrounding spaces; anything else is not understood.
func obey(led *bool, payload []byte) codec.AckStatus {
	p := bytes.TrimSpace(payload)
	switch {
	case bytes.EqualFold(p, []byte("LED ON")):
		*led = true
	case bytes.EqualFold(p, []byte("LED OFF")):
		*led = false
	case bytes.EqualFold(p, []byte("LED TOGGLE")):
		*led = !*led
	default:
		return codec.AckUnknown
	}
	return codec.AckOK
}

// downlink splits what arrived for device id into frames and handles each.
// atEOF marks a whole datagram.
func (l *loop) downlink(id int32, data []byte, atEOF bool, now int64) {
	d := &l.devs[id]
	if d.split == nil {
		d.split = framing.NewSplitter(l.r.endByte, maxDownlinkFrame)
	}
	for off := 0; off < len(data); {
		adv, fr, err := d.split.Split(data[off:], atEOF)
		if err != nil {
			l.tally.downlinkErrors[codec.ReasonOf(err).String()]++
			if adv == 0 { // a stream that cannot be resynchronised
				l.broken(id, err, now)
				return
			}
		}
		if adv == 0 {
			d.rx = append(d.rx[:0], data[off:]...)
			return
		}
		off += adv
		if fr != nil {
			l.onDownlinkFrame(id, fr, now)
			if d.state != stUp && d.state != stDraining {
				return
			}
		}
	}
}

// onDownlinkFrame obeys a command and acknowledges it.
func (l *loop) onDownlinkFrame(id int32, fr []byte, now int64) {
	d := &l.devs[id]
	c, why := decodeCommand(&l.dl, fr)
	if why != "" {
		l.tally.downlinkErrors[why]++
		return
	}
	d.commands++
	l.live.commands.Add(1)
	st := obey(&d.led, c.Payload)
	if st != codec.AckOK {
		l.tally.unknownCommands++
	}
	if d.state != stUp {
		return // write side already shut: the receiver sees no ack
	}
	l.out, l.marks = l.out[:0], l.marks[:0]
	l.appendControl(codec.Control{Kind: codec.ControlAck, ID: c.ID, Status: st}, markAck)
	l.emit(id, now)
}

// decodeCommand decodes a downlink frame that should be a command; why
// names the problem otherwise.
func decodeCommand(b *codec.Batch, fr []byte) (c *codec.Control, why string) {
	if codec.FormatOf(fr[0]) != codec.FormatControl {
		return nil, "not_control"
	}
	b.Reset()
	if err := control.Decode(b, fr); err != nil {
		return nil, codec.ReasonOf(err).String()
	}
	c = &b.Controls[0]
	if c.Kind != codec.ControlCommand {
		return nil, "unexpected_" + c.Kind.String()
	}
	return c, ""
}
