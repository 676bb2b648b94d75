// Package loadgen simulates a fleet of sensor devices against a fleetwire
// server (or anything that speaks its wire formats) and keeps exact ground
// truth of what it sent.
//
// Each simulated device has an id, a sequence counter, a signal per channel
// (a quantised random walk, or the replay of a real recording), a send
// schedule and a batch size. Devices speak the formats of package codec
// only: loadgen never imports the server, so it can drive any receiver.
//
// # Open loop
//
// Frame k of a device is due at T0 + phase + k*period (+ jitter), computed
// from the start of the run and never from when the previous send returned.
// A slow receiver therefore shows as send lateness, dropped frames and
// latency, not as a politely slower generator (no coordinated omission).
// The last sample of every frame carries the frame's due time, so a
// receiver measures latency from when the frame should have left.
//
// # Scale
//
// Devices are not goroutines. Each event loop (one per core by default) is
// an epoll instance on a locked OS thread that owns a share of the devices:
// their non-blocking sockets, a two-level hashed timing wheel of their due
// times (slots of Config.Tick), and the scratch buffers frames are encoded
// into. Each tick sends every frame that is due. A device belongs to one
// loop and is touched by no other goroutine; frames are encoded into the
// loop's scratch buffers and nothing of a frame outlives its write, so a
// paced run allocates nothing per frame. Connections are bound to loopback
// source addresses 127.0.0.2, 127.0.0.3, ... (bind before connect with
// IP_BIND_ADDRESS_NO_PORT) so that a run is not limited by the ~28k
// ephemeral ports of one address, and Config.Procs re-executes the binary
// as worker processes when one process's open-file limit is too small.
//
// TLS is the exception: crypto/tls has no non-blocking engine, so each TLS
// device runs two goroutines (sender and command reader).
//
// # Several receivers
//
// Config.Addr may list several servers ("A,B,C"): device number n sends to
// the (n mod 3)-th, a function of the device alone, so a fleet meets the
// same nodes however Procs and Loops split it, and Report.Targets adds up
// each node's share of the ground truth from the per-device entries.
//
// # Ground truth
//
// A frame counts as sent only once all of its bytes were accepted by
// write() (TCP, TLS) or by send()/sendmmsg() (UDP). A frame the device had
// to skip (its connection was down, or its send buffer was full) still
// consumes its sequence numbers, as on a real device, so the receiver sees
// the gap; Report lists such frames under DroppedFrames.
//
// # Acknowledged delivery
//
// With Config.Ack every device runs the device algorithm of codec/ack (an
// ack.Sender each): its hello asks for #stored acknowledgements, it keeps
// what is not acknowledged (frames it could not send included) and sends
// it again, gives up its oldest samples when its window overflows
// (#gaveup), fails over to the next target of a list, and waits for the
// acknowledgements after its end-of-stream. Resent samples are
// regenerated from the signal, not stored (regen.go); ack.go is the glue.
//
// # Contracts
//
// Run owns everything it starts: loops, sockets, TLS goroutines and worker
// processes end before it returns, also when ctx is cancelled (devices then
// end their streams). The Report is the caller's. Targets outside loopback are refused unless Config allows
// remote ones, and a run must be bounded by a duration or a sample count.
package loadgen
