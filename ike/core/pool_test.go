package core

import (
	"errors"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"go.uber.org/zap"
)

// fakeSA is the least IKESA the pool needs.
type fakeSA struct {
	SABase
}

func (s *fakeSA) Base() *SABase                                              { return &s.SABase }
func (s *fakeSA) StartChild(now time.Time, ch *ChildState, rekeyOf *ChildSA) {}
func (s *fakeSA) SendDeleteChildren(now time.Time, pairs []*ChildSA)         {}
func (s *fakeSA) Rekey(now time.Time)                                        {}
func (s *fakeSA) Delete(now time.Time, sendDelete bool, reason error)        {}
func (s *fakeSA) DeleteLater(now time.Time, d time.Duration)                 {}
func (s *fakeSA) SendLiveness(now time.Time) bool                            { return false }
func (s *fakeSA) Status() IKESAStatus                                        { return IKESAStatus{} }

// poolGateway is a core with one pool "rw" of 203.0.113.10..last and a gateway connection
// using it; client makes an IKE SA of that connection for a peer identity.
func poolGateway(t *testing.T, last string) (*Pool, *Core, func(name string) *fakeSA) {
	t.Helper()
	p, err := NewPool("rw", netip.MustParseAddr("203.0.113.10"), netip.MustParseAddr(last), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	c := &Core{pools: map[string]*Pool{"rw": p}, Ctr: NewCounters()}
	conn := &Conn{Cfg: &Connection{Name: "gw", Pools: []string{"rw"}}}
	return p, c, func(name string) *fakeSA {
		sa := &fakeSA{}
		sa.Conn, sa.PeerID = conn, FQDNIdentity(name)
		return sa
	}
}

func TestPoolLeases(t *testing.T) {
	p, c, client := poolGateway(t, "203.0.113.12")
	alice, bob, carol, dave := client("alice"), client("bob"), client("carol"), client("dave")
	get := func(sa *fakeSA, req string) (netip.Addr, error) {
		var r netip.Addr
		if req != "" {
			r = netip.MustParseAddr(req)
		}
		l, err := c.AcquireVirtualIP(sa, 4, r)
		return l.Addr, err
	}
	a1, _ := get(alice, "")
	b1, _ := get(bob, "203.0.113.12") // a hint that is free is honoured
	c1, _ := get(carol, "203.0.113.12")
	if fmt.Sprint(a1, b1, c1) != "203.0.113.10 203.0.113.12 203.0.113.11" {
		t.Fatalf("leases %v %v %v", a1, b1, c1)
	}
	if _, err := get(dave, ""); !errors.Is(err, ErrPoolExhausted) || c.Ctr.Get(CtrPoolExhausted) != 1 {
		t.Fatalf("a full pool: %v", err)
	}
	// Alice leaves and comes back: the same address, though carol's old one is free too.
	c.releaseLeases(alice)
	c.releaseLeases(carol)
	alice2 := client("alice")
	if a2, _ := get(alice2, ""); a2 != a1 {
		t.Fatalf("alice got %v, had %v: leases must be stable per identity", a2, a1)
	}
	// Dave now takes carol's free address (reclaimed: the pool has nothing unused left).
	if d1, _ := get(dave, ""); d1 != c1 {
		t.Fatalf("dave got %v, want the reclaimed %v", d1, c1)
	}
	// Carol comes back to a full pool; after dave leaves she gets an address again.
	if _, err := get(client("carol"), ""); !errors.Is(err, ErrPoolExhausted) {
		t.Fatalf("carol on a full pool: %v", err)
	}
	c.releaseLeases(dave)
	if got, err := get(client("carol"), ""); err != nil || got != c1 {
		t.Fatalf("carol after dave left: %v %v", got, err)
	}
	if p.InUse() != 3 || p.Size() != 3 {
		t.Fatalf("in use %d of %d", p.InUse(), p.Size())
	}
	if _, err := get(bob, ""); err != nil {
		t.Fatal("the same SA asking again must get its own lease")
	}
	if _, err := c.AcquireVirtualIP(bob, 6, netip.Addr{}); !errors.Is(err, ErrPoolExhausted) {
		t.Fatalf("IPv6 from an IPv4-only pool: %v", err)
	}
	if _, err := NewPool("bad", netip.MustParseAddr("203.0.113.12"), netip.MustParseAddr("203.0.113.10"), nil, nil); err == nil {
		t.Fatal("a reversed range accepted")
	}
}

// A client that re-authenticates (a new IKE SA while the old one still holds its address)
// gets the same address, which stays in use until the last of its SAs dies; another
// identity never shares it.
func TestPoolLeaseSharedAcrossReauth(t *testing.T) {
	p, c, client := poolGateway(t, "203.0.113.11")
	old, reauth, bob := client("alice"), client("alice"), client("bob")
	a1, err := c.AcquireVirtualIP(old, 4, netip.Addr{})
	if err != nil {
		t.Fatal(err)
	}
	a2, err := c.AcquireVirtualIP(reauth, 4, netip.Addr{})
	if err != nil || a2.Addr != a1.Addr {
		t.Fatalf("the re-authenticating SA got %v (%v), the old one holds %v", a2.Addr, err, a1.Addr)
	}
	if p.InUse() != 1 || len(p.holders(a1.Addr)) != 2 {
		t.Fatalf("in use %d, holders %d", p.InUse(), len(p.holders(a1.Addr)))
	}
	b, err := c.AcquireVirtualIP(bob, 4, a1.Addr) // asking for alice's address
	if err != nil || b.Addr == a1.Addr {
		t.Fatalf("bob got %v (%v): another identity must not share alice's address", b.Addr, err)
	}
	c.releaseLeases(old) // the old SA dies: the address stays with the new one
	if p.InUse() != 2 || len(p.holders(a1.Addr)) != 1 {
		t.Fatalf("after the old SA died: in use %d, holders %d", p.InUse(), len(p.holders(a1.Addr)))
	}
	if _, err := c.AcquireVirtualIP(client("carol"), 4, netip.Addr{}); !errors.Is(err, ErrPoolExhausted) {
		t.Fatalf("carol got an address the new alice SA still holds: %v", err)
	}
	c.releaseLeases(reauth)
	if p.InUse() != 1 {
		t.Fatalf("after both alice SAs died: in use %d", p.InUse())
	}
}

// A client connection's virtual IPs stay on the device when the IKE SA that got them first
// dies after a newer SA of the connection got its own assignment (re-authentication): only
// the latest assignment's SA withdraws them.
func TestVirtualIPsWithdrawnOnlyByLatest(t *testing.T) {
	var events []VirtualIPs
	c := &Core{Ctr: NewCounters(), Cfg: Config{OnVirtualIPs: func(v VirtualIPs) { events = append(events, v) }}}
	conn := &Conn{Cfg: &Connection{Name: "rw"}}
	sa := func() *fakeSA {
		s := &fakeSA{}
		s.Conn, s.Log = conn, zap.NewNop()
		return s
	}
	old, reauth := sa(), sa()
	addr := []netip.Addr{netip.MustParseAddr("203.0.113.10")}
	c.VirtualIPsAssigned(old, VirtualIPs{Addrs: addr})
	c.VirtualIPsAssigned(reauth, VirtualIPs{Addrs: addr})
	c.withdrawVirtualIPs(old)
	if len(events) != 2 || !events[0].Up || !events[1].Up {
		t.Fatalf("the old SA's death withdrew the new SA's assignment: %+v", events)
	}
	c.withdrawVirtualIPs(reauth)
	if len(events) != 3 || events[2].Up || events[2].Conn != "rw" {
		t.Fatalf("the latest SA's death must withdraw: %+v", events)
	}
	// Without a newer assignment, the SA's death withdraws (the negative control).
	lone := sa()
	c.VirtualIPsAssigned(lone, VirtualIPs{Addrs: addr})
	c.withdrawVirtualIPs(lone)
	if len(events) != 5 || events[4].Up {
		t.Fatalf("a lone SA's death did not withdraw: %+v", events)
	}
}
