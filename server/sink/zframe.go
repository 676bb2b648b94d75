package sink

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"

	"github.com/klauspost/compress/zstd"
)

// A segment is a plain sequence of zstd frames, one per flush, which is
// what lets zstdcat read it and lets a reader keep every whole frame of a
// file whose last write was cut short. nextFrame finds frame boundaries by
// walking the frame and block headers (RFC 8878 sections 3.1.1 and
// 3.1.1.2) without decompressing, so a torn frame is recognised before any
// of its bytes reach the CSV parser.

// ErrTorn means a segment ends inside a zstd frame: a crash cut the last
// write short, or a writer is still writing it. The whole frames before
// it are intact.
var ErrTorn = errors.New("file ends inside a zstd frame")

// ErrCorrupt means a damaged frame: bytes that cannot be a zstd frame (or
// a frame beyond MaxFrameBytes), or a frame that fails to decode or its
// content checksum. Its length fields cannot be trusted, so readers go on
// at the next zstd magic number.
var ErrCorrupt = errors.New("corrupt zstd frame")

const maxBlockSize = 128 << 10 // Block_Maximum_Size, RFC 8878 3.1.1.2.3

// frameReader walks the frames of one segment file.
type frameReader struct {
	br  *bufio.Reader
	off int64 // offset of the next frame in the file
	max int   // largest frame accepted, compressed or not
}

// next appends the next frame (headers and checksum included) to dst[:0]
// and returns it with its decompressed size as the header declares it
// (-1 if the header does not say). It returns io.EOF at a clean end of
// file, and ErrTorn or ErrCorrupt, wrapped with the offset, otherwise.
// Skippable frames are passed over.
func (r *frameReader) next(dst []byte) ([]byte, int64, error) {
	for {
		start := r.off
		hdr, err := r.br.Peek(zstd.HeaderMaxSize)
		if err != nil && err != io.EOF {
			return dst[:0], 0, r.fail(start, err)
		}
		if len(hdr) == 0 {
			return dst[:0], 0, io.EOF
		}
		var h zstd.Header
		if _, herr := h.DecodeAndStrip(hdr); herr != nil {
			if errors.Is(herr, io.ErrUnexpectedEOF) && err == io.EOF {
				return dst[:0], 0, r.fail(start, ErrTorn)
			}
			return dst[:0], 0, r.fail(start, fmt.Errorf("%w: %v", ErrCorrupt, herr))
		}
		if h.Skippable {
			n := int64(h.HeaderSize) + int64(h.SkippableSize)
			d, err := r.br.Discard(int(min(n, 1<<40)))
			r.off += int64(d)
			if err != nil {
				return dst[:0], 0, r.fail(start, ErrTorn)
			}
			continue
		}
		if h.DictionaryID != 0 {
			return dst[:0], 0, r.fail(start, fmt.Errorf("%w: frame needs dictionary %d", ErrCorrupt, h.DictionaryID))
		}
		size := int64(-1)
		if h.HasFCS {
			if h.FrameContentSize > uint64(r.max) {
				return dst[:0], 0, r.fail(start, fmt.Errorf("%w: frame declares %d bytes, limit %d", ErrCorrupt, h.FrameContentSize, r.max))
			}
			size = int64(h.FrameContentSize)
		}
		dst, err = r.copy(dst[:0], h.HeaderSize)
		if err != nil {
			return dst[:0], 0, r.fail(start, err)
		}
		for last := false; !last; {
			at := len(dst)
			if dst, err = r.copy(dst, 3); err != nil {
				return dst[:0], 0, r.fail(start, err)
			}
			bh := uint32(dst[at]) | uint32(dst[at+1])<<8 | uint32(dst[at+2])<<16
			last = bh&1 != 0
			n := int(bh >> 3)
			switch (bh >> 1) & 3 {
			case 0: // raw
			case 1: // RLE: one byte repeated n times
				n = 1
			case 2: // compressed
			default:
				return dst[:0], 0, r.fail(start, fmt.Errorf("%w: reserved block type at offset %d", ErrCorrupt, r.off))
			}
			if n > maxBlockSize {
				return dst[:0], 0, r.fail(start, fmt.Errorf("%w: block of %d bytes", ErrCorrupt, n))
			}
			if len(dst)+n > r.max {
				return dst[:0], 0, r.fail(start, fmt.Errorf("%w: frame above %d bytes", ErrCorrupt, r.max))
			}
			if dst, err = r.copy(dst, n); err != nil {
				return dst[:0], 0, r.fail(start, err)
			}
		}
		if h.HasCheckSum {
			if dst, err = r.copy(dst, 4); err != nil {
				return dst[:0], 0, r.fail(start, err)
			}
		}
		return dst, size, nil
	}
}

// copy appends the next n bytes of the file to dst.
func (r *frameReader) copy(dst []byte, n int) ([]byte, error) {
	l := len(dst)
	dst = append(dst, make([]byte, n)...)[:l+n]
	m, err := io.ReadFull(r.br, dst[l:])
	r.off += int64(m)
	if err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return dst, ErrTorn
		}
		return dst, err
	}
	return dst, nil
}

func (r *frameReader) fail(start int64, err error) error {
	return &frameError{Offset: start, Err: err}
}

// frameError is where in a segment a frame failed and why.
type frameError struct {
	Offset int64
	Err    error
}

func (e *frameError) Error() string { return fmt.Sprintf("frame at byte %d: %v", e.Offset, e.Err) }
func (e *frameError) Unwrap() error { return e.Err }

// zstdMagic starts every zstd frame (RFC 8878 3.1.1), little-endian
// 0xFD2FB528.
var zstdMagic = []byte{0x28, 0xb5, 0x2f, 0xfd}

// nextMagic returns the offset of the first zstd magic number in f at or
// after from, or -1 if there is none. It reads with ReadAt, so f's
// offset is left alone. A damaged frame is skipped by resuming here: in
// compressed data the 4 bytes turn up by chance once in 4 GiB, and a false
// start then fails as a frame of its own and is skipped in turn.
func nextMagic(f io.ReaderAt, from int64) (int64, error) {
	buf := make([]byte, 64<<10)
	for {
		n, err := f.ReadAt(buf, from)
		if i := bytes.Index(buf[:n], zstdMagic); i >= 0 {
			return from + int64(i), nil
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				return -1, nil
			}
			return -1, err
		}
		// Keep the last 3 bytes: a magic number may straddle the reads.
		from += int64(n - len(zstdMagic) + 1)
	}
}
