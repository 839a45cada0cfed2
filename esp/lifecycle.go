package esp

// SA life cycle: the seam between the key manager and the data plane (ARCHITECTURE.md).
//
// The key manager hands Install plain data (Config: SPI, protocol, mode, algorithms, keys,
// selectors, lifetimes) and gets the *SA back as its handle. Bind points a policy at an
// outbound SA. Retire removes an SA from every lookup (the SAD, every policy), and wipes its
// keys only once no batch that was in flight when it was retired can still touch it.
//
// Grace periods work like RCU: every pipeline goroutine owns an epoch counter that is odd
// while it processes a batch and even between batches. Retire snapshots the counters after
// unpublishing the SA; the keys may be wiped once every counter that was odd in the snapshot
// has moved on (that batch ended, and any later batch can no longer find the SA). The check
// runs when Retire is called and whenever a pipeline ends a batch while retirements are
// pending, so an idle data plane wipes at once and a busy one within one batch; nothing
// sleeps. After Wait (all pipelines gone) everything still pending is wiped.

import (
	"errors"
	"net/netip"
	"sync"
	"sync/atomic"
)

// epochSlot is one pipeline goroutine's batch counter, padded to its own cache line.
type epochSlot struct {
	n atomic.Uint64
	_ [56]byte
}

func (s *epochSlot) enter() { s.n.Add(1) }
func (s *epochSlot) exit()  { s.n.Add(1) }

// retiree is an SA waiting for the batches in flight at its retirement to end.
type retiree struct {
	sa   *SA
	snap []uint64
}

// lifecycle is the Dataplane's part of the SA life cycle. Safe for concurrent use.
type lifecycle struct {
	slotsMu sync.Mutex
	slots   atomic.Pointer[[]*epochSlot]

	mu      sync.Mutex
	pending []retiree
	npend   atomic.Int32 // len(pending), read by pipelines after every batch
	stopped bool         // Wait returned: no pipeline runs any more

	// Retired and Wiped count SAs through the life cycle (status, tests).
	Retired, Wiped atomic.Uint64

	// wipeNow is a test hook: wipe at Retire without waiting for a grace period, and send
	// what was sealed under a retired SA (the defects this file and the re-check after
	// sealing exist to prevent), so a test can show its check catches them.
	wipeNow bool
}

// newSlot registers a pipeline goroutine.
func (l *lifecycle) newSlot() *epochSlot {
	l.slotsMu.Lock()
	defer l.slotsMu.Unlock()
	s := &epochSlot{}
	var next []*epochSlot
	if old := l.slots.Load(); old != nil {
		next = append(next, *old...)
	}
	next = append(next, s)
	l.slots.Store(&next)
	return s
}

func (l *lifecycle) snapshot() []uint64 {
	p := l.slots.Load()
	if p == nil {
		return nil
	}
	snap := make([]uint64, len(*p))
	for i, s := range *p {
		snap[i] = s.n.Load()
	}
	return snap
}

// passed reports whether every batch in flight at snap has ended.
func (l *lifecycle) passed(snap []uint64) bool {
	p := l.slots.Load()
	if p == nil {
		return true
	}
	for i, v := range snap {
		if v&1 == 1 && (*p)[i].n.Load() == v {
			return false
		}
	}
	return true
}

// retire queues sa for wiping after a grace period and wipes what is due.
func (l *lifecycle) retire(sa *SA) {
	l.Retired.Add(1)
	l.mu.Lock()
	if l.stopped || l.wipeNow {
		l.mu.Unlock()
		l.wipe(sa)
		return
	}
	l.pending = append(l.pending, retiree{sa: sa, snap: l.snapshot()})
	l.npend.Store(int32(len(l.pending)))
	l.mu.Unlock()
	l.reclaim()
}

// reclaim wipes every pending SA whose grace period has passed.
func (l *lifecycle) reclaim() {
	var due []*SA
	l.mu.Lock()
	keep := l.pending[:0]
	for _, r := range l.pending {
		if l.stopped || l.passed(r.snap) {
			due = append(due, r.sa)
		} else {
			keep = append(keep, r)
		}
	}
	clear(l.pending[len(keep):])
	l.pending = keep
	l.npend.Store(int32(len(keep)))
	l.mu.Unlock()
	for _, sa := range due {
		l.wipe(sa)
	}
}

// batchDone is called by a pipeline after every batch (one atomic load when nothing waits).
func (l *lifecycle) batchDone(s *epochSlot) {
	s.exit()
	if l.npend.Load() > 0 {
		l.reclaim()
	}
}

// stop wipes everything pending: no pipeline runs any more.
func (l *lifecycle) stop() {
	l.mu.Lock()
	l.stopped = true
	l.mu.Unlock()
	l.reclaim()
}

func (l *lifecycle) wipe(sa *SA) {
	sa.wipe()
	l.Wiped.Add(1)
}

// ErrNotInstalled is returned for an SA this data plane does not own.
var ErrNotInstalled = errors.New("esp: SA not installed in this data plane")

// Install creates an SA owned by the data plane. An inbound SA is in the SAD when Install
// returns; an outbound one carries traffic once Bind puts it on a policy. The SA reports its
// soft and hard byte/packet limits (and, inbound, its first verified packet) through the
// data plane's event queue (events.go). The returned *SA is the handle for Bind and Retire.
func (d *Dataplane) Install(cfg Config) (*SA, error) {
	sa, err := NewSA(cfg)
	if err != nil {
		return nil, err
	}
	sa.owner = d
	if sa.cfg.Dir == Inbound {
		if err := d.SAD.Add(sa); err != nil {
			sa.wipe()
			return nil, err
		}
	}
	return sa, nil
}

// Bind makes policy p send through outbound SA sa to peer (ESP-in-UDP: the peer's NAT-T
// address and port; raw: port 0), from local (invalid: the kernel chooses), with the tunnel
// MTU mtu. It replaces the policy's previous SA, which stays installed until retired.
func (d *Dataplane) Bind(p *Policy, sa *SA, peer netip.AddrPort, local netip.Addr, encap Encap, mtu int) error {
	if sa.owner != d || sa.cfg.Dir != Outbound {
		return ErrNotInstalled
	}
	if sa.retired.Load() {
		return ErrExpired
	}
	b, err := d.newBinding(sa, peer, local, encap, mtu)
	if err != nil {
		return err
	}
	p.SetOutbound(b)
	return nil
}

// Unbind leaves policy p without an outbound SA (its traffic is dropped and counted, or
// triggers an acquire).
func (d *Dataplane) Unbind(p *Policy) { p.SetOutbound(nil) }

// Retire takes an SA out of service: it refuses traffic from now on, leaves the SAD and
// every policy that still points at it, and its keys are wiped as soon as no batch in flight
// can use them. Retire does not block; retiring twice is harmless.
func (d *Dataplane) Retire(sa *SA) {
	if sa == nil || !sa.retired.CompareAndSwap(false, true) {
		return
	}
	sa.expired.Store(true)
	if sa.owner != d {
		sa.wipe() // not ours: nobody else can be using it through us
		return
	}
	if sa.cfg.Dir == Inbound {
		d.SAD.removeSA(sa)
	} else {
		for _, p := range d.SPD.All() {
			if b := p.Binding(); b != nil && b.SA == sa {
				p.out.CompareAndSwap(b, nil)
			}
		}
	}
	d.life.retire(sa)
}

// LifecycleCounts reports how many SAs were retired and how many of those are wiped.
func (d *Dataplane) LifecycleCounts() (retired, wiped uint64) {
	return d.life.Retired.Load(), d.life.Wiped.Load()
}
