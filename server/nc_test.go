package server

import (
	"cmp"
	"context"
	"fmt"
	"net"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fleetwire/fleetwire/server/sink"
)

// ncSession is the hand-typed session of PROTOCOL.md's text section.
const ncSession = "#hello mote-3\n21.5,21.7,21.9,\n21.5:40,21.6:41\nmote-4;42;21.5:40,21.6:41\n#eos mote-4 44\n"

// The rows the sink must hold afterwards: device;seq;time;values.
var ncRows = []string{
	"mote-3;-;-;21.5", "mote-3;-;-;21.7", "mote-3;-;-;21.9",
	"mote-3;-;-;21.5:40", "mote-3;-;-;21.6:41",
	"mote-4;42;-;21.5:40", "mote-4;43;-;21.6:41",
}

// TestProtocolExamplesReachTheSink sends PROTOCOL.md's examples the way a
// person types them: over TCP and UDP, with Go, and with the real nc when
// it is installed (CI installs it).
func TestProtocolExamplesReachTheSink(t *testing.T) {
	senders := map[string]func(t *testing.T, tcp, udp string){
		"go": func(t *testing.T, tcp, udp string) {
			c, err := net.Dial("tcp", tcp)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := c.Write([]byte(ncSession)); err != nil {
				t.Fatal(err)
			}
			c.Close()
			u, err := net.Dial("udp", udp)
			if err != nil {
				t.Fatal(err)
			}
			defer u.Close()
			if _, err := u.Write([]byte("mote-5;1;3.25,3.5\n")); err != nil {
				t.Fatal(err)
			}
		},
		"nc": func(t *testing.T, tcp, udp string) {
			nc, err := exec.LookPath("nc")
			if err != nil {
				t.Skip("nc is not installed (apt-get install netcat-openbsd); the go sender covered the same bytes")
			}
			run := func(input string, args ...string) {
				cmd := exec.Command(nc, args...)
				cmd.Stdin = strings.NewReader(input)
				if out, err := cmd.CombinedOutput(); err != nil {
					t.Fatalf("nc %v: %v: %s", args, err, out)
				}
			}
			host, port, _ := net.SplitHostPort(tcp)
			run(ncSession, "-N", "-w", "2", host, port)
			host, port, _ = net.SplitHostPort(udp)
			run("mote-5;1;3.25,3.5\n", "-u", "-w", "1", host, port)
		},
	}
	for name, send := range senders {
		t.Run(name, func(t *testing.T) {
			data := t.TempDir()
			srv := startServer(t, func(c *Config) { c.Sink = files(t, data) })
			send(t, srv.Addr(TCP).String(), srv.Addr(UDP).String())
			waitFor(t, 10*time.Second, "9 samples", func() bool { return srv.Stats().Readings == 13 })
			if st := srv.Stats(); st.Lost != 0 || len(st.Errors) != 0 || st.EOS != 1 {
				t.Fatalf("lost %d errors %v eos %d", st.Lost, st.Errors, st.EOS)
			}
			if err := srv.Shutdown(context.Background()); err != nil {
				t.Fatal(err)
			}
			r, err := sink.OpenReader(data)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			var got []string
			for r.Next() {
				row := r.Row()
				seq, tm := "-", "-"
				if row.HasSeq {
					seq = fmt.Sprint(row.Seq)
				}
				if row.HasTime {
					tm = fmt.Sprint(row.Time)
				}
				var vals []string
				for _, v := range row.Values {
					vals = append(vals, v.String())
				}
				got = append(got, fmt.Sprintf("%s;%s;%s;%s", row.Device, seq, tm, strings.Join(vals, ":")))
			}
			// Each device's rows in order; devices on different ingesters
			// (a gnet loop, a UDP reader) reach the sink in either order.
			want := append(append([]string{}, ncRows...), "mote-5;1;-;3.25", "mote-5;2;-;3.5")
			slices.SortStableFunc(got, byDevice)
			slices.SortStableFunc(want, byDevice)
			if strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Fatalf("sink holds\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
		})
	}
}

func byDevice(a, b string) int {
	da, _, _ := strings.Cut(a, ";")
	db, _, _ := strings.Cut(b, ";")
	return cmp.Compare(da, db)
}
