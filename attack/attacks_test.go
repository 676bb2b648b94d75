package attack

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"
)

// want is what an attack must leave in /api/stats: the exact rise of
// every error and drop reason (a reason not named must not rise), and
// checks of its own once those counts are there.
type want struct {
	errors  map[string]uint64
	dropped map[string]uint64
	check   func()
}

// attackTCPBomb writes 35 KB of bomb frames (26 bytes each) in one TCP
// write: without the amplification bucket they would decode to 1.3 GB.
// The bucket lets in about one frame in maxDecoded/(26*maxAmp) = 19.
func attackTCPBomb(r *rig) want {
	bomb := bombFrame(r.t)
	n := 35000 / len(bomb)
	b, decoded, refused := streamBucket(), 0, uint64(0)
	for range n {
		if b.frame(len(bomb), bombCost) == "" {
			decoded++
		} else {
			refused++
		}
	}
	r.write(r.dial(), bytes.Repeat(bomb, n))
	return want{errors: map[string]uint64{"amplification": refused}, check: func() {
		r.decodedBombs(decoded, int64(n*len(bomb)))
	}}
}

// decodedBombs checks that device "amp" decoded exactly the bomb frames
// the bucket let in, within maxDecoded + maxAmp per wire byte.
func (r *rig) decodedBombs(decoded int, wireBytes int64) {
	r.t.Helper()
	d, _ := r.c.device(r.t, "amp")
	if int(d.Frames) != decoded {
		r.t.Fatalf("%d bomb frames decoded, the bucket allows %d", d.Frames, decoded)
	}
	if cost := int64(d.Frames) * bombCost; cost > maxDecoded+maxAmp*wireBytes {
		r.t.Fatalf("decoded %d bytes from %d wire bytes", cost, wireBytes)
	}
}

// attackUDPBombs sends 300 datagrams of 53 bomb frames (413 KB) from 16
// sockets, so that both UDP readers get some: each datagram may decode to
// maxAmp times its 1,378 bytes, capped at maxDecoded: one bomb frame.
//
// On --engine std this breaks the budget (peak RSS +24 to +41 MiB over
// idle against 23.5): its UDP reader ends a feed after every datagram,
// which lets go of the batch's arrays (keepBatch), so every bomb datagram
// grows them again from nothing (about 5 MiB of append growth for one
// frame's 1 MiB) and the collector, at 200 cycles a second, overshoots.
func attackUDPBombs(r *rig) want {
	bomb := bombFrame(r.t)
	dgram := bytes.Repeat(bomb, 1400/len(bomb))
	const datagrams = 300
	decoded, refused := 0, uint64(0)
	for range datagrams {
		b := datagramBucket(len(dgram))
		for range len(dgram) / len(bomb) {
			if b.frame(0, bombCost) == "" {
				decoded++
			} else {
				refused++
			}
		}
	}
	socks := make([]*net.UDPConn, 16) // the kernel spreads sources over the readers by a hash
	for i := range socks {
		socks[i] = r.dialUDP("127.0.0.1")
	}
	for i := range datagrams {
		r.write(socks[i%len(socks)], dgram)
		if i%50 == 49 {
			time.Sleep(5 * time.Millisecond) // stay well within the socket's receive buffer
		}
	}
	return want{errors: map[string]uint64{"amplification": refused}, check: func() {
		r.decodedBombs(decoded, datagrams*int64(len(dgram)))
	}}
}

// attackZstdInner sends zstd envelopes of 64 bomb frames (34 bytes that
// decompress to 1.7 KB and decode to 62 MiB): 40 on one TCP connection,
// whose full bucket makes them too_large, and 100 as datagrams, whose
// size entitles them to less than one frame's limit (amplification).
func attackZstdInner(r *rig) want {
	env := zstdEnvelope(r.t, 64)
	return r.envelopes(env, 64*bombCost)
}

// attackZstdBomb sends zstd frames of 1,049 bytes that expand to 10 MiB:
// 40 on a TCP connection and 100 as datagrams, too_large either way.
func attackZstdBomb(r *rig) want {
	return r.envelopes(zstdBomb(r.t), 10<<20)
}

// envelopes sends env, which would decode to cost bytes, on a stream and
// as datagrams, and wants each refused for the reason the bucket says.
func (r *rig) envelopes(env []byte, cost int64) want {
	const onStream, asDatagrams = 40, 100
	w := want{errors: map[string]uint64{}}
	b := streamBucket()
	for range onStream {
		w.errors[b.frame(len(env), cost)]++
	}
	for range asDatagrams {
		w.errors[datagramBucket(len(env)).frame(0, cost)]++
	}
	if w.errors[""] != 0 {
		r.t.Fatalf("the bucket would let %d envelopes of %d bytes in", w.errors[""], cost)
	}
	delete(w.errors, "")
	r.write(r.dial(), bytes.Repeat(env, onStream))
	u := r.dialUDP("127.0.0.1")
	for range asDatagrams {
		r.write(u, env)
	}
	return w
}

// attackJunkEnvelopes sends zstd envelopes of 37 bytes that decompress to
// 1 MiB: of bytes that start no format (unknown_format inside), 100 on a
// TCP connection and 25 datagrams of 37; and of blank lines (no frame
// inside), 25 datagrams of 37. Decompressing is decoding work that
// --max-amplification bounds, so the bucket pays for each whether or not
// anything then decodes: on the stream it admits about one in 14 and the
// stream is closed after maxBadRun bad frames in a row; in a datagram the
// first fills the datagram's bucket and the rest are refused
// (amplification). Without that, a 1,369-byte datagram costs 37 MiB of
// decompression: 27,000 decoded bytes per wire byte.
func attackJunkEnvelopes(r *rig) want {
	bad, blank := junkEnvelope(r.t, 0xff), junkEnvelope(r.t, '\n')
	const onStream, datagrams = 100, 25
	w := want{errors: map[string]uint64{"too_many_errors": 1}}
	count := func(why, admitted string) {
		if why == "" {
			why = admitted // decompressed, then refused or empty
		}
		if why != "" {
			w.errors[why]++
		}
	}
	b := streamBucket()
	for range maxBadRun + 1 {
		count(b.frame(len(bad), junkSize), "unknown_format")
	}
	per := 1400 / len(bad)
	for _, admitted := range []string{"unknown_format", ""} {
		for range datagrams {
			b := datagramBucket(per * len(bad))
			for range per {
				count(b.frame(0, junkSize), admitted)
			}
		}
	}
	c := r.dial()
	r.write(c, bytes.Repeat(bad, onStream))
	r.closedByServer(c)
	u := r.dialUDP("127.0.0.1")
	for _, env := range [][]byte{bad, blank} {
		if len(env) != len(bad) {
			r.t.Fatalf("envelopes of %d and %d bytes", len(bad), len(env))
		}
		for range datagrams {
			r.write(u, bytes.Repeat(env, per))
		}
	}
	return w
}

// attackPartialFrames opens 200 connections that each send a text line just
// under --max-frame without its END byte, then wait: the server holds
// each one's partial frame until --frame-timeout closes it. What it holds
// is bounded per connection (by --max-frame), never by time.
func attackPartialFrames(r *rig) want {
	const conns = 200
	line := []byte("partial;0;" + strings.Repeat("1", maxFrame-100))
	for range conns {
		r.write(r.dial(), line)
	}
	// A connection the server closed during a partial frame counts it as
	// truncated besides.
	return want{errors: map[string]uint64{"frame_timeout": conns, "truncated": conns}}
}

// attackSlowClients: 20 connections each send a 100 KiB line (too long: the
// server skips it) and then trickle a byte a second, never ending it;
// --frame-timeout closes them.
func attackSlowClients(r *rig) want {
	const conns = 20
	for range conns {
		c := r.dial()
		r.write(c, bytes.Repeat([]byte("9"), 100<<10))
		r.spawn(func() {
			for range 10 { // 10 s at most; the server closes it after 1.5 s
				time.Sleep(time.Second)
				if _, err := c.Write([]byte("9")); err != nil {
					return
				}
			}
		})
	}
	return want{errors: map[string]uint64{"too_long": conns, "frame_timeout": conns}}
}

// attackAnonymousFlood: 1,000 UDP sockets each send a reading without a device
// id (an anonymous session named after its address) and four datagrams
// of garbage (two that start no format, two length-prefixed frames cut
// short). --max-anonymous 50 lets the first 50 sources in.
func attackAnonymousFlood(r *rig) want {
	const sources, pool = 1000, 50
	socks := make([]*net.UDPConn, sources) // all open at once: distinct source ports
	for i := range socks {
		socks[i] = r.dialUDP("127.0.0.1")
	}
	for i, u := range socks {
		r.write(u, fmt.Appendf(nil, "%d.5\n", i))
		for _, junk := range [][]byte{{0xff, 0xfe}, {0xB1, 0x05}, {0xff}, {0xB1, 0x7f, 1, 2}} {
			r.write(u, junk)
		}
		if i%50 == 49 {
			time.Sleep(5 * time.Millisecond) // 250 datagrams: well within the socket's receive buffer
		}
	}
	return want{
		errors:  map[string]uint64{"anonymous_limit": sources - pool, "unknown_format": 2 * sources, "truncated": 2 * sources},
		dropped: map[string]uint64{"anonymous_limit": sources - pool},
	}
}

// attackForgedAcks: a TCP device has a command sent and not yet acknowledged;
// datagrams acknowledge it (from its own address and another one) and
// speak for the device from another address. None of it counts: the
// command stays sent, the next command still goes by TCP, and the
// device's own ack does count.
func attackForgedAcks(r *rig) want {
	victim := r.lineDevice("victim")
	r.online("victim")
	cmd := r.c.submit(r.t, "victim", "LED ON", http.StatusAccepted)
	if got, want := victim.next(r.t), fmt.Sprintf("#cmd %d LED ON", cmd.ID); got != want {
		r.t.Fatalf("victim got %q, want %q", got, want)
	}
	const acks, readings = 200, 100
	forgers := []*net.UDPConn{r.dialUDP("127.0.0.1"), r.dialUDP("127.0.0.2"), r.dialUDP("127.0.0.3")}
	for i := range acks {
		r.write(forgers[i%len(forgers)], fmt.Appendf(nil, "#ack %d ok forged\n", cmd.ID+uint64(i%2))) // its id, and a guess
	}
	other := r.dialUDP("127.0.0.2")
	for range readings {
		r.write(other, []byte("victim;2;1.0\n"))
	}
	return want{errors: map[string]uint64{"bad_ack": acks, "bound_elsewhere": readings}, check: func() {
		if got := r.c.command(r.t, cmd.ID); got.State.String() != "sent" {
			r.t.Fatalf("after forged acks the command is %s", got.State)
		}
		if d, _ := r.c.device(r.t, "victim"); d.Readings != 1 || d.Transport != "tcp" {
			r.t.Fatalf("victim: %d readings over %s: the forgers spoke for it", d.Readings, d.Transport)
		}
		next := r.c.submit(r.t, "victim", "LED OFF", http.StatusAccepted)
		if next.Via != "tcp" {
			r.t.Fatalf("the next command went via %q", next.Via)
		}
		if got := victim.next(r.t); got != fmt.Sprintf("#cmd %d LED OFF", next.ID) {
			r.t.Fatalf("victim got %q", got)
		}
		r.write(victim.c, fmt.Appendf(nil, "#ack %d ok real\n", cmd.ID))
		waitUntil(r.t, 5*time.Second, func() string { return "the victim's own ack never counted" }, func() bool {
			got := r.c.command(r.t, cmd.ID)
			return got.State.String() == "acked" && got.Detail == "real"
		})
	}}
}

func (r *rig) online(id string) {
	r.t.Helper()
	waitUntil(r.t, 5*time.Second, func() string { return id + " never came online" }, func() bool {
		d, ok := r.c.device(r.t, id)
		return ok && d.Online
	})
}

// attackSequencePoison: after one good frame, 500 rounds on TCP and 500 in
// datagrams of an end-of-stream at 2^64-1 and a frame numbered 2^64-1
// (whose next number would wrap): each is bad_sequence, no loss is
// claimed and nothing is stored.
func attackSequencePoison(r *rig) want {
	const rounds = 500
	c := r.dial()
	r.write(c, []byte("poison;0;1\n"))
	// Only then the rest: an end-of-stream that came first would start
	// the device's count there, and a frame at 0 would then be a restart.
	waitUntil(r.t, 5*time.Second, func() string { return "poison's first frame never counted" }, func() bool {
		d, _ := r.c.device(r.t, "poison")
		return d.Readings == 1
	})
	round := "#eos poison 18446744073709551615\npoison;18446744073709551615;1\n"
	r.write(c, []byte(strings.Repeat(round, rounds)))
	u := r.dialUDP("127.0.0.1")
	for range rounds {
		r.write(u, []byte(round))
	}
	return want{errors: map[string]uint64{"bad_sequence": 4 * rounds}, check: func() {
		d, _ := r.c.device(r.t, "poison")
		if st := r.c.stats(r.t); d.Lost != 0 || st.Lost != 0 || d.EOS || d.Readings != 1 {
			r.t.Fatalf("poison: lost %d (fleet %d), eos %v, readings %d", d.Lost, st.Lost, d.EOS, d.Readings)
		}
	}}
}

// attackCommandInjection: command payloads that would read as a second command
// line on a text device are refused with 400, 50 times each way; the
// device receives nothing.
func attackCommandInjection(r *rig) want {
	victim := r.lineDevice("victim-t")
	r.online("victim-t")
	for range 50 {
		r.c.submit(r.t, "victim-t", "LED\n#cmd 999 REBOOT", http.StatusBadRequest)
		if code, body := r.c.post(r.t, "/api/devices/victim-t/commands", "text/plain", "LED\r\n#cmd 999 REBOOT"); code != http.StatusBadRequest {
			r.t.Fatalf("text/plain injection: %d %s", code, body)
		}
	}
	victim.nothing(r.t)
	return want{}
}

// attackGarbageStreams: 30 connections each of three kinds of stream the server
// must close: lines with bad numbers, bytes that start no format, and a
// binary length field above --max-frame.
func attackGarbageStreams(r *rig) want {
	const conns = 30
	length := binary.AppendUvarint([]byte{0xB1}, 1<<30)
	kinds := [][]byte{bytes.Repeat([]byte("x;1;y\n"), 200), bytes.Repeat([]byte("\xff\xfe\x00garbage\n"), 200), length}
	for _, k := range kinds {
		for range conns {
			c := r.dial()
			r.write(c, k)
			r.closedByServer(c)
		}
	}
	return want{errors: map[string]uint64{"bad_number": conns * (maxBadRun + 1), "unknown_format": conns * (maxBadRun + 1),
		"too_many_errors": 2 * conns, "too_long": conns, "unresyncable": conns}}
}

// attackBadNumbers sends 10,000 rounds of a good line and two bad ones (a bad
// number, NaN) in one stream: never 64 bad frames in a row, so the
// stream stays open, and every good reading is stored.
func attackBadNumbers(r *rig) want {
	const rounds = 10_000
	var b []byte
	for i := range rounds {
		b = fmt.Appendf(b, "rate;%d;1.5\nrate;%d;4x0\nrate;%d;NaN\n", i, i+1, i+1)
	}
	r.write(r.dial(), b)
	return want{errors: map[string]uint64{"bad_number": rounds, "non_finite": rounds}, check: func() {
		if d, _ := r.c.device(r.t, "rate"); d.Readings != rounds || d.Lost != 0 {
			r.t.Fatalf("rate: %d readings, lost %d; want %d, 0", d.Readings, d.Lost, rounds)
		}
	}}
}
