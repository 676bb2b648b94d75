package loadgen

import (
	"bytes"
	"math"
	"time"

	"github.com/fleetwire/fleetwire/codec"
	"github.com/fleetwire/fleetwire/codec/ack"
)

// Acknowledged delivery (Config.Ack): every device runs an ack.Sender,
// the device algorithm of package codec/ack, and this file is the glue
// between it and the event loop: what goes into the Sender (every frame,
// whether it left or not), what comes out of it (resends, #gaveup, timer
// deadlines), and what the report learns from it.

// Defaults of the ack options.
const (
	// DefaultAckWindow is about what a small MCU's RAM holds.
	DefaultAckWindow = ack.DefaultWindow
	// DefaultAckDrain bounds the wait for acknowledgements after
	// end-of-stream.
	DefaultAckDrain = 30 * time.Second
	// ackRTOMargin is what the default minimum resend timeout allows on
	// top of the server's interval: its fsync, the ack's trip, a loaded
	// machine.
	ackRTOMargin = 2 * time.Second
	// maxGaveUpRanges bounds the given-up ranges a device lists in the
	// report; the counts stay exact beyond it.
	maxGaveUpRanges = 256
)

// ackMinRTO returns the minimum resend timeout. A device cannot know the
// server's ack interval, but it knows its window W and its rate r: the
// server acknowledges at the latest after its interval (ack.DefaultInterval),
// sooner once half a device's window is unacknowledged, which takes
// W/(2r). Timing out before that only resends what is stored already.
func (c *Config) ackMinRTO() time.Duration {
	if c.AckMinRTO > 0 {
		return c.AckMinRTO
	}
	half := ack.DefaultInterval
	if c.Rate > 0 {
		half = min(half, time.Duration(float64(c.ackWindow())/(2*c.Rate)*float64(time.Second)))
	}
	return half + ackRTOMargin
}

func (c *Config) ackWindow() int { return cmpOr(c.AckWindow, DefaultAckWindow) }

// ackMaxBatch returns the most samples a resent frame carries: four
// frames' worth (at least 16), at most what a frame may hold and what
// the window holds.
func (c *Config) ackMaxBatch() int {
	if c.AckMaxBatch > 0 {
		return c.AckMaxBatch
	}
	return min(max(4*c.Batch, 16), codec.DefaultMaxSamples, c.ackWindow())
}

func (c *Config) ackDrain() time.Duration { return c.AckDrain }

func cmpOr(v, def int) int {
	if v == 0 {
		return def
	}
	return v
}

// newAckConfig returns the Senders' configuration; onAck is called for
// every acknowledged part of a flight.
func (c *Config) newAckConfig(onAck func(codec.SeqRange, time.Duration)) *ack.Config {
	minRTO := c.ackMinRTO()
	return &ack.Config{
		Window: c.ackWindow(), MaxBatch: c.ackMaxBatch(),
		MinRTO: minRTO, InitialRTO: max(ack.DefaultInitialRTO, minRTO), MaxRTO: max(ack.DefaultMaxRTO, minRTO),
		OnAck: onAck,
	}
}

// ackDev is the acknowledged-delivery state of one device.
//
// Memory: this struct (96 bytes), the Sender (160 bytes, and 24 per
// flight in the air, its array keeping its largest size), 16 bytes per
// acknowledged island above the lowest held sample (acked's ranges,
// kept), the walk checkpoint (8 bytes per channel, in the loop's arena)
// and 16 bytes per given-up range. TestAckMemory measures 656 bytes per
// device with ten one-sample flights in the air (rate 1/s against a
// server that acks every 10 s), 6.4 KiB with a full window of 256.
type ackDev struct {
	snd *ack.Sender
	// acked holds the acknowledged samples at and above snd.Low() (it is
	// advanced to Low as that moves up): within a span Sender gives up,
	// exactly the samples not acknowledged were given up.
	acked   ack.Set
	ckSeq   uint64           // the walk checkpoint holds the walk before this sample
	drainAt int64            // end of the wait for acknowledgements after end-of-stream (run clock)
	resent  uint64           // samples resent (accepted by the kernel)
	gaveUp  []codec.SeqRange // given up, ascending and coalesced, at most maxGaveUpRanges
	refused uint8            // UDP: refusals since the last #stored (failover)
	waiting bool             // end-of-stream is out: waiting for acknowledgements
	// more: given-up ranges beyond maxGaveUpRanges were not listed.
	// inexact: acked ran out of ranges, so the listed ranges may include
	// samples that were acknowledged. Both are in the report.
	more, inexact bool
}

// ackLoop is a loop's acknowledged-delivery state.
type ackLoop struct {
	cfg  *ack.Config
	devs []ackDev // parallel to loop.devs
	ck   []int64  // walk checkpoints, channels per device
	cur  int32    // the device whose #stored OnStored is applying (for OnAck)
	fast []codec.SeqRange
	due  []codec.SeqRange
}

// newAckLoop sets up the Senders of l's devices; they start at their
// first sample, 0.
func (l *loop) newAckLoop() error {
	c := l.r.cfg
	ch := l.s.channels
	al := &ackLoop{devs: make([]ackDev, len(l.devs))}
	al.cfg = c.newAckConfig(func(r codec.SeqRange, lat time.Duration) {
		a := &al.devs[al.cur]
		if _, err := a.acked.Add(r.Lo, r.Hi, nil); err != nil {
			a.inexact = true
		}
		recordLateness(l.tally.ackLatency, int64(lat))
		l.live.acked.Add(r.Len() * uint64(ch))
	})
	if l.s.replay == nil {
		al.ck = make([]int64, len(l.devs)*ch)
	}
	for i := range l.devs {
		d := &l.devs[i]
		snd, err := ack.NewSender(al.cfg, d.seq)
		if err != nil {
			return err
		}
		al.devs[i].snd = snd
		al.devs[i].ckSeq = d.seq
		al.devs[i].acked.Reset(d.seq)
		if al.ck != nil {
			copy(al.ck[i*ch:], d.walk)
		}
	}
	l.ack = al
	return nil
}

func (al *ackLoop) checkpoint(id int32, ch int) []int64 {
	if al.ck == nil {
		return nil
	}
	return al.ck[int(id)*ch : int(id+1)*ch]
}

// ackSent records samples seq..seq+n-1 of device id as sent at at (they
// may not have left: a device that could not send them keeps them all the
// same, and they go out as resends). Samples the window cannot hold any
// more are given up.
func (l *loop) ackSent(id int32, seq uint64, n int, at int64) {
	a := &l.ack.devs[id]
	l.live.unacked.Add(int64(n * l.s.channels))
	span, given := a.snd.Sent(seq, n, at)
	if given > 0 {
		l.gaveUp(id, span, given)
	}
}

// gaveUp lists what Sender gave up: the samples of span not acknowledged
// before, given in all.
func (l *loop) gaveUp(id int32, span codec.SeqRange, given uint64) {
	a := &l.ack.devs[id]
	ch := uint64(l.s.channels)
	l.live.unacked.Add(-int64(given * ch))
	l.live.gaveUp.Add(given * ch)
	var listed uint64
	add := func(lo, hi uint64) {
		listed += hi - lo + 1
		if n := len(a.gaveUp); n > 0 && a.gaveUp[n-1].Hi+1 == lo {
			a.gaveUp[n-1].Hi = hi
			return
		}
		if len(a.gaveUp) == maxGaveUpRanges {
			a.more = true
			return
		}
		a.gaveUp = append(a.gaveUp, codec.SeqRange{Lo: lo, Hi: hi})
	}
	lo := span.Lo
	for _, r := range a.acked.Ranges(ack.MaxRanges) {
		if r.Lo > span.Hi {
			break
		}
		if r.Hi < lo {
			continue
		}
		if r.Lo > lo {
			add(lo, r.Lo-1)
		}
		lo = r.Hi + 1
	}
	if lo <= span.Hi {
		add(lo, span.Hi)
	}
	if listed != given {
		a.inexact = true
	}
	l.settle(id)
}

// settle moves what depends on the lowest held sample up to it: the set
// of acknowledged samples and the walk checkpoint.
func (l *loop) settle(id int32) {
	a := &l.ack.devs[id]
	low := a.snd.Low()
	if low > a.acked.Next() {
		a.acked.Advance(low)
	}
	if low > a.ckSeq {
		l.s.advance(&l.devs[id], l.ack.checkpoint(id, l.s.channels), a.ckSeq, low)
		a.ckSeq = low
	}
}

// onStored applies a #stored to device id and sends what it makes due:
// the fast resends and a #gaveup.
func (l *loop) onStored(id int32, c *codec.Control, size int, now int64) {
	d := &l.devs[id]
	fast := l.applyStored(id, c, size, now)
	if d.state != stUp {
		return // draining: the write side is shut
	}
	l.reset()
	l.ackResend(&l.framer, id, now, fast)
	l.emit(id, now)
	if d.state != stUp {
		return
	}
	if d.finishing {
		l.afterFinish(id, now)
		return
	}
	l.armNext(id, now)
}

// applyStored applies a #stored (size bytes on the wire) to device id's
// Sender and returns the fast resends it asks for, which alias l until
// the next call.
func (l *loop) applyStored(id int32, c *codec.Control, size int, now int64) []codec.SeqRange {
	a := &l.ack.devs[id]
	l.tally.ackFrames++
	l.tally.ackBytes += uint64(size)
	a.refused = 0
	held := a.snd.Stats().Held
	l.ack.cur = id
	l.ack.fast = a.snd.OnStored(l.ack.fast[:0], c.Seq, c.Ranges, now)
	l.live.unacked.Add(-int64((held - a.snd.Stats().Held) * uint64(l.s.channels)))
	l.settle(id)
	return l.ack.fast
}

// ackResend appends to f what device id owes its receiver now: a #gaveup
// if one is due, then the fast resends (runs from OnStored) and the
// flights whose timer expired, at most maxFramesFire frames (the rest
// stay due and go on the next tick).
func (l *loop) ackResend(f *framer, id int32, now int64, fast []codec.SeqRange) {
	d := &l.devs[id]
	a := &l.ack.devs[id]
	if low, due := a.snd.GaveUpBelow(now); due {
		pre := l.helloPrefix(f, id)
		f.appendControl(codec.Control{Kind: codec.ControlGaveUp, Device: d.id, Seq: low}, markGaveUp)
		l.joinHello(f, pre)
		a.snd.SentGaveUp(low, now)
	}
	ck := l.ack.checkpoint(id, l.s.channels)
	frames := 0
	resend := func(runs []codec.SeqRange) {
		for _, r := range runs {
			if frames == maxFramesFire {
				return
			}
			pre := l.helloPrefix(f, id)
			f.appendResend(d, ck, a.ckSeq, r.Lo, r.Hi)
			l.joinHello(f, pre)
			a.snd.Resent(r.Lo, r.Hi, now)
			frames++
		}
	}
	resend(fast)
	if frames < maxFramesFire {
		l.ack.due = a.snd.Due(l.ack.due[:0], now)
		resend(l.ack.due)
	}
}

// helloPrefix puts the ack hello in front of the next datagram of a UDP
// device that has not heard a #stored yet (any datagram may be the first
// the server sees) and returns where it starts; -1 when there is none.
func (l *loop) helloPrefix(f *framer, id int32) int {
	if l.ack == nil || l.r.cfg.Transport != UDP || l.ack.devs[id].snd.Heard() {
		return -1
	}
	return f.appendPrefix(l.helloControl(&l.devs[id]))
}

func (l *loop) joinHello(f *framer, start int) {
	if start >= 0 {
		f.joinPrefix(start)
	}
}

// helloControl is d's hello: with the ack option when acknowledging, and
// solo (#stored may leave out the id) unless devices share UDP sockets.
func (l *loop) helloControl(d *device) codec.Control {
	c := codec.Control{Kind: codec.ControlHello, Device: d.id}
	if l.r.cfg.Ack {
		c.Ack, c.Window = true, uint32(l.r.cfg.ackWindow())
		c.Solo = l.r.cfg.UDPSockets == 0
	}
	return c
}

// armNext sets a connected device's timer to its next frame, its next
// resend or #gaveup, or the end of its wait for acknowledgements,
// whichever comes first.
func (l *loop) armNext(id int32, now int64) {
	d := &l.devs[id]
	at := int64(math.MaxInt64)
	if !d.finishing && l.started && l.s.frameSamples(d.k) > 0 {
		at = l.t0 + l.s.due(d, d.k)
	}
	if l.ack != nil {
		a := &l.ack.devs[id]
		if t, ok := a.snd.NextDeadline(); ok {
			at = min(at, max(t, now))
		}
		if a.waiting {
			at = min(at, a.drainAt)
		}
	}
	if at != math.MaxInt64 {
		l.arm(id, at)
	}
}

// ackSettled reports whether device id, its end-of-stream out, may close:
// everything acknowledged or given up (and the receiver told), or its
// wait for acknowledgements over. The first call starts the wait.
func (l *loop) ackSettled(id int32, now int64) bool {
	a := &l.ack.devs[id]
	if !a.waiting {
		if l.cancelled || l.r.cfg.ackDrain() == 0 {
			return true
		}
		a.waiting = true
		a.drainAt = now + int64(l.r.cfg.ackDrain())
		l.live.ackWaiting.Add(1)
	}
	_, gaveUpDue := a.snd.GaveUpBelow(now)
	done := a.snd.Stats().Held == 0 && !gaveUpDue
	if !done && now < a.drainAt && !l.cancelled {
		return false
	}
	if !done {
		l.tally.ackDrainTimeouts++
	}
	l.endWait(id)
	return true
}

// catchUp records the frames of device id that fell due while it was
// down as sent then (a device keeps sampling into its buffer while it
// has no connection); Reconnected then makes them due with the rest.
// Their first transmission did not happen: they count as dropped
// (disconnected), and leave as resends.
func (l *loop) catchUp(id int32, now int64) {
	d := &l.devs[id]
	for {
		n := l.s.frameSamples(d.k)
		if n == 0 {
			return
		}
		due := l.t0 + l.s.due(d, d.k)
		if due >= now || l.end > 0 && due >= l.end {
			return
		}
		seq := d.seq
		l.skip(d, n, dropDisconnected)
		l.ackSent(id, seq, n, due)
	}
}

// deviceByID returns the index in l of the device named id, -1 if it is
// not one of l's: ids are IDPrefix and number+1, and device number n
// lives in loop (n-IDOffset) mod nloops at index (n-IDOffset) / nloops.
func (l *loop) deviceByID(id []byte) int32 {
	c := l.r.cfg
	p := len(c.IDPrefix)
	if len(id) <= p || len(id) > p+19 || string(id[:p]) != c.IDPrefix {
		return -1
	}
	rest := id[p:]
	n := 0
	for _, b := range rest {
		if b < '0' || b > '9' {
			return -1
		}
		n = n*10 + int(b-'0')
	}
	i := n - 1 - c.IDOffset
	if i < 0 || i%l.r.nloops != l.idx {
		return -1
	}
	lid := i / l.r.nloops
	if lid >= len(l.devs) || !bytes.Equal(l.devs[lid].id, id) {
		return -1
	}
	return int32(lid)
}

// ackReport fills the acknowledged-delivery fields of d's entry.
func (a *ackDev) report(dr *DeviceReport, ch uint64) {
	st := a.snd.Stats()
	dr.ReadingsAcked = st.Acked * ch
	dr.ReadingsResent = a.resent * ch
	dr.ReadingsGivenUp = st.GaveUp * ch
	dr.ReadingsUnacked = st.Held * ch
	for _, r := range a.gaveUp {
		dr.GivenUp = append(dr.GivenUp, [2]uint64{r.Lo, r.Hi})
	}
	dr.GivenUpTruncated = a.more
	dr.GivenUpInexact = a.inexact
}

// endWait ends device id's wait for acknowledgements, if it was waiting.
func (l *loop) endWait(id int32) {
	if a := &l.ack.devs[id]; a.waiting {
		a.waiting, a.drainAt = false, 0
		l.live.ackWaiting.Add(-1)
	}
}
