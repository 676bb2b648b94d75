// Package natstest runs real NATS servers with JetStream inside a test
// process: one server, or a cluster whose nodes route to each other on
// loopback. Nodes can be stopped and restarted on the same ports and
// store directories, to test what a client does when NATS goes away.
//
// It is for tests only; importing it links the NATS server. A Cluster
// belongs to the test that started it: its servers listen on loopback
// ports and temporary directories of that test, and are shut down when it
// ends.
package natstest

import (
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Node is one NATS server of a Cluster.
type Node struct {
	Name        string
	Port        int // client port
	ClusterPort int // route port; 0 for a lone server
	StoreDir    string
	srv         *server.Server
}

// Cluster is a set of NATS servers with JetStream.
type Cluster struct {
	t     testing.TB
	Nodes []*Node
}

// Start runs n servers (n > 1: a cluster named "fleetwire" with routes
// between all of them) and waits until JetStream answers. They are shut
// down when the test ends.
//
// A cluster that has not elected its JetStream meta leader within a
// minute is started again, on fresh ports and directories: on a loaded
// machine the first election can keep failing, and the ports were free
// only a moment before the servers bound them. That is the NATS harness
// failing, not the code under test.
func Start(t testing.TB, n int) *Cluster {
	t.Helper()
	const attempts = 3
	for attempt := 1; ; attempt++ {
		c := &Cluster{t: t}
		for i := range n {
			nd := &Node{Name: fmt.Sprintf("n%d", i+1), Port: freePort(t), StoreDir: t.TempDir()}
			if n > 1 {
				nd.ClusterPort = freePort(t)
			}
			c.Nodes = append(c.Nodes, nd)
		}
		var err error
		for i := range c.Nodes {
			if err = c.start(i); err != nil {
				break
			}
		}
		if err == nil {
			err = c.ready(60 * time.Second)
		}
		if err == nil {
			t.Cleanup(c.StopAll)
			return c
		}
		c.StopAll()
		if attempt == attempts {
			t.Fatalf("natstest: %d-node JetStream not ready after %d attempts: %v", n, attempts, err)
		}
		t.Logf("natstest: %d-node JetStream not ready (%v); starting it again on new ports", n, err)
	}
}

// freePort returns a loopback TCP port that was free a moment ago.
func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func (c *Cluster) options(nd *Node) *server.Options {
	o := &server.Options{
		ServerName:         nd.Name,
		Host:               "127.0.0.1",
		Port:               nd.Port,
		NoLog:              true,
		NoSigs:             true,
		JetStream:          true,
		StoreDir:           nd.StoreDir,
		JetStreamMaxMemory: 64 << 20,
		JetStreamMaxStore:  2 << 30,
	}
	if nd.ClusterPort != 0 {
		o.Cluster = server.ClusterOpts{Name: "fleetwire", Host: "127.0.0.1", Port: nd.ClusterPort}
		var routes []string
		for _, other := range c.Nodes {
			if other != nd {
				routes = append(routes, fmt.Sprintf("nats-route://127.0.0.1:%d", other.ClusterPort))
			}
		}
		o.Routes = server.RoutesFromStr(strings.Join(routes, ","))
	}
	return o
}

// URL lists every node's client URL, the way --sink takes them.
func (c *Cluster) URL() string {
	var b strings.Builder
	for i, nd := range c.Nodes {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "nats://127.0.0.1:%d", nd.Port)
	}
	return b.String()
}

// Running reports whether node i is up.
func (c *Cluster) Running(i int) bool { return c.Nodes[i].srv != nil }

// Stop shuts node i down (its clients see the connection close).
func (c *Cluster) Stop(i int) {
	nd := c.Nodes[i]
	if nd.srv == nil {
		return
	}
	nd.srv.Shutdown()
	nd.srv.WaitForShutdown()
	nd.srv = nil
}

// StopAll shuts every node down.
func (c *Cluster) StopAll() {
	for i := range c.Nodes {
		c.Stop(i)
	}
}

// Restart starts node i again on its ports and store directory.
func (c *Cluster) Restart(i int) {
	c.t.Helper()
	if err := c.start(i); err != nil {
		c.t.Fatal(err)
	}
}

func (c *Cluster) start(i int) error {
	nd := c.Nodes[i]
	if nd.srv != nil {
		return nil
	}
	s, err := server.NewServer(c.options(nd))
	if err != nil {
		return fmt.Errorf("nats node %s: %w", nd.Name, err)
	}
	go s.Start()
	if !s.ReadyForConnections(20 * time.Second) {
		s.Shutdown()
		return fmt.Errorf("nats node %s: not ready for connections on port %d", nd.Name, nd.Port)
	}
	nd.srv = s
	return nil
}

// RestartAll starts every stopped node and waits for JetStream.
func (c *Cluster) RestartAll() {
	for i := range c.Nodes {
		c.Restart(i)
	}
	c.WaitReady(60 * time.Second)
}

// Connect returns a client connection to the cluster, closed when the
// test ends.
func (c *Cluster) Connect() *nats.Conn {
	c.t.Helper()
	nc, err := nats.Connect(c.URL(), nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond))
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(nc.Close)
	return nc
}

// WaitReady waits until JetStream answers API requests (a cluster has
// elected its meta leader).
func (c *Cluster) WaitReady(timeout time.Duration) {
	c.t.Helper()
	if err := c.ready(timeout); err != nil {
		c.t.Fatal(err)
	}
}

func (c *Cluster) ready(timeout time.Duration) error {
	nc, err := nats.Connect(c.URL(), nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond))
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	deadline := time.Now().Add(timeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, err := js.AccountInfo(ctx)
		cancel()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("JetStream not ready after %v: %w", timeout, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Clients returns how many client connections named name the running
// nodes hold open: 0 once every node has noticed that such a client went
// away, and so has handled all it sent.
func (c *Cluster) Clients(name string) int {
	n := 0
	for _, nd := range c.Nodes {
		if nd.srv == nil {
			continue
		}
		cz, err := nd.srv.Connz(&server.ConnzOptions{Limit: 1 << 20})
		if err != nil {
			c.t.Fatal(err)
		}
		for _, ci := range cz.Conns {
			if ci.Name == name {
				n++
			}
		}
	}
	return n
}

// StreamLeader returns the index of the node leading stream name, or -1.
func (c *Cluster) StreamLeader(name string) int {
	for i, nd := range c.Nodes {
		if nd.srv != nil && nd.srv.JetStreamIsStreamLeader("$G", name) {
			return i
		}
	}
	return -1
}
