// Package server is fleetwire's ingest server: TCP on gnet event loops (or
// a goroutine per connection with the standard library engine), UDP on
// batched recvmmsg readers, TLS on crypto/tls; all of them feed one path:
// framing, decoding, per-device sessions and the sink.
//
// The shared path is the ingester: one per event loop, UDP reader or
// standard-library connection, never shared, so the hot path takes no lock
// other than the per-device session lock (uncontended unless two
// connections speak for the same device).
//
// Contracts:
//
//   - Buffers. Frames are decoded in place in the engine's read buffer
//     (gnet's inbound buffer, a UDP reader's datagram buffer), and nothing
//     decoded is kept past the callback that read it: readings go to the
//     sink as copies (sink.Chunk), and a session keeps counters and a copy
//     of its device's last values.
//   - Concurrency. An ingester belongs to one event loop, UDP reader or
//     standard-library connection. Sessions are shared and locked per
//     device. Stats, Devices and the command methods are safe for
//     concurrent use by the HTTP side and return snapshots, never live
//     state.
//   - Bounds. Memory grows with connections and devices, not with what
//     clients send: frames, decoded bytes, amplification, connections,
//     devices and anonymous devices per source are bounded by Config, and
//     what passes a bound is refused and counted by reason, never a crash
//     or a blocked loop. A full sink queue is a counted drop.
//   - Acknowledgements. A #stored covers only what the sink settled as
//     durable (sink.Receipt), never what was merely received.
package server
