package compress

// What we keep of a zstd frame on the wire: its blocks. These helpers know
// just enough of the zstd format (RFC 8878, sections 3.1.1.1 and 3.1.1.2)
// to cut a frame header off and to check that blocks end where the
// envelope does.

// zstdHeaderLen returns the size of a zstd frame header, magic included,
// from its Frame_Header_Descriptor.
func zstdHeaderLen(fhd byte) int {
	n := 4 + 1
	single := fhd&(1<<5) != 0
	if !single {
		n++ // Window_Descriptor
	}
	n += [4]int{0, 1, 2, 4}[fhd&3] // Dictionary_ID
	switch fcs := fhd >> 6; {
	case fcs > 0:
		n += 1 << fcs
	case single:
		n++
	}
	return n
}

// Block header fields.
const (
	blockHeaderLen = 3
	blockRaw       = 0
	blockRLE       = 1
	blockReserved  = 3
	maxBlockSize   = 128 << 10
)

// checkBlocks walks the block headers of b and reports the first problem:
// a block running past the end, a reserved block type, bytes after the
// last block. The decoder would catch most of it too, but it silently
// accepts 1-3 trailing bytes and decodes a second frame appended after the
// first, so without this walk an envelope's contents would not be exactly
// one frame. off is where the problem is, detail empty when there is none.
func checkBlocks(b []byte) (off int, detail string) {
	p := 0
	for {
		if len(b)-p < blockHeaderLen {
			return p, "zstd block header cut short"
		}
		h := uint32(b[p]) | uint32(b[p+1])<<8 | uint32(b[p+2])<<16
		last, typ, size := h&1 != 0, (h>>1)&3, int(h>>3)
		switch {
		case typ == blockReserved:
			return p, "reserved zstd block type"
		case size > maxBlockSize:
			return p, "zstd block above 128 KiB"
		case typ == blockRLE:
			size = 1
		}
		p += blockHeaderLen
		if len(b)-p < size {
			return p, "zstd block runs past the frame"
		}
		p += size
		if last {
			if p != len(b) {
				return p, "bytes after the last zstd block"
			}
			return 0, ""
		}
	}
}
