package csvio

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/fleetwire/fleetwire/codec"
)

func values(s ...string) []codec.Value {
	vs := make([]codec.Value, len(s))
	for i, x := range s {
		v, r := codec.ParseValue([]byte(x))
		if r != codec.ReasonNone {
			panic(x)
		}
		vs[i] = v
	}
	return vs
}

func TestWriter_Success(t *testing.T) {
	f := func(names []string, fallback string, frames []codec.Frame, want string) {
		t.Helper()
		var b bytes.Buffer
		w := NewWriter(&b, names)
		w.SetFallbackDevice(fallback)
		for i := range frames {
			if err := w.WriteFrame(&frames[i]); err != nil {
				t.Fatalf("WriteFrame: %v", err)
			}
		}
		if err := w.Flush(); err != nil {
			t.Fatalf("Flush: %v", err)
		}
		if b.String() != want {
			t.Fatalf("got\n%s\nwant\n%s", b.String(), want)
		}
	}
	two := codec.Frame{Device: []byte("m1"), Seq: 41, Flags: codec.HasSeq | codec.HasTime, Channels: 2,
		Times: []int64{1000, 900}, Values: values("30.20", "-0.00", "1e+30", "7")}
	f(nil, "", []codec.Frame{two}, "device,seq,unix_ms,ch1,ch2\nm1,41,1000,30.20,-0.00\nm1,42,900,1e+30,7\n")
	f([]string{"t", "h"}, "", []codec.Frame{two}, "device,seq,unix_ms,t,h\nm1,41,1000,30.20,-0.00\nm1,42,900,1e+30,7\n")
	bare := codec.Frame{Channels: 1, Times: []int64{0, 0}, Values: values("1", "2")}
	f(nil, "", []codec.Frame{bare}, "device,seq,unix_ms,ch1\n,,,1\n,,,2\n")
	f(nil, "gw", []codec.Frame{bare}, "device,seq,unix_ms,ch1\ngw,,,1\ngw,,,2\n")
	f([]string{"a"}, "", nil, "device,seq,unix_ms,a\n")
	f(nil, "", nil, "device,seq,unix_ms\n")
}

func TestWriter_Failure(t *testing.T) {
	f := func(names []string, fr codec.Frame, want string) {
		t.Helper()
		var b bytes.Buffer
		w := NewWriter(&b, names)
		err := w.WriteFrame(&fr)
		if err == nil {
			err = w.Flush()
		}
		if err == nil || err.Error() != want {
			t.Fatalf("got %v, want %q", err, want)
		}
		if err2 := w.Flush(); err2 != err {
			t.Fatalf("the error must stick: got %v", err2)
		}
	}
	one := codec.Frame{Channels: 1, Times: []int64{0}, Values: values("1")}
	f([]string{"a", "b"}, one, "csv: a frame with 1 channels, the header has 2 (a,b)")
	f(nil, codec.Frame{Times: []int64{0}}, "csv: a sample without channels cannot be a row")
	f([]string{"a,b"}, one, `csv: channel name "a,b": want a non-empty name without ',', '"', line breaks or surrounding spaces`)
	f([]string{""}, one, `csv: channel name "": want a non-empty name without ',', '"', line breaks or surrounding spaces`)

	w := NewWriter(failWriter{}, nil)
	for i := 0; i < 100000; i++ {
		if err := w.WriteFrame(&one); err != nil {
			if !strings.Contains(err.Error(), "disk full") {
				t.Fatalf("got %v", err)
			}
			return
		}
	}
	t.Fatal("a failing io.Writer must fail WriteFrame once the buffer fills")
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }
