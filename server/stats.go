package server

import (
	"sync"
	"sync/atomic"

	"github.com/fleetwire/fleetwire/codec"
)

// Transport is how readings arrived.
type Transport uint8

// Transports.
const (
	TCP Transport = iota
	UDP
	TLS
	DTLS
	NumTransports
)

var transportNames = [NumTransports]string{"tcp", "udp", "tls", "dtls"}

func (t Transport) String() string {
	if t < NumTransports {
		return transportNames[t]
	}
	return "transport(?)"
}

// ErrReason is why the server rejected input or a connection. The first
// codec.NumReasons values are the codec's reasons; the rest are the
// server's own.
type ErrReason uint8

// Server error reasons, after the codec's.
const (
	ErrConnLimit          ErrReason = ErrReason(codec.NumReasons) + iota // more connections than --max-conns
	ErrIdleTimeout                                                       // nothing received for --idle-timeout
	ErrFrameTimeout                                                      // a partial frame took longer than --frame-timeout (slowloris)
	ErrWriteBlocked                                                      // client does not read: downlink buffer full
	ErrTLSHandshake                                                      // TLS handshake failed
	ErrDeviceLimit                                                       // more devices than --max-devices
	ErrUnresyncable                                                      // stream cannot be resynchronised: closed
	ErrTooManyErrors                                                     // too many consecutive bad frames: closed
	ErrAmplification                                                     // frame would decode to more than the connection's input entitles it to (--max-amplification)
	ErrBacklog                                                           // connection sent faster than its frames may be decoded: closed
	ErrBoundElsewhere                                                    // the device is bound to another address (policy bound)
	ErrCredentialMismatch                                                // the connection's certificate does not name this device
	ErrUnauthenticated                                                   // policy authenticated, and the path has no credential
	ErrBadSequence                                                       // sequence numbers past 2^64, or a jump beyond maxSeqGap (frame or end-of-stream)
	ErrAnonymousLimit                                                    // more anonymous devices than --max-anonymous
	ErrSourceLimit                                                       // more devices from one source than --max-devices-per-source
	ErrBadAck                                                            // an ack for no command sent on the path it came from
	ErrTLSIdentity                                                       // client certificate names no valid device id: closed
	ErrAckHoles                                                          // an acking device's frame would open more holes than its state holds: it resends it
	ErrAckSeeding                                                        // an acking device's frame while the server asks the sink what another node stored of it: it resends it
	ErrDTLSHandshake                                                     // DTLS handshake failed (unknown PSK identity, bad key or certificate, timeout after the cookie)
	ErrDTLSIdentity                                                      // DTLS credential (PSK identity, client certificate) names no valid device id: closed
	ErrDTLSCookie                                                        // DTLS ClientHello whose sender never answered the cookie (HelloVerifyRequest / HelloRetryRequest): dropped
	ErrDTLSHandshakeLimit                                                // more DTLS handshakes in progress than the listener allows: refused
	ErrDTLSRate                                                          // a source started DTLS handshakes faster than its rate: refused
	NumErrReasons
)

var serverReasonNames = [...]string{"conn_limit", "idle_timeout", "frame_timeout", "write_blocked", "tls_handshake", "device_limit", "unresyncable", "too_many_errors",
	"amplification", "backlog", "bound_elsewhere", "credential_mismatch", "unauthenticated", "bad_sequence", "anonymous_limit",
	"source_limit", "bad_ack", "tls_identity", "ack_holes", "ack_seeding",
	"dtls_handshake", "dtls_identity", "dtls_cookie", "dtls_handshake_limit", "dtls_rate"}

func (r ErrReason) String() string {
	if r < ErrReason(codec.NumReasons) {
		return codec.Reason(r).String()
	}
	if i := int(r) - int(codec.NumReasons); i < len(serverReasonNames) {
		return serverReasonNames[i]
	}
	return "reason(?)"
}

// DropReason is why readings that were received were not stored.
type DropReason uint8

// Drop reasons.
const (
	DropSinkFull       DropReason = iota // sink queue at its bound
	DropSinkClosed                       // received during shutdown after the sink closed
	DropDeviceLimit                      // device could not get a session
	DropNoDevice                         // frame names no device and the transport cannot tell it
	DropAnonymousLimit                   // anonymous device could not get a session
	DropSourceLimit                      // its source created --max-devices-per-source sessions already
	NumDropReasons
)

var dropNames = [NumDropReasons]string{"sink_full", "sink_closed", "device_limit", "no_device", "anonymous_limit", "source_limit"}

// DropSinkWriteError names, in Stats.Dropped, the readings the sink
// accepted and failed to write (disk full, I/O error):
// Stats.Sink.Dropped[write_error]. It is not a DropReason: the sink knows
// no transports, so it is in no transport's Dropped.
const DropSinkWriteError = "sink_write_error"

func (d DropReason) String() string {
	if d < NumDropReasons {
		return dropNames[d]
	}
	return "drop(?)"
}

// codecIndex numbers the (format, compression) pairs for per-codec counters.
const numCodecs = 3 * 4

func codecIndex(f codec.Format, c codec.Compression) int {
	fi := 0
	switch f {
	case codec.FormatBinary:
		fi = 1
	case codec.FormatCompact:
		fi = 2
	}
	return fi*4 + int(c)
}

func codecOf(i int) codec.Codec {
	fs := [3]codec.Format{codec.FormatText, codec.FormatBinary, codec.FormatCompact}
	return codec.Codec{Format: fs[i/4], Compression: codec.Compression(i % 4)}
}

// counters are one worker's totals. One goroutine writes them (the
// worker's), any goroutine reads them: atomics without contention.
type counters struct {
	frames       [NumTransports][numCodecs]atomic.Uint64
	readings     [NumTransports][numCodecs]atomic.Uint64
	payloadBytes [NumTransports][numCodecs]atomic.Uint64
	rxBytes      [NumTransports]atomic.Uint64 // bytes read from sockets (TCP payload stream, UDP datagrams)
	datagrams    atomic.Uint64
	napBackoffs  atomic.Uint64 // UDP readers that stopped coalescing: their buffer passed a quarter full
	controls     [NumTransports]atomic.Uint64
	errors       [NumTransports][NumErrReasons]atomic.Uint64
	dropped      [NumTransports][NumDropReasons]atomic.Uint64
}

// statsHub knows every worker's counters. Workers live as long as the
// server (gnet loops, UDP readers, the std engine's shared shards), so the
// totals never go backwards.
type statsHub struct {
	mu   sync.Mutex
	live []*counters

	conns    [NumTransports]atomic.Int64 // open connections
	accepted [NumTransports]atomic.Uint64
	tcp      [NumTransports]tcpTotals // TCP_INFO of closed TCP and TLS connections
	dtls     dtlsTotals               // what the DTLS listeners' sockets carried
}

// dtlsTotals are the DTLS listeners' socket and handshake counts.
type dtlsTotals struct {
	rxDgrams, rxBytes, txDgrams, txBytes, handshakes atomic.Uint64
	pending                                          atomic.Int64
	listeners                                        atomic.Int32
}

func newStatsHub() *statsHub { return &statsHub{} }

func (h *statsHub) register(c *counters) {
	h.mu.Lock()
	h.live = append(h.live, c)
	h.mu.Unlock()
}

func addCounters(dst, src *counters) {
	for t := range NumTransports {
		for i := range numCodecs {
			dst.frames[t][i].Add(src.frames[t][i].Load())
			dst.readings[t][i].Add(src.readings[t][i].Load())
			dst.payloadBytes[t][i].Add(src.payloadBytes[t][i].Load())
		}
		dst.rxBytes[t].Add(src.rxBytes[t].Load())
		dst.controls[t].Add(src.controls[t].Load())
		for r := range NumErrReasons {
			dst.errors[t][r].Add(src.errors[t][r].Load())
		}
		for r := range NumDropReasons {
			dst.dropped[t][r].Add(src.dropped[t][r].Load())
		}
	}
	dst.datagrams.Add(src.datagrams.Load())
	dst.napBackoffs.Add(src.napBackoffs.Load())
}

// total returns the sum over all workers.
func (h *statsHub) total() *counters {
	sum := new(counters)
	h.mu.Lock()
	for _, c := range h.live {
		addCounters(sum, c)
	}
	h.mu.Unlock()
	return sum
}
