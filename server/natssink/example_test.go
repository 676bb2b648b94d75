package natssink_test

import (
	"context"
	"fmt"
	"os"

	"github.com/nats-io/nats.go"

	"github.com/fleetwire/fleetwire/server/natssink"
)

// A server opens the sink for --sink nats://... and hands it chunks; the
// sink publishes its stats (with the server's, when given a source).
func ExampleOpen() {
	s, err := natssink.Open(natssink.Config{
		URL:          "nats://n1:4222,n2:4222,n3:4222",
		Dir:          "/var/lib/fleetwire",
		Node:         "ingest-1",
		CreateStream: true,
		Replicas:     3,
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return
	}
	defer s.Close()
	s.SetStatsSource(func() any { return map[string]any{"readings": 0} })
	// ... s.Submit(chunk) from the event loops ...
}

// A dashboard follows every node's stats on one connection.
func ExampleClusterView() {
	nc, err := nats.Connect("nats://n1:4222")
	if err != nil {
		return
	}
	defer nc.Close()
	view, err := natssink.NewClusterView(nc, "")
	if err != nil {
		return
	}
	defer view.Close()
	for _, n := range view.Nodes() {
		fmt.Println(n.Node, n.Summary.Readings, n.Summary.NATS.SpoolBytes, n.Stale)
	}
	t := view.Total()
	fmt.Println(t.Nodes, t.Readings, t.SinkStored)
}

// What `fleetwire consume --device mote-3` runs.
func ExampleRead() {
	nc, err := nats.Connect("nats://n1:4222")
	if err != nil {
		return
	}
	defer nc.Close()
	_, err = natssink.Read(context.Background(), nc, os.Stdout, natssink.ReadOptions{Devices: []string{"mote-3"}}, nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
	}
}
