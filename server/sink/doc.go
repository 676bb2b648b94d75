package sink

// On-disk format (README.md has the long version, with numbers).
//
//	<data>/readings/.lock                                       flock(2) of the running server
//	<data>/readings/seg-20261125T110650.123Z-000001.csv.zst     sealed segment
//	<data>/readings/seg-20261125T110710.480Z-000002.csv.zst.partial   being written
//	<data>/readings/checkpoint                                  FileConfig.Checkpoint's state (checkpoint.go)
//
// A segment is a concatenation of zstd frames (RFC 8878), each with its
// content checksum, so `zstdcat seg-*.csv.zst` prints it as one CSV:
//
//	frame 0:  device,seq,unix_ms,ch1,...,chK\n        the header, alone
//	frame 1+: rows, one per sample, each frame ending with a whole row
//
// Rows are the interchange schema: device, the sample's sequence number,
// its device time in unix ms (both empty when the frame had none), then
// the values exactly as the device printed them (codec.AppendValue: "30.20"
// stays "30.20"). K is FileConfig.Channels (8) unless a wider device came
// along: such a device seals the segment and starts one K = its width, and
// narrower rows end in empty cells. Values are never empty, so the channel
// count of a row is the number of cells up to the last non-empty one.
//
// A frame is written once per FlushInterval (100 ms) or FlushBytes (1 MiB
// of CSV), whichever comes first, with one write(2). The open segment is
// fsynced every FsyncInterval (200 ms; FsyncOnSeal: never), and every
// segment when sealed (rotation by SegmentBytes or SegmentAge, a wider
// device, Close), before its rename and the directory's fsync.
//
// What each failure costs (README.md has the table):
//
//   - A process crash: what was not written yet, the queue and at most one
//     FlushInterval of buffered rows. It leaves whole frames and at most
//     one torn frame at the end, which Reader reports (ErrTorn) and skips,
//     and which the next OpenFiles cuts off when it seals the .partial.
//   - A power cut: the above and what was written since the last fsync,
//     about FlushInterval + FsyncInterval (300 ms) of rows; with
//     FsyncOnSeal up to a whole segment. Zeros a power cut leaves at the
//     end of a .partial are cut as a torn end.
//   - A full disk or an I/O error: the rows of each frame whose write
//     failed, counted in Stats.Dropped[DropWriteError], never retried (so
//     memory stays bounded); the short write is truncated away, the
//     segment sealed, and the next flush tries a new one, so writing
//     resumes by itself once there is room. Close returns the first error.
//   - A corrupt segment (a flipped bit): each frame's content checksum is
//     verified, a damaged frame (at most FlushBytes of CSV) is reported
//     and skipped and reading goes on at the next frame; a damaged header
//     frame costs no row. Nothing is skipped silently: Reader.Damage,
//     Reader.Segments, and `fleetwire export` (exit 1) and `verify` say
//     which segment, which byte offset.
//
// Acknowledged delivery (README.md, "Acknowledged delivery"):
//
//   - A chunk's Receipt settles true once every row of the chunk was
//     written and the segment fsynced after that write (periodically or
//     at its seal), its directory entry too; false once some row never
//     will be (a failed write, create or fsync). The server acknowledges
//     only what settled true, so no crash or power cut loses an
//     acknowledged sample (a damaged frame aside).
//   - After each durable seal, FileConfig.Checkpoint writes the server's
//     state of what was settled true; the file (one per node, replaced
//     atomically, checksummed) covers that segment and every earlier one.
//   - At start, FileSink.Recover returns the checkpoint and replays the
//     rows of the node's later segments. Checkpoint plus replay is every
//     acknowledged sample and only stored ones; a stored row in neither
//     was never acknowledged, so it costs a resend and a duplicate, not a
//     loss. A torn or corrupt checkpoint is reported and ignored: every
//     segment of the node is replayed.
