package wire

import (
	"bytes"
	"strconv"
	"strings"
	"testing"

	"github.com/fleetwire/fleetwire/codec"
	"github.com/fleetwire/fleetwire/codec/compress"
	"github.com/fleetwire/fleetwire/codec/framing"
)

func sampleFrame(dev string, seq uint64) *codec.Frame {
	return &codec.Frame{Device: []byte(dev), Seq: seq, Flags: codec.HasSeq | codec.HasTime, Channels: 2,
		Times:  []int64{1_700_000_000_000, 1_700_000_005_000, 1_700_000_010_000},
		Values: []codec.Value{codec.Decimal(4382, 2), codec.Decimal(302, 1), codec.Decimal(-5, 0), codec.Decimal(3020, 2), codec.Decimal(0, 2), codec.Float(1e300)}}
}

func sameFrame(t *testing.T, got, want *codec.Frame) {
	t.Helper()
	if !bytes.Equal(got.Device, want.Device) || got.Seq != want.Seq || got.Flags != want.Flags || got.Channels != want.Channels {
		t.Fatalf("header: got %s/%d/%d/%d, want %s/%d/%d/%d", got.Device, got.Seq, got.Flags, got.Channels, want.Device, want.Seq, want.Flags, want.Channels)
	}
	for i := range want.Times {
		if got.Times[i] != want.Times[i] {
			t.Fatalf("time %d: %d, want %d", i, got.Times[i], want.Times[i])
		}
	}
	for i := range want.Values {
		if got.Values[i] != want.Values[i] {
			t.Fatalf("value %d: %+v, want %+v", i, got.Values[i], want.Values[i])
		}
	}
}

// TestRoundTrip: every codec, as a stream of several frames with control
// frames between them, splits and decodes back exactly, with the format,
// compression and wire bytes of each frame known.
func TestRoundTrip(t *testing.T) {
	dec := NewDecoder(codec.Limits{}, 0, nil)
	for _, c := range codec.Codecs() {
		t.Run(c.String(), func(t *testing.T) {
			enc := NewEncoder(c, 0, nil)
			var stream []byte
			stream = enc.AppendControl(stream, &codec.Control{Kind: codec.ControlHello, Device: []byte("dev-1")})
			want := []*codec.Frame{sampleFrame("dev-1", 0), sampleFrame("dev-1", 3), sampleFrame("dev-2", 7)}
			for _, f := range want {
				stream = enc.Append(stream, f)
			}
			stream = enc.AppendControl(stream, &codec.Control{Kind: codec.ControlEOS, Device: []byte("dev-1"), Seq: 6})
			var b codec.Batch
			split := dec.NewSplitter()
			wire := 0
			for off := 0; off < len(stream); {
				adv, fr, err := split.Split(stream[off:], true)
				if err != nil {
					t.Fatal(err)
				}
				if fr != nil {
					if err := dec.Decode(&b, fr); err != nil {
						t.Fatalf("decode %x: %v", fr, err)
					}
				}
				off += adv
				wire += adv
			}
			if len(b.Frames) != 3 || len(b.Controls) != 2 {
				t.Fatalf("%d frames, %d controls", len(b.Frames), len(b.Controls))
			}
			sum := 0
			for i, f := range want {
				got := &b.Frames[i]
				sameFrame(t, got, f)
				if got.Format != c.Format || !compressionOK(c, got.Compression) {
					t.Fatalf("frame %d arrived as %s/%d, want %s", i, got.Format, got.Compression, c)
				}
				sum += got.WireBytes
			}
			if c.Format != codec.FormatText && sum+controlBytes(enc) != wire {
				t.Fatalf("frames account for %d wire bytes (+%d control), stream has %d", sum, controlBytes(enc), wire)
			}
		})
	}
}

// compressionOK: zstd-dict falls back to plain zstd when the dictionary
// does not help (codec/compress documents when), so both are right there.
func compressionOK(c codec.Codec, got codec.Compression) bool {
	return got == c.Compression || c.Compression == codec.CompressZstdDict && got == codec.CompressZstd
}

func controlBytes(enc *Encoder) int {
	n := len(enc.AppendControl(nil, &codec.Control{Kind: codec.ControlHello, Device: []byte("dev-1")}))
	return n + len(enc.AppendControl(nil, &codec.Control{Kind: codec.ControlEOS, Device: []byte("dev-1"), Seq: 6}))
}

func TestDecode_Failure(t *testing.T) {
	dec := NewDecoder(codec.Limits{MaxDecoded: 1 << 16}, 0, nil)
	inner := NewEncoder(codec.Codec{Format: codec.FormatBinary}, 0, nil).Append(nil, sampleFrame("d", 1))
	z := compress.Default()
	nested := z.Append(nil, codec.CompressS2, z.Append(nil, codec.CompressZstd, inner))
	f := func(name string, frame []byte, want codec.Reason) {
		t.Helper()
		var b codec.Batch
		for range 2 {
			err := dec.Decode(&b, frame)
			if got := codec.ReasonOf(err); got != want {
				t.Fatalf("%s: %v, want %s", name, err, want)
			}
			if len(b.Frames) != 0 || len(b.Controls) != 0 {
				t.Fatalf("%s: error left frames in the batch", name)
			}
		}
	}
	f("empty", nil, codec.ReasonTruncated)
	f("unknown first byte", []byte{0xff, 1, 2}, codec.ReasonUnknownFormat)
	f("nested compression", nested, codec.ReasonNested)
	f("compressed garbage inside", z.Append(nil, codec.CompressS2, append(append([]byte{}, inner...), 0xff, '\n')), codec.ReasonUnknownFormat)
	f("bad frame inside rolls back the good one", z.Append(nil, codec.CompressZstd, append(append([]byte{}, inner...), []byte("d;1;NaN\n")...)), codec.ReasonNonFinite)
	f("bomb above MaxDecoded", z.Append(nil, codec.CompressZstd, bytes.Repeat([]byte("1,"), 1<<16)), codec.ReasonTooLarge)
	// Each inner compact frame is under the limit on its own; together
	// they are far above it, from a few hundred bytes on the wire.
	f("inner frames together above MaxDecoded", z.Append(nil, codec.CompressZstd, bytes.Repeat(constCompact(4096, 1), 64)), codec.ReasonTooLarge)
}

// constCompact is a compact frame of n samples of ch constant channels: a
// few dozen bytes that decode to n*(16*ch+8) bytes of readings.
func constCompact(n, ch int) []byte {
	f := codec.Frame{Device: []byte("amp"), Seq: 1, Flags: codec.HasSeq, Channels: ch}
	for range n {
		f.Times = append(f.Times, 0)
		for range ch {
			f.Values = append(f.Values, codec.Decimal(215, 1))
		}
	}
	return NewEncoder(codec.Codec{Format: codec.FormatCompact}, 0, nil).Append(nil, &f)
}

// TestDecodeBudget: a budget below MaxDecoded refuses what would grow the
// batch beyond it, in every format, before the values are kept; a budget
// that fits, or none, decodes.
func TestDecodeBudget(t *testing.T) {
	dec := NewDecoder(codec.Limits{}, 0, nil)
	z := compress.Default()
	compact := constCompact(600, 4) // 600*(4*16+8) = 43,200 decoded bytes
	f := func(name string, frame []byte, budget int, want codec.Reason) {
		t.Helper()
		var b codec.Batch
		err := dec.DecodeBudget(&b, frame, budget)
		if got := codec.ReasonOf(err); got != want {
			t.Fatalf("%s, budget %d: %v, want %s", name, budget, err, want)
		}
		if err != nil && (len(b.Frames) != 0 || b.Readings() != 0) {
			t.Fatalf("%s: error left readings in the batch", name)
		}
	}
	f("compact within budget", compact, 43_200, codec.ReasonNone)
	f("compact above budget", compact, 43_199, codec.ReasonTooLarge)
	f("compact, no budget", compact, 0, codec.ReasonNone)
	f("text above budget", []byte("d;1;1:2:3:4,5:6:7:8"), codec.DecodedSize(8, 2)-1, codec.ReasonTooLarge)
	f("text within budget", []byte("d;1;1:2:3:4,5:6:7:8"), codec.DecodedSize(8, 2), codec.ReasonNone)
	bin := NewEncoder(codec.Codec{Format: codec.FormatBinary}, 0, nil).Append(nil, sampleFrame("d", 1))
	f("binary above budget", bin, codec.DecodedSize(6, 3)-1, codec.ReasonTooLarge)
	f("binary within budget", bin, codec.DecodedSize(6, 3), codec.ReasonNone)
	f("compressed above budget", z.Append(nil, codec.CompressZstd, compact), 43_199, codec.ReasonTooLarge)
	f("budget above MaxDecoded changes nothing", z.Append(nil, codec.CompressZstd, bytes.Repeat(compact, 30)), 1<<30, codec.ReasonTooLarge)
}

// TestDecode_ZeroAllocs: decoding every codec into a warm batch allocates
// nothing, compressed ones included.
func TestDecode_ZeroAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not meaningful under -race (sync.Pool drops items on purpose)")
	}
	dec := NewDecoder(codec.Limits{}, 0, nil)
	for _, c := range codec.Codecs() {
		enc := NewEncoder(c, 0, nil)
		frame := enc.Append(nil, sampleFrame("dev-1", 0))
		if c.Format == codec.FormatText && c.Compression == codec.CompressNone {
			frame = frame[:len(frame)-1] // the splitter drops the END byte
		}
		var b codec.Batch
		for range 3 { // warm
			b.Reset()
			if err := dec.Decode(&b, frame); err != nil {
				t.Fatal(err)
			}
		}
		if n := testing.AllocsPerRun(100, func() {
			b.Reset()
			_ = dec.Decode(&b, frame)
		}); n != 0 {
			t.Errorf("%s: %.1f allocs per decode", c, n)
		}
	}
}

func FuzzDecode(f *testing.F) {
	for _, c := range codec.Codecs() {
		f.Add(NewEncoder(c, 0, nil).Append(nil, sampleFrame("d", 1)))
	}
	dec := NewDecoder(codec.Limits{MaxFrame: 4096, MaxDecoded: 1 << 16}, 0, nil)
	f.Fuzz(func(t *testing.T, data []byte) {
		var b codec.Batch
		split := framing.NewSplitter('\n', 4096)
		for off := 0; off < len(data); {
			adv, fr, _ := split.Split(data[off:], true)
			if adv == 0 {
				break
			}
			if fr != nil {
				m := b.Mark()
				if err := dec.Decode(&b, fr); err != nil && b.Mark() != m {
					t.Fatal("a failed decode left frames behind")
				}
			}
			off += adv
		}
		for i := range b.Frames {
			fr := &b.Frames[i]
			if fr.Samples() == 0 || fr.Channels == 0 || len(fr.Values) != fr.Samples()*fr.Channels {
				t.Fatalf("frame %d: %d samples x %d channels, %d values", i, fr.Samples(), fr.Channels, len(fr.Values))
			}
		}
	})
}

// TestDecode_StoredInCompressed: a compressed frame whose #stored decodes
// but whose next inner frame does not takes the #stored's ranges back with
// the rest; a good one keeps them.
func TestDecode_StoredInCompressed(t *testing.T) {
	dec := NewDecoder(codec.Limits{}, 0, nil)
	comp := compress.Default()
	var b codec.Batch
	for _, c := range []struct {
		inner string
		ok    bool
	}{
		{"#stored m 1 3-4 6-9\n#stored m 1 3-4 4-9\n", false}, // the second overlaps
		{"#stored m 1 3-4 6-9\n21.5\n", true},
	} {
		frame := comp.Append(nil, codec.CompressS2, []byte(c.inner))
		m := b.Mark()
		err := dec.Decode(&b, frame)
		if (err == nil) != c.ok {
			t.Fatalf("%q: %v", c.inner, err)
		}
		if !c.ok && b.Mark() != m {
			t.Fatalf("%q: the batch keeps part of a failed frame", c.inner)
		}
	}
	if len(b.Controls) != 1 || len(b.Controls[0].Ranges) != 2 || b.Controls[0].Ranges[1] != (codec.SeqRange{Lo: 6, Hi: 9}) {
		t.Fatalf("controls %+v", b.Controls)
	}
}

// TestDecoder_RadixStream: a potentiometer sketch printing base 2 with
// END ',' and println, fed 1, 3 and 7 bytes at a time as a socket would:
// the same hello, readings and errors come out however the bytes arrive.
func TestDecoder_RadixStream(t *testing.T) {
	dec := NewDecoder(codec.Limits{}, ',', nil, WithRadix(2))
	if dec.Radix() != 2 || NewDecoder(codec.Limits{}, 0, nil).Radix() != 10 {
		t.Fatalf("Radix() = %d", dec.Radix())
	}
	stream := "#hello pot-1,\r\n111111111111,\r\n1000000000,0, 1 ,2,Hello world,mote-3;42;1010:11,\r\n-101"
	want := "hello pot-1|4095|512|0|1|bad_number|not_a_reading|mote-3 42 10:3|-5"
	for _, chunk := range []int{1, 3, 7, len(stream)} {
		var got []string
		var buf []byte
		split := dec.NewSplitter()
		feed := func(atEOF bool) {
			for len(buf) > 0 {
				adv, fr, err := split.Split(buf, atEOF)
				if err != nil {
					t.Fatalf("chunk %d: split: %v", chunk, err)
				}
				if adv == 0 {
					return
				}
				if fr != nil {
					var b codec.Batch
					switch err := dec.Decode(&b, fr); {
					case err != nil:
						got = append(got, codec.ReasonOf(err).String())
					case len(b.Controls) == 1:
						got = append(got, "hello "+string(b.Controls[0].Device))
					default:
						s := ""
						if f := &b.Frames[0]; f.Device != nil {
							s = string(f.Device) + " " + strconv.FormatUint(f.Seq, 10) + " "
						}
						for i, v := range b.Frames[0].Values {
							if i > 0 {
								s += ":"
							}
							s += v.String()
						}
						got = append(got, s)
					}
				}
				buf = buf[adv:]
			}
		}
		for in := []byte(stream); len(in) > 0; {
			n := min(chunk, len(in))
			buf = append(buf, in[:n]...)
			in = in[n:]
			feed(false)
		}
		feed(true)
		if s := strings.Join(got, "|"); s != want {
			t.Fatalf("chunk %d:\n got  %s\n want %s", chunk, s, want)
		}
	}
}
