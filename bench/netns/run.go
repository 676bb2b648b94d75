package netns

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"

	"github.com/prometheus/procfs"
	"golang.org/x/sys/unix"
)

// run executes one setup or inspection command and returns its stdout.
// The error carries the command line and stderr, which is where ip, tc and
// nft say what they did not like.
func run(ctx context.Context, stdin string, name string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	var out, errb bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &errb
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(errb.String())
		if stdin != "" {
			return nil, fmt.Errorf("%s %s <<%q: %w: %s", name, strings.Join(args, " "), stdin, err, msg)
		}
		return nil, fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, msg)
	}
	return out.Bytes(), nil
}

// nsPath is where `ip netns` keeps the bind mount that names a namespace.
const nsDir = "/run/netns"

// InNS runs fn on an OS thread that has joined the named network namespace.
// Files under /proc/thread-self/net and /proc/sys/net opened by fn resolve
// in that namespace.
//
// The thread is never handed back to the scheduler: the goroutine exits
// while still locked, so the runtime discards the thread instead of
// letting another goroutine run in a foreign namespace. The main thread is
// never used: the runtime cannot discard it (it would stay wedged in the
// namespace) and /proc/PID/ns/net, which `ip netns pids` reads, is the main
// thread's, so the whole process would look like it lives in ns.
func InNS(ns string, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		if unix.Gettid() != unix.Getpid() {
			errc <- setnsAndRun(ns, fn)
			return // still locked: the thread exits with the goroutine
		}
		// On the main thread: holding it locked, a new goroutine must get
		// another thread.
		inner := make(chan error, 1)
		go func() {
			runtime.LockOSThread()
			inner <- setnsAndRun(ns, fn)
		}()
		errc <- <-inner
		runtime.UnlockOSThread()
	}()
	return <-errc
}

func setnsAndRun(ns string, fn func() error) error {
	f, err := os.Open(nsDir + "/" + ns)
	if err != nil {
		return fmt.Errorf("netns %s: %w", ns, err)
	}
	err = unix.Setns(int(f.Fd()), unix.CLONE_NEWNET)
	f.Close()
	if err != nil {
		return fmt.Errorf("setns %s: %w", ns, err)
	}
	return fn()
}

// ProcInNS calls fn with the /proc entry of a thread inside the named
// namespace (/proc/<pid>/task/<tid>): its net/ files are the namespace's.
func ProcInNS(ns string, fn func(p procfs.Proc) error) error {
	return InNS(ns, func() error {
		pfs, err := procFS()
		if err != nil {
			return err
		}
		t, err := pfs.Thread(os.Getpid(), unix.Gettid())
		if err != nil {
			return err
		}
		return fn(t)
	})
}

// DialInNS opens a connection from inside the named namespace: a socket
// belongs to the namespace of the thread that created it, whichever
// thread uses it later.
func DialInNS(ctx context.Context, ns, network, addr string) (net.Conn, error) {
	var c net.Conn
	err := InNS(ns, func() (err error) {
		var d net.Dialer
		c, err = d.DialContext(ctx, network, addr)
		return err
	})
	return c, err
}

// procFS is /proc, opened once.
var procFS = sync.OnceValues(procfs.NewDefaultFS)

// writeSysctlInNS writes a /proc/sys value inside ns; /proc/sys/net
// resolves to the writer's namespace at open time.
func writeSysctlInNS(ns, path, value string) error {
	return InNS(ns, func() error {
		return os.WriteFile("/proc/sys/"+path, []byte(value), 0)
	})
}
