package bench

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/fleetwire/fleetwire/loadgen"
	"github.com/fleetwire/fleetwire/server/natssink"
)

// consumeCheck runs `fleetwire consume` over the whole stream into
// WorkDir/consume.csv and compares it with the generator's report.
func consumeCheck(ctx context.Context, o *MultiNodeOptions, rep *loadgen.Report) (ConsumeCheck, error) {
	path := filepath.Join(o.WorkDir, "consume.csv")
	out, err := os.Create(path)
	if err != nil {
		return ConsumeCheck{}, err
	}
	defer out.Close()
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, o.Exe, "consume", "--nats", o.NATS, "--channels", strconv.Itoa(o.Channels), "--log-level", "warn")
	cmd.Stdout, cmd.Stderr = out, &stderr
	if err := cmd.Run(); err != nil {
		return ConsumeCheck{}, fmt.Errorf("bench: fleetwire consume: %v: %s", err, lastLines(stderr.Bytes(), 5))
	}
	if _, err := out.Seek(0, io.SeekStart); err != nil {
		return ConsumeCheck{}, err
	}
	c, err := compareConsumed(out, rep)
	if err != nil {
		return c, fmt.Errorf("bench: %s: %w", path, err)
	}
	o.Logger.Info("bench: consumed", "rows", c.Rows, "exact", c.Exact())
	return c, nil
}

// sentSeqs marks the samples of one device seen in the stream: bit i is
// sequence number first+i.
type sentSeqs struct {
	first, next uint64
	seen        []uint64
	want        uint64 // samples the generator sent
	got         uint64
}

// compareConsumed reads interchange CSV (device,seq,unix_ms,values...;
// header lines start with "device,") and checks every sample of rep is
// in it exactly once and nothing else is.
func compareConsumed(r io.Reader, rep *loadgen.Report) (ConsumeCheck, error) {
	var c ConsumeCheck
	devs := make(map[string]*sentSeqs, len(rep.PerDevice))
	for _, d := range rep.PerDevice {
		n := d.NextSeq - d.FirstSeq
		devs[d.Device] = &sentSeqs{first: d.FirstSeq, next: d.NextSeq, seen: make([]uint64, (n+63)/64), want: d.Samples}
	}
	seenDev := map[string]bool{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for line := 1; sc.Scan(); line++ {
		b := sc.Bytes()
		if len(b) == 0 || bytes.HasPrefix(b, []byte("device,")) {
			continue
		}
		dev, rest, ok1 := bytes.Cut(b, []byte{','})
		seqb, rest, ok2 := bytes.Cut(rest, []byte{','})
		_, vals, ok3 := bytes.Cut(rest, []byte{','})
		seq, err := strconv.ParseUint(string(seqb), 10, 64)
		if !ok1 || !ok2 || !ok3 || err != nil {
			return c, fmt.Errorf("line %d: %w: %q", line, errBadRow, b)
		}
		c.Rows++
		for v := range bytes.SplitSeq(vals, []byte{','}) {
			if len(v) > 0 {
				c.Readings++
			}
		}
		d := devs[string(dev)]
		if d == nil || seq < d.first || seq >= d.next {
			c.Unknown++
			continue
		}
		seenDev[string(dev)] = true
		i := seq - d.first
		if d.seen[i/64]&(1<<(i%64)) != 0 {
			c.Duplicates++
			continue
		}
		d.seen[i/64] |= 1 << (i % 64)
		d.got++
	}
	if err := sc.Err(); err != nil {
		return c, err
	}
	c.Devices = len(seenDev)
	for _, d := range devs {
		if d.got < d.want {
			c.Missing += d.want - d.got
		} else {
			// More distinct sequence numbers than samples sent: ones the
			// generator skipped (a dropped frame) came through anyway.
			c.Unknown += d.got - d.want
		}
	}
	return c, nil
}

// streamLastTime asks JetStream when the stream's last message was
// stored: the end of a run, to the NATS server's clock (this machine's).
func streamLastTime(ctx context.Context, url string) (time.Time, error) {
	urls, err := natssink.ServerURLs(url)
	if err != nil {
		return time.Time{}, err
	}
	nc, err := nats.Connect(strings.Join(urls, ","), nats.Name("fleetwire bench"))
	if err != nil {
		return time.Time{}, fmt.Errorf("bench: connect to NATS: %w", err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return time.Time{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	s, err := js.Stream(ctx, natssink.DefaultStream)
	if err != nil {
		return time.Time{}, fmt.Errorf("bench: stream %s: %w", natssink.DefaultStream, err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		return time.Time{}, fmt.Errorf("bench: stream %s: %w", natssink.DefaultStream, err)
	}
	return info.State.LastTime, nil
}
