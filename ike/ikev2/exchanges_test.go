package ikev2

import (
	"bytes"
	"net/netip"
	"testing"
	"time"

	"oakley/esp"
	"oakley/ike/core"
	"oakley/ike/ikev2/wire"
)

// exchangeOf reads a datagram's exchange type and response flag.
func exchangeOf(m []byte) (wire.ExchangeType, bool, uint32) {
	h, err := wire.DecodeHeader(m)
	if err != nil {
		return 0, false, 0
	}
	return h.Exchange, h.IsResponse(), h.MessageID
}

// TestRetransmissionAndReplyCache: lost responses make the initiator retransmit; the
// responder answers from its cache and never processes a request twice.
func TestRetransmissionAndReplyCache(t *testing.T) {
	a, b := pairConfig(t, []string{"aes128gcm16-prfsha256-ecp256"}, []string{"aes128gcm16"})
	n, x, y := pair(t, a, b)
	dropped := map[wire.ExchangeType]int{}
	n.filter = func(from, to *node, m []byte) []byte {
		ex, resp, _ := exchangeOf(m)
		if from == y && resp && dropped[ex] == 0 {
			dropped[ex]++
			return nil // the first response of each exchange is lost
		}
		return m
	}
	x.core.Start(n.now)
	n.runUntil(func() bool { return childUp(x, "ab", "net") && childUp(y, "ba", "net") }, time.Minute)
	if dropped[wire.ExchangeIKESAInit] != 1 || dropped[wire.ExchangeIKEAuth] != 1 {
		t.Fatalf("dropped %v", dropped)
	}
	if got := x.ctr.Get(core.CtrRetransmits); got != 2 {
		t.Fatalf("A retransmitted %d times, want 2", got)
	}
	if got := y.ctr.Get(core.CtrDuplicates); got != 2 {
		t.Fatalf("B answered %d duplicates, want 2", got)
	}
	if y.ctr.Get(core.CtrIKEEstablished) != 1 || y.ctr.Get(core.CtrChildEstablished) != 1 || y.core.HalfOpenCount() != 0 {
		t.Fatal("B processed a request twice or kept half-open state")
	}
	checkKeysMatch(t, unit(x, "ab", "net").Newest(), unit(y, "ba", "net").Newest())

	// A CREATE_CHILD_SA request delivered twice: one child, the copy answered from the cache.
	var dup []byte
	n.filter = func(from, to *node, m []byte) []byte {
		if ex, resp, _ := exchangeOf(m); from == x && ex == wire.ExchangeCreateChildSA && !resp && dup == nil {
			dup = bytes.Clone(m)
		}
		return m
	}
	u := unit(x, "ab", "net")
	currentSA(x, "ab").StartChild(n.now, u, u.Newest())
	n.runFor(time.Second)
	est := y.ctr.Get(core.CtrChildEstablished)
	before := y.ctr.Get(core.CtrDuplicates)
	y.core.HandleDatagram(n.now, dup, netip.AddrPortFrom(ipA, 4500), netip.AddrPortFrom(ipB, 4500))
	out := y.core.TakeOut()
	if len(out) != 1 || y.ctr.Get(core.CtrDuplicates) != before+1 || y.ctr.Get(core.CtrChildEstablished) != est {
		t.Fatalf("duplicate request: %d answers, duplicates %d->%d, children %d->%d", len(out), before, y.ctr.Get(core.CtrDuplicates), est, y.ctr.Get(core.CtrChildEstablished))
	}
	// The same copy from another address gets no answer (no reflection).
	y.core.HandleDatagram(n.now, dup, netip.MustParseAddrPort("203.0.113.9:4500"), netip.AddrPortFrom(ipB, 4500))
	if len(y.core.TakeOut()) != 0 || y.ctr.Get(core.CtrRepliesMisdirected) != 1 {
		t.Fatal("a retransmission from an unknown address was answered")
	}
	// A tampered copy is neither answered nor processed.
	bad := bytes.Clone(dup)
	bad[len(bad)-1] ^= 1
	y.core.HandleDatagram(n.now, bad, netip.AddrPortFrom(ipA, 4500), netip.AddrPortFrom(ipB, 4500))
	if len(y.core.TakeOut()) != 0 {
		t.Fatal("a tampered retransmission was answered")
	}
}

// TestGiveUpAndRetry: an unanswered initiator gives up after the schedule and retries
// later (start_action = start); once the peer answers, the SA comes up.
func TestGiveUpAndRetry(t *testing.T) {
	a, b := pairConfig(t, []string{"aes128gcm16-prfsha256-ecp256"}, []string{"aes128gcm16"})
	n, x, y := pair(t, a, b)
	block := true
	n.filter = func(from, to *node, m []byte) []byte {
		if block {
			return nil
		}
		return m
	}
	x.core.Start(n.now)
	n.runUntil(func() bool { return x.ctr.Get(core.CtrRetransmitGiveUps) == 1 }, time.Minute)
	if x.ctr.Get(core.CtrRetransmitGiveUps) != 1 || x.ctr.Get(core.CtrIKEFailed) != 1 {
		t.Fatalf("give-ups %d, failures %d", x.ctr.Get(core.CtrRetransmitGiveUps), x.ctr.Get(core.CtrIKEFailed))
	}
	st := x.core.Status()[0]
	if st.LastError == "" || st.NextAttempt == nil {
		t.Fatalf("status after the failure: %+v", st)
	}
	block = false
	n.runUntil(func() bool { return childUp(x, "ab", "net") && childUp(y, "ba", "net") }, 5*time.Minute)
}

// TestInvalidKE: the responder wants another group (§1.2); the initiator retries with it.
// The same in CREATE_CHILD_SA for PFS.
func TestInvalidKE(t *testing.T) {
	a, b := pairConfig(t, []string{"aes128gcm16-prfsha256-ecp256-modp2048"}, []string{"aes128gcm16-ecp256-modp2048"})
	b.Proposals = props(t, 2, "aes128gcm16-prfsha256-modp2048")
	b.Children[0].ESPProposals = props(t, 3, "aes128gcm16-modp2048")
	n, x, y := pair(t, a, b)
	n.traffic = true
	n.afterStep = noLossInvariant(t, n)
	x.core.Start(n.now)
	n.runUntil(func() bool { return childUp(x, "ab", "net") && childUp(y, "ba", "net") }, time.Minute)
	if y.ctr.Get(core.CtrInvalidKE) != 1 || x.ctr.Get(core.CtrInvalidKE) != 1 {
		t.Fatalf("invalid_ke: A %d, B %d", x.ctr.Get(core.CtrInvalidKE), y.ctr.Get(core.CtrInvalidKE))
	}
	if sa := currentSA(x, "ab"); sa.tr.dh.Name != "modp2048" {
		t.Fatalf("group %s", sa.tr.dh.Name)
	}
	if y.core.HalfOpenCount() != 0 || len(y.p.SAs()) != 1 {
		t.Fatal("B kept state for the refused request")
	}
	u := unit(x, "ab", "net")
	old := u.Newest()
	currentSA(x, "ab").StartChild(n.now, u, old)
	n.runFor(10 * time.Second)
	nw, _ := onePair(t, n, x, y)
	if nw == old || nw.Params().PFS == nil || nw.Params().PFS.Name != "modp2048" || x.ctr.Get(core.CtrInvalidKE) != 2 {
		t.Fatalf("PFS rekey: %v, invalid_ke %d", nw.Params().PFS, x.ctr.Get(core.CtrInvalidKE))
	}
}

// TestCookie: with many half-open SAs from spoofed addresses the responder answers with a
// COOKIE and keeps nothing (§2.6); the real initiator returns it and gets its SA.
func TestCookie(t *testing.T) {
	a, b := pairConfig(t, []string{"aes128gcm16-prfsha256-ecp256"}, []string{"aes128gcm16"})
	n, x, y := pair(t, a, b)
	// Record a real IKE_SA_INIT request of A to replay with other SPIs and addresses.
	var first []byte
	n.filter = func(from, to *node, m []byte) []byte {
		if first == nil {
			first = bytes.Clone(m)
		}
		return nil
	}
	x.core.Start(n.now)
	n.step()
	n.filter = nil
	if first == nil {
		t.Fatal("no request")
	}
	flood := func(from, k int) {
		for i := from; i < from+k; i++ {
			m := bytes.Clone(first)
			m[0], m[1], m[7] = byte(i), byte(i>>8), 0x55
			src := netip.AddrPortFrom(netip.AddrFrom4([4]byte{203, 0, 113, byte(i)}), 500)
			y.core.HandleDatagram(n.now, m, src, netip.AddrPortFrom(ipB, 500))
		}
		for _, o := range y.core.TakeOut() {
			if len(o.Msg) > amplificationFactor*len(first) {
				t.Fatalf("a %d-byte answer to a %d-byte request", len(o.Msg), len(first))
			}
		}
	}
	flood(0, cookieThreshold)
	if y.core.HalfOpenCount() != cookieThreshold || y.ctr.Get(core.CtrCookiesSent) != 0 {
		t.Fatalf("half-open %d, cookies %d", y.core.HalfOpenCount(), y.ctr.Get(core.CtrCookiesSent))
	}
	flood(100, 10)
	if y.core.HalfOpenCount() != cookieThreshold || y.ctr.Get(core.CtrCookiesSent) != 10 {
		t.Fatalf("under the flood: half-open %d, cookies %d", y.core.HalfOpenCount(), y.ctr.Get(core.CtrCookiesSent))
	}
	// A stale or forged cookie is refused.
	if y.p.cookieValid(n.now, append([]byte{y.p.cookies.ver}, make([]byte, cookieHashLen)...), make([]byte, 32), ipA, wire.SPI{1}) {
		t.Fatal("forged cookie accepted")
	}
	n.runUntil(func() bool { return childUp(x, "ab", "net") && childUp(y, "ba", "net") }, time.Minute)
	if !logged(x, "COOKIE") {
		t.Fatal("A did not log the cookie")
	}
	// The secret rotates; a cookie of the previous period still verifies, older ones not.
	ni, spi := make([]byte, 32), wire.SPI{9}
	c := y.p.makeCookie(n.now, ni, ipA, spi)
	if !y.p.cookieValid(n.now.Add(cookieRotate+time.Second), c, ni, ipA, spi) {
		t.Fatal("cookie of the previous period refused")
	}
	if y.p.cookieValid(n.now.Add(3*cookieRotate+time.Second), c, ni, ipA, spi) {
		t.Fatal("old cookie accepted")
	}
	if y.p.cookieValid(n.now, c, ni, ipB, spi) {
		t.Fatal("cookie accepted from another address")
	}
}

// TestTwoChildren: two children in one IKE SA (the second by CREATE_CHILD_SA), several
// selectors per child, narrowed by the responder.
func TestTwoChildren(t *testing.T) {
	a, b := pairConfig(t, []string{"aes128gcm16-prfsha256-ecp256"}, []string{"aes128gcm16"})
	a.Children = append(a.Children, &core.Child{Name: "web", ESPProposals: a.Children[0].ESPProposals,
		LocalTS:  []esp.Selector{sel("192.0.2.0/24"), sel("2001:db8:a::/48")},
		RemoteTS: []esp.Selector{{Prefix: netip.MustParsePrefix("203.0.113.0/24"), Proto: 6, PortLo: 80, PortHi: 443}, sel("2001:db8:b::/48")}})
	b.Children = append(b.Children, &core.Child{Name: "web", ESPProposals: b.Children[0].ESPProposals,
		LocalTS:  []esp.Selector{sel("203.0.113.0/25"), sel("2001:db8:b::/48")},
		RemoteTS: []esp.Selector{sel("192.0.2.0/24"), sel("2001:db8:a::/48")}})
	n, x, y := pair(t, a, b)
	n.traffic = true
	n.afterStep = noLossInvariant(t, n)
	x.core.Start(n.now)
	n.runUntil(func() bool {
		return childUp(x, "ab", "net") && childUp(x, "ab", "web") && childUp(y, "ba", "net") && childUp(y, "ba", "web")
	}, time.Minute)
	w := unit(x, "ab", "web").Newest().Params()
	got := core.SelectorsString(w.RemoteTS)
	if got != "203.0.113.0/25[tcp/80-443],2001:db8:b::/48" && got != "203.0.113.0/25[6/80-443],2001:db8:b::/48" {
		t.Fatalf("narrowed remote selectors %s", got)
	}
	if len(currentSA(x, "ab").ownedChildren()) != 2 || len(x.p.SAs()) != 1 {
		t.Fatal("not two children in one IKE SA")
	}
}

// TestNATInMemory: A behind a NAT: NAT detected on both sides, IKE floats to 4500, ESP is
// UDP-encapsulated towards the mapped port, A sends keepalives.
func TestNATInMemory(t *testing.T) {
	n, x, y, public := nattedPair(t, false)
	sx, sy := currentSA(x, "ab"), currentSA(y, "ba")
	if !sx.nat.local || sx.nat.remote || !sy.nat.remote || sy.nat.local {
		t.Fatalf("NAT detection: A %+v, B %+v", sx.nat, sy.nat)
	}
	if !sx.NATT || sx.Remote.Port() != 4500 || sy.Remote != netip.AddrPortFrom(public, 34500) {
		t.Fatalf("float: A %s natt %v, B sees %s", sx.Remote, sx.NATT, sy.Remote)
	}
	if p := unit(y, "ba", "net").Newest().Params(); p.Encap != esp.EncapUDP || p.Peer != netip.AddrPortFrom(public, 34500) {
		t.Fatalf("B's ESP: %v to %s", p.Encap, p.Peer)
	}
	n.runFor(time.Minute)
	if x.keepalives < 2 || y.keepalives != 0 {
		t.Fatalf("keepalives: A %d, B %d", x.keepalives, y.keepalives)
	}
}

// TestDeleteAndTerminate: terminating the connection deletes both sides' SAs.
func TestDeleteAndTerminate(t *testing.T) {
	n, x, y := established(t, "aes128gcm16-prfsha256-ecp256", "aes128gcm16")
	cs, _ := x.core.Conn("ab")
	cs.Terminate(n.now, ErrDeleted)
	n.runFor(5 * time.Second)
	if len(x.p.sas) != 0 || len(y.p.sas) != 0 || len(x.dp.InboundSPIs()) != 0 || len(y.dp.InboundSPIs()) != 0 {
		t.Fatalf("left: A %d IKE SAs %v, B %d IKE SAs %v", len(x.p.sas), x.dp.InboundSPIs(), len(y.p.sas), y.dp.InboundSPIs())
	}
	if y.ctr.Get(core.CtrDeletesIn) == 0 {
		t.Fatal("B got no Delete")
	}
}

// TestDeleteChildByPeer: the peer deletes a child; we answer with our SPI and remove it.
func TestDeleteChildByPeer(t *testing.T) {
	n, x, y := established(t, "aes128gcm16-prfsha256-ecp256", "aes128gcm16")
	unit(y, "ba", "net").Newest().Remove(n.now, true, ErrDeleted)
	n.runFor(2 * time.Second)
	if len(x.dp.InboundSPIs()) != 0 || len(y.dp.InboundSPIs()) != 0 || currentSA(x, "ab") == nil {
		t.Fatalf("after the child Delete: %v / %v", x.dp.InboundSPIs(), y.dp.InboundSPIs())
	}
}

// TestLateInitDuplicate: a copy of the IKE_SA_INIT request that the network delivers after
// the SA is up is counted as a duplicate and dropped: no new half-open SA, no answer.
func TestLateInitDuplicate(t *testing.T) {
	a, b := pairConfig(t, []string{"aes128gcm16-prfsha256-ecp256"}, []string{"aes128gcm16"})
	n, x, y := pair(t, a, b)
	var first []byte
	n.filter = func(from, to *node, m []byte) []byte {
		if ex, resp, _ := exchangeOf(m); from == x && ex == wire.ExchangeIKESAInit && !resp && first == nil {
			first = bytes.Clone(m)
		}
		return m
	}
	x.core.Start(n.now)
	n.runUntil(func() bool { return childUp(x, "ab", "net") && childUp(y, "ba", "net") }, time.Minute)
	before := y.ctr.Get(core.CtrDuplicates)
	y.core.HandleDatagram(n.now, first, netip.AddrPortFrom(ipA, 500), netip.AddrPortFrom(ipB, 500))
	if out := y.core.TakeOut(); len(out) != 0 || y.ctr.Get(core.CtrDuplicates) != before+1 || y.core.HalfOpenCount() != 0 {
		t.Fatalf("late IKE_SA_INIT copy: %d answers, duplicates %d->%d, half-open %d", len(out), before, y.ctr.Get(core.CtrDuplicates), y.core.HalfOpenCount())
	}
}

// TestLateInitResponseDuplicate: a copy of the IKE_SA_INIT response that the network delivers
// after the initiator moved on is counted as a duplicate (it was counted as "unexpected",
// so a duplicated datagram could go uncounted by both ends: issue 13's chaos-ike case), and
// changes nothing.
func TestLateInitResponseDuplicate(t *testing.T) {
	a, b := pairConfig(t, []string{"aes128gcm16-prfsha256-ecp256"}, []string{"aes128gcm16"})
	n, x, y := pair(t, a, b)
	var first []byte
	n.filter = func(from, to *node, m []byte) []byte {
		if ex, resp, _ := exchangeOf(m); from == y && ex == wire.ExchangeIKESAInit && resp && first == nil {
			first = bytes.Clone(m)
		}
		return m
	}
	x.core.Start(n.now)
	n.runUntil(func() bool { return childUp(x, "ab", "net") && childUp(y, "ba", "net") }, time.Minute)
	dup, unexp := x.ctr.Get(core.CtrDuplicates), x.ctr.Get(core.CtrUnexpected)
	x.core.HandleDatagram(n.now, first, netip.AddrPortFrom(ipB, 500), netip.AddrPortFrom(ipA, 500))
	if out := x.core.TakeOut(); len(out) != 0 || x.ctr.Get(core.CtrDuplicates) != dup+1 || x.ctr.Get(core.CtrUnexpected) != unexp {
		t.Fatalf("late IKE_SA_INIT response copy: %d messages sent, duplicates %d->%d, unexpected %d->%d",
			len(out), dup, x.ctr.Get(core.CtrDuplicates), unexp, x.ctr.Get(core.CtrUnexpected))
	}
	// Another IKE_SA_INIT response (not a copy) stays unexpected.
	other := bytes.Clone(first)
	other[len(other)-1] ^= 1
	x.core.HandleDatagram(n.now, other, netip.AddrPortFrom(ipB, 500), netip.AddrPortFrom(ipA, 500))
	if x.ctr.Get(core.CtrUnexpected) != unexp+1 || x.ctr.Get(core.CtrDuplicates) != dup+1 {
		t.Fatalf("an altered IKE_SA_INIT response: unexpected %d->%d, duplicates %d->%d", unexp, x.ctr.Get(core.CtrUnexpected), dup, x.ctr.Get(core.CtrDuplicates))
	}
	if !childUp(x, "ab", "net") || len(x.p.SAs()) != 1 {
		t.Fatal("the copies changed the SA")
	}
}
