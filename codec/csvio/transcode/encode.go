// Package transcode turns interchange CSV into a stream of wire frames
// and back: what `fleetwire encode` and `fleetwire decode` do. The frame
// stream is what a device would send over TCP: frames back to back, text
// frames ended by their END byte, binary frames length-prefixed.
//
// decode(encode(x)) reproduces x byte for byte when x is interchange CSV
// in canonical form (as csvio.Writer writes it) and decode is given the
// channel names of x's header: names are not on the wire.
//
// Contracts: Encode and Decode stream (memory does not grow with the
// input) and keep nothing between calls; each call owns its encoder or
// decoder, which must not be shared with a concurrent call. A frame handed
// to a callback aliases the call's buffer and is valid until it returns.
package transcode

import (
	"fmt"
	"io"

	"github.com/fleetwire/fleetwire/codec"
	"github.com/fleetwire/fleetwire/codec/csvio"
)

// FrameEncoder appends one whole frame in some codec; *wire.Encoder is one.
type FrameEncoder interface {
	Append(dst []byte, f *codec.Frame) []byte
	Codec() codec.Codec
}

// EncodeOptions configure Encode.
type EncodeOptions struct {
	Batch   int           // samples per frame, at most; below 1 means 1
	Mapping csvio.Mapping // the columns of the input
	Limits  codec.Limits  // of the receiver; zero fields take defaults
}

// Stats count what a transcoding moved.
type Stats struct {
	Rows     int   // samples
	Readings int   // values
	Frames   int   // sample frames
	Bytes    int64 // frame bytes written or read
}

// Encode reads samples from src and writes them to dst as frames of enc's
// codec. Frames hold consecutive rows (csvio.Framer in order mode), so
// decoding gives the rows back in their order.
func Encode(dst io.Writer, src io.Reader, enc FrameEncoder, o EncodeOptions) (Stats, error) {
	lim := o.Limits.OrDefault()
	batch := min(max(o.Batch, 1), lim.MaxSamples)
	r := csvio.NewReader(src, o.Mapping)
	r.SetMaxChannels(lim.MaxChannels)
	var st Stats
	var out, scratch []byte
	fr := csvio.NewFramer(batch, false, func(f *codec.Frame) error {
		var err error
		scratch, err = AppendFrames(enc, scratch[:0], f, &lim, func(frame []byte, part *codec.Frame) error {
			out = append(out, frame...)
			st.Frames++
			st.Bytes += int64(len(frame))
			return nil
		})
		if err != nil {
			return err
		}
		if len(out) >= 64<<10 {
			if _, err := dst.Write(out); err != nil {
				return fmt.Errorf("write frames: %w", err)
			}
			out = out[:0]
		}
		return nil
	})
	for r.Next() {
		row := r.Row()
		st.Rows++
		st.Readings += len(row.Values)
		if err := fr.Add(row); err != nil {
			return st, fmt.Errorf("csv line %d: %w", row.Line, err)
		}
	}
	if err := r.Err(); err != nil {
		return st, err
	}
	if err := fr.Flush(); err != nil {
		return st, err
	}
	if _, err := dst.Write(out); err != nil {
		return st, fmt.Errorf("write frames: %w", err)
	}
	return st, nil
}

// AppendFrames appends f to buf in enc's codec and calls fn with each
// frame it made. A frame that would exceed what a receiver accepts
// (lim.MaxFrame on the wire; for compressed codecs also lim.MaxDecoded
// once decompressed) is split in halves until every part fits, so a large
// --batch costs more frames, never a rejected one. part is the share of f
// that frame carries. fn's frame aliases buf, valid until fn returns.
func AppendFrames(enc FrameEncoder, buf []byte, f *codec.Frame, lim *codec.Limits, fn func(frame []byte, part *codec.Frame) error) ([]byte, error) {
	start := len(buf)
	n := f.Samples()
	tooBig := enc.Codec().Compression != codec.CompressNone && bareBound(f) > lim.MaxDecoded
	if !tooBig {
		buf = enc.Append(buf, f)
		if len(buf)-start <= lim.MaxFrame {
			return buf, fn(buf[start:], f)
		}
		buf = buf[:start]
	}
	if n <= 1 {
		return buf, fmt.Errorf("one sample of %d channels does not fit the frame limit of %d bytes", f.Channels, lim.MaxFrame)
	}
	half := n / 2
	a, b := *f, *f
	a.Times, a.Values = f.Times[:half:half], f.Values[:half*f.Channels:half*f.Channels]
	b.Times, b.Values = f.Times[half:], f.Values[half*f.Channels:]
	b.Seq = f.Seq + uint64(half)
	var err error
	if buf, err = AppendFrames(enc, buf, &a, lim, fn); err != nil {
		return buf, err
	}
	return AppendFrames(enc, buf[:start], &b, lim, fn)
}

// bareBound is an upper bound of f's size before compression, in the
// largest format (text): a value prints in at most 24 bytes plus its
// separator, a time step in at most 21, the header in at most 128.
func bareBound(f *codec.Frame) int {
	return 128 + f.Samples()*(f.Channels*25+22)
}
