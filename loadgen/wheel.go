package loadgen

import "time"

// wheel is a hashed timing wheel, one per event loop. A loop wakes at most
// once per tick (at the end of a tick that holds entries) and fires
// everything due in it: inserting and expiring cost O(1) per device
// whatever the fleet size, where a heap would pay O(log n) per frame. The
// tick trades lateness (a frame leaves up to one tick after it is due)
// against wake-ups (at most one per tick).
//
// An entry whose due time lies more than one turn ahead stays in its slot
// and is skipped until the turn it is due in. Entries carry the device's
// timer generation: re-arming a device bumps it, so older entries (a
// connect deadline that did not expire, say) are dropped when met instead
// of being cancelled by a search.
type wheel struct {
	slots [][]wheelEntry
	mask  int64
	tick  int64 // ns per slot
	next  int64 // first tick not yet expired
	n     int   // live and stale entries
}

type wheelEntry struct {
	dev int32
	gen uint32
}

// wheelSize is the number of slots: one turn is 4096 ticks (1 s at the
// default 250 µs tick). Entries further ahead wait in their slot.
const wheelSize = 4096

func newWheel(now int64, tick time.Duration) *wheel {
	t := max(int64(tick), 1000)
	return &wheel{slots: make([][]wheelEntry, wheelSize), mask: wheelSize - 1, tick: t, next: now / t}
}

// add arms dev at due (ns on the run's monotonic clock) with generation gen.
// A due time in the past fires at the next expiry.
func (w *wheel) add(dev int32, gen uint32, due int64) {
	t := due / w.tick
	if t < w.next {
		t = w.next
	}
	s := &w.slots[t&w.mask]
	*s = append(*s, wheelEntry{dev, gen})
	w.n++
}

// expire appends to out the devices whose entry is live (gen matches
// gens[dev]) and due in a tick that has ended by now, and removes their
// entries. Firing whole ticks only means nothing fires before it is due.
func (w *wheel) expire(now int64, due []int64, gens []uint32, out []int32) []int32 {
	last := now/w.tick - 1
	for ; w.next <= last; w.next++ {
		if w.n == 0 {
			w.next = last + 1
			break
		}
		s := w.slots[w.next&w.mask]
		if len(s) == 0 {
			continue
		}
		keep := s[:0]
		for _, e := range s {
			switch {
			case e.gen != gens[e.dev]:
				// stale: the device was re-armed since
			case due[e.dev]/w.tick <= w.next:
				out = append(out, e.dev)
			default:
				keep = append(keep, e) // a later turn
			}
		}
		w.n -= len(s) - len(keep)
		clear(s[len(keep):])
		w.slots[w.next&w.mask] = keep
	}
	return out
}

// nextWake returns when (ns) the first tick holding an entry ends, and
// false when the wheel is empty. The entry may belong to a later turn:
// the caller then wakes early and finds nothing, which is harmless.
func (w *wheel) nextWake() (int64, bool) {
	if w.n == 0 {
		return 0, false
	}
	for t := w.next; t < w.next+wheelSize; t++ {
		if len(w.slots[t&w.mask]) > 0 {
			return (t + 1) * w.tick, true
		}
	}
	return 0, false // unreachable while n > 0
}
