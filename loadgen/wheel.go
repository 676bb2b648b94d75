package loadgen

import "time"

// wheel is a two-level hashed timing wheel, one per event loop. A loop
// wakes at most once per tick (at the end of a tick that holds entries)
// and fires everything due in it: inserting and expiring cost O(1) per
// device whatever the fleet size, where a heap would pay O(log n) per
// frame. The tick trades lateness (a frame leaves up to one tick after it
// is due) against wake-ups (at most one per tick).
//
// Level 0 has a slot per tick for the next wheelSize ticks; level 1 has a
// slot per wheelSize ticks (a "block") for the blocks after that, and is
// cascaded into level 0 when a block begins (as in the classic Linux timer
// wheel). A device with a period longer than one turn of level 0 (1 s at
// the default tick) thus sits in level 1 instead of waking its loop at
// every turn.
//
// Entries carry the device's timer generation: re-arming a device bumps
// it, so older entries (a connect deadline that did not expire, say) are
// dropped when met instead of being cancelled by a search.
type wheel struct {
	l0, l1 [][]wheelEntry
	tick   int64 // ns per slot
	next   int64 // first tick not yet expired
	n0, n1 int   // entries (live and stale) per level
}

type wheelEntry struct {
	dev int32
	gen uint32
}

const (
	wheelBits = 12
	wheelSize = 1 << wheelBits // slots per level
	wheelMask = wheelSize - 1
)

func newWheel(now int64, tick time.Duration) *wheel {
	t := max(int64(tick), 1000)
	return &wheel{
		l0: make([][]wheelEntry, wheelSize), l1: make([][]wheelEntry, wheelSize),
		tick: t, next: now / t,
	}
}

// add arms dev at due (ns on the run's monotonic clock) with generation gen.
// A due time in the past fires at the next expiry.
func (w *wheel) add(dev int32, gen uint32, due int64) {
	w.place(wheelEntry{dev, gen}, due/w.tick)
}

func (w *wheel) place(e wheelEntry, t int64) {
	t = max(t, w.next)
	if t-w.next < wheelSize {
		w.l0[t&wheelMask] = append(w.l0[t&wheelMask], e)
		w.n0++
		return
	}
	// A later block. Beyond level 1's reach the entry parks in its last
	// slot and is placed again when that block begins.
	b := min(t>>wheelBits, w.next>>wheelBits+wheelSize-1)
	w.l1[b&wheelMask] = append(w.l1[b&wheelMask], e)
	w.n1++
}

// expire appends to out the devices whose entry is live (gen matches
// gens[dev]) and due in a tick that has ended by now, and removes their
// entries. Firing whole ticks only means nothing fires before it is due.
func (w *wheel) expire(now int64, due []int64, gens []uint32, out []int32) []int32 {
	last := now/w.tick - 1
	for ; w.next <= last; w.next++ {
		if w.n0+w.n1 == 0 {
			w.next = last + 1
			break
		}
		if w.next&wheelMask == 0 && w.n1 > 0 {
			w.cascade(due, gens)
		}
		if w.n0 == 0 {
			// Nothing in level 0: jump to the next block boundary.
			w.next = min((w.next>>wheelBits+1)<<wheelBits, last+1) - 1
			continue
		}
		s := w.l0[w.next&wheelMask]
		if len(s) == 0 {
			continue
		}
		w.l0[w.next&wheelMask] = s[:0]
		w.n0 -= len(s)
		for _, e := range s {
			if e.gen != gens[e.dev] {
				continue // stale: the device was re-armed since
			}
			out = append(out, e.dev)
		}
		clear(s)
	}
	return out
}

// cascade moves the block that begins at w.next from level 1 to level 0.
func (w *wheel) cascade(due []int64, gens []uint32) {
	b := (w.next >> wheelBits) & wheelMask
	s := w.l1[b]
	w.l1[b] = nil
	w.n1 -= len(s)
	for _, e := range s {
		if e.gen == gens[e.dev] {
			w.place(e, due[e.dev]/w.tick)
		}
	}
}

// nextWake returns when (ns) the expiry that has work to do should run:
// the end of the first tick holding a level-0 entry or the start of the
// next block (whose level-1 entries cascade then), whichever comes first.
// False when the wheel is empty.
func (w *wheel) nextWake() (int64, bool) {
	if w.n0+w.n1 == 0 {
		return 0, false
	}
	end := w.next + wheelSize
	if w.n1 > 0 {
		// The next cascade: at w.next itself when it starts a block, since
		// a block cascades as its first tick is expired.
		end = (w.next + wheelMask) >> wheelBits << wheelBits
	}
	if w.n0 > 0 {
		for t := w.next; t < end; t++ {
			if len(w.l0[t&wheelMask]) > 0 {
				return (t + 1) * w.tick, true
			}
		}
	}
	return (end + 1) * w.tick, true
}
