package natssink_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/fleetwire/fleetwire/codec"
	"github.com/fleetwire/fleetwire/server"
	"github.com/fleetwire/fleetwire/server/natssink"
	"github.com/fleetwire/fleetwire/server/sink"
)

// quiet is a logger for sinks under test: warnings only, on the test log.
func quiet(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(b)))
	return len(b), nil
}

// gen makes frames of devices dev-0..dev-(n-1) whose samples can be
// told apart: value = seq*10 + channel, time = base + seq ms.
type gen struct {
	next map[string]uint64
}

func newGen() *gen { return &gen{next: map[string]uint64{}} }

const baseMs = 1764068400000

// frame returns the next `samples` samples of device dev with ch
// channels, with seq and time as flags say.
func (g *gen) frame(dev string, samples, ch int, flags codec.FrameFlags) codec.Frame {
	seq := g.next[dev]
	g.next[dev] = seq + uint64(samples)
	f := codec.Frame{Device: []byte(dev), Seq: seq, Flags: flags, Format: codec.FormatText, Channels: ch}
	for i := range samples {
		s := seq + uint64(i)
		t := int64(0)
		if flags&codec.HasTime != 0 {
			t = baseMs + int64(s)
		}
		f.Times = append(f.Times, t)
		for c := range ch {
			f.Values = append(f.Values, codec.Value{Mant: int64(s)*10 + int64(c), Scale: uint8(c % 3)})
		}
	}
	if flags&codec.HasSeq == 0 {
		f.Seq = 0
	}
	return f
}

// submit hands frames to s as one chunk, as an event loop would.
func submit(t testing.TB, s sink.Sink, frames ...codec.Frame) {
	t.Helper()
	c := sink.GetChunk()
	for i := range frames {
		c.Add(&frames[i], nil)
	}
	for !s.Submit(c) {
		time.Sleep(time.Millisecond)
	}
}

// rows returns the CSV rows of frames as export and consume print them
// (8 value columns), sorted.
func rows(frames []codec.Frame) []string {
	var out []string
	for _, f := range frames {
		for i := range f.Samples() {
			var b bytes.Buffer
			b.Write(f.Device)
			b.WriteByte(',')
			if f.Flags&codec.HasSeq != 0 {
				fmt.Fprint(&b, f.Seq+uint64(i))
			}
			b.WriteByte(',')
			if f.Flags&codec.HasTime != 0 {
				fmt.Fprint(&b, f.Times[i])
			}
			for _, v := range f.Sample(i) {
				b.WriteByte(',')
				b.Write(codec.AppendValue(nil, v))
			}
			for j := f.Channels; j < 8; j++ {
				b.WriteByte(',')
			}
			out = append(out, b.String())
		}
	}
	slices.Sort(out)
	return out
}

// readStream reads the whole stream back as CSV rows (header dropped),
// sorted.
func readStream(t testing.TB, url string, o natssink.ReadOptions) []string {
	t.Helper()
	return sorted(readStreamRaw(t, url, o))
}

func sorted(rows []string) []string {
	out := slices.Clone(rows)
	slices.Sort(out)
	return out
}

// readStreamTo reads the whole stream into w as Read prints it and returns
// Read's counts; a message that does not decode fails the test.
func readStreamTo(t testing.TB, url string, o natssink.ReadOptions, w io.Writer) natssink.ReadStats {
	t.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	st, err := natssink.Read(ctx, nc, w, o, func(seq uint64, err error) { t.Errorf("message %d: %v", seq, err) })
	if err != nil {
		t.Fatalf("read stream: %v", err)
	}
	return st
}

// readStreamRaw reads the whole stream back as CSV rows (header
// dropped), in stream order.
func readStreamRaw(t testing.TB, url string, o natssink.ReadOptions) []string {
	t.Helper()
	var out bytes.Buffer
	st := readStreamTo(t, url, o, &out)
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if !strings.HasPrefix(lines[0], "device,seq,unix_ms,") {
		t.Fatalf("no header: %q", lines[0])
	}
	lines = lines[1:]
	if uint64(len(lines)) != st.Rows {
		t.Fatalf("%d lines, Read counted %d rows", len(lines), st.Rows)
	}
	return lines
}

// diff describes how got differs from want as multisets: missing rows,
// extra rows, and rows present more than once.
func diff(got, want []string) (missing, extra, dups int, example string) {
	count := map[string]int{}
	for _, r := range want {
		count[r]++
	}
	seen := map[string]int{}
	for _, r := range got {
		seen[r]++
		if seen[r] > count[r] {
			if count[r] == 0 {
				extra++
			} else {
				dups++
			}
			if example == "" {
				example = "unexpected: " + r
			}
		}
	}
	for r, n := range count {
		if seen[r] < n {
			missing += n - seen[r]
			if example == "" {
				example = "missing: " + r
			}
		}
	}
	return
}

func checkExactlyOnce(t testing.TB, got, want []string) {
	t.Helper()
	if missing, extra, dups, ex := diff(got, want); missing+extra+dups > 0 {
		t.Fatalf("stream has %d rows, want %d: %d missing, %d extra, %d duplicated (%s)", len(got), len(want), missing, extra, dups, ex)
	}
}

// waitFor polls cond every 50 ms until it holds, failing after d: tests
// wait for what they need to have happened, not for a fixed time.
func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stored returns what srv's sink stored (JetStream acknowledged).
func stored(srv *server.Server) uint64 { return srv.Stats().Sink.Stored }

// rounds is the readings n feed rounds of devs devices send.
func rounds(n, devs int) uint64 { return uint64(n * devs * feedSamples * feedChannels) }

// waitNodes waits until view has heard stats from n nodes. Stats are
// published on a timer, so a fixed head start may not be enough on a
// loaded machine; the deadline is generous because waiting costs nothing
// once they arrive.
func waitNodes(t testing.TB, view *natssink.ClusterView, n int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for len(view.Nodes()) < n {
		if time.Now().After(deadline) {
			t.Fatalf("stats from %d of %d nodes after 30 s", len(view.Nodes()), n)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
