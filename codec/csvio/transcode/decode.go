package transcode

import (
	"errors"
	"fmt"
	"io"

	"github.com/fleetwire/fleetwire/codec"
	"github.com/fleetwire/fleetwire/codec/csvio"
	"github.com/fleetwire/fleetwire/codec/framing"
)

// FrameDecoder decodes whole frames of any format; *wire.Decoder is one.
type FrameDecoder interface {
	Decode(dst *codec.Batch, frame []byte) error
	NewSplitter() *framing.Splitter
	Limits() codec.Limits
}

// DecodeOptions configure Decode.
type DecodeOptions struct {
	// Columns name the channels in the CSV header; nil means ch1..chN.
	Columns []string
	// Expect, when set, is the codec every frame must arrive in: a check
	// that the stream is what the caller thinks (for zstd-dict, plain zstd
	// frames pass too: the encoder falls back to them). Formats are told
	// apart by their first byte either way.
	Expect *codec.Codec
	// FallbackDevice names the device of frames that name none.
	FallbackDevice string
}

// Decode reads a stream of frames from src and writes their samples to dst
// as interchange CSV, frame by frame, in stream order. Control frames are
// skipped. The first bad frame stops it with an error that says at which
// byte of the stream the frame starts.
func Decode(dst io.Writer, src io.Reader, dec FrameDecoder, o DecodeOptions) (Stats, error) {
	var st Stats
	w := csvio.NewWriter(dst, o.Columns)
	w.SetFallbackDevice(o.FallbackDevice)
	if err := decodeStream(w, src, dec, &o, &st); err != nil {
		w.Flush() // the rows of the frames before the bad one are good
		return st, err
	}
	return st, w.Flush()
}

func decodeStream(w *csvio.Writer, src io.Reader, dec FrameDecoder, o *DecodeOptions, st *Stats) error {
	split := dec.NewSplitter()
	// Room for two whole frames, so a frame never has to wait for a buffer
	// that cannot grow.
	buf := make([]byte, 0, 2*dec.Limits().MaxFrame+64<<10)
	var batch codec.Batch
	var pos int64 // stream offset of buf[0]
	eof := false
	for {
		if !eof {
			n, err := src.Read(buf[len(buf):cap(buf)])
			buf = buf[:len(buf)+n]
			switch {
			case errors.Is(err, io.EOF):
				eof = true
			case err != nil:
				return fmt.Errorf("read frames: %w", err)
			}
		}
		// A file is all or nothing: the first bad frame, split error or
		// decode error, ends the run with its position.
		at := 0 // offset in buf of the frame being handled
		var ferr error
		off, err := split.Scan(buf, eof, func(frame []byte, size int, serr error) bool {
			ferr = serr
			if ferr == nil {
				ferr = decodeFrame(w, &batch, dec, frame, o.Expect, st)
			}
			if ferr == nil {
				at += size
			}
			return ferr == nil
		})
		if err == nil {
			err = ferr
		}
		if err != nil {
			return fmt.Errorf("frame at byte %d: %w", pos+int64(at), err)
		}
		pos += int64(off)
		st.Bytes = pos
		buf = buf[:copy(buf, buf[off:])]
		if eof {
			if len(buf) > 0 { // the splitter consumes everything at EOF; defensive
				return fmt.Errorf("frame at byte %d: %w", pos, codec.ErrTruncated)
			}
			return nil
		}
	}
}

func decodeFrame(w *csvio.Writer, batch *codec.Batch, dec FrameDecoder, frame []byte, expect *codec.Codec, st *Stats) error {
	batch.Reset()
	if err := dec.Decode(batch, frame); err != nil {
		return err
	}
	for i := range batch.Frames {
		f := &batch.Frames[i]
		if expect != nil && !sentAs(f, *expect) {
			got := codec.Codec{Format: f.Format, Compression: f.Compression}
			return fmt.Errorf("a %s frame in a stream said to be %s", got, *expect)
		}
		if f.Samples() == 0 {
			continue // no rows; and it must not fix the header's channel count
		}
		if err := w.WriteFrame(f); err != nil {
			return err
		}
		st.Frames++
		st.Rows += f.Samples()
		st.Readings += f.Readings()
	}
	return nil
}

// sentAs reports whether f may have been sent by an encoder of codec c. A
// zstd-dict encoder sends plain zstd when no dictionary fits the frame or
// the dictionary did not help, so both arrive from it.
func sentAs(f *codec.Frame, c codec.Codec) bool {
	if f.Format != c.Format {
		return false
	}
	if c.Compression == codec.CompressZstdDict {
		return f.Compression == codec.CompressZstdDict || f.Compression == codec.CompressZstd
	}
	return f.Compression == c.Compression
}
