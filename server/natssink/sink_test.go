package natssink_test

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/fleetwire/fleetwire/codec"
	"github.com/fleetwire/fleetwire/codec/wire"
	"github.com/fleetwire/fleetwire/server/natssink"
	"github.com/fleetwire/fleetwire/server/natssink/natstest"
	"github.com/fleetwire/fleetwire/server/sink"
)

func openSink(t testing.TB, url, dir, node string, mod func(*natssink.Config)) *natssink.Sink {
	t.Helper()
	cfg := natssink.Config{URL: url, Dir: dir, Node: node, CreateStream: true, Linger: 20 * time.Millisecond,
		DrainTimeout: 5 * time.Second, Logger: quiet(t)}
	if mod != nil {
		mod(&cfg)
	}
	s, err := natssink.Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// mixed is frames of every shape: with and without seq and time, 1 to 8
// channels, runs that continue each other and runs that do not.
func mixed(g *gen, rounds int) []codec.Frame {
	var out []codec.Frame
	for r := range rounds {
		out = append(out,
			g.frame("mote-1", 3, 2, codec.HasSeq|codec.HasTime),
			g.frame("mote-2", 1, 8, codec.HasSeq),
			g.frame("mote-3", 5, 1, codec.HasTime),
			g.frame("mote-4", 2, 3, 0),
			g.frame("mote-1", 4, 2, codec.HasSeq|codec.HasTime),
		)
		if r%3 == 0 {
			g.next["mote-2"] += 7 // a gap: the next frame starts a new run
		}
	}
	return out
}

func TestSinkRoundTrip(t *testing.T) {
	nc := natstest.Start(t, 1)
	s := openSink(t, nc.URL(), t.TempDir(), "node-a", nil)
	g := newGen()
	var all []codec.Frame
	for range 20 {
		frames := mixed(g, 5)
		submit(t, s, frames...)
		all = append(all, frames...)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	st := s.Stats()
	want := rows(all)
	if st.Accepted != st.Stored || st.Pending != 0 || st.Synced != st.Stored {
		t.Fatalf("after Close: %+v", st)
	}
	got := readStream(t, nc.URL(), natssink.ReadOptions{})
	checkExactlyOnce(t, got, want)

	// --device selects by subject and by the id in the payload.
	got = readStream(t, nc.URL(), natssink.ReadOptions{Devices: []string{"mote-3"}})
	var want3 []string
	for _, r := range want {
		if strings.HasPrefix(r, "mote-3,") {
			want3 = append(want3, r)
		}
	}
	checkExactlyOnce(t, got, want3)
	// --since keeps rows with a device time at or after it.
	got = readStream(t, nc.URL(), natssink.ReadOptions{Since: baseMs + 50, HasSince: true})
	for _, r := range got {
		f := strings.Split(r, ",")
		if f[2] == "" || f[2] < "1764068400050" {
			t.Fatalf("--since kept %q", r)
		}
	}
	if len(got) == 0 {
		t.Fatal("--since kept nothing")
	}
}

// TestMessageFormat checks what a consumer that knows nothing of the
// sink sees: subject per device, headers, an id per batch, and a payload
// wire.Decoder reads with default limits.
func TestMessageFormat(t *testing.T) {
	nc := natstest.Start(t, 1)
	s := openSink(t, nc.URL(), t.TempDir(), "node-a", nil)
	g := newGen()
	// A device id with a dot, and one long run to split.
	submit(t, s, g.frame("10.0.0.7_4000", 2, 2, codec.HasSeq|codec.HasTime), g.frame("big", 5000, 4, codec.HasSeq))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	conn := nc.Connect()
	msgs := streamMessages(t, conn, natssink.DefaultStream)
	dec := wire.NewDecoder(codec.Limits{}, 0, nil)
	ids := map[string]bool{}
	readings := map[string]int{}
	for _, m := range msgs {
		if m.Header.Get(natssink.HeaderCodec) != "compact+zstd" || m.Header.Get(natssink.HeaderNode) != "node-a" {
			t.Fatalf("headers %v", m.Header)
		}
		id := m.Header.Get("Nats-Msg-Id")
		if ids[id] || !strings.HasPrefix(id, "node-a/") {
			t.Fatalf("message id %q (seen: %v)", id, ids[id])
		}
		ids[id] = true
		var b codec.Batch
		if err := dec.Decode(&b, m.Data); err != nil {
			t.Fatalf("%s: %v", m.Subject, err)
		}
		for _, f := range b.Frames {
			if f.Format != codec.FormatCompact || f.Compression != codec.CompressZstd {
				t.Fatalf("frame codec %v+%v", f.Format, f.Compression)
			}
			if want := "fleetwire.readings." + strings.ReplaceAll(string(f.Device), ".", "_"); m.Subject != want {
				t.Fatalf("subject %q for device %q", m.Subject, f.Device)
			}
			readings[string(f.Device)] += f.Readings()
		}
	}
	if readings["big"] != 20000 || readings["10.0.0.7_4000"] != 4 {
		t.Fatalf("readings %v", readings)
	}
	if !strings.Contains(strings.Join(slices.Collect(maps.Keys(ids)), " "), "node-a/big/0/") {
		t.Fatalf("no id node-a/big/0/...: %v", ids)
	}
}

// streamMessages returns every message of the stream, in order.
func streamMessages(t testing.TB, nc *nats.Conn, stream string) []*nats.Msg {
	t.Helper()
	js, err := nc.JetStream()
	if err != nil {
		t.Fatal(err)
	}
	info, err := js.StreamInfo(stream)
	if err != nil {
		t.Fatal(err)
	}
	var out []*nats.Msg
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq; seq++ {
		m, err := js.GetMsg(stream, seq)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, &nats.Msg{Subject: m.Subject, Header: m.Header, Data: m.Data})
	}
	return out
}

// TestSpoolWhileAway: with NATS down the sink accepts and spools; Close
// leaves the batches on disk; the next Open publishes them, exactly once.
func TestSpoolWhileAway(t *testing.T) {
	nc := natstest.Start(t, 1)
	dir := t.TempDir()
	// Create the stream first, then take NATS away.
	s := openSink(t, nc.URL(), dir, "node-a", nil)
	g := newGen()
	first := mixed(g, 3)
	submit(t, s, first...)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	nc.StopAll()

	s = openSink(t, nc.URL(), dir, "node-a", func(c *natssink.Config) { c.DrainTimeout = 200 * time.Millisecond })
	away := mixed(g, 10)
	for i := 0; i < len(away); i += 7 {
		submit(t, s, away[i:min(i+7, len(away))]...)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	st, ns := s.Stats(), s.NATSStats()
	n := uint64(0)
	for _, f := range away {
		n += uint64(f.Readings())
	}
	if st.Accepted != n || st.Stored != 0 || st.Pending != n || ns.SpoolBytes == 0 || ns.SpoolHighWater < ns.SpoolBytes {
		t.Fatalf("NATS away: %+v\n%+v", st, ns)
	}

	nc.RestartAll()
	s = openSink(t, nc.URL(), dir, "node-a", nil)
	if ns := s.NATSStats(); ns.RecoveredReadings != n {
		t.Fatalf("recovered %d readings, want %d", ns.RecoveredReadings, n)
	}
	more := mixed(g, 2)
	submit(t, s, more...)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	st, ns = s.Stats(), s.NATSStats()
	if ns.RecoveredAcked != n || st.Pending != 0 || ns.SpoolBytes != 0 {
		t.Fatalf("after replay: %+v\n%+v", st, ns)
	}
	got := readStream(t, nc.URL(), natssink.ReadOptions{})
	checkExactlyOnce(t, got, rows(slices.Concat(first, away, more)))
}

// TestSameAsExport: consume prints what export prints for the same
// readings stored by the file sink.
func TestSameAsExport(t *testing.T) {
	nc := natstest.Start(t, 1)
	ns := openSink(t, nc.URL(), t.TempDir(), "node-a", nil)
	dir := t.TempDir()
	fs, err := sink.OpenFiles(sink.FileConfig{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	g := newGen()
	frames := mixed(g, 30)
	submit(t, ns, frames...)
	submit(t, fs, frames...)
	if err := ns.Close(); err != nil {
		t.Fatal(err)
	}
	if err := fs.Close(); err != nil {
		t.Fatal(err)
	}
	r, err := sink.OpenReader(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var exp bytes.Buffer
	if _, err := sink.Export(&exp, r, sink.Filter{}); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(exp.String(), "\n"), "\n")
	conn := nc.Connect()
	var out bytes.Buffer
	if _, err := natssink.Read(context.Background(), conn, &out, natssink.ReadOptions{}, nil); err != nil {
		t.Fatal(err)
	}
	got := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if got[0] != lines[0] {
		t.Fatalf("header %q, export's %q", got[0], lines[0])
	}
	slices.Sort(lines[1:])
	slices.Sort(got[1:])
	if !slices.Equal(got, lines) {
		t.Fatalf("consume and export differ:\n%s\n---\n%s", strings.Join(got[:5], "\n"), strings.Join(lines[:5], "\n"))
	}
}

// TestSpoolFull: with NATS away and the spool at its bound, Submit
// refuses (the server counts sink_full); nothing accepted is dropped, and
// all of it is published once NATS is back.
func TestSpoolFull(t *testing.T) {
	nc := natstest.Start(t, 1)
	dir := t.TempDir()
	s := openSink(t, nc.URL(), dir, "node-a", nil) // creates the stream
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	nc.StopAll()
	s = openSink(t, nc.URL(), dir, "node-a", func(c *natssink.Config) {
		c.SpoolMaxBytes, c.DrainTimeout = 16<<10, 100*time.Millisecond
	})
	g := newGen()
	var accepted []codec.Frame
	refused := 0
	for i := 0; refused < 3 && i < 10000; i++ {
		f := g.frame(fmt.Sprintf("dev-%d", i%50), 4, 2, codec.HasSeq|codec.HasTime)
		c := sink.GetChunk()
		c.Add(&f, nil)
		if s.Submit(c) {
			accepted = append(accepted, f)
		} else {
			c.Release()
			refused++
			time.Sleep(30 * time.Millisecond) // let the writer spool what it has
		}
		if i%20 == 19 {
			time.Sleep(30 * time.Millisecond) // a linger tick: batches close and go to the spool
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	st, ns := s.Stats(), s.NATSStats()
	if refused == 0 || ns.RefusedSpoolFull == 0 || st.Refused[sink.DropQueueFull] != uint64(refused) ||
		!ns.SpoolFull || ns.SpoolHighWater < 16<<10 || st.Dropped != (sink.ByReason{}) || st.Pending != st.Accepted {
		t.Fatalf("spool full: refused %d\n%+v\n%+v", refused, st, ns)
	}
	nc.RestartAll()
	s = openSink(t, nc.URL(), dir, "node-a", nil)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	got := readStream(t, nc.URL(), natssink.ReadOptions{})
	checkExactlyOnce(t, got, rows(accepted))
}

func TestServerURLs(t *testing.T) {
	f := func(in string, want ...string) {
		t.Helper()
		got, err := natssink.ServerURLs(in)
		if want == nil {
			if err == nil {
				t.Fatalf("%q: no error, got %v", in, got)
			}
			return
		}
		if err != nil || !slices.Equal(got, want) {
			t.Fatalf("%q: %v %v, want %v", in, got, err, want)
		}
	}
	f("nats://a:4222", "nats://a:4222")
	f("nats://a:4222,b:4223", "nats://a:4222", "nats://b:4223")
	f("nats://a:4222, nats://b:4223,", "nats://a:4222", "nats://b:4223")
	f("tls://a:4222,b:1", "tls://a:4222", "tls://b:1")
	f("files")
	f("a:4222")
	f("nats://")
}
