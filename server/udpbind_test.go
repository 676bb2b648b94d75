package server

import (
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
)

// TestUDPPortTheft: a server does not start on a UDP port another socket
// already receives on (another server, or any socket with SO_REUSEPORT,
// which the kernel would let it share) unless both sides ask to share; a
// socket on another address of the same port is no theft. Both engines,
// with one reader (no SO_REUSEPORT: the kernel refuses) and several
// (SO_REUSEPORT: the server's own check refuses).
func TestUDPPortTheft(t *testing.T) {
	for _, engine := range []string{"gnet", "std"} {
		for _, readers := range []int{1, 3} {
			t.Run(fmt.Sprintf("%s/readers=%d", engine, readers), func(t *testing.T) { testUDPPortTheft(t, engine, readers) })
		}
	}
}

func testUDPPortTheft(t *testing.T, engine string, readers int) {
	udpOnly := func(addr string, share bool) func(*Config) {
		return func(c *Config) {
			c.Engine, c.UDPReaders, c.TCPAddr, c.UDPAddr, c.ReusePort = engine, readers, "", addr, share
		}
	}
	// f binds first ("srv": a server; "srv --reuseport": one that shares;
	// "sock HOST": a plain SO_REUSEPORT socket on HOST), then a server on
	// 127.0.0.1 and the same port, which must fail exactly when wantErr.
	f := func(first string, share, wantErr bool) {
		t.Helper()
		var port int
		switch kind, host, _ := strings.Cut(first, " "); kind {
		case "srv":
			srv := startServer(t, udpOnly("127.0.0.1:0", host == "--reuseport"))
			port = srv.Addr(UDP).(*net.UDPAddr).Port
		case "sock":
			lc := net.ListenConfig{Control: reusePortControl(true)}
			pc, err := lc.ListenPacket(context.Background(), "udp", host+":0")
			if err != nil {
				t.Fatal(err)
			}
			defer pc.Close()
			port = pc.LocalAddr().(*net.UDPAddr).Port
		}
		cfg := Config{}
		udpOnly(fmt.Sprintf("127.0.0.1:%d", port), share)(&cfg)
		srv, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		err = srv.Start()
		if err == nil {
			_ = srv.Shutdown(context.Background())
		}
		if got := err != nil && strings.Contains(err.Error(), "udp 127.0.0.1:"+fmt.Sprint(port)+": "+inUseByOther); got != wantErr {
			t.Fatalf("after %q, a server with ReusePort=%v: error %v, want refused=%v", first, share, err, wantErr)
		}
	}
	f("srv", false, true)
	f("srv --reuseport", false, true)
	f("srv --reuseport", true, false)
	f("sock 127.0.0.1", false, true)
	f("sock 0.0.0.0", false, true)
	f("sock 127.0.0.1", true, false)
	f("sock 127.0.0.2", false, false)
}
