package compact

import (
	"bytes"
	"testing"

	"github.com/fleetwire/fleetwire/codec"
)

// TestSpecExamples rebuilds the two worked examples of
// PROTOCOL-compact.md symbol by symbol, with the coder primitives the
// specification describes, and checks that Append writes the same bytes.
func TestSpecExamples(t *testing.T) {
	bit := func(e *rangeEncoder, b uint64) { e.direct(b, 1) }

	// Example 1: multihop mote 1, readings 1-3, no times.
	f1 := frame("1", 1, codec.HasSeq, 2, nil, vals(t, "43.82 30.21 43.79 30.2 43.79 30.19"))
	want1 := withLength(append([]byte{0x49, '1'}, func() []byte {
		var e rangeEncoder
		e.init(nil)
		bit(&e, 0) // seq = U(1): gamma(2) = 0 1 0
		bit(&e, 1)
		bit(&e, 0)
		bit(&e, 0) // samples = U(3): gamma(3) = 0 1 1, then mantissa 1
		bit(&e, 1)
		bit(&e, 1)
		bit(&e, 1)
		// channel 0: humidity, every value with scale 2
		e.direct(modeFixed, 2) // mode 00
		bit(&e, 0)             // scale = U(2): 0 1 1, mantissa 0
		bit(&e, 1)
		bit(&e, 1)
		bit(&e, 0)
		bit(&e, 0)    // no negative zeros
		for range 3 { // first = S(4382) = U(8764): 14 bits, gamma(15) = 0001 111
			bit(&e, 0)
		}
		bit(&e, 1)
		e.direct(0b111, 3)
		e.direct(8764, 13) // 8764 below its leading one
		bit(&e, 1)         // order 1
		bit(&e, 0)         // quantum != 1: U(3-1) = 0 1 1 0
		bit(&e, 0)
		bit(&e, 1)
		bit(&e, 1)
		bit(&e, 0)
		var m0 intModel
		e.encode(&m0.length[0], 1) // residual -3/3 = -1: length 1
		e.encode(&m0.length[1], 0)
		e.encode(&m0.sign[0], 1)   // negative, no previous sign
		e.encode(&m0.length[0], 0) // residual 0
		// channel 1: temperature, trailing zeros dropped ("30.2")
		bit(&e, 0) // a descriptor of its own
		e.direct(modeTrimmed, 2)
		bit(&e, 0) // scale = U(2)
		bit(&e, 1)
		bit(&e, 1)
		bit(&e, 0)
		bit(&e, 0)    // no negative zeros
		for range 3 { // first = S(3021) = U(6042): 13 bits, gamma(14) = 0001 110
			bit(&e, 0)
		}
		bit(&e, 1)
		e.direct(0b110, 3)
		e.direct(6042, 12)
		bit(&e, 1) // order 1
		bit(&e, 1) // quantum 1
		var m1 intModel
		e.encode(&m1.length[0], 1) // residual -1
		e.encode(&m1.length[1], 0)
		e.encode(&m1.sign[0], 1)
		e.encode(&m1.length[0], 1) // residual -1
		e.encode(&m1.length[1], 0)
		e.encode(&m1.sign[2], 1) // previous sign negative
		return e.finish()
	}()...))
	if got := Append(nil, &f1); !bytes.Equal(got, want1) {
		t.Errorf("example 1:\ngot  % x\nwant % x", got, want1)
	}

	// Example 2: one channel printed with two decimals, regular times.
	f2 := frame("mote-3", 42, codec.HasSeq|codec.HasTime, 1,
		[]int64{1700000000000, 1700000005000, 1700000010000, 1700000015000}, vals(t, "21.50 21.60 21.60 21.80"))
	want2 := withLength(append([]byte{0x3e}, append([]byte("mote-3"), func() []byte {
		var e rangeEncoder
		e.init(nil)
		e.putUint(42) // seq
		e.putUint(4)  // samples
		// times
		e.putUint(zigzag(1700000000000))
		bit(&e, 0) // order 2: 0 1
		bit(&e, 1)
		e.putUint(zigzag(5000)) // first delta
		bit(&e, 0)              // quantum != 1
		e.putUint(0)            // quantum 0: every delta of delta is 0
		// channel 0
		e.direct(modeFixed, 2)
		e.putUint(2)
		bit(&e, 0)
		e.putUint(zigzag(2150))
		bit(&e, 1) // order 1
		bit(&e, 0) // quantum 10 = U(9) + 1
		e.putUint(9)
		var m intModel
		e.encode(&m.length[0], 1) // +1 (10/10)
		e.encode(&m.length[1], 0)
		e.encode(&m.sign[0], 0)
		e.encode(&m.length[0], 0) // 0
		e.encode(&m.length[0], 1) // +2 (20/10): length 2, mantissa 0
		e.encode(&m.length[1], 1)
		e.encode(&m.length[2], 0)
		e.encode(&m.sign[1], 0)
		e.encode(&m.mant[2][1], 0)
		return e.finish()
	}()...)...))
	if got := Append(nil, &f2); !bytes.Equal(got, want2) {
		t.Errorf("example 2:\ngot  % x\nwant % x", got, want2)
	}
	t.Logf("example 1: % x", want1)
	t.Logf("example 2: % x", want2)
}
