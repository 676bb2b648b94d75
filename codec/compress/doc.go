// Package compress wraps fleetwire frames in zstd or s2: one envelope
// around one or more whole bare frames (text, binary, compact or control),
// typically the frames of one datagram.
//
//	0xD1 len content_size zstd_blocks             zstd
//	0xD2 len dict_id content_size zstd_blocks     zstd with a dictionary
//	0xD3 len s2_block                             s2 (the block starts with its own uvarint size)
//
// len, dict_id and content_size are uvarints. zstd_blocks are the blocks of
// a single-segment zstd frame without checksum; the 4-byte zstd magic and
// the frame header are not sent: content_size and dict_id are all a decoder
// needs to rebuild them, and on a one-sample text frame (25 bytes with a
// dictionary) the 5 bytes saved are a sixth of the datagram. PROTOCOL.md has the byte-level
// specification.
//
// A Compressor holds the long-lived zstd encoders and decoder (their
// EncodeAll and DecodeAll are safe for concurrent use, so one per process
// is enough) and the dictionaries; Default has the dictionaries trained on
// real sensor data embedded in this package. Decoding never trusts the
// sender: the declared size is checked against the caller's limit before
// any output is allocated, and the decoder cannot write more than that.
//
// The decompressed bytes are a stream of bare frames that the caller
// dispatches by their first byte; rejecting a compressed frame inside a
// compressed frame is the dispatcher's job.
//
// Contracts: AppendDecoded's output does not alias the frame; it never
// writes past the declared size nor past cap(dst), leaves len(dst) as it
// was on error, and allocates nothing when dst has room. Append appends
// to dst. A Compressor is safe for concurrent use, and its dictionaries
// must be the same at both ends: a receiver needs every dictionary a
// sender may name.
package compress
