package bench

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// perfRecorder samples one process's on-CPU stacks with Linux perf
// (software cpu-clock event: works in VMs without a PMU) while the load
// runs. `fleetwire serve` has no --cpuprofile flag, and perf profiles the
// very process that was measured, kernel time included.
type perfRecorder struct {
	p    *Proc
	data string
}

func startPerf(dir, name string, pid int) (*perfRecorder, error) {
	if _, err := exec.LookPath("perf"); err != nil {
		return nil, fmt.Errorf("perf not installed: %w", err)
	}
	data := filepath.Join(dir, name+".perf.data")
	cmd := exec.Command("perf", "record", "-e", "cpu-clock", "-F", "999", "-g", "-o", data, "-p", strconv.Itoa(pid))
	p, err := StartProc(cmd, filepath.Join(dir, name+".perf.log"))
	if err != nil {
		return nil, err
	}
	return &perfRecorder{p: p, data: data}, nil
}

// stop ends the recording and writes the flat profile (self time per
// symbol) beside the data as <name>.perf.txt; it returns that path.
func (r *perfRecorder) stop(ctx context.Context) (string, error) {
	if !r.p.Exited() {
		_ = r.p.cmd.Process.Signal(syscall.SIGINT)
		select {
		case <-r.p.done:
		case <-time.After(10 * time.Second):
			_ = r.p.cmd.Process.Kill()
			<-r.p.done
		}
	}
	out := strings.TrimSuffix(r.data, ".perf.data") + ".perf.txt"
	cmd := exec.CommandContext(ctx, "perf", "report", "--stdio", "--no-children", "-g", "none", "--sort", "dso,symbol", "--percent-limit", "0.7", "-i", r.data)
	b, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("perf report: %w", err)
	}
	return out, os.WriteFile(out, b, 0o644)
}
