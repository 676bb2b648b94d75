// Package codec holds what every fleetwire wire format shares, and nothing
// that moves bytes: the decoded shapes (Frame, a device's run of samples;
// Control, a hello, end-of-stream, command, ack, #stored or #gaveup; Batch,
// the reusable destination decoders append to), exact decimal Values, the
// limits a decoder enforces (Limits) and the typed errors it returns
// (Error, Reason). The formats live in the packages below it (text,
// binary, compact, control, compress), framing finds where frames end, and
// wire picks a format by a frame's first byte. It imports no transport.
//
// Contracts every decoder keeps:
//
//   - Zero copy. A decoded Frame's Device and a Control's Device and
//     Payload alias the frame's bytes: they are valid as long as those
//     bytes are, which for a server means inside the callback that got
//     them (gnet's OnTraffic). Values, Times and Ranges alias the Batch and
//     are valid until its next Reset. Copy what you keep.
//   - All or nothing. A frame that fails leaves the Batch as it was (Mark,
//     Rollback), so a caller can go on with the next one.
//   - Bounded. Nothing a frame says makes a decoder allocate beyond
//     Limits: samples, channels, frame size and what a frame decodes to
//     (MaxDecoded, counted with DecodedSize) are checked before the memory
//     is taken wherever the format states its sizes up front.
//   - Reuse. A Batch grows to the sizes its caller uses and then decoding
//     allocates nothing; Shrink lets go of what one large frame grew.
//
// A Batch belongs to one goroutine at a time. Values, Limits, Formats and
// Codecs are plain values, safe to share.
package codec
