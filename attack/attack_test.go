package attack

import (
	"fmt"
	"maps"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fleetwire/fleetwire/codec"
	"github.com/fleetwire/fleetwire/codec/wire"
	"github.com/fleetwire/fleetwire/server"
)

// budget is how much resident memory an attack may add to the server's
// idle RSS. Its terms come from the bounds the server's code sets:
//
//   - perIngester: an ingester (a gnet loop, a UDP reader, a std
//     connection) holds one frame's decoded arrays and its decompressed
//     bytes at a time, each at most maxDecoded (the batch is reset after
//     every frame); append growth may leave each array twice what it
//     holds. 4 x maxDecoded.
//   - perConn: what a connection has received and not consumed: one
//     partial frame of at most maxFrame (a connection with more waiting
//     than maxBacklog is closed), in gnet's inbound ring buffer or the
//     std engine's read buffer, which growth may leave twice that.
//     2 x maxFrame.
//   - queued: decoded readings in the file sink's queue: as many as the
//     amplification bucket let the attack decode (a queued reading takes
//     about what it cost in decoded bytes: 16 per value, 8 per sample).
//   - garbage: Go collects when the heap reaches twice what was live at
//     the last collection (GOGC=100), so until then the arrays an attack
//     churns through may add as much again as the attack's live memory
//     and the idle live heap together. The idle live heap is read from
//     the child (liveHeap) rather than assumed: the gnet engine's UDP
//     readers alone hold 8 MiB of receive buffers that the heap counts
//     and RSS, untouched, does not.
//   - slack: what no bound of ours covers: goroutine stacks, GC metadata,
//     size-class rounding.
//
// keeps is what the server may keep after the attack, and so the most its
// live heap may grow by (beyond heapMargin): the file sink's writer keeps
// the buffers of its largest flush (see sinkKeeps).
type budget struct {
	ingesters int   // ingesters that decode the attack's frames at once
	conns     int   // attacking connections the server holds at once
	queued    int64 // decoded bytes the file sink may hold for the attack
	keeps     int64 // bytes the server may keep alive after the attack
}

const (
	perIngester = 4 * maxDecoded
	perConn     = 2 * maxFrame
	slack       = 4 * mib
)

func (b budget) live() int64 {
	return int64(b.ingesters)*perIngester + int64(b.conns)*perConn + b.queued
}

// bytes is the budget over an idle live heap of idleHeap bytes.
func (b budget) bytes(idleHeap int64) int64 { return slack + 2*b.live() + idleHeap }

func (b budget) describe(idleHeap int64) string {
	return fmt.Sprintf("%s = slack %s + idle heap %s + 2 x (%d ingesters x %s + %d conns x %s + queue %s)",
		mb(b.bytes(idleHeap)), mb(slack), mb(idleHeap), b.ingesters, mb(perIngester), b.conns, mb(perConn), mb(b.queued))
}

// After an attack a case samples RSS for settleFor: it must not rise
// above the attack's peak (by more than rssNoise: the canaries and the
// stats sampler go on allocating). It does not wait for RSS to come back
// to idle: Go returns freed pages to the kernel only after a collection
// found them free and then at the background scavenger's pace, and it
// keeps up to about 10% over its heap goal (twice the live heap); an
// idle server collects rarely, so after a large attack RSS stays above
// idle for minutes (measured: 10 s after a TCP bomb, no page returned).
// What RSS will come back to is the live heap: the case makes the child
// collect and checks that its live heap is back within heapMargin of
// idle (what the attack may leave alive: a few sessions, commands).
const (
	settleFor  = time.Second
	rssNoise   = 1 * mib
	heapMargin = 1 * mib
)

type attackCase struct {
	name      string
	flags     []string // serve flags beyond the suite's defaults
	udpCanary bool     // a canary on UDP too (attacks on UDP)
	mem       budget
	attack    func(*rig) want
}

// fileQueue is what 35 KB of bomb frames may put in the file sink: the
// decoded bytes the bucket allows (see attackTCPBomb).
const fileQueue = maxDecoded + maxAmp*35000

// sinkKeeps is what the file sink's writer keeps for its life once it has
// written a full flush: a CSV buffer of up to FlushBytes (1 MiB) plus one
// codec frame's rows (a bomb frame's 4,096 rows: under 256 KiB) and its
// compressed copy, each up to twice that by append growth, and the zstd
// encoder's history of 8 MiB (klauspost/compress's default window).
// Measured: 10.9 MiB, the same after one burst as after four.
const sinkKeeps = 4*(1*mib+256<<10) + 8*mib

var cases = []attackCase{
	{"tcp-bomb", nil, false, budget{ingesters: 1, conns: 1}, attackTCPBomb},
	{"tcp-bomb-file-sink", []string{"--sink", "files"}, false, budget{ingesters: 1, conns: 1, queued: fileQueue, keeps: sinkKeeps}, attackTCPBomb},
	{"udp-bombs", nil, true, budget{ingesters: 2}, attackUDPBombs},
	{"zstd-inner-frames", nil, true, budget{ingesters: 3, conns: 1}, attackZstdInner},
	{"zstd-bomb", nil, true, budget{ingesters: 3, conns: 1}, attackZstdBomb},
	{"zstd-junk", nil, true, budget{ingesters: 3, conns: 1}, attackJunkEnvelopes},
	{"partial-frames", []string{"--frame-timeout", "1s"}, false, budget{ingesters: 2, conns: 200}, attackPartialFrames},
	{"slow-clients", []string{"--frame-timeout", "1500ms"}, false, budget{ingesters: 2, conns: 20}, attackSlowClients},
	{"anonymous-flood", []string{"--max-anonymous", "50", "--naming", "ip-port"}, true, budget{ingesters: 2}, attackAnonymousFlood},
	{"forged-acks", nil, true, budget{ingesters: 3, conns: 1}, attackForgedAcks},
	{"sequence-poison", nil, true, budget{ingesters: 3, conns: 1}, attackSequencePoison},
	{"command-injection", nil, false, budget{ingesters: 1, conns: 1}, attackCommandInjection},
	{"garbage-streams", nil, false, budget{ingesters: 2, conns: 1}, attackGarbageStreams},
	{"bad-numbers", nil, false, budget{ingesters: 1, conns: 1}, attackBadNumbers},
}

// TestAttacks runs every attack against its own `fleetwire serve` child
// process, on both engines.
func TestAttacks(t *testing.T) {
	for _, engine := range []string{"gnet", "std"} {
		t.Run(engine, func(t *testing.T) {
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					// Each case has a process of its own, whose RSS no
					// other case touches; most of a case is waiting for
					// the server's once-a-second stats and timeouts.
					t.Parallel()
					runCase(t, engine, tc)
				})
			}
		})
	}
}

func runCase(t *testing.T, engine string, tc attackCase) {
	c := startChild(t, engine, tc.flags...)
	canaries := []*canary{startCanary(t, "tcp", c.tcp)}
	if tc.udpCanary {
		canaries = append(canaries, startCanary(t, "udp", c.udp))
	}
	for _, k := range canaries {
		waitUntil(t, 5*time.Second, func() string { return k.id + " never arrived" }, func() bool {
			_, ok := c.device(t, k.id)
			return ok
		})
	}
	warmUp(t, c)
	idleHeap := c.liveHeap(t)
	idle, err := idleRSS(c.pid())
	if err != nil {
		t.Fatal(err)
	}
	before := c.stats(t)
	r := &rig{t: t, c: c}
	t.Cleanup(r.end)

	sampler := sampleRSS(c.pid())
	start := time.Now()
	w := tc.attack(r)
	var last server.Stats
	waitUntil(t, 15*time.Second, func() string { return counted(before, last, w) }, func() bool {
		last = c.stats(t)
		return counted(before, last, w) == ""
	})
	attackTime := time.Since(start)
	if w.check != nil {
		w.check()
	}
	r.end()
	peak, sampled, n, err := sampler.finish()
	if err != nil {
		t.Fatalf("RSS sampling: %v", err)
	}

	after := sampleRSS(c.pid())
	time.Sleep(settleFor)
	_, afterPeak, _, err := after.finish()
	if err != nil {
		t.Fatalf("RSS sampling: %v", err)
	}
	waitUntil(t, 10*time.Second, func() string { return "the sink never wrote what it was given" }, func() bool {
		return c.stats(t).Sink.Pending == 0
	})
	heap := c.liveHeap(t)
	for _, k := range canaries {
		k.check(t, c)
	}
	c.alive(t)
	if why := counted(before, c.stats(t), w); why != "" {
		t.Fatalf("after the canaries: %s", why)
	}
	t.Logf("rss %s/%s: idle %s, peak %s (sampled %s, %d samples over %v), after %s; live heap idle %s, after %s; budget %s",
		engine, tc.name, mb(idle), mb(peak), mb(sampled), n, attackTime.Round(time.Millisecond), mb(afterPeak),
		mb(idleHeap), mb(heap), tc.mem.describe(idleHeap))
	if limit := idle + tc.mem.bytes(idleHeap); peak > limit {
		t.Errorf("peak RSS %s: above idle %s + budget %s", mb(peak), mb(idle), tc.mem.describe(idleHeap))
	}
	if afterPeak > peak+rssNoise {
		t.Errorf("RSS rose to %s after the attack, above its peak %s", mb(afterPeak), mb(peak))
	}
	if heap > idleHeap+heapMargin+tc.mem.keeps {
		t.Errorf("live heap %s after the attack: more than %s above idle %s", mb(heap), mb(heapMargin+tc.mem.keeps), mb(idleHeap))
	}
}

// warmUp sends one small frame in each compression, so that the
// decompressors' state, made on first use, is in the idle figures.
func warmUp(t *testing.T, c *child) {
	t.Helper()
	conn, err := net.Dial("tcp", c.tcp)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	f := codec.Frame{Device: []byte("warm-up"), Flags: codec.HasSeq, Channels: 2, Times: []int64{0, 0},
		Values: []codec.Value{codec.Decimal(215, 1), codec.Decimal(40, 0), codec.Decimal(216, 1), codec.Decimal(41, 0)}}
	var b []byte
	for i, comp := range []codec.Compression{codec.CompressZstd, codec.CompressS2} {
		f.Seq = uint64(2 * i)
		b = wire.NewEncoder(codec.Codec{Format: codec.FormatCompact, Compression: comp}, 0, nil).Append(b, &f)
	}
	if _, err := conn.Write(b); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 5*time.Second, func() string { return "the warm-up frames never arrived" }, func() bool {
		d, _ := c.device(t, "warm-up")
		return d.Readings == 8
	})
}

// counted returns "" when every reason of w rose by exactly its count
// since before and no other reason rose, else what differs.
func counted(before, now server.Stats, w want) string {
	var diff []string
	for _, m := range []struct {
		name        string
		before, now map[string]uint64
		want        map[string]uint64
	}{{"errors", before.Errors, now.Errors, w.errors}, {"dropped", before.Dropped, now.Dropped, w.dropped}} {
		keys := slices.Sorted(maps.Keys(m.now))
		for k := range m.want {
			if _, ok := m.now[k]; !ok {
				keys = append(keys, k)
			}
		}
		for _, k := range keys {
			if got := m.now[k] - m.before[k]; got != m.want[k] {
				diff = append(diff, fmt.Sprintf("%s[%s] rose by %d, want %d", m.name, k, got, m.want[k]))
			}
		}
	}
	return strings.Join(diff, "; ")
}
