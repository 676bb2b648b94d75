package cost

// Transport constants. IPv4 without options (RFC 791 §3.1), UDP (RFC 768),
// TCP (RFC 9293 §3.1) with the timestamps option (RFC 7323 §3: 10 bytes,
// padded to 12 with two NOPs as Linux sends it) on an Ethernet MTU of 1500.
const (
	MTU          = 1500
	IPv4Header   = 20
	UDPHeader    = 8
	TCPHeader    = 20 + 12                // with timestamps
	TCPSegHeader = IPv4Header + TCPHeader // 52: every TCP segment, data or pure ACK
	MSS          = MTU - TCPSegHeader     // 1448 payload bytes per full segment
	// UDPMaxUnfragmented is the largest UDP payload that fits one IPv4
	// packet: bigger datagrams are fragmented.
	UDPMaxUnfragmented = MTU - IPv4Header - UDPHeader // 1472
	fragmentData       = (MTU - IPv4Header) &^ 7      // 1480: fragment offsets count 8-byte units
)

// UDPWire returns the bytes on the wire for one datagram of n payload
// bytes: IPv4 and UDP headers (28 B), and for n > 1472 the IPv4 header of
// every further fragment (RFC 791 §2.3: each fragment carries up to 1480
// bytes of the UDP datagram).
func UDPWire(n int) int {
	frags := (n + UDPHeader + fragmentData - 1) / fragmentData
	return n + UDPHeader + frags*IPv4Header
}

// TCPExchange returns the bytes on the wire, both directions, for an
// exchange in which the sender writes fwd bytes and the receiver answers
// with rev bytes of application data (MQTT's PUBACK; 0 for fleetwire's
// formats), on an established connection:
//
//   - the fwd bytes go out in ceil(fwd/1448) segments;
//   - the receiver ACKs every second full segment at once and the rest
//     when its delayed-ACK timer fires (RFC 9293 §3.8.6.3, RFC 1122
//     §4.2.3.2): ceil(segments/2) ACKs. Its rev bytes ride on those ACKs
//     (more segments only when rev needs them);
//   - the sender ACKs segments that carried rev bytes the same way, unless
//     piggyback says its own later data carries those ACKs (a stream).
//
// Each segment costs 52 B of headers.
func TCPExchange(fwd, rev int64, piggyback bool) int64 {
	segs := ceilDiv(fwd, MSS)
	acks := ceilDiv(segs, 2)
	revSegs := max(acks, ceilDiv(rev, MSS))
	var back int64 // the sender's ACKs of rev data
	if rev > 0 {
		back = ceilDiv(ceilDiv(rev, MSS), 2)
		if piggyback {
			back = 1 // only the last answer waits for the delayed-ACK timer
		}
	}
	return fwd + rev + TCPSegHeader*(segs+revSegs+back)
}

func ceilDiv(a, b int64) int64 { return (a + b - 1) / b }

// Model is the transport model of the table, printed under it.
const Model = `Bytes per reading: total bytes / readings, both directions, headers included.
payload    frame bytes as the codec writes them (MQTT: PUBLISH packets, plus the
           4-byte PUBACK at QoS 1; SenML: the pack), nothing below.
udp        one datagram per frame: + 28 B (IPv4 20, UDP 8); a datagram above 1472 B
           is IPv4-fragmented, +20 B per further fragment of up to 1480 B.
tcp        a device that sends each frame when it is full, further apart than the
           delayed-ACK timeout (a sparse sender): every frame is one send of
           ceil(n/1448) segments of 52 B headers (IPv4 20 + TCP 20 + timestamps 12,
           MSS 1448), and the receiver ACKs every second full segment and the rest
           after its delayed-ACK timer: ceil(segments/2) pure ACKs of 52 B.
           MQTT QoS 1: the PUBACK rides on that ACK, and the device ACKs the PUBACK.
tcp-stream each device's frames back to back on one connection (a backlog, or a
           device faster than the ACK clock): ceil(total/1448) full segments,
           ceil(segments/2) ACKs; MQTT QoS 1 PUBACKs ride on those ACKs and the
           device's ACKs of them ride on its data.
Connection set-up and teardown (TCP handshake, MQTT CONNECT), keep-alives, TLS
and retransmissions are not counted: they are the same for every codec.`
