// Package procfixture builds small /proc trees for tests of code that
// reads /proc through prometheus/procfs: the kernel's own files change
// under a test's feet, a fixture does not.
package procfixture

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/prometheus/procfs"
)

// FS writes files (path relative to the root of /proc -> content) into a
// temporary directory, removed when the test ends, and returns a procfs.FS
// rooted there.
func FS(t testing.TB, files map[string]string) procfs.FS {
	t.Helper()
	root := t.TempDir()
	for p, s := range files {
		p = filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	pfs, err := procfs.NewFS(root)
	if err != nil {
		t.Fatal(err)
	}
	return pfs
}
