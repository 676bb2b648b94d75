package server

import (
	"net/netip"
	"testing"

	"github.com/fleetwire/fleetwire/codec"
	"github.com/fleetwire/fleetwire/codec/binary"
	"github.com/fleetwire/fleetwire/codec/compress"
)

// FuzzIngest feeds arbitrary bytes through the whole server path as a
// stream (framing, format detection, decoding, sessions; in chunks the
// fuzzer picks) and as a datagram, and checks the invariants that must
// hold whatever arrives: no panic, counts that add up, memory bounded by
// the limits.
func FuzzIngest(f *testing.F) {
	good := binary.Append(nil, &codec.Frame{Device: []byte("d"), Seq: 3, Flags: codec.HasSeq, Channels: 1,
		Times: []int64{0, 0}, Values: []codec.Value{codec.Decimal(1, 0), codec.Decimal(2, 1)}})
	f.Add([]byte("#hello m\n1,2,3\nm;5;1:2\n#eos m 9\n"), uint8(3))
	f.Add(append([]byte("x;1;1\n"), good...), uint8(1))
	f.Add(compress.Default().Append(nil, codec.CompressS2, []byte("a;0;1,2\nb;1;3\n")), uint8(7))
	f.Add([]byte("\xff\xb1\x7f\nm;1;NaN\n#ack 1 ok\n"), uint8(2))
	srv, err := New(Config{TCPAddr: "127.0.0.1:0", Limits: codec.Limits{MaxFrame: 1024, MaxDecoded: 4096}})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte, chunk uint8) {
		sh := newShard()
		g := newIngester(srv, sh, srv.listeners[0])
		st := &stream{ln: srv.listeners[0], transport: TCP, peer: netip.MustParseAddrPort("10.0.0.1:1")}
		st.split.End, st.split.MaxFrame = '\n', 1024
		var buf []byte
		step := int(chunk)%17 + 1
		for off := 0; off < len(data); off += step {
			buf = append(buf, data[off:min(off+step, len(data))]...)
			consumed, _, why := g.feedStream(st, buf, false, 1, 0)
			if consumed > len(buf) {
				t.Fatalf("consumed %d of %d bytes", consumed, len(buf))
			}
			buf = buf[consumed:]
			if why != 0 {
				buf = nil
				break
			}
			if len(buf) > 1024 {
				t.Fatalf("%d bytes held for a partial frame, above MaxFrame", len(buf))
			}
		}
		g.closeStream(st, buf, true, 2)
		g.feedDatagram(data, netip.MustParseAddrPort("127.0.0.1:9"), 3)
		g.finish(UDP, 3)
		if g.locked != nil {
			t.Fatal("session lock held after finish")
		}
		var frames, readings uint64
		for t := range NumTransports {
			for i := range numCodecs {
				frames += sh.ctr.frames[t][i].Load()
				readings += sh.ctr.readings[t][i].Load()
			}
		}
		if readings > 0 && frames == 0 {
			t.Fatalf("%d readings in 0 frames", readings)
		}
	})
}
