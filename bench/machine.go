package bench

import (
	"bufio"
	"os"
	"os/exec"
	"runtime"
	"strings"

	"golang.org/x/sys/unix"
)

// Machine says where a report was measured.
type Machine struct {
	CPU       string `json:"cpu"`
	Cores     int    `json:"cores"` // usable by this process (affinity)
	Kernel    string `json:"kernel"`
	GoVersion string `json:"go"`
	Commit    string `json:"commit"`
}

// ThisMachine describes the current machine; commit is read with git in
// dir (empty when dir is not a work tree).
func ThisMachine(dir string) Machine {
	m := Machine{Cores: runtime.NumCPU(), GoVersion: runtime.Version()}
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
		f.Close()
	}
	var u unix.Utsname
	if unix.Uname(&u) == nil {
		m.Kernel = unix.ByteSliceToString(u.Sysname[:]) + " " + unix.ByteSliceToString(u.Release[:])
	}
	if out, err := exec.Command("git", "-C", dir, "rev-parse", "--short=12", "HEAD").Output(); err == nil {
		m.Commit = strings.TrimSpace(string(out))
		if st, err := exec.Command("git", "-C", dir, "status", "--porcelain", "--untracked-files=no").Output(); err == nil && len(st) > 0 {
			var paths []string
			for _, l := range strings.Split(strings.TrimRight(string(st), "\n"), "\n") {
				if len(l) > 3 {
					paths = append(paths, l[3:])
				}
			}
			m.Commit += " + uncommitted changes to " + strings.Join(paths, ", ")
		}
	}
	return m
}
