package main

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fleetwire/fleetwire/codec"
	"github.com/fleetwire/fleetwire/codec/text"
	"github.com/fleetwire/fleetwire/server/natssink"
	"github.com/fleetwire/fleetwire/server/natssink/natstest"
	"github.com/fleetwire/fleetwire/server/sink"
)

// publishLines stores text frames through a NATS sink, as the server would.
func publishLines(t *testing.T, url string, lines ...string) {
	t.Helper()
	s, err := natssink.Open(natssink.Config{URL: url, Dir: t.TempDir(), Node: "n1", CreateStream: true, Linger: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	var batch codec.Batch
	for _, l := range lines {
		if err := text.Decode(&batch, []byte(l), &codec.DefaultLimits); err != nil {
			t.Fatalf("%q: %v", l, err)
		}
	}
	c := sink.GetChunk()
	for i := range batch.Frames {
		c.Add(&batch.Frames[i], []byte("peer-1"))
	}
	if !s.Submit(c) {
		t.Fatal("Submit refused")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if st := s.Stats(); st.Pending != 0 {
		t.Fatalf("not all acknowledged: %+v", st)
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

func runConsume(ctx context.Context, out *syncBuffer, args ...string) error {
	root := newRootCmd()
	root.SetOut(out)
	root.SetErr(&bytes.Buffer{})
	root.SetArgs(append([]string{"consume", "--log-level", "error"}, args...))
	return root.ExecuteContext(ctx)
}

// TestConsume: the same lines as TestExport give the same output.
func TestConsume(t *testing.T) {
	nc := natstest.Start(t, 1)
	lines := []string{
		"mote-1;1;1764068400000;30.20:40,30.21:41@60000",
		"mote-2;7;1764068430000;-0.00",
		"21.5,21.50",
		"mote-1;3;1764068520000;1.5e-7:1000000000000000000000",
	}
	publishLines(t, nc.URL(), lines...)
	const header = "device,seq,unix_ms,ch1,ch2,ch3,ch4,ch5,ch6,ch7,ch8\n"
	m1 := "mote-1,1,1764068400000,30.20,40,,,,,,\n" +
		"mote-1,2,1764068460000,30.21,41,,,,,,\n"
	m2 := "mote-2,7,1764068430000,-0.00,,,,,,,\n"
	peer := "peer-1,,,21.5,,,,,,,\n" +
		"peer-1,,,21.50,,,,,,,\n"
	m1b := "mote-1,3,1764068520000,1.5e-07,1e+21,,,,,,\n"
	f := func(want string, args ...string) {
		t.Helper()
		var out syncBuffer
		if err := runConsume(context.Background(), &out, append([]string{"--nats", nc.URL()}, args...)...); err != nil {
			t.Fatalf("consume %v: %v", args, err)
		}
		// Stream order is per device; devices' batches interleave as
		// the sink closed them.
		if got := sortedRows(out.String()); got != sortedRows(header+want) {
			t.Fatalf("consume %v:\n%s\nwant:\n%s", args, out.String(), header+want)
		}
	}
	f(m1 + m2 + peer + m1b)
	f(m1+m1b, "--device", "mote-1")
	f(m1+m2+m1b, "--device", "mote-1,mote-2")
	f(m1b, "--since", "1764068520000")
	f(m1b, "--since", "2025-11-25T11:02:00Z")
	f("", "--device", "nobody")

	var out syncBuffer
	if err := runConsume(context.Background(), &out, "--nats", nc.URL(), "--stream", "NOPE"); err == nil || !strings.Contains(err.Error(), "NOPE") {
		t.Fatalf("missing stream: %v", err)
	}
}

func sortedRows(s string) string {
	lines := strings.Split(strings.TrimSuffix(s, "\n"), "\n")
	if len(lines) > 1 {
		body := lines[1:]
		for i := 1; i < len(body); i++ {
			for j := i; j > 0 && body[j] < body[j-1]; j-- {
				body[j], body[j-1] = body[j-1], body[j]
			}
		}
	}
	return strings.Join(lines, "\n")
}

// TestConsumeFollow: --follow prints what is published after it started,
// and ends cleanly when interrupted.
func TestConsumeFollow(t *testing.T) {
	nc := natstest.Start(t, 1)
	publishLines(t, nc.URL(), "mote-1;1;1764068400000;1")
	ctx, cancel := context.WithCancel(context.Background())
	var out syncBuffer
	done := make(chan error, 1)
	go func() { done <- runConsume(ctx, &out, "--nats", nc.URL(), "--follow") }()
	publishLines(t, nc.URL(), "mote-1;2;1764068401000;2")
	want := "mote-1,2,1764068401000,2,,,,,,,\n"
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(out.String(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("--follow printed %q", out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("--follow ended with %v", err)
	}
	if !strings.HasPrefix(out.String(), "device,seq,unix_ms,ch1,") || !strings.Contains(out.String(), "mote-1,1,1764068400000,1,") {
		t.Fatalf("--follow output %q", out.String())
	}
}
