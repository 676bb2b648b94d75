// Package tmpfs gives tests a small file system of their own, so that they
// can fill it: what a full disk does to the sinks is tested, not assumed.
// Only tests import it.
//
// Mount's file system belongs to the test that mounted it and is unmounted
// when that test ends; it needs root (CAP_SYS_ADMIN), and the test is
// skipped with the reason where it cannot be had.
package tmpfs

import (
	"errors"
	"fmt"
	"os"
	"testing"

	"golang.org/x/sys/unix"
)

// Mount mounts a tmpfs of size bytes on a new temporary directory and
// returns the directory; it is unmounted when the test ends (before the
// directory is removed: cleanups run last-registered first). Files on it
// must be closed by then, which a test's own deferred Close or later
// Cleanup ensures. Where a tmpfs cannot be mounted (not root, or mount(2)
// refused: no CAP_SYS_ADMIN in a container) the test is skipped with the
// reason.
func Mount(t testing.TB, size int64) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs a tmpfs it can fill: mounting one takes root")
	}
	dir := t.TempDir()
	if err := unix.Mount("tmpfs", dir, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, fmt.Sprintf("size=%d,mode=0755", size)); err != nil {
		t.Skipf("needs a tmpfs it can fill: mount on %s: %v (CAP_SYS_ADMIN missing?)", dir, err)
	}
	t.Cleanup(func() {
		err := unix.Unmount(dir, 0)
		if errors.Is(err, unix.EBUSY) {
			t.Errorf("unmount %s: a file on it is still open; detaching it", dir)
			err = unix.Unmount(dir, unix.MNT_DETACH)
		}
		if err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	return dir
}
