package bench

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strings"
)

// CodecBench runs the codecs' Go micro-benchmarks in the module at dir and
// returns their raw output (benchstat reads it as is) and the command.
func CodecBench(ctx context.Context, dir, benchtime string) (out, command string, err error) {
	args := []string{"test", "-run", "^$", "-bench", ".", "-benchmem", "-benchtime", benchtime, "./codec/..."}
	command = "go " + strings.Join(args, " ")
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = dir
	var b, eb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &b, &eb
	if err := cmd.Run(); err != nil {
		return b.String(), command, fmt.Errorf("%s: %w: %s", command, err, lastLines(eb.Bytes(), 5))
	}
	return b.String(), command, nil
}
