package attack

import (
	"bufio"
	"net"
	"sync"
	"testing"
	"time"
)

// rig is what an attack works with: the child, and the sockets and
// goroutines it opens, which the case closes and waits for once the
// attack has been counted.
type rig struct {
	t     *testing.T
	c     *child
	mu    sync.Mutex
	conns []net.Conn
	wg    sync.WaitGroup
}

// dial opens a TCP connection to the child's --tcp.
func (r *rig) dial() net.Conn {
	r.t.Helper()
	c, err := net.Dial("tcp", r.c.tcp)
	if err != nil {
		r.t.Fatal(err)
	}
	r.keep(c)
	return c
}

// dialUDP opens a UDP socket from source address src (127.0.0.x: every
// loopback address is ours) to the child's --udp.
func (r *rig) dialUDP(src string) *net.UDPConn {
	r.t.Helper()
	to, err := net.ResolveUDPAddr("udp", r.c.udp)
	if err != nil {
		r.t.Fatal(err)
	}
	c, err := net.DialUDP("udp", &net.UDPAddr{IP: net.ParseIP(src)}, to)
	if err != nil {
		r.t.Fatal(err)
	}
	r.keep(c)
	return c
}

func (r *rig) keep(c net.Conn) {
	r.mu.Lock()
	r.conns = append(r.conns, c)
	r.mu.Unlock()
}

func (r *rig) write(c net.Conn, b []byte) {
	r.t.Helper()
	_ = c.SetWriteDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write(b); err != nil {
		r.t.Fatalf("write %d bytes: %v", len(b), err)
	}
}

// spawn runs f on a goroutine the case waits for; f must end by itself
// within a bounded time.
func (r *rig) spawn(f func()) {
	r.wg.Add(1)
	go func() { defer r.wg.Done(); f() }()
}

// end closes every socket of the attack and waits for its goroutines.
func (r *rig) end() {
	r.mu.Lock()
	for _, c := range r.conns {
		_ = c.Close()
	}
	r.conns = nil
	r.mu.Unlock()
	r.wg.Wait()
}

// closedByServer waits up to 5 s for the server to close c (EOF or a
// reset), and fails the test if it does not.
func (r *rig) closedByServer(c net.Conn) {
	r.t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 4096)
	for range 1 << 10 { // the server sends nothing; a bound all the same
		if _, err := c.Read(buf); err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				r.t.Fatal("the server did not close the connection")
			}
			return
		}
	}
	r.t.Fatal("the server kept sending")
}

// lineDevice is a TCP device that says hello and reads the command lines
// it is sent.
type lineDevice struct {
	c     net.Conn
	lines chan string
}

func (r *rig) lineDevice(hello string) *lineDevice {
	r.t.Helper()
	d := &lineDevice{c: r.dial(), lines: make(chan string, 64)}
	r.spawn(func() { // ends when the rig closes the connection
		sc := bufio.NewScanner(d.c)
		for sc.Scan() {
			select {
			case d.lines <- sc.Text():
			default: // nobody reads that many: drop, the test fails on what it reads
			}
		}
	})
	r.write(d.c, []byte("#hello "+hello+"\n"+hello+";0;1.0\n"))
	return d
}

// next returns the next line the device got, failing after 5 s.
func (d *lineDevice) next(t *testing.T) string {
	t.Helper()
	select {
	case l := <-d.lines:
		return l
	case <-time.After(5 * time.Second):
		t.Fatal("the device got no line")
		return ""
	}
}

// nothing checks that the device gets no line for 300 ms.
func (d *lineDevice) nothing(t *testing.T) {
	t.Helper()
	select {
	case l := <-d.lines:
		t.Fatalf("the device got %q", l)
	case <-time.After(300 * time.Millisecond):
	}
}
