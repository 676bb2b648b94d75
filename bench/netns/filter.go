package netns

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os/exec"
	"strconv"
	"strings"
)

// Filter names the tool that installs the loss rule.
type Filter string

const (
	// FilterAuto picks nft when it is installed, else iptables.
	FilterAuto Filter = ""
	// FilterNft drops with `numgen random mod 1000000 < N` and reads the
	// rule's own counter from `nft -j`.
	FilterNft Filter = "nft"
	// FilterIptables drops with `-m statistic --mode random` in the raw
	// table and reads the rule's counter from `iptables -L -v -x`.
	FilterIptables Filter = "iptables"
)

// lossTag names our table (nft) and comments our rule (iptables), so the
// counter we read is ours and no other rule's.
const lossTag = "fwnetns"

// The loss rule sits on ingress, in the receiving namespace's prerouting
// hook at raw priority, not on egress: a rule that drops in OUTPUT returns
// EPERM to the sending socket, which tells UDP and TCP senders about the
// loss, and no radio does that. Dropped on ingress, the packet has crossed
// the link and is counted in both veths' counters, as a lost radio frame
// still costs the device its airtime.

// ppm converts a loss percentage to parts per million for numgen.
func ppm(pct float64) int64 { return int64(math.Round(pct * 10000)) }

func resolveFilter(f Filter) (Filter, error) {
	switch f {
	case FilterNft, FilterIptables:
		if _, err := exec.LookPath(string(f)); err != nil {
			return "", fmt.Errorf("netns: filter %s: %w", f, err)
		}
		return f, nil
	case FilterAuto:
		if _, err := exec.LookPath("nft"); err == nil {
			return FilterNft, nil
		}
		if _, err := exec.LookPath("iptables"); err == nil {
			return FilterIptables, nil
		}
		return "", fmt.Errorf("netns: neither nft nor iptables is installed")
	}
	return "", fmt.Errorf("netns: unknown filter %q", f)
}

// installLoss adds the drop rule for packets arriving on iface in ns.
func installLoss(ctx context.Context, f Filter, ns, iface string, pct float64) error {
	switch f {
	case FilterNft:
		script := fmt.Sprintf(`table ip %[1]s {
	chain loss {
		type filter hook prerouting priority raw; policy accept;
		iifname %[2]q numgen random mod 1000000 < %[3]d counter drop comment "%[1]s-loss"
	}
}
`, lossTag, iface, ppm(pct))
		_, err := run(ctx, script, "ip", "netns", "exec", ns, "nft", "-f", "-")
		return err
	case FilterIptables:
		_, err := run(ctx, "", "ip", "netns", "exec", ns, "iptables", "-w", "-t", "raw",
			"-A", "PREROUTING", "-i", iface,
			"-m", "statistic", "--mode", "random", "--probability", strconv.FormatFloat(pct/100, 'f', -1, 64),
			"-m", "comment", "--comment", lossTag+"-loss", "-j", "DROP")
		return err
	}
	return fmt.Errorf("netns: unknown filter %q", f)
}

// lossCounter reads the packets and bytes the loss rule in ns has dropped.
func lossCounter(ctx context.Context, f Filter, ns string) (packets, octets uint64, err error) {
	switch f {
	case FilterNft:
		out, err := run(ctx, "", "ip", "netns", "exec", ns, "nft", "-j", "list", "table", "ip", lossTag)
		if err != nil {
			return 0, 0, err
		}
		return parseNftCounter(out, lossTag+"-loss")
	case FilterIptables:
		out, err := run(ctx, "", "ip", "netns", "exec", ns, "iptables", "-w", "-t", "raw", "-L", "PREROUTING", "-v", "-x", "-n")
		if err != nil {
			return 0, 0, err
		}
		return parseIptablesCounter(out, lossTag+"-loss")
	}
	return 0, 0, fmt.Errorf("netns: unknown filter %q", f)
}

// parseNftCounter finds the rule commented tag in `nft -j list ...` output
// and returns its counter.
func parseNftCounter(out []byte, tag string) (packets, octets uint64, err error) {
	var doc struct {
		Nftables []struct {
			Rule *struct {
				Comment string            `json:"comment"`
				Expr    []json.RawMessage `json:"expr"`
			} `json:"rule"`
		} `json:"nftables"`
	}
	if err := json.Unmarshal(out, &doc); err != nil {
		return 0, 0, fmt.Errorf("parse nft -j output: %w", err)
	}
	for _, o := range doc.Nftables {
		if o.Rule == nil || o.Rule.Comment != tag {
			continue
		}
		for _, e := range o.Rule.Expr {
			var c struct {
				Counter *struct {
					Packets uint64 `json:"packets"`
					Bytes   uint64 `json:"bytes"`
				} `json:"counter"`
			}
			if json.Unmarshal(e, &c) == nil && c.Counter != nil {
				return c.Counter.Packets, c.Counter.Bytes, nil
			}
		}
		return 0, 0, fmt.Errorf("nft rule %q has no counter", tag)
	}
	return 0, 0, fmt.Errorf("nft rule %q not found", tag)
}

// parseIptablesCounter finds the rule commented tag in `iptables -L -v -x -n`
// output; its first two columns are packets and bytes.
func parseIptablesCounter(out []byte, tag string) (packets, octets uint64, err error) {
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		line := sc.Text()
		if !strings.Contains(line, "/* "+tag+" */") {
			continue
		}
		f := strings.Fields(line)
		if len(f) < 2 {
			break
		}
		if packets, err = strconv.ParseUint(f[0], 10, 64); err == nil {
			octets, err = strconv.ParseUint(f[1], 10, 64)
		}
		if err != nil {
			return 0, 0, fmt.Errorf("iptables rule %q: cannot parse counters from %q: %w", tag, line, err)
		}
		return packets, octets, nil
	}
	return 0, 0, fmt.Errorf("iptables rule %q not found", tag)
}
