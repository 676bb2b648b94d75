package text

import (
	"errors"
	"strconv"
)

// EndAllowed reports whether end may be the END byte of text frames, and
// when it may not, why. It is the one place that states the rule; servers
// and generators check their --end flag with it. 0 stands for '\n', as
// everywhere in the codec.
//
// A frame cannot hold its END byte, so END takes away whatever the format
// does with that byte. That is harmless for ',': a frame then holds one
// sample, and the same readings arrive. It is not for the bytes below,
// whose frames would be cut into pieces that still decode, to something
// else than the device meant, or into errors for every frame:
//
//   - ';' ends header fields: "mote-3;42;21.5" would be three frames.
//   - ':' separates channels: "21.5:40" would be two one-channel readings.
//   - '@' starts a step: "2@5000" would be the readings 2 and 5000.
//   - digits, letters, '.', '_', '-', '+' make up values (sign, fraction,
//     exponent, hex digits) and device ids.
//   - '#' starts control lines, and ' ' separates their fields.
//   - bytes >= 0x80 start envelopes: text is ASCII.
//
// Every other byte is allowed: '\n' (the default), ',', '\r', '\t', the
// other ASCII control bytes, and the punctuation the format does not use
// (! " $ % & ' ( ) * / < = > ? [ \ ] ^ ` { | } ~). Command payloads and ack
// details travel in text lines too and must not hold END: a server sends
// such a command in binary form.
func EndAllowed(end byte) error {
	var why string
	switch {
	case end == 0 || end == '\n' || end == ',':
		return nil
	case end >= 0x80:
		why = "starts binary envelopes: text is ASCII"
	case end == ';':
		why = "ends header fields: frames could name no device, sequence number or time"
	case end == ':':
		why = "separates channels: a two-channel sample would arrive as two readings"
	case end == '@':
		why = "starts a step: the step would arrive as a reading"
	case end == '+' || idByte[end]:
		why = "is part of values or device ids"
	case end == '#':
		why = "starts control lines"
	case end == ' ':
		why = "separates the fields of control lines (#hello <device>)"
	default:
		return nil
	}
	return errors.New("text: END byte " + strconv.QuoteToASCII(string([]byte{end})) + " " + why)
}
