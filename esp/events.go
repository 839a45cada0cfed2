package esp

// Events the data plane owes the key manager: an SA crossed its soft or hard byte/packet
// limit, an inbound SA verified its first packet (the peer uses it), an inbound ESP-in-UDP SA
// verified a datagram from a new source (the peer's NAT moved it), traffic matched a policy
// without an SA (an acquire). They must arrive even while the IKE socket is flooded, so they
// never share a queue with network input: the data plane keeps them as level-triggered state
// (each SA's events at most once, a source move once while one is pending, each policy's
// acquire at most once until taken), bounded by the number of installed SAs and policies,
// and pokes a one-slot wake channel. The key manager selects on Wake and drains with
// TakeEvents; a poke that finds the slot full is not lost, because the state it announces is
// still there to be taken.

import (
	"net/netip"
	"sync"
)

// EventKind says what happened to an SA.
type EventKind uint8

const (
	EventSoft     EventKind = 1 << iota // a soft byte/packet/sequence limit: rekey
	EventHard                           // a hard limit: the SA refuses traffic from now on
	EventFirstUse                       // inbound: the first packet verified under this SA
	// EventSourceMoved: inbound ESP-in-UDP verified from another address or port than the
	// one the key manager said the peer sends from (WatchSource); SAEvent.From has it.
	EventSourceMoved
)

func (k EventKind) String() string {
	switch k {
	case EventSoft:
		return "soft-expire"
	case EventHard:
		return "hard-expire"
	case EventFirstUse:
		return "first-use"
	case EventSourceMoved:
		return "source-moved"
	}
	return "event"
}

// SAEvent is one event of one SA.
type SAEvent struct {
	Kind EventKind
	SA   *SA
	From netip.AddrPort // EventSourceMoved: the latest verified source
}

// Acquire is traffic that matched a policy without an SA.
type Acquire struct {
	Policy *Policy
	Flow   Flow
}

// Events is what TakeEvents returns.
type Events struct {
	SA       []SAEvent
	Acquires []Acquire
}

// eventQueue is the pending state. Safe for concurrent use.
type eventQueue struct {
	mu       sync.Mutex
	sa       []SAEvent
	acquires map[*Policy]Flow
	wake     chan struct{}
}

func newEventQueue() *eventQueue {
	return &eventQueue{wake: make(chan struct{}, 1), acquires: map[*Policy]Flow{}}
}

func (q *eventQueue) poke() {
	select {
	case q.wake <- struct{}{}:
	default: // a wake-up is already pending; the state below is taken with it
	}
}

// signal queues an SA event once per SA and kind (the hot path calls it only on transitions).
func (sa *SA) signal(k EventKind) {
	for {
		old := sa.signalled.Load()
		if old&uint32(k) != 0 {
			return
		}
		if sa.signalled.CompareAndSwap(old, old|uint32(k)) {
			break
		}
	}
	d := sa.owner
	if d == nil || sa.retired.Load() {
		return
	}
	q := d.events
	q.mu.Lock()
	q.sa = append(q.sa, SAEvent{Kind: k, SA: sa})
	q.mu.Unlock()
	q.poke()
}

// acquire records an acquire for p (one pending per policy).
func (q *eventQueue) acquire(p *Policy, f Flow) {
	q.mu.Lock()
	_, had := q.acquires[p]
	q.acquires[p] = f
	q.mu.Unlock()
	if !had {
		q.poke()
	}
}

// Wake is poked whenever events are pending. Select on it, then call TakeEvents.
func (d *Dataplane) Wake() <-chan struct{} { return d.events.wake }

// TakeEvents returns and clears the pending events, oldest first. Events of SAs retired
// meanwhile are left out.
func (d *Dataplane) TakeEvents() Events {
	q := d.events
	q.mu.Lock()
	defer q.mu.Unlock()
	var ev Events
	for _, e := range q.sa {
		if e.Kind == EventSourceMoved {
			e.From = e.SA.movedTo
			e.SA.movePending = false
		}
		if !e.SA.retired.Load() {
			ev.SA = append(ev.SA, e)
		}
	}
	clear(q.sa)
	q.sa = q.sa[:0]
	for p, f := range q.acquires {
		ev.Acquires = append(ev.Acquires, Acquire{Policy: p, Flow: f})
		delete(q.acquires, p)
	}
	return ev
}

// WatchSource tells an inbound ESP-in-UDP SA where the peer sends from (its NAT-T address
// and port as the key manager knows it); an invalid address stops watching. A datagram
// verified under the SA from elsewhere queues an EventSourceMoved (a NAT may change the
// peer's mapping at any time, RFC 3947 §4), and the SA watches the new source from then on,
// so a change is reported once however many datagrams follow it.
func (sa *SA) WatchSource(from netip.AddrPort) {
	if !from.IsValid() {
		sa.watch.Store(nil)
		return
	}
	sa.watch.Store(&from)
}

// WatchedSource is where the SA expects the peer's datagrams from (invalid: not watching).
func (sa *SA) WatchedSource() netip.AddrPort {
	if w := sa.watch.Load(); w != nil {
		return *w
	}
	return netip.AddrPort{}
}

// sourceMoved records a verified datagram from a source other than the watched one and
// tells the key manager; an event still pending for the SA carries the latest source
// instead of queueing another (the queue stays bounded by the number of SAs).
func (sa *SA) sourceMoved(from netip.AddrPort) {
	sa.watch.Store(&from)
	d := sa.owner
	if d == nil || sa.retired.Load() {
		return
	}
	q := d.events
	q.mu.Lock()
	sa.movedTo = from
	queued := !sa.movePending
	if queued {
		sa.movePending = true
		q.sa = append(q.sa, SAEvent{Kind: EventSourceMoved, SA: sa})
	}
	q.mu.Unlock()
	if queued {
		q.poke()
	}
}
