// Package server is fleetwire's ingest server: TCP on gnet event loops (or
// a goroutine per connection with the standard library engine), UDP on
// batched recvmmsg readers, TLS on crypto/tls; all of them feed one path:
// framing, decoding, per-device sessions and the sink.
//
// The shared path is the ingester: one per event loop, UDP reader or
// standard-library connection, never shared, so the hot path takes no lock
// other than the per-device session lock (uncontended unless two
// connections speak for the same device).
package server
