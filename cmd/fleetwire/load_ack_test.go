package main

import (
	"bufio"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/fleetwire/fleetwire/codec"
	"github.com/fleetwire/fleetwire/codec/ack"
	"github.com/fleetwire/fleetwire/codec/control"
	"github.com/fleetwire/fleetwire/codec/wire"
	"github.com/fleetwire/fleetwire/loadgen"
)

// ackLineSink accepts text streams and acknowledges every frame at once
// with a #stored, holding an ack.Set per device.
func ackLineSink(t *testing.T) (addr string, stored func() uint64) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	var (
		mu   sync.Mutex
		sets = map[string]*ack.Set{}
	)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				dec := wire.NewDecoder(codec.Limits{}, '\n', nil)
				var b codec.Batch
				var out []byte
				sc := bufio.NewScanner(c)
				for sc.Scan() {
					b.Reset()
					if dec.Decode(&b, sc.Bytes()) != nil {
						continue
					}
					mu.Lock()
					out = out[:0]
					for _, f := range b.Frames {
						s := sets[string(f.Device)]
						if s == nil {
							s = &ack.Set{}
							sets[string(f.Device)] = s
						}
						s.Add(f.Seq, f.Seq+uint64(f.Samples())-1, nil)
						st := s.Stored(f.Device)
						out = control.AppendText(out, &st, '\n')
					}
					mu.Unlock()
					c.Write(out)
				}
			}()
		}
	}()
	return ln.Addr().String(), func() uint64 {
		mu.Lock()
		defer mu.Unlock()
		var n uint64
		for _, s := range sets {
			n += s.Next()
		}
		return n
	}
}

// TestLoadCLIAck: --ack through the command: the JSON report carries the
// acknowledged-delivery fields, per device too, and the summary says so.
func TestLoadCLIAck(t *testing.T) {
	addr, stored := ackLineSink(t)
	path := filepath.Join(t.TempDir(), "run.json")
	out, err := runLoad(t, "--tcp", addr, "--devices", "20", "--rate", "100", "--batch", "5", "--samples", "20",
		"--ack", "--ack-window", "64", "--ack-drain", "10s", "--json", path, "--progress", "0")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var rep loadgen.Report
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	a := rep.AckReport
	if a == nil || a.AckWindow != 64 || a.ReadingsAcked != 800 || a.ReadingsUnackedAtEnd != 0 || a.AcksReceived == 0 || stored() != 400 {
		t.Fatalf("ack report %+v; the sink holds %d samples", a, stored())
	}
	if d := rep.PerDevice[19]; d.ReadingsAcked != 40 || d.ReadingsGivenUp != 0 {
		t.Fatalf("last device %+v", d)
	}
	for _, want := range []string{`"readings_acked": 800`, `"readings_unacked_at_end": 0`, `"ack_latency"`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("the JSON report lacks %s", want)
		}
	}
	if !strings.Contains(out, "800 readings; ") {
		t.Fatalf("summary: %s", out)
	}
}
