package server

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/fleetwire/fleetwire/codec"
	"github.com/fleetwire/fleetwire/server/natssink"
	"github.com/fleetwire/fleetwire/server/natssink/natstest"
	"github.com/fleetwire/fleetwire/server/sink"
)

type doneReceipt chan bool

func (d doneReceipt) Settled(durable bool) { d <- durable }

// TestAckSeedFromNATS: a device moves to a node that has no state for
// it, from a node that stored some of its samples in the shared stream
// and died before acknowledging them. Its hello is answered at once with
// what the stream holds (natssink.Sink.HeldSet), so the device resends
// only the rest, and a resend of what is held is not stored again.
func TestAckSeedFromNATS(t *testing.T) {
	nc := natstest.Start(t, 1)
	// The dead node's work: runs 0-9 and 20-29 of dev-a in the stream.
	old, err := natssink.Open(natssink.Config{URL: nc.URL(), Dir: t.TempDir(), Node: "old", CreateStream: true, Linger: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	for _, lo := range []uint64{0, 20} {
		f := codec.Frame{Device: []byte("dev-a"), Seq: lo, Flags: codec.HasSeq, Channels: 1,
			Times: make([]int64, 10), Values: make([]codec.Value, 10)}
		for i := range f.Values {
			f.Values[i] = codec.Decimal(int64(lo)+int64(i)+1, 0)
		}
		c := sink.GetChunk()
		c.AddAcked(&f, nil)
		done := make(doneReceipt, 1)
		c.SetReceipt(done)
		if !old.Submit(c) || !<-done {
			t.Fatal("the old node did not store its run")
		}
	}
	if err := old.Close(); err != nil {
		t.Fatal(err)
	}

	ns, err := natssink.Open(natssink.Config{URL: nc.URL(), Dir: t.TempDir(), Node: "new", Linger: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	srv := startServer(t, func(c *Config) {
		c.Sink, c.Node, c.AckInterval = ns, "new", 200*time.Millisecond
	})
	c, err := net.Dial("tcp", srv.Addr(TCP).String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r := bufio.NewReader(c)
	fmt.Fprintf(c, "#hello dev-a ack 64\n")
	if got := storedLine(t, r, c); got != "#stored dev-a 10 20-29" {
		t.Fatalf("first ack %q, want what the stream holds", got)
	}
	// The device resends everything it holds unacknowledged: 10-19, and
	// 20-29 it never saw acknowledged (a device reconnecting sends all).
	var b []byte
	for q := 10; q < 30; q++ {
		b = fmt.Appendf(b, "dev-a;%d;%d\n", q, q+1)
	}
	if _, err := c.Write(b); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "#stored dev-a 30", func() bool { return storedLine(t, r, c) == "#stored dev-a 30" })
	if d, _ := srv.Device("dev-a"); d.Ack == nil || d.Ack.Resent != 10 {
		t.Fatalf("device %+v ack %+v: want the 10 held samples counted as resent", d, d.Ack)
	}
	if err := srv.Shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}
	conn, err := nats.Connect(nc.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := natssink.Read(ctx, conn, io.Discard, natssink.ReadOptions{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if st.Rows != 30 || st.DuplicateRows != 0 || st.MissingRows != 0 {
		t.Fatalf("stream: %+v, want samples 0-29 once each", st)
	}
}
