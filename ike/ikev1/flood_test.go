package ikev1

// Flood tests of every table an unauthenticated or merely authenticated peer can grow (the
// bounds README.md lists): 100,000 entries each, the bound and the counter of what was
// refused checked, the live heap flat, and a real peer still served.
//
//   - TestHalfOpenFlood: spoofed Main Mode first messages → the half-open table.
//   - TestReplyCacheFlood: duplicates of an answered request → the reply cache, and replies
//     only to the address the SA knows.
//   - TestQuickModeFlood: Quick Modes an authenticated peer leaves unfinished → the
//     responder's exchanges in progress; TestPairsPerChild: completed ones → SA pairs.

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"runtime"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"oakley/ike/core"
	"oakley/ike/isakmp"
)

// floodN is how many entries each flood offers its table.
const floodN = 100_000

// raceEnabled is set under -race (race_test.go): its instrumentation allocates, so the heap
// is not checked then.
var raceEnabled bool

// liveHeap is the heap once garbage is collected.
func liveHeap() uint64 {
	var m runtime.MemStats
	for range 3 {
		runtime.GC()
	}
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// checkHeap fails when the live heap grew by more than limit between two measurements.
func checkHeap(t *testing.T, what string, before, after uint64, limit int64) {
	t.Helper()
	growth := int64(after) - int64(before)
	t.Logf("%s: live heap %d -> %d bytes (%+d, limit %+d)", what, before, after, growth, limit)
	if raceEnabled {
		return
	}
	if growth > limit {
		t.Errorf("%s: the live heap grew by %d bytes (limit %d)", what, growth, limit)
	}
}

// quietLogs replaces a node's debug-level log observer (which keeps every entry in memory,
// a table of its own under a flood) by one at info level.
func quietLogs(nd *node) {
	lc, obs := observer.New(zap.InfoLevel)
	nd.core.Log = zap.New(lc).Named(nd.name)
	nd.logs = obs
}

// spoofedAddr is the i-th spoofed source: distinct addresses in 2001:db8::/32.
func spoofedAddr(i int) netip.AddrPort {
	var a [16]byte
	copy(a[:], netip.MustParseAddr("2001:db8:f200::").AsSlice())
	binary.BigEndian.PutUint32(a[12:], uint32(i)+1)
	return netip.AddrPortFrom(netip.AddrFrom16(a), 500)
}

// heavySources send many first messages each, to meet the per-source bound.
const (
	heavySources   = 20
	heavyPerSource = 100
)

func TestHalfOpenFlood(t *testing.T) {
	n, a, b := newPair(t, pairOpts{})
	quietLogs(b)
	tr := expandP1(props(b.c.Conns()[0]), isakmp.AuthPreSharedKey, time.Hour)[0]
	req := mm1(t, isakmp.Cookie{}, tr)
	var sentBack, amplified, misaddressed int
	// first sends one spoofed Main Mode message 1 and takes B's answer off the wire (MM2 to
	// the spoofed source, which never answers); replies are checked for amplification.
	// Messages to the real peer stay queued for the network.
	first := func(cookie uint64, from netip.AddrPort) {
		binary.BigEndian.PutUint64(req[:8], cookie)
		b.c.handleDatagram(n.now, req, from, 500)
		for _, o := range b.c.TakeOut() {
			if o.To.Addr() == a.ip {
				b.core.Send(o.Msg, o.Local, o.To, o.NATT)
				continue
			}
			sentBack++
			if len(o.Msg) > len(req) {
				amplified++
			}
			if o.To != from {
				misaddressed++
			}
		}
	}
	// Warm up, let it all expire, and measure the heap with an empty table.
	for i := range 2 * core.HalfOpenMax {
		first(uint64(1<<40+i), spoofedAddr(floodN+i))
	}
	n.runFor(core.HalfOpenTimeout + time.Second)
	if b.c.HalfOpenCount() != 0 {
		t.Fatalf("warm-up: %d half-open SAs left after %s", b.c.HalfOpenCount(), core.HalfOpenTimeout)
	}
	base := b.ctr.Snapshot()
	heap0 := liveHeap()

	// The flood: 100,000 first messages, most from distinct sources, heavySources sources
	// sending heavyPerSource each in bursts. A, the real peer, starts its Main Mode in the
	// middle; each of its messages crosses after 400 spoofed ones (a flood of 1024 spoofed
	// first messages per round trip would evict it before its MM3 proves its address).
	heavy := 0
	var establishedAt int
	for i := range floodN {
		if i == floodN/2 {
			a.c.Start(n.now)
		}
		if i%(floodN/heavySources) < heavyPerSource {
			first(uint64(i+1), netip.AddrPortFrom(netip.AddrFrom4([4]byte{203, 0, 113, byte(i / (floodN / heavySources))}), 500))
			heavy++
		} else {
			first(uint64(i+1), spoofedAddr(i))
		}
		if i >= floodN/2 && i%400 == 0 && establishedAt == 0 {
			n.step()
			if childUp(a, "ab", "net") && childUp(b, "ba", "net") {
				establishedAt = i
			}
		}
		if b.c.HalfOpenCount() > core.HalfOpenMax {
			t.Fatalf("after %d first messages: %d half-open SAs (bound %d)", i+1, b.c.HalfOpenCount(), core.HalfOpenMax)
		}
	}
	heap1 := liveHeap()
	d := func(name string) uint64 { return b.ctr.Get(name) - base[name] }
	t.Logf("%d spoofed Main Mode first messages (%d from %d heavy sources): %d answered, half_open=%d half_open_drops=%d half_open_evicted=%d half_open_expired=%d",
		floodN, heavy, heavySources, sentBack, b.ctr.Get(core.GaugeHalfOpen), d(core.CtrHalfOpenDrops), d(core.CtrHalfOpenEvicted), d(core.CtrHalfOpenExpired))
	if establishedAt == 0 {
		t.Fatalf("the real peer did not establish during the flood (B: ike_established %d, half_open_evicted %d)", d(core.CtrIKEEstablished), d(core.CtrHalfOpenEvicted))
	}
	t.Logf("the real peer's Main Mode + Quick Mode completed during the flood, after %d more spoofed first messages; A retransmitted %d times",
		establishedAt-floodN/2, a.ctr.Get(core.CtrRetransmits))
	if a.ctr.Get(core.CtrRetransmits) != 0 {
		t.Errorf("the real peer needed %d retransmissions during the flood (its half-open entry was evicted?)", a.ctr.Get(core.CtrRetransmits))
	}
	// Bounds and counters.
	if got := b.c.HalfOpenCount(); got != core.HalfOpenMax || b.ctr.Get(core.GaugeHalfOpen) != uint64(got) {
		t.Errorf("after the flood %d half-open SAs (gauge %d), want the table full at %d", got, b.ctr.Get(core.GaugeHalfOpen), core.HalfOpenMax)
	}
	for src, k := range b.c.HalfOpenBySource() {
		if k > core.HalfOpenPerSrc {
			t.Errorf("%s holds %d half-open SAs (bound %d)", src, k, core.HalfOpenPerSrc)
		}
	}
	wantDrops := uint64(heavySources * (heavyPerSource - core.HalfOpenPerSrc))
	if d(core.CtrHalfOpenDrops) != wantDrops {
		t.Errorf("half_open_drops %d, want %d (%d sources x %d over the per-source bound)", d(core.CtrHalfOpenDrops), wantDrops, heavySources, heavyPerSource-core.HalfOpenPerSrc)
	}
	// Every admitted entry is in the table, was evicted, or (the real peer) established.
	admitted := uint64(floodN) - d(core.CtrHalfOpenDrops) + 1
	if got := d(core.CtrHalfOpenEvicted) + uint64(b.c.HalfOpenCount()) + d(core.CtrIKEEstablished); got != admitted {
		t.Errorf("accounting: evicted %d + half-open %d + established %d = %d, admitted %d", d(core.CtrHalfOpenEvicted), b.c.HalfOpenCount(), d(core.CtrIKEEstablished), got, admitted)
	}
	if len(b.c.firsts) > core.HalfOpenMax || len(b.c.sas) > core.HalfOpenMax+1 {
		t.Errorf("protocol tables: %d first-message entries, %d ISAKMP SAs", len(b.c.firsts), len(b.c.sas))
	}
	if amplified > 0 || misaddressed > 0 {
		t.Errorf("%d of %d answers larger than the %d-byte request, %d sent elsewhere than the source", amplified, sentBack, len(req), misaddressed)
	}
	// A full table of 1024 half-open SAs is what the flood may leave (a few KB each); the
	// unbounded table grew by ~3.5 KB per first message (350 MB here).
	checkHeap(t, "100,000 spoofed first messages, table full", heap0, heap1, 16<<20)

	// A real peer is still served after the flood, with the table still full of spoofed
	// entries: A terminates and comes back.
	connNamed(a.c, "ab").Terminate(n.now, ErrDeleted)
	n.runUntil(func() bool { return len(connNamed(b.c, "ba").IKEs()) == 0 }, time.Minute)
	connNamed(a.c, "ab").BringUp(n.now, connNamed(a.c, "ab").Children)
	n.runUntil(func() bool { return childUp(a, "ab", "net") && childUp(b, "ba", "net") }, time.Minute)

	// After the half-open timeout every spoofed entry is gone, and the memory with them.
	n.runFor(core.HalfOpenTimeout + time.Second)
	if b.c.HalfOpenCount() != 0 || len(b.c.firsts) != 0 || len(b.c.HalfOpenBySource()) != 0 || b.ctr.Get(core.GaugeHalfOpen) != 0 {
		t.Errorf("after %s: %d half-open SAs, %d first-message entries, %d sources", core.HalfOpenTimeout, b.c.HalfOpenCount(), len(b.c.firsts), len(b.c.HalfOpenBySource()))
	}
	if len(b.c.sas) != 1 {
		t.Errorf("after %s: %d ISAKMP SAs indexed, want the real peer's one", core.HalfOpenTimeout, len(b.c.sas))
	}
	t.Logf("after %s: half_open_expired %d", core.HalfOpenTimeout, d(core.CtrHalfOpenExpired))
	checkHeap(t, "after the half-open timeout", heap0, liveHeap(), 2<<20)
}

// otherAddr is the i-th address a replayed request claims to come from.
func otherAddr(i int) netip.AddrPort {
	if i%2 == 0 {
		return spoofedAddr(i)
	}
	return netip.AddrPortFrom(netip.AddrFrom4([4]byte{203, 0, 113, byte(i)}), uint16(500+i%2000))
}

func TestReplyCacheFlood(t *testing.T) {
	n, a, b := newPair(t, pairOpts{esp: []string{"aes128gcm16"}})
	// Record A's requests on the way: MM5 and QM1 are answered by B (MM6, QM2).
	var mm5, qm1 []byte
	n.filter = func(from, to *node, m []byte) []byte {
		h, err := isakmp.DecodeHeader(m)
		if err == nil && from == a && h.Flags.Has(isakmp.FlagEncryption) {
			switch {
			case h.ExchangeType == isakmp.ExchangeMainMode && mm5 == nil:
				mm5 = append([]byte(nil), m...)
			case h.ExchangeType == isakmp.ExchangeQuickMode && qm1 == nil:
				qm1 = append([]byte(nil), m...)
			}
		}
		return m
	}
	establish(t, n, a, b)
	n.filter = nil
	if mm5 == nil || qm1 == nil {
		t.Fatal("MM5 or QM1 not recorded")
	}
	quietLogs(b)
	bsa := currentSA(b.c, "ba")
	bsa.Log = b.core.Log
	cached := bsa.replies.Len()
	peer := bsa.Remote
	base := b.ctr.Snapshot()
	heap0 := liveHeap()
	// 100,000 duplicates: a quarter from the peer's address, a quarter from its address on
	// the NAT-T port (RFC 3947 float), half from addresses the SA does not know.
	var toPeer, elsewhere, fromOthers int
	for i := range floodN {
		req := mm5
		if i%2 == 1 {
			req = qm1
		}
		switch i % 4 {
		case 0:
			b.c.handleDatagram(n.now, req, peer, peer.Port())
		case 1:
			b.c.handleDatagram(n.now, req, netip.AddrPortFrom(peer.Addr(), 4500), 4500)
		default:
			fromOthers++
			b.c.handleDatagram(n.now, req, otherAddr(i), 500)
		}
		for _, o := range b.c.TakeOut() {
			if o.To.Addr() == peer.Addr() {
				toPeer++
			} else {
				elsewhere++
			}
		}
		if bsa.replies.Len() > core.ReplyCacheSize {
			t.Fatalf("after %d duplicates the reply cache holds %d requests (bound %d)", i+1, bsa.replies.Len(), core.ReplyCacheSize)
		}
	}
	heap1 := liveHeap()
	d := func(name string) uint64 { return b.ctr.Get(name) - base[name] }
	t.Logf("%d duplicates of MM5 and QM1 (%d from other addresses): %d answers to the peer, %d elsewhere; duplicates=%d replies_misdirected=%d; reply cache %d -> %d requests (bound %d)",
		floodN, fromOthers, toPeer, elsewhere, d(core.CtrDuplicates), d(core.CtrRepliesMisdirected), cached, bsa.replies.Len(), core.ReplyCacheSize)
	if elsewhere != 0 {
		t.Errorf("%d answers went to addresses the SA does not know", elsewhere)
	}
	if d(core.CtrRepliesMisdirected) != uint64(fromOthers) || d(core.CtrDuplicates) != floodN {
		t.Errorf("replies_misdirected %d (want %d), duplicates %d (want %d)", d(core.CtrRepliesMisdirected), fromOthers, d(core.CtrDuplicates), floodN)
	}
	if toPeer != floodN-fromOthers {
		t.Errorf("%d answers to the peer for %d duplicates from its address", toPeer, floodN-fromOthers)
	}
	if d(core.CtrIKEEstablished)+d(core.CtrChildEstablished) != 0 || len(b.dp.InboundSPIs()) != 1 {
		t.Errorf("a duplicate was processed again: %d inbound SAs", len(b.dp.InboundSPIs()))
	}
	checkHeap(t, "100,000 duplicates", heap0, heap1, 1<<20)
	// The peer is still served: a rekey of the child completes.
	a.softExpire(connNamed(a.c, "ab").Child("net").Newest())
	n.runUntil(func() bool { return a.ctr.Get(core.CtrChildRekeys) == 1 }, time.Minute)
	if bsa.replies.Len() > core.ReplyCacheSize {
		t.Errorf("reply cache %d after the rekey", bsa.replies.Len())
	}
}

// TestReplyCacheBound offers the cache 100,000 distinct answered requests (what no peer can
// send it through one IKE SA, since the exchanges that fill it are bounded themselves).
func TestReplyCacheBound(t *testing.T) {
	var rc core.ReplyCache
	reply := make([]byte, 200)
	heap0 := liveHeap()
	var h [32]byte
	for i := range floodN {
		binary.BigEndian.PutUint64(h[:], uint64(i))
		rc.Remember(h, reply)
		if rc.Len() > core.ReplyCacheSize {
			t.Fatalf("after %d requests the cache holds %d (bound %d)", i+1, rc.Len(), core.ReplyCacheSize)
		}
	}
	heap1 := liveHeap()
	for i := range floodN {
		binary.BigEndian.PutUint64(h[:], uint64(i))
		_, seen := rc.Lookup(h)
		if want := i >= floodN-core.ReplyCacheSize; seen != want {
			t.Fatalf("request %d: seen %v, want %v (the newest %d are kept)", i, seen, want, core.ReplyCacheSize)
		}
	}
	checkHeap(t, "100,000 distinct requests", heap0, heap1, 64<<10)
	runtime.KeepAlive(&rc)
}

// fireUntil moves the clock to end, firing one node's timers on the way and dropping what
// it sends (the answers a flooding peer never reads).
func fireUntil(n *lnet, nd *node, end time.Time) {
	for {
		next, ok := nd.core.Timers.Next()
		if !ok || next.After(end) {
			break
		}
		n.now = next
		nd.core.FireTimers(n.now)
		nd.c.TakeOut()
	}
	n.now = end
}

// errFloodDone ends the Quick Modes a flood generator made.
var errFloodDone = fmt.Errorf("%w: flood generator", ErrDeleted)

// floodQM1 returns a genuine Quick Mode message 1 of A's ISAKMP SA for a unit, and forgets
// the exchange on A's side (the flooding peer never completes it).
func floodQM1(t *testing.T, n *lnet, a *node, asa *ikeSA, ch *core.ChildState) []byte {
	qm := newQuickMode(asa, ch, true, a.c.newMID(asa))
	if err := qm.initiatorMessage1(n.now); err != nil {
		t.Fatal(err)
	}
	out := a.c.TakeOut()
	qm.abort(n.now, errFloodDone)
	if len(out) != 1 {
		t.Fatalf("%d messages for one Quick Mode message 1", len(out))
	}
	return out[0].Msg
}

func TestQuickModeFlood(t *testing.T) {
	n, a, b := newPair(t, pairOpts{esp: []string{"aes128gcm16"}})
	_, cb := establish(t, n, a, b)
	quietLogs(b)
	asa, bsa := currentSA(a.c, "ab"), currentSA(b.c, "ba")
	asa.Log, bsa.Log = zap.NewNop(), b.core.Log // the generator's log would keep 100,000 lines
	ch := a.unit("ab", "net")
	pol := b.policy("ba", "net")
	peer := bsa.Remote
	base := b.ctr.Snapshot()
	heap0 := liveHeap()
	// 100,000 Quick Modes, B's answers dropped so they stay in progress; every 10,000 the
	// clock moves past B's retransmission schedule, so the ones in progress give up and
	// new ones are taken.
	maxInProgress, maxPairs := 0, 0
	for i := range floodN {
		b.c.handleDatagram(n.now, floodQM1(t, n, a, asa, ch), peer, peer.Port())
		b.c.TakeOut()
		maxInProgress = max(maxInProgress, bsa.responderQMs())
		maxPairs = max(maxPairs, len(b.unit("ba", "net").SAs))
		if bsa.responderQMs() > maxResponderQMs || len(bsa.qms) > maxResponderQMs {
			t.Fatalf("after %d Quick Modes: %d in progress (bound %d)", i+1, bsa.responderQMs(), maxResponderQMs)
		}
		if (i+1)%10_000 == 0 {
			fireUntil(n, b, n.now.Add(testRetransmit.Total()+time.Second))
		}
	}
	heap1 := liveHeap()
	d := func(name string) uint64 { return b.ctr.Get(name) - base[name] }
	taken := floodN - int(d(core.CtrExchangesRefused))
	t.Logf("%d Quick Modes, answers dropped: %d taken, exchanges_refused=%d, at most %d in progress (bound %d), child_failed=%d, at most %d SA pairs (bound %d), pairs_evicted=%d; reply cache %d, recent message IDs %d",
		floodN, taken, d(core.CtrExchangesRefused), maxInProgress, maxResponderQMs, d(core.CtrChildFailed), maxPairs, core.MaxPairsPerChild, d(core.CtrPairsEvicted), bsa.replies.Len(), len(bsa.mids))
	if maxInProgress != maxResponderQMs || taken != 10*maxResponderQMs {
		t.Errorf("%d Quick Modes taken, at most %d at once; want %d per round of 10,000, %d at once", taken, maxInProgress, maxResponderQMs, maxResponderQMs)
	}
	if maxPairs > core.MaxPairsPerChild {
		t.Errorf("the unit held %d SA pairs (bound %d)", maxPairs, core.MaxPairsPerChild)
	}
	if bsa.replies.Len() > core.ReplyCacheSize || len(bsa.mids) > 64 {
		t.Errorf("reply cache %d (bound %d), recent message IDs %d (bound 64)", bsa.replies.Len(), core.ReplyCacheSize, len(bsa.mids))
	}
	if len(b.dp.InboundSPIs()) > core.MaxPairsPerChild {
		t.Errorf("%d inbound SAs installed", len(b.dp.InboundSPIs()))
	}
	checkHeap(t, "100,000 Quick Modes", heap0, heap1, 4<<20)
	// The tunnel the peer established still carries traffic: B's policy sends on the pair it
	// had, which A has installed inbound.
	if bd := pol.Binding(); bd == nil || bd.SA != outOf(cb) || !cb.Alive() {
		t.Errorf("B's policy no longer sends on the established pair after the flood (binding %v)", bd)
	} else if a.dp.InboundOf(outOf(cb).SPI()) == nil {
		t.Errorf("B sends on SPI %08x, which A does not have", outOf(cb).SPI())
	}
	// And a genuine Quick Mode (a rekey by A) still completes.
	n.filter = nil
	a.softExpire(ch.Newest())
	n.runUntil(func() bool { return a.ctr.Get(core.CtrChildRekeys) == 1 && childUp(b, "ba", "net") }, 2*time.Minute)
	checkKeysMatch(t, ch.Newest(), b.unit("ba", "net").Newest())
}

// TestPairsPerChild: a peer completing Quick Mode after Quick Mode for the same unit (new
// pairs, not rekeys) leaves at most MaxPairsPerChild pairs on either side; the extra ones are
// deleted, with a Delete to the other side, which removes them too.
func TestPairsPerChild(t *testing.T) {
	n, a, b := newPair(t, pairOpts{esp: []string{"aes128gcm16"}})
	establish(t, n, a, b)
	quietLogs(a)
	quietLogs(b)
	asa := currentSA(a.c, "ab")
	asa.Log, currentSA(b.c, "ba").Log = a.core.Log, b.core.Log
	cha, chb := a.unit("ab", "net"), b.unit("ba", "net")
	n.afterStep = noLossInvariant(t, a, b, policies(a, b)...)
	const rounds = 1000
	for i := range rounds {
		startQM(n.now, asa, cha, nil)
		n.runUntil(func() bool { return cha.Pending == nil && !b.core.Pending() && !a.core.Pending() }, time.Minute)
		if len(cha.SAs) > core.MaxPairsPerChild || len(chb.SAs) > core.MaxPairsPerChild {
			t.Fatalf("after %d Quick Modes: %d / %d SA pairs (bound %d)", i+1, len(cha.SAs), len(chb.SAs), core.MaxPairsPerChild)
		}
	}
	n.afterStep = nil
	t.Logf("%d Quick Modes for one unit: A holds %d pairs, B %d; pairs_evicted A=%d B=%d; deletes_out A=%d B=%d, deletes_in A=%d B=%d; inbound SAs A=%d B=%d",
		rounds, len(cha.SAs), len(chb.SAs), a.ctr.Get(core.CtrPairsEvicted), b.ctr.Get(core.CtrPairsEvicted),
		a.ctr.Get(core.CtrDeletesOut), b.ctr.Get(core.CtrDeletesOut), a.ctr.Get(core.CtrDeletesIn), b.ctr.Get(core.CtrDeletesIn),
		len(a.dp.InboundSPIs()), len(b.dp.InboundSPIs()))
	if a.ctr.Get(core.CtrChildEstablished) < rounds || b.ctr.Get(core.CtrChildEstablished) < rounds {
		t.Fatalf("child_established A=%d B=%d, want %d more", a.ctr.Get(core.CtrChildEstablished), b.ctr.Get(core.CtrChildEstablished), rounds)
	}
	evicted := a.ctr.Get(core.CtrPairsEvicted) + b.ctr.Get(core.CtrPairsEvicted)
	if evicted < rounds+1-core.MaxPairsPerChild {
		t.Errorf("pairs_evicted %d in all for %d pairs over a bound of %d", evicted, rounds+1, core.MaxPairsPerChild)
	}
	// Every eviction told the peer, and both sides hold the same pairs.
	if a.ctr.Get(core.CtrDeletesOut) < a.ctr.Get(core.CtrPairsEvicted) || b.ctr.Get(core.CtrDeletesOut) < b.ctr.Get(core.CtrPairsEvicted) {
		t.Errorf("deletes_out A=%d B=%d for pairs_evicted A=%d B=%d", a.ctr.Get(core.CtrDeletesOut), b.ctr.Get(core.CtrDeletesOut), a.ctr.Get(core.CtrPairsEvicted), b.ctr.Get(core.CtrPairsEvicted))
	}
	if len(a.dp.InboundSPIs()) != len(cha.SAs) || len(b.dp.InboundSPIs()) != len(chb.SAs) || len(cha.SAs) != len(chb.SAs) {
		t.Errorf("pairs A=%d (inbound SAs %d), B=%d (inbound SAs %d)", len(cha.SAs), len(a.dp.InboundSPIs()), len(chb.SAs), len(b.dp.InboundSPIs()))
	}
	for _, x := range cha.SAs {
		if b.dp.InboundOf(x.OutSPI()) == nil {
			t.Errorf("A keeps a pair with outbound SPI %08x that B deleted", x.OutSPI())
		}
	}
	checkKeysMatch(t, cha.Newest(), chb.Newest())
}
