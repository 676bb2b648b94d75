package attack

import (
	"fmt"
	"net"
	"sync"
	"testing"
	"time"
)

// canary is a well-behaved device that sends numbered one-reading frames
// ("<id>;<seq>;1.5") at a steady pace on a connection (or socket) of its
// own while an attack runs; check then wants every one of them stored
// and none lost.
type canary struct {
	id   string
	c    net.Conn
	stop chan struct{}
	done chan struct{}
	mu   sync.Mutex
	sent int
	err  error
}

const (
	canaryEvery = 10 * time.Millisecond
	canaryMax   = 3000 // 30 s at canaryEvery: longer than any case
)

func startCanary(t *testing.T, network, addr string) *canary {
	t.Helper()
	c, err := net.Dial(network, addr)
	if err != nil {
		t.Fatal(err)
	}
	k := &canary{id: "canary-" + network, c: c, stop: make(chan struct{}), done: make(chan struct{})}
	t.Cleanup(func() { k.halt(); c.Close() })
	go k.run()
	return k
}

func (k *canary) run() {
	defer close(k.done)
	tick := time.NewTicker(canaryEvery)
	defer tick.Stop()
	buf := make([]byte, 0, 64)
	for seq := 0; seq < canaryMax; seq++ {
		select {
		case <-k.stop:
			return
		case <-tick.C:
		}
		buf = fmt.Appendf(buf[:0], "%s;%d;1.5\n", k.id, seq)
		_ = k.c.SetWriteDeadline(time.Now().Add(2 * time.Second))
		_, err := k.c.Write(buf)
		k.mu.Lock()
		if err != nil {
			k.err = err
		} else {
			k.sent++
		}
		k.mu.Unlock()
		if err != nil {
			return
		}
	}
}

func (k *canary) halt() {
	select {
	case <-k.stop:
	default:
		close(k.stop)
	}
	<-k.done
}

// check stops the canary and waits for the server to hold every reading
// it sent, with none lost.
func (k *canary) check(t *testing.T, c *child) {
	t.Helper()
	k.halt()
	if k.err != nil {
		t.Fatalf("%s could not send after %d frames: %v", k.id, k.sent, k.err)
	}
	if k.sent < 10 {
		t.Fatalf("%s sent only %d frames: the case was too short to tell", k.id, k.sent)
	}
	var got uint64
	waitUntil(t, 10*time.Second, func() string {
		return fmt.Sprintf("%s: the server holds %d of its %d readings", k.id, got, k.sent)
	}, func() bool {
		d, _ := c.device(t, k.id)
		got = d.Readings
		return got == uint64(k.sent)
	})
	if d, _ := c.device(t, k.id); d.Lost != 0 || d.Duplicates != 0 {
		t.Fatalf("%s: lost %d, duplicates %d of %d", k.id, d.Lost, d.Duplicates, k.sent)
	}
}
