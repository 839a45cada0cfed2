package core

// Address pools for remote-access clients (IKEv2 configuration payload, RFC 7296 §3.15;
// IKEv1 Mode Config, draft-dukes-ike-mode-cfg-02): a gateway hands each client a virtual IP
// from a [[pool]], with the pool's DNS servers and split networks. Pools are shared by every
// connection (of either version) that names them. A client gets the same address again as
// long as nobody else needed it meanwhile (leases are stable per identity); an address is
// in use while an IKE SA holds it and free again when that SA dies.

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
)

// ErrPoolExhausted: every address of the pools a connection names is in use.
var ErrPoolExhausted = errors.New("ike: address pool exhausted")

// Pool is one [[pool]]. Not safe for concurrent use (the core's goroutine owns it).
type Pool struct {
	Name        string
	First, Last netip.Addr // the addresses handed out, inclusive, one family
	DNS         []netip.Addr
	Split       []netip.Prefix // networks the client routes through the tunnel; empty = everything

	next   netip.Addr                // where the search for a never-used address goes on
	owner  map[netip.Addr]string     // lease: address → identity (kept after release: stable)
	byID   map[string]netip.Addr     // identity → its last address
	inUse  map[netip.Addr]*poolLease // addresses held by an IKE SA now
	nInUse int
}

// poolLease is an address held by IKE SAs of one identity: usually one, two while a client
// re-authenticates (the new SA gets the address the old one still holds, as strongSwan
// reassigns an online lease) or a second SA of that identity replaces the first.
type poolLease struct {
	identity string
	holders  []IKESA
}

// NewPool returns a pool handing out first..last.
func NewPool(name string, first, last netip.Addr, dns []netip.Addr, split []netip.Prefix) (*Pool, error) {
	first, last = first.Unmap(), last.Unmap()
	if !first.IsValid() || !last.IsValid() || first.Is4() != last.Is4() || last.Less(first) {
		return nil, fmt.Errorf("%w: pool %q: bad range %v-%v", ErrConfig, name, first, last)
	}
	return &Pool{Name: name, First: first, Last: last, DNS: dns, Split: split, next: first,
		owner: map[netip.Addr]string{}, byID: map[string]netip.Addr{}, inUse: map[netip.Addr]*poolLease{}}, nil
}

// Family reports whether the pool hands out IPv4 (4) or IPv6 (6) addresses.
func (p *Pool) Family() int {
	if p.First.Is4() {
		return 4
	}
	return 6
}

// Size is the number of addresses in the pool (capped at 2^31 for IPv6 ranges).
func (p *Pool) Size() int {
	n := 1
	for a := p.First; a != p.Last && n < 1<<31; a = a.Next() {
		n++
	}
	return n
}

// InUse is the number of addresses held now.
func (p *Pool) InUse() int { return p.nInUse }

func (p *Pool) contains(a netip.Addr) bool {
	return a.Is4() == p.First.Is4() && !a.Less(p.First) && !p.Last.Less(a)
}

// acquire leases an address to identity for sa: the one it had before if still free, else
// requested (a client's hint) if it is in the pool and free and nobody else's, else the
// first address never handed out, else the free address whose last owner left longest ago
// (reclaimed).
func (p *Pool) acquire(identity string, requested netip.Addr, sa IKESA) (netip.Addr, bool) {
	take := func(a netip.Addr) netip.Addr {
		if prev, ok := p.owner[a]; ok && prev != identity {
			delete(p.byID, prev)
		}
		p.owner[a], p.byID[identity] = identity, a
		p.inUse[a] = &poolLease{identity: identity, holders: []IKESA{sa}}
		p.nInUse++
		return a
	}
	if a, ok := p.byID[identity]; ok && p.contains(a) {
		switch l := p.inUse[a]; {
		case l == nil:
			return take(a), true
		case l.identity == identity:
			// Online with this identity: the same address again (a re-authentication's new
			// SA, or the SA asking twice), held until the last of its SAs dies.
			if !slices.Contains(l.holders, sa) {
				l.holders = append(l.holders, sa)
			}
			return a, true
		}
	}
	requested = requested.Unmap()
	if requested.IsValid() && !requested.IsUnspecified() && p.contains(requested) && p.inUse[requested] == nil {
		if prev, ok := p.owner[requested]; !ok || prev == identity {
			return take(requested), true
		}
	}
	for p.next.IsValid() && p.contains(p.next) {
		a := p.next
		p.next = a.Next()
		if _, used := p.owner[a]; !used {
			return take(a), true
		}
	}
	p.next = netip.Addr{} // every address was handed out once: reclaim from now on
	for a := p.First; p.contains(a); a = a.Next() {
		if p.inUse[a] == nil {
			return take(a), true
		}
		if a == p.Last {
			break
		}
	}
	return netip.Addr{}, false
}

// update takes n's range, DNS servers and split networks (a reload), keeping the leases and
// the per-identity memory. A changed range starts the search for never-used addresses at
// its first address again (addresses handed out before are remembered in owner).
func (p *Pool) update(n *Pool) {
	if p.First != n.First || p.Last != n.Last {
		p.First, p.Last, p.next = n.First, n.Last, n.First
	}
	p.DNS, p.Split = n.DNS, n.Split
}

// release drops sa's hold on an address; the address is free when no SA holds it (its owner
// keeps the claim until someone else needs it).
func (p *Pool) release(a netip.Addr, sa IKESA) {
	l := p.inUse[a]
	if l == nil {
		return
	}
	l.holders = slices.DeleteFunc(l.holders, func(h IKESA) bool { return h == sa })
	if len(l.holders) == 0 {
		delete(p.inUse, a)
		p.nInUse--
	}
}

// holders returns the IKE SAs holding an address (tests, status).
func (p *Pool) holders(a netip.Addr) []IKESA {
	if l := p.inUse[a]; l != nil {
		return l.holders
	}
	return nil
}

// Lease is one address a gateway handed to a client.
type Lease struct {
	Pool *Pool
	Addr netip.Addr
}

// AcquireVirtualIP leases an address of the given family from the first of the
// connection's pools that has one, for the client identity of sa (stable per identity),
// honouring the client's requested address when possible. The lease is released when sa
// dies (Gone).
func (c *Core) AcquireVirtualIP(sa IKESA, family int, requested netip.Addr) (Lease, error) {
	return c.AcquireVirtualIPFor(sa, sa.Base().PeerID.String(), family, requested)
}

// AcquireVirtualIPFor is AcquireVirtualIP for a protocol that names the client's identity
// itself (IKEv2 leaves SABase.PeerID unset: it handles duplicate SAs its own way).
func (c *Core) AcquireVirtualIPFor(sa IKESA, id string, family int, requested netip.Addr) (Lease, error) {
	b := sa.Base()
	if b.Conn == nil {
		return Lease{}, fmt.Errorf("%w: no connection", ErrPoolExhausted)
	}
	for _, name := range b.PoolNames() {
		p := c.pools[name]
		if p == nil || p.Family() != family {
			continue
		}
		if a, ok := p.acquire(id, requested, sa); ok {
			l := Lease{Pool: p, Addr: a}
			b.leases = append(b.leases, l)
			return l, nil
		}
	}
	c.Ctr.Inc(CtrPoolExhausted)
	return Lease{}, fmt.Errorf("%w: no free IPv%d address for %s in pools %v", ErrPoolExhausted, family, id, b.PoolNames())
}

// LoggedIn records the user an XAUTH or EAP login authenticated on a gateway's IKE SA: that
// user's pools, if it names any, hand out the SA's virtual IPs instead of the connection's.
func (b *SABase) LoggedIn(u *User) {
	b.userPools, b.user = nil, ""
	if u != nil {
		b.user = u.Name
	}
	if u != nil && b.Conn != nil && len(b.Conn.Cfg.Pools) > 0 {
		b.userPools = u.Pools
	}
}

// PoolNames returns the pools this SA's virtual IPs come from: its user's (LoggedIn), else
// its connection's.
func (b *SABase) PoolNames() []string {
	if len(b.userPools) > 0 {
		return b.userPools
	}
	if b.Conn == nil {
		return nil
	}
	return b.Conn.Cfg.Pools
}

// releaseLeases frees what an IKE SA held.
func (c *Core) releaseLeases(sa IKESA) {
	b := sa.Base()
	for _, l := range b.leases {
		l.Pool.release(l.Addr, sa)
	}
	b.leases = nil
}

// Leases returns the addresses an IKE SA holds (status).
func (b *SABase) Leases() []Lease { return b.leases }

// Pools returns the configured pools by name.
func (c *Core) Pools() map[string]*Pool { return c.pools }
