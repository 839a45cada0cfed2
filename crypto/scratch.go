package crypto

import "sync/atomic"

// scratchSlots is how many idle scratch values an object keeps: enough for the data plane's
// workers to find one most of the time; a miss allocates one, a full cache drops it.
const scratchSlots = 8

// scratch is an object's own free list of scratch values (keyed MAC states, CBC modes),
// used instead of a sync.Pool. A sync.Pool that was used is listed by the runtime until two
// garbage collections have passed, and a pool embedded in a Cipher keeps the whole Cipher
// (its key schedules, its keyed MAC states) reachable that long after Close: a forced GC
// right after 1,000 IKE SAs died found all their ciphers live. drop forgets the idle values
// at once. Safe for concurrent use (drop excepted).
type scratch[T any] struct {
	slots [scratchSlots]atomic.Pointer[T]
	new   func() *T
}

// get returns an idle value, or a new one.
func (s *scratch[T]) get() *T {
	for i := range s.slots {
		if v := s.slots[i].Load(); v != nil && s.slots[i].CompareAndSwap(v, nil) {
			return v
		}
	}
	return s.new()
}

// put keeps v for the next get, unless every slot is taken.
func (s *scratch[T]) put(v *T) {
	for i := range s.slots {
		if s.slots[i].Load() == nil && s.slots[i].CompareAndSwap(nil, v) {
			return
		}
	}
}

// drop forgets every idle value (Close: nothing may use the object any more).
func (s *scratch[T]) drop() {
	for i := range s.slots {
		s.slots[i].Store(nil)
	}
}
