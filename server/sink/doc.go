package sink

// On-disk format (README-sink.md has the long version, with numbers).
//
//	<data>/readings/.lock                                       flock(2) of the running server
//	<data>/readings/seg-20261125T110650.123Z-000001.csv.zst     sealed segment
//	<data>/readings/seg-20261125T110710.480Z-000002.csv.zst.partial   being written
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
// of CSV), whichever comes first, with one write(2). A crash therefore
// leaves whole frames and at most one torn frame at the end, which Reader
// reports (ErrTorn) and skips, and which the next OpenFiles cuts off when
// it seals the .partial file. Segments are fsynced when sealed (rotation
// by SegmentBytes or SegmentAge, and Close), and every FsyncInterval if
// set.
