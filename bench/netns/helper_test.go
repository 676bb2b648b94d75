package netns

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// The test binary doubles as the traffic helper: re-executed inside a
// namespace with helperEnv set, it plays one role and prints one JSON
// line. No fleetwire server or generator is involved, so these tests check
// the link and nothing else.
const helperEnv = "FWNETNS_HELPER"

func TestMain(m *testing.M) {
	if role := os.Getenv(helperEnv); role != "" {
		if err := runHelper(role, os.Args[1:]); err != nil {
			fmt.Fprintf(os.Stderr, "helper %s: %v\n", role, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

type udpRecvResult struct {
	Datagrams, Bytes, Unique, Dups uint64
}

type udpSendResult struct {
	Sent, Errors, Bytes uint64
}

type tcpResult struct {
	Sent, Received uint64
	Match          bool
	Seconds        float64
	Retrans        uint32 // TCP_INFO total_retrans of the client socket
}

func runHelper(role string, args []string) error {
	arg := func(i int) string {
		if i < len(args) {
			return args[i]
		}
		return ""
	}
	num := func(i int) int {
		n, _ := strconv.Atoi(arg(i))
		return n
	}
	var res any
	var err error
	switch role {
	case "udp-recv":
		res, err = udpRecv(arg(0))
	case "udp-send":
		d, _ := time.ParseDuration(arg(4))
		res, err = udpSend(arg(0), num(1), num(2), num(3), d)
	case "tcp-echo":
		res, err = tcpEcho(arg(0))
	case "tcp-client":
		res, err = tcpClient(arg(0), num(1))
	default:
		err = fmt.Errorf("unknown role")
	}
	if err != nil {
		return err
	}
	return json.NewEncoder(os.Stdout).Encode(res)
}

// udpRecv counts datagrams until stdin closes, then drains the socket.
// The receive buffer is forced large so the kernel's RcvbufErrors stay out
// of the loss the tests account for.
func udpRecv(addr string) (udpRecvResult, error) {
	var res udpRecvResult
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) {
			serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 32<<20)
		})
		return errors.Join(err, serr)
	}}
	pc, err := lc.ListenPacket(context.Background(), "udp4", addr)
	if err != nil {
		return res, err
	}
	defer pc.Close()
	stop := make(chan struct{})
	go func() {
		io.Copy(io.Discard, os.Stdin)
		close(stop)
	}()
	fmt.Println("ready")
	var seen []uint64
	buf := make([]byte, 65536)
	stopped := false
	for {
		wait := 50 * time.Millisecond
		if stopped {
			wait = 200 * time.Millisecond
		}
		pc.SetReadDeadline(time.Now().Add(wait))
		n, _, err := pc.ReadFrom(buf)
		if err != nil {
			var ne net.Error
			if !errors.As(err, &ne) || !ne.Timeout() {
				return res, err
			}
			if stopped {
				return res, nil // drained
			}
			select {
			case <-stop:
				stopped = true
			default:
			}
			continue
		}
		res.Datagrams++
		res.Bytes += uint64(n)
		if n < 8 {
			continue
		}
		s := binary.BigEndian.Uint64(buf)
		for uint64(len(seen))*64 <= s {
			seen = append(seen, 0)
		}
		if seen[s/64]&(1<<(s%64)) != 0 {
			res.Dups++
		} else {
			seen[s/64] |= 1 << (s % 64)
			res.Unique++
		}
	}
}

// udpSend sends count datagrams of size bytes (or, with count 0, as many
// as fit in dur) paced at pps, each starting with its sequence number.
func udpSend(addr string, count, size, pps int, dur time.Duration) (udpSendResult, error) {
	var res udpSendResult
	c, err := net.Dial("udp4", addr)
	if err != nil {
		return res, err
	}
	defer c.Close()
	if size < 8 {
		size = 8
	}
	buf := make([]byte, size)
	for i := range buf {
		buf[i] = byte(i)
	}
	interval := time.Second / time.Duration(pps)
	start := time.Now()
	for i := 0; count == 0 || i < count; i++ {
		due := start.Add(time.Duration(i) * interval)
		if count == 0 && due.Sub(start) >= dur {
			break
		}
		// Sleep only when well ahead: timer granularity is ~1 ms, and
		// a late sender catches up in a short burst the queue absorbs.
		if ahead := time.Until(due); ahead > 2*time.Millisecond {
			time.Sleep(ahead)
		}
		binary.BigEndian.PutUint64(buf, uint64(i))
		if _, err := c.Write(buf); err != nil {
			res.Errors++
			continue
		}
		res.Sent++
		res.Bytes += uint64(size)
	}
	return res, nil
}

func pattern(i int) byte { return byte(i) ^ byte(i>>8)*3 ^ byte(i>>16)*7 }

// tcpEcho echoes one connection back until EOF.
func tcpEcho(addr string) (tcpResult, error) {
	var res tcpResult
	ln, err := net.Listen("tcp4", addr)
	if err != nil {
		return res, err
	}
	defer ln.Close()
	fmt.Println("ready")
	c, err := ln.Accept()
	if err != nil {
		return res, err
	}
	defer c.Close()
	n, err := io.Copy(c, c)
	res.Received, res.Sent = uint64(n), uint64(n)
	if err == nil {
		err = c.(*net.TCPConn).CloseWrite()
	}
	return res, err
}

// tcpClient writes n pattern bytes, reads the echo back and checks it.
func tcpClient(addr string, n int) (tcpResult, error) {
	var res tcpResult
	start := time.Now()
	c, err := net.DialTimeout("tcp4", addr, 10*time.Second)
	if err != nil {
		return res, err
	}
	defer c.Close()
	tc := c.(*net.TCPConn)
	werr := make(chan error, 1)
	go func() {
		buf := make([]byte, 16<<10)
		for off := 0; off < n; {
			k := min(len(buf), n-off)
			for j := range k {
				buf[j] = pattern(off + j)
			}
			if _, err := tc.Write(buf[:k]); err != nil {
				werr <- err
				return
			}
			off += k
		}
		res.Sent = uint64(n)
		werr <- tc.CloseWrite()
	}()
	r := bufio.NewReaderSize(tc, 64<<10)
	res.Match = true
	for i := 0; ; i++ {
		b, err := r.ReadByte()
		if err == io.EOF {
			break
		}
		if err != nil {
			return res, err
		}
		if b != pattern(i) {
			res.Match = false
		}
		res.Received++
	}
	if err := <-werr; err != nil {
		return res, err
	}
	res.Seconds = time.Since(start).Seconds()
	if rc, err := tc.SyscallConn(); err == nil {
		rc.Control(func(fd uintptr) {
			if info, err := unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO); err == nil {
				res.Retrans = info.Total_retrans
			}
		})
	}
	return res, nil
}

// proc is a helper running inside a namespace.
type proc struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	out    *bufio.Reader
	stderr bytes.Buffer
}

// startHelper starts role inside side's namespace and, for the listening
// roles, waits until it is ready. The process is killed when t ends.
func startHelper(t *testing.T, ctx context.Context, l *Link, side Side, role string, args ...string) *proc {
	t.Helper()
	p, err := spawnHelper(ctx, l, side, role, args...)
	if p != nil {
		t.Cleanup(p.kill)
	}
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// spawnHelper is startHelper for goroutines that cannot call t.Fatal; the
// caller must kill the process.
func spawnHelper(ctx context.Context, l *Link, side Side, role string, args ...string) (*proc, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	p := &proc{cmd: l.CommandContext(ctx, side, exe, args...)}
	// A -race binary sleeps 1 s at exit by default (atexit_sleep_ms) so
	// other goroutines can report; the helpers exit often and have none.
	p.cmd.Env = append(os.Environ(), helperEnv+"="+role,
		"GORACE="+strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
	p.cmd.Stderr = &p.stderr
	if p.stdin, err = p.cmd.StdinPipe(); err != nil {
		return nil, err
	}
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	p.out = bufio.NewReader(stdout)
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s in %s: %w", role, side, err)
	}
	if role == "udp-recv" || role == "tcp-echo" {
		line, err := p.out.ReadString('\n')
		if line != "ready\n" {
			p.kill() // stderr is complete, and safe to read, only after Wait
			return p, fmt.Errorf("%s in %s not ready: %q %v; stderr: %s", role, side, line, err, p.stderr.String())
		}
	}
	return p, nil
}

func (p *proc) kill() {
	p.cmd.Process.Kill()
	p.cmd.Wait()
}

// result closes stdin, waits for the helper and decodes its JSON line.
func (p *proc) result(t *testing.T, v any) {
	t.Helper()
	if err := p.resultErr(v); err != nil {
		t.Fatal(err)
	}
}

func (p *proc) resultErr(v any) error {
	p.stdin.Close()
	out, _ := io.ReadAll(p.out)
	if err := p.cmd.Wait(); err != nil {
		return fmt.Errorf("%v: %w; stderr: %s", p.cmd.Args, err, p.stderr.String())
	}
	if err := json.Unmarshal(out, v); err != nil {
		return fmt.Errorf("%v: output %q: %w", p.cmd.Args, out, err)
	}
	return nil
}
