package linkemu

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// openTUN creates a TUN device (IP packets, no packet-info header) in the
// calling thread's network namespace and returns its non-blocking fd. The
// device lives as long as the fd: closing it removes the device.
func openTUN(name string) (int, error) {
	fd, err := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("open /dev/net/tun: %w", err)
	}
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		unix.Close(fd)
		return -1, err
	}
	ifr.SetUint16(unix.IFF_TUN | unix.IFF_NO_PI)
	if err := unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("TUNSETIFF %s: %w", name, err)
	}
	return fd, nil
}

// run executes one setup command; the error carries the command and its
// stderr.
func run(ctx context.Context, stdin, name string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("%s %s <<%q: %w: %s", name, strings.Join(args, " "), stdin, err, strings.TrimSpace(errb.String()))
	}
	return out.Bytes(), nil
}

// removeNS kills the processes left in ns (never this one) and deletes it.
func removeNS(ns string) error {
	if _, err := os.Stat("/run/netns/" + ns); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		out, err := run(ctx, "", "ip", "netns", "pids", ns)
		if err != nil {
			return err
		}
		pids := strings.Fields(string(out))
		if len(pids) == 0 {
			break
		}
		for _, s := range pids {
			pid, err := strconv.Atoi(s)
			if err != nil || pid == os.Getpid() {
				return fmt.Errorf("linkemu: %s: cannot kill %q", ns, s)
			}
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("linkemu: %s: processes %v did not exit", ns, pids)
		case <-time.After(20 * time.Millisecond):
		}
	}
	_, err := run(ctx, "", "ip", "netns", "del", ns)
	return err
}
