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
	off, err := d.split.Scan(data, atEOF, func(fr []byte, size int, err error) bool {
		if err != nil {
			l.tally.downlinkErrors[codec.ReasonOf(err).String()]++
			return true
		}
		l.onDownlinkFrame(id, fr, size, now)
		return d.state == stUp || d.state == stDraining
	})
	if err != nil { // a stream that cannot be resynchronised
		l.tally.downlinkErrors[codec.ReasonOf(err).String()]++
		l.broken(id, err, now)
		return
	}
	if d.state == stUp || d.state == stDraining {
		d.rx = append(d.rx[:0], data[off:]...) // a partial frame, for the next read
	}
}

// onDownlinkFrame handles one frame from the receiver (size bytes on the
// wire): a command, which the device obeys and acknowledges, or with Ack
// a #stored. A #stored names its device, or no device when it is for the
// link's only one (its hello said solo): on a UDP socket (which devices
// may share) it goes to the device it names.
func (l *loop) onDownlinkFrame(id int32, fr []byte, size int, now int64) {
	c, why := decodeControl(&l.dl, fr)
	if why != "" {
		l.tally.downlinkErrors[why]++
		return
	}
	switch {
	case c.Kind == codec.ControlCommand:
		l.onCommand(id, c, now)
	case c.Kind == codec.ControlStored && l.ack != nil:
		to := id
		if c.Device != nil && !bytes.Equal(c.Device, l.devs[id].id) {
			if l.r.cfg.Transport != UDP {
				l.tally.downlinkErrors["stored_other_device"]++
				return
			}
			if to = l.deviceByID(c.Device); to < 0 {
				l.tally.downlinkErrors["stored_unknown_device"]++
				return
			}
		}
		l.onStored(to, c, size, now)
	default:
		l.tally.downlinkErrors["unexpected_"+c.Kind.String()]++
	}
}

// onCommand obeys a command and acknowledges it.
func (l *loop) onCommand(id int32, c *codec.Control, now int64) {
	d := &l.devs[id]
	d.commands++
	l.live.commands.Add(1)
	st := obey(&d.led, c.Payload)
	if st != codec.AckOK {
		l.tally.unknownCommands++
	}
	if d.state != stUp {
		return // write side already shut: the receiver sees no ack
	}
	l.reset()
	pre := l.helloPrefix(&l.framer, id)
	l.appendControl(codec.Control{Kind: codec.ControlAck, ID: c.ID, Status: st}, markAck)
	l.joinHello(&l.framer, pre)
	l.emit(id, now)
}

// decodeControl decodes a downlink frame that should be a control frame;
// why names the problem otherwise.
func decodeControl(b *codec.Batch, fr []byte) (c *codec.Control, why string) {
	if codec.FormatOf(fr[0]) != codec.FormatControl {
		return nil, "not_control"
	}
	b.Reset()
	if err := control.Decode(b, fr); err != nil {
		return nil, codec.ReasonOf(err).String()
	}
	return &b.Controls[0], ""
}
