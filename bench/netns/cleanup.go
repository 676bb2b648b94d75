package netns

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Close kills whatever still runs inside the link's namespaces and deletes
// them, which destroys the veth pair, its qdiscs and the loss rules with
// them. It is idempotent; later calls return the first call's error.
// A command started but not yet inside its namespace when Close runs can
// slip in after the check: wait for your commands, or Close after they
// have started.
func (l *Link) Close() error {
	l.closeOnce.Do(func() {
		var errs []error
		for _, ns := range []string{l.ServerNS, l.ClientNS} {
			if err := removeNS(ns); err != nil {
				errs = append(errs, err)
			}
		}
		l.closeErr = errors.Join(errs...)
	})
	return l.closeErr
}

// removeNS kills the processes left in ns, waits for them to go (a
// namespace lives on while a process is in it) and deletes its name.
func removeNS(ns string) error {
	if _, err := os.Stat(nsDir + "/" + ns); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		pids, err := nsPids(ctx, ns)
		if err != nil {
			return err
		}
		if len(pids) == 0 {
			break
		}
		for _, pid := range pids {
			// Only processes inside our own namespace: started by this
			// link's user or by a crashed run of this package. Never this
			// process, should its main thread ever be listed.
			if pid == os.Getpid() {
				return fmt.Errorf("netns: %s: this process (pid %d) is inside it", ns, pid)
			}
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("netns: %s: processes %v did not exit", ns, pids)
		case <-time.After(20 * time.Millisecond):
		}
	}
	_, err := run(ctx, "", "ip", "netns", "del", ns)
	return err
}

func nsPids(ctx context.Context, ns string) ([]int, error) {
	out, err := run(ctx, "", "ip", "netns", "pids", ns)
	if err != nil {
		return nil, err
	}
	var pids []int
	for _, f := range strings.Fields(string(out)) {
		pid, err := strconv.Atoi(f)
		if err != nil {
			return nil, fmt.Errorf("ip netns pids %s: %q: %w", ns, f, err)
		}
		pids = append(pids, pid)
	}
	return pids, nil
}

// Namespaces lists the namespaces whose names start with Prefix.
func Namespaces() ([]string, error) {
	ents, err := os.ReadDir(nsDir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("netns: %w", err)
	}
	var names []string
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), Prefix) {
			names = append(names, e.Name())
		}
	}
	return names, nil
}

// CleanupStale removes the namespaces that runs of this package left
// behind when their process died before Close: those whose creator pid no
// longer exists. Links of live processes, this one included, are kept.
// It returns the names it removed.
func CleanupStale() ([]string, error) {
	names, err := Namespaces()
	if err != nil {
		return nil, err
	}
	var removed []string
	var errs []error
	for _, ns := range names {
		pid, ok := creatorPid(ns)
		if !ok || processAlive(pid) {
			continue
		}
		if err := removeNS(ns); err != nil {
			errs = append(errs, err)
			continue
		}
		removed = append(removed, ns)
	}
	return removed, errors.Join(errs...)
}

// creatorPid parses the pid out of Prefix + "<pid>-<n>-<s|c>".
func creatorPid(ns string) (int, bool) {
	rest, ok := strings.CutPrefix(ns, Prefix)
	if !ok {
		return 0, false
	}
	pidStr, _, ok := strings.Cut(rest, "-")
	if !ok {
		return 0, false
	}
	pid, err := strconv.Atoi(pidStr)
	return pid, err == nil && pid > 0
}

// processAlive reports whether pid exists. A recycled pid makes a stale
// namespace look alive; it is then kept until that process exits too.
func processAlive(pid int) bool {
	if pid == os.Getpid() {
		return true
	}
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
