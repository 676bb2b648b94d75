package netns

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"
)

// Packages names the Debian packages that provide the tools this package
// runs.
const Packages = "iproute2 iptables nftables ethtool"

var availableOnce = sync.OnceValue(probe)

// Available returns nil if links can be built here, else an error that
// says what is missing, fit to pass to testing.T.Skip. It builds and
// removes one rate-limited, lossy probe link the first time it is called,
// so a kernel without tbf or the statistic/numgen matches is caught too.
func Available() error { return availableOnce() }

func probe() error {
	var problems []string
	if uid := os.Geteuid(); uid != 0 {
		problems = append(problems, fmt.Sprintf("not root (uid %d): network namespaces need CAP_SYS_ADMIN and CAP_NET_ADMIN", uid))
	}
	var missing []string
	for _, tool := range []string{"ip", "tc", "ethtool"} {
		if _, err := exec.LookPath(tool); err != nil {
			missing = append(missing, tool)
		}
	}
	if _, err := resolveFilter(FilterAuto); err != nil {
		missing = append(missing, "nft or iptables")
	}
	if len(missing) > 0 {
		problems = append(problems, fmt.Sprintf("missing %s (apt-get install -y %s)", strings.Join(missing, ", "), Packages))
	}
	if len(problems) > 0 {
		return fmt.Errorf("netns: emulated links unavailable: %s", strings.Join(problems, "; "))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	l, err := Setup(ctx, Profile{Name: "probe", UpKbit: 1000, DownKbit: 1000, LossPct: 1})
	if err != nil {
		return fmt.Errorf("netns: emulated links unavailable: %w", err)
	}
	if _, err := l.Counters(Server); err != nil {
		return errors.Join(fmt.Errorf("netns: emulated links unavailable: %w", err), l.Close())
	}
	if err := l.Close(); err != nil {
		return fmt.Errorf("netns: emulated links unavailable: probe link not removed: %w", err)
	}
	return nil
}
