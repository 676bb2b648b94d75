package cost

import (
	"github.com/fleetwire/fleetwire/codec"
	"github.com/fleetwire/fleetwire/codec/text"
)

// MQTT 3.1.1 (OASIS Standard, 29 October 2014) sizes.
//
// A PUBLISH packet (§3.3) is a fixed header (§2.2: one byte of packet type
// and flags, then the Remaining Length, §2.2.3: a varint of 1-4 bytes),
// the variable header (§3.3.2: the Topic Name as a UTF-8 string, §1.5.3: a
// 2-byte length and the bytes; then, at QoS 1 and 2 only, a 2-byte Packet
// Identifier, §3.3.2.2) and the payload (§3.3.3). At QoS 1 the broker
// answers with a PUBACK (§3.4): fixed header 0x40 0x02 and the Packet
// Identifier, 4 bytes.
//
// The choice made here: one topic per device, "fleet/<device>", and the
// payload is the frame in fleetwire's text format without the device (the
// topic names it) and without END (MQTT delimits the payload), so MQTT
// carries exactly what a text frame carries, seq and time included.
const mqttPubackLen = 4

// MQTTTopic returns the topic of a device's readings.
func MQTTTopic(device []byte) string {
	if device == nil {
		return "fleet"
	}
	return "fleet/" + string(device)
}

// MQTTPublishLen returns the size of a PUBLISH packet.
func MQTTPublishLen(topicLen, payloadLen, qos int) int {
	rl := 2 + topicLen + payloadLen
	if qos > 0 {
		rl += 2
	}
	return 1 + varintLen(rl) + rl
}

// varintLen is the size of an MQTT Remaining Length (§2.2.3): 7 bits per
// byte.
func varintLen(n int) int {
	switch {
	case n < 128:
		return 1
	case n < 16384:
		return 2
	case n < 2097152:
		return 3
	}
	return 4
}

// mqttPayload appends f's MQTT payload to dst.
func mqttPayload(dst []byte, f *codec.Frame) []byte {
	g := *f
	g.Device = nil
	dst = text.Append(dst, &g, '\n')
	return dst[:len(dst)-1]
}
