package main

import (
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/fleetwire/fleetwire/server/natssink"
	"github.com/fleetwire/fleetwire/server/sink"
)

// DefaultDataDir is where serve keeps its data unless told (--data), and
// where export and verify look.
const DefaultDataDir = "./data"

// openSink opens the sink --sink names: files (segments under dir), none
// (keeps nothing, for benchmarks) or nats://host:port[,...] (a JetStream
// stream through a spool under dir). The server takes it over.
func openSink(kind, dir, node string, fsync time.Duration, nc natssink.Config) (sink.Sink, error) {
	switch {
	case kind == "none":
		return sink.None(), nil
	case kind == "files":
		fs, err := sink.OpenFiles(sink.FileConfig{Dir: dir, Node: node, FsyncInterval: fsync})
		if err != nil {
			return nil, fmt.Errorf("open file sink in %s: %w", dir, err)
		}
		return fs, nil
	case natssink.IsURL(kind):
		nc.URL, nc.Dir, nc.Node = kind, dir, node
		ns, err := natssink.Open(nc)
		if err != nil {
			return nil, fmt.Errorf("open NATS sink: %w", err)
		}
		return ns, nil
	}
	return nil, fmt.Errorf("--sink %q: want files, none or nats://host:port[,host:port...]", kind)
}

// redactURL hides passwords and tokens in a (comma-separated) sink URL
// before it is logged: nats://user:secret@host becomes nats://user:xxxxx@host.
func redactURL(s string) string {
	parts := strings.Split(s, ",")
	for i, p := range parts {
		if u, err := url.Parse(p); err == nil && u.User != nil {
			parts[i] = u.Redacted()
			if _, has := u.User.Password(); !has { // a token alone is the secret
				u.User = url.User("xxxxx")
				parts[i] = u.String()
			}
		}
	}
	return strings.Join(parts, ",")
}
