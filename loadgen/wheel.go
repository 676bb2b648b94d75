package loadgen

// wheel is a hashed timing wheel of 1 ms slots, one per event loop. Timer
// sleeps below a millisecond round up to one anyway, so a loop wakes once
// per tick at most and fires everything due in it: inserting and expiring
// cost O(1) per device whatever the fleet size, where a heap would pay
// O(log n) per frame.
//
// An entry whose due time lies more than one turn ahead stays in its slot
// and is skipped until the turn it is due in. Entries carry the device's
// timer generation: re-arming a device bumps it, so older entries (a
// connect deadline that did not expire, say) are dropped when met instead
// of being cancelled by a search.
type wheel struct {
	slots [][]wheelEntry
	mask  int64
	next  int64 // first tick not yet expired
	n     int   // live and stale entries
}

type wheelEntry struct {
	dev int32
	gen uint32
}

const (
	tickNs    = 1_000_000 // 1 ms
	wheelSize = 4096      // slots: one turn is ~4 s
)

func newWheel(now int64) *wheel {
	return &wheel{slots: make([][]wheelEntry, wheelSize), mask: wheelSize - 1, next: now / tickNs}
}

// add arms dev at due (ns on the run's monotonic clock) with generation gen.
// A due time in the past fires at the next expiry.
func (w *wheel) add(dev int32, gen uint32, due int64) {
	t := due / tickNs
	if t < w.next {
		t = w.next
	}
	s := &w.slots[t&w.mask]
	*s = append(*s, wheelEntry{dev, gen})
	w.n++
}

// expire appends to out the devices whose entry is live (gen matches
// gens[dev]) and due at or before now, and removes their entries.
func (w *wheel) expire(now int64, due []int64, gens []uint32, out []int32) []int32 {
	last := now / tickNs
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
			case due[e.dev]/tickNs <= w.next:
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

// nextTick returns the start (ns) of the first tick at or after the
// current one whose slot holds an entry, and false when the wheel is empty.
// The entry may belong to a later turn: the caller then wakes early and
// finds nothing, which is harmless.
func (w *wheel) nextTick() (int64, bool) {
	if w.n == 0 {
		return 0, false
	}
	for t := w.next; t < w.next+wheelSize; t++ {
		if len(w.slots[t&w.mask]) > 0 {
			return t * tickNs, true
		}
	}
	return 0, false // unreachable while n > 0
}
