package faults

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/fleetwire/fleetwire/loadgen"
)

// rows is what the sink holds: per device, how many rows carry each
// sequence number.
type rows map[string]map[uint64]int

// exportRows reads every row under data with `fleetwire export`, the
// operator's way out of the sink, and counts them. export exits 1 on any
// damage, which fails the test.
func exportRows(t *testing.T, data string) (rows, int) {
	t.Helper()
	cmd := exec.Command(fleetwireBin, "export", "--data", data)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	got, n := countRows(t, out, "export")
	if err := cmd.Wait(); err != nil {
		t.Fatalf("fleetwire export --data %s: %v: %s", data, err, stderr.String())
	}
	return got, n
}

// countRows counts the rows of interchange CSV (what export and consume
// print: device,seq,... with header lines) read from r; what names the
// reader in errors.
func countRows(t *testing.T, r io.Reader, what string) (rows, int) {
	t.Helper()
	got := rows{}
	n := 0
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "device,seq,") {
			continue // a header
		}
		dev, rest, ok1 := strings.Cut(line, ",")
		seqText, _, ok2 := strings.Cut(rest, ",")
		seq, err := strconv.ParseUint(seqText, 10, 64)
		if !ok1 || !ok2 || err != nil {
			t.Fatalf("%s row %q: no device and sequence number", what, line)
		}
		m := got[dev]
		if m == nil {
			m = map[uint64]int{}
			got[dev] = m
		}
		m[seq]++
		n++
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return got, n
}

// verifyData runs `fleetwire verify`, which checks every frame's
// checksum and every row's shape, and returns its summary.
func verifyData(t *testing.T, data string) string {
	t.Helper()
	out, err := exec.Command(fleetwireBin, "verify", "--data", data).CombinedOutput()
	if err != nil {
		t.Fatalf("fleetwire verify --data %s: %v: %s", data, err, out)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	return lines[len(lines)-1]
}

// ledger compares what the generators produced with what the sink holds.
type ledger struct {
	devices  int
	samples  uint64 // produced: next_seq - first_seq, summed
	expected uint64 // of them, not given up: each must be stored once
	givenUp  uint64 // samples the devices reported given up
	lost     uint64 // expected but not stored
	dups     uint64 // stored copies beyond the first
	extra    uint64 // stored but given up, or never produced
	examples []string
}

func (l *ledger) bad(format string, args ...any) {
	if len(l.examples) < 8 {
		l.examples = append(l.examples, fmt.Sprintf(format, args...))
	}
}

// reconcile checks every sample every device produced (the reports'
// per-device first_seq..next_seq, the ground truth) against the sink:
// stored exactly once unless the device gave it up, and then not at all.
// Rows of devices or sequence numbers no generator produced are extra.
func reconcile(t *testing.T, reps []*loadgen.Report, got rows) ledger {
	t.Helper()
	var l ledger
	seen := map[string]bool{}
	for _, r := range reps {
		for _, d := range r.PerDevice {
			if d.GivenUpTruncated || d.GivenUpInexact {
				t.Fatalf("%s: its given-up list is not exact (truncated %v, inexact %v): nothing to compare with", d.Device, d.GivenUpTruncated, d.GivenUpInexact)
			}
			seen[d.Device] = true
			l.devices++
			m := got[d.Device]
			gi := 0
			for q := d.FirstSeq; q < d.NextSeq; q++ {
				for gi < len(d.GivenUp) && d.GivenUp[gi][1] < q {
					gi++
				}
				given := gi < len(d.GivenUp) && d.GivenUp[gi][0] <= q
				l.samples++
				c := m[q]
				switch {
				case given:
					l.givenUp++
					if c > 0 {
						l.extra += uint64(c)
						l.bad("%s seq %d: given up, stored %d times", d.Device, q, c)
					}
				case c == 0:
					l.expected++
					l.lost++
					l.bad("%s seq %d: lost", d.Device, q)
				default:
					l.expected++
					if c > 1 {
						l.dups += uint64(c - 1)
						l.bad("%s seq %d: stored %d times", d.Device, q, c)
					}
				}
			}
			for q, c := range m {
				if q < d.FirstSeq || q >= d.NextSeq {
					l.extra += uint64(c)
					l.bad("%s seq %d: stored, never produced (produced %d..%d)", d.Device, q, d.FirstSeq, d.NextSeq-1)
				}
			}
		}
	}
	for dev, m := range got {
		if !seen[dev] {
			l.extra += uint64(len(m))
			l.bad("%s: %d samples of a device no generator ran", dev, len(m))
		}
	}
	return l
}

func (l ledger) String() string {
	return fmt.Sprintf("%d devices, %d samples produced, %d given up, %d lost, %d duplicated, %d extra",
		l.devices, l.samples, l.givenUp, l.lost, l.dups, l.extra)
}
