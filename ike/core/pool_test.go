package core

import (
	"errors"
	"fmt"
	"net/netip"
	"testing"
	"time"
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

func TestPoolLeases(t *testing.T) {
	p, err := NewPool("rw", netip.MustParseAddr("203.0.113.10"), netip.MustParseAddr("203.0.113.12"), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	c := &Core{pools: map[string]*Pool{"rw": p}, Ctr: NewCounters()}
	conn := &Conn{Cfg: &Connection{Name: "gw", Pools: []string{"rw"}}}
	client := func(name string) *fakeSA {
		sa := &fakeSA{}
		sa.Conn, sa.PeerID = conn, FQDNIdentity(name)
		return sa
	}
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
