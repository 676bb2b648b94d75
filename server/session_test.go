package server

import (
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/fleetwire/fleetwire/codec"
)

// TestSessionCounts: the numbers this product exists for, one line per
// case. steps is a space-separated list of what arrives, in order:
// "seq+n" is a frame of n samples from seq, "eos:N" an end-of-stream
// saying the next sample would have been N, "gaveup:N" a #gaveup. Every
// sample has 2 channels, so each count is 2 readings per sample.
func TestSessionCounts(t *testing.T) {
	f := func(steps string, lost, dups, reordered, restarts uint64) {
		t.Helper()
		var s Session
		s.channels = 2
		for _, step := range strings.Fields(steps) {
			switch kind, arg, _ := strings.Cut(step, ":"); kind {
			case "eos":
				n, _ := strconv.ParseUint(arg, 10, 64)
				s.endOfStream(n, 0)
			case "gaveup":
				n, _ := strconv.ParseUint(arg, 10, 64)
				s.gaveUp(n, 0)
			default:
				a, b, _ := strings.Cut(step, "+")
				seq, err1 := strconv.ParseUint(a, 10, 64)
				n, err2 := strconv.ParseUint(b, 10, 64)
				if err1 != nil || err2 != nil {
					t.Fatalf("bad step %q", step)
				}
				s.account(seq, n, 2)
			}
		}
		got := fmt.Sprint(s.lost, s.dups, s.reordered, s.resets)
		if want := fmt.Sprint(lost, dups, reordered, restarts); got != want {
			t.Fatalf("%q: lost dups reordered restarts = %s, want %s", steps, got, want)
		}
	}
	f("0+10 10+10 20+10", 0, 0, 0, 0)
	f("0+10 0+10", 0, 20, 0, 0)                                // in order
	f("5+5 10+5", 0, 0, 0, 0)                                  // the first frame sets the start: nothing before it is lost
	f("0+10 15+5", 10, 0, 0, 0)                                // a gap of 5 samples
	f("0+10 15+5 10+5", 0, 0, 10, 0)                           // the gap filled late: lost turns into reordered
	f("0+10 15+5 12+1", 8, 0, 2, 0)                            // part of it filled
	f("0+10 5+5", 0, 10, 0, 0)                                 // samples 5-9 again: duplicates
	f("0+10 15+5 10+5 10+5", 0, 10, 10, 0)                     // a late sample repeated is a duplicate
	f("0+10 8+4", 0, 4, 0, 0)                                  // a frame that overlaps the last: 2 duplicates, 2 new
	f("0+10 eos:15", 10, 0, 0, 0)                              // loss at the tail, from the end-of-stream
	f("0+10 eos:15 eos:15", 10, 0, 0, 0)                       // an end-of-stream repeated changes nothing
	f("eos:7 7+3", 0, 0, 0, 0)                                 // an end-of-stream first sets the start
	f("0+10 gaveup:20 20+5", 20, 0, 0, 0)                      // given up: counted as lost, the count goes on from there
	f("0+10 gaveup:5", 0, 0, 0, 0)                             // given up below what arrived: nothing
	f("2000000+10 0+10", 0, 0, 0, 1)                           // a jump back of more than 2^20: a restart, not 2M reorders
	f("2000000+10 1999000+10", 0, 0, 20, 0)                    // further back than the bitmap remembers: taken as filling a gap
	f("0+10 16777227+10", 0, 0, 0, 0)                          // a gap of more than 2^24 samples: not loss (bad_sequence)
	f("0+10 16777226+10", 33554432, 0, 0, 0)                   // a gap of exactly 2^24: loss
	f("0+10 eos:16777227", 0, 0, 0, 0)                         // an absurd end-of-stream is refused
	f("4294967290+5 4294967295+5", 0, 0, 0, 0)                 // across 2^32: 64-bit numbers go on
	f("0+1 1023+1 0+1", 2042, 0, 2, 0)                         // older than the bitmap: taken as filling a gap (as iperf3 does)
	f("0+1 2000+1 1000+1", 3996, 0, 2, 0)                      // within the window: reordered, not a duplicate
	f("0+10 3+1 3+1 3+1", 0, 6, 0, 0)                          // each repeat is a duplicate
	f("100+10 50+10", 0, 0, 20, 0)                             // before the start, arriving late: reordered, never lost
	f("0+4096 4096+4096 20000+1 8192+4096", 15424, 0, 8192, 0) // late samples far behind the head
}

// TestSessionState: a device is online, ended or offline, never two at
// once. steps as in TestSessionCounts plus "link" (it gets a connection)
// and "unlink" (the connection closes); "seq+n" goes through apply, as a
// frame does, and "+n" is a frame without sequence numbers.
func TestSessionState(t *testing.T) {
	f := func(steps, want string) {
		t.Helper()
		var s Session
		for _, step := range strings.Fields(steps) {
			switch kind, arg, _ := strings.Cut(step, ":"); kind {
			case "eos":
				n, _ := strconv.ParseUint(arg, 10, 64)
				s.endOfStream(n, 0)
			case "link":
				s.link.Store(&downlink{})
			case "unlink":
				s.link.Store(nil)
			default:
				a, b, _ := strings.Cut(step, "+")
				n, err := strconv.Atoi(b)
				if err != nil {
					t.Fatalf("bad step %q", step)
				}
				fr := codec.Frame{Channels: 1, Times: make([]int64, n), Values: make([]codec.Value, n)}
				if a != "" {
					fr.Flags |= codec.HasSeq
					fr.Seq, _ = strconv.ParseUint(a, 10, 64)
				}
				s.apply(&fr, 0)
			}
		}
		d := s.snapshot(false)
		if d.State != want || d.Online != (want == StateOnline) || d.EOS != (want == StateEnded) {
			t.Fatalf("%q: state %q online %v eos %v, want %q", steps, d.State, d.Online, d.EOS, want)
		}
	}
	f("", StateOffline)
	f("0+10", StateOffline)                            // heard from, no way to reach it
	f("link 0+10", StateOnline)                        // connected
	f("link 0+10 eos:10", StateEnded)                  // ended, even while the connection is open
	f("0+10 eos:10", StateEnded)                       // ended, gone
	f("link 0+10 eos:10 unlink", StateEnded)           // ended, then the connection closed: still ended
	f("link 0+10 eos:12 5+3", StateEnded)              // a late frame from before the end (UDP reorders): still ended
	f("link 0+10 eos:12 11+1", StateEnded)             // the last sample before the end, late: still ended
	f("link 0+10 eos:12 12+1", StateOnline)            // a sample past the end: sending again
	f("0+10 eos:12 12+1", StateOffline)                // sending again, no link
	f("link 0+10 eos:10 +1", StateOnline)              // a sample without sequence numbers is new
	f("link 0+10 eos:10 +0", StateEnded)               // an empty frame is not
	f("link 5000000+10 eos:5000010 0+10", StateOnline) // numbers far back: a restart
	f("link eos:7", StateEnded)                        // an end-of-stream first
	f("link eos:7 7+3", StateOnline)                   // then the samples from there
}
