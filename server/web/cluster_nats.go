package web

import (
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/fleetwire/fleetwire/server/natssink"
)

// DialCluster follows the stats every node publishes to
// statsSubject.<node> ("" for natssink.DefaultStatsSubject) on a NATS
// connection of its own to url ("nats://h1:4222[,h2:4222...]"), for
// Config.Cluster. The connection retries in the background for ever, so
// a node starts while NATS is away and its page shows the cluster once
// NATS is back; stop closes it.
//
// The sink's connection is not shared: it is the sink's to close, and a
// watcher such as a --sink none dashboard node has none.
func DialCluster(url, statsSubject, name string) (view *natssink.ClusterView, stop func(), err error) {
	urls, err := natssink.ServerURLs(url)
	if err != nil {
		return nil, nil, fmt.Errorf("web: cluster view: %w", err)
	}
	nc, err := nats.Connect(strings.Join(urls, ","),
		nats.Name(name),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250*time.Millisecond),
		nats.RetryOnFailedConnect(true),
		nats.PingInterval(2*time.Second),
		nats.MaxPingsOutstanding(3),
	)
	if err != nil {
		return nil, nil, fmt.Errorf("web: cluster view: connect: %w", err)
	}
	v, err := natssink.NewClusterView(nc, statsSubject)
	if err != nil {
		nc.Close()
		return nil, nil, fmt.Errorf("web: cluster view: %w", err)
	}
	return v, func() {
		_ = v.Close()
		nc.Close()
	}, nil
}
