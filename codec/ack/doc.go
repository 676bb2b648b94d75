// Package ack holds the rules of acknowledged delivery that both ends of
// the wire share: Set, what a receiver holds of one device's sequence
// numbers and what its #stored says; Sender, what a device does with
// those acknowledgements; and Extend32, for devices whose counter is 32
// bits. It imports only codec, does no I/O, starts no goroutine and reads
// no clock: callers pass now.
//
// Ranges are inclusive everywhere (codec.SeqRange); a count n of samples
// from seq means [seq, seq+n).
//
// # The device algorithm
//
// This is what a device does, in words a C programmer can follow; Sender
// is the same algorithm in Go, and fleetwire's load generator runs it for
// each simulated device.
//
// Buffer. The device keeps every sample it sent and has not seen
// acknowledged, by sequence number, in a ring of Window samples (the
// window its hello announced). Beside it, a small table of flights: a
// flight is a run of consecutive samples sent together, with the time of
// its first and of its last transmission and how many times it went out.
// Sequence numbers grow by one per sample and are never reused.
//
// Timer. The device keeps a smoothed round-trip time SRTT, its variation
// RTTVAR and a timeout RTO, as TCP does (RFC 6298): RTO starts at 1 s;
// on the first measurement R, SRTT = R, RTTVAR = R/2; on each later one,
// RTTVAR = 3/4 RTTVAR + 1/4 |SRTT - R| and SRTT = 7/8 SRTT + 1/8 R; then
// RTO = SRTT + max(1 ms, 4 RTTVAR), kept between MinRTO (200 ms) and
// MaxRTO (60 s). A measurement is the time from a flight's transmission
// to the #stored that acknowledges it, taken only from flights sent once
// (Karn's rule: the ack of a resent flight may answer either copy), and
// only one per #stored, from the earliest-sent flight it acknowledges: the
// server coalesces its acks, and the timeout must cover the longest wait
// for one. A flight is due again when RTO, doubled for each time it was
// resent, has passed since its last transmission (at most MaxRTO). Due
// flights are resent as frames of at most MaxBatch consecutive samples,
// adjacent flights together.
//
// Acknowledgement. A #stored says: everything below next, and each listed
// range, is durably stored. The device frees those samples and drops
// their flights (a flight partly acknowledged keeps the rest).
//
// Fast resend. When a #stored acknowledges a flight that was sent once,
// every unacknowledged flight below the highest acknowledged sample that
// was last sent before that flight was lost: the receiver got something
// sent later. The device resends those at once, without waiting for the
// timer (time-based, as RACK, RFC 8985, so that a resend is not resent
// again on the next ack unless something sent after it arrives first).
//
// Window pressure. When three quarters of the buffer, and again seven
// eighths, wait for an acknowledgement (since it was last below half),
// the oldest flight is resent at once: the receiver answers a resend of
// what it holds at once, so a lost #stored costs a frame instead of the
// samples the buffer would give up while timers back off.
//
// Give up. When a new sample does not fit the buffer, the oldest
// unacknowledged samples are dropped to make room, counted, and the
// device sends "#gaveup <low>", low being its oldest sample still held
// (or the next it will send), so that the receiver stops waiting for
// them. The device also sends #gaveup whenever a #stored shows the
// receiver waiting below low (after a receiver restart, or when the
// device skipped numbers), at most once per RTO for the same low.
//
// Reconnect. After a new connection the device sends its hello (with
// "ack <window>"), then #gaveup <low> if low is above 0, then everything
// unacknowledged at once, oldest first, without waiting for timers. On
// UDP there is no connection: the device puts its hello in front of each
// datagram until the first #stored arrives.
//
// End of stream. After its #eos the device waits for what it holds to be
// acknowledged; the receiver acknowledges each change at once then, so
// the device resends on EndRTO (1 s, doubling, at most 4 s) instead of
// its RTO: call Ended.
//
// 32-bit counters. A device may count in 32 bits and wrap to 0; the
// receiver extends its numbers (Extend32), and the device compares the
// numbers of a #stored with its own modulo 2^32.
package ack
