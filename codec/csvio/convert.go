package csvio

import "io"

// Convert copies the samples of a CSV read with mapping m to dst in the
// interchange schema, with the channel names of the source. Values are
// written as codec.AppendValue prints them, which is how every format
// reproduces them, so the result is the exact reference for a round trip.
func Convert(dst io.Writer, src io.Reader, m Mapping) error {
	r := NewReader(src, m)
	if err := r.ReadHeader(); err != nil {
		return err
	}
	w := NewWriter(dst, r.Channels())
	for r.Next() {
		if err := w.WriteRow(r.Row()); err != nil {
			return err
		}
	}
	if err := r.Err(); err != nil {
		return err
	}
	return w.Flush()
}
