package ikev1

// Bad input and wrong configuration: every case ends in a clear log line on both sides,
// the right counter, and no SA.

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"strings"
	"testing"
	"time"

	"oakley/ike/core"

	"oakley/crypto"
	"oakley/esp"
	"oakley/ike/isakmp"
)

// noSA checks that a node has no established ISAKMP SA, no child SA and nothing installed.
func noSA(t *testing.T, nd *node) {
	t.Helper()
	for _, cs := range nd.c.Conns() {
		if cs.Current() != nil {
			t.Fatalf("%s has an established ISAKMP SA", nd.name)
		}
		for _, ch := range cs.Children {
			if len(ch.SAs) != 0 {
				t.Fatalf("%s has child SAs", nd.name)
			}
		}
	}
	if spis := nd.dp.InboundSPIs(); len(spis) != 0 {
		t.Fatalf("%s installed inbound SAs %v", nd.name, spis)
	}
}

func mustLog(t *testing.T, nd *node, parts ...string) {
	t.Helper()
	for _, e := range nd.logs.All() {
		line := e.Message + " " + fieldsString(e.Context)
		ok := true
		for _, p := range parts {
			ok = ok && strings.Contains(line, p)
		}
		if ok {
			return
		}
	}
	t.Fatalf("%s logged no line containing %q", nd.name, parts)
}

func TestWrongPSK(t *testing.T) {
	for _, aggressive := range []bool{false, true} {
		t.Run(map[bool]string{false: "main", true: "aggressive"}[aggressive], func(t *testing.T) {
			n, a, b := newPair(t, pairOpts{aggressive: aggressive})
			b.conns[0].PSK = crypto.Key("a different pre-shared key, also long enough")
			a.c.Start(n.now)
			n.runFor(45 * time.Second)
			noSA(t, a)
			noSA(t, b)
			for _, nd := range []*node{a, b} {
				mustLog(t, nd, "authentication failed", "pre-shared keys differ?")
				if nd.ctr.Get(core.CtrAuthFailures) == 0 {
					t.Fatalf("%s: auth_failures not counted", nd.name)
				}
			}
		})
	}
}

func TestNoProposalOverlap(t *testing.T) {
	n, a, b := newPair(t, pairOpts{})
	b.conns[0].Proposals = mustProposals(t, crypto.ProtoIKEv1, false, "aes128-sha512-ecp384")
	a.c.Start(n.now)
	n.runFor(time.Second)
	noSA(t, a)
	noSA(t, b)
	mustLog(t, b, "NO-PROPOSAL-CHOSEN", "peer offered [aes256-sha256-modp2048", "configured [aes128-sha512-ecp384]")
	mustLog(t, a, "peer sent NO-PROPOSAL-CHOSEN")
	if b.ctr.Get(core.CtrNoProposal) != 1 || b.ctr.Get(core.CtrErrorNotifiesOut) != 1 || a.ctr.Get(core.CtrErrorNotifiesIn) != 1 {
		t.Fatalf("counters A %v B %v", a.ctr.Snapshot(), b.ctr.Snapshot())
	}
	if b.c.HalfOpenCount() != 0 || len(b.c.sas) != 0 {
		t.Fatal("responder keeps state after refusing")
	}
}

func TestQuickModeNoProposal(t *testing.T) {
	n, a, b := newPair(t, pairOpts{})
	b.conns[0].Children[0].ESPProposals = mustProposals(t, crypto.ProtoESP, false, "aes128gcm16")
	connNamed(b.c, "ba").Children[0].Props = b.conns[0].Children[0].ESPProposals
	a.c.Start(n.now)
	n.runFor(time.Second)
	mustLog(t, b, "Quick Mode failed", "NO-PROPOSAL", "peer offered [aes256-sha256]", "configured [aes128gcm16]")
	mustLog(t, a, "peer refused Quick Mode: NO-PROPOSAL-CHOSEN")
	if currentSA(a.c, "ab") == nil || currentSA(b.c, "ba") == nil {
		t.Fatal("a Phase 2 failure must not end the ISAKMP SA")
	}
	if len(a.dp.InboundSPIs())+len(b.dp.InboundSPIs()) != 0 {
		t.Fatal("child SAs installed")
	}
}

func TestUnexpectedPeerID(t *testing.T) {
	t.Run("responder", func(t *testing.T) {
		n, a, b := newPair(t, pairOpts{})
		a.conns[0].LocalID = core.FQDNIdentity("mallory.test")
		a.c.Start(n.now)
		n.runFor(time.Second)
		noSA(t, a)
		noSA(t, b)
		mustLog(t, b, "INVALID-ID-INFORMATION", `peer identified as "mallory.test"`)
		if b.ctr.Get(core.CtrInvalidID) != 1 {
			t.Fatal("invalid_id not counted")
		}
	})
	t.Run("initiator", func(t *testing.T) {
		n, a, b := newPair(t, pairOpts{})
		b.conns[0].LocalID = core.FQDNIdentity("impostor.test")
		b.conns[0].DPDDelay = 0
		a.conns[0].StartAction = "none" // one exchange: no retry to blur what B saw
		connNamed(a.c, "ab").BringUp(n.now, connNamed(a.c, "ab").Children)
		n.runFor(time.Second)
		noSA(t, a)
		mustLog(t, a, "INVALID-ID", `responder identified as "impostor.test"`)
		// Our notify travels encrypted with the Phase 1 IV advanced past MM6: the responder
		// decrypts it and drops its ISAKMP SA (strongSwan did not, when the IV lagged).
		mustLog(t, b, "peer refused the ISAKMP SA: INVALID-ID-INFORMATION")
		if b.ctr.Get(core.CtrDecryptFailures) != 0 || currentSA(b.c, "ba") != nil {
			t.Fatalf("responder: %d decrypt failures, still established: %v", b.ctr.Get(core.CtrDecryptFailures), currentSA(b.c, "ba") != nil)
		}
		// strongSwan takes an error notify as fatal only while Phase 1 is in progress; after
		// MM6 its SA is established, so a protected Delete follows the notify.
		if a.ctr.Get(core.CtrDeletesOut) != 1 {
			t.Fatalf("initiator sent %d Deletes after refusing MM6, want 1", a.ctr.Get(core.CtrDeletesOut))
		}
	})
	t.Run("any", func(t *testing.T) {
		n, a, b := newPair(t, pairOpts{})
		b.conns[0].RemoteID = core.AnyIdentity
		establish(t, n, a, b)
	})
	t.Run("aggressive-unknown-id", func(t *testing.T) {
		n, a, b := newPair(t, pairOpts{aggressive: true})
		a.conns[0].LocalID = core.UserFQDNIdentity("eve@a.test")
		a.c.Start(n.now)
		n.runFor(time.Second)
		noSA(t, a)
		noSA(t, b)
		mustLog(t, b, "no Aggressive Mode connection for identity", "eve@a.test")
	})
}

func TestQuickModeSelectorsOutsideConfig(t *testing.T) {
	n, a, b := newPair(t, pairOpts{tweak: func(ca, _ *core.Connection) {
		ca.Children[0].RemoteTS = []esp.Selector{sel("198.51.100.0/23")} // wider than B allows
	}})
	a.c.Start(n.now)
	n.runFor(time.Second)
	mustLog(t, b, "INVALID-ID", "no child of connection")
	mustLog(t, a, "peer refused Quick Mode: INVALID-ID-INFORMATION")
	if b.ctr.Get(core.CtrInvalidID) != 1 || len(b.dp.InboundSPIs()) != 0 {
		t.Fatal("selectors outside the configuration accepted")
	}
}

func TestAggressiveResponderNeedsOptIn(t *testing.T) {
	n, a, b := newPair(t, pairOpts{aggressive: true})
	b.conns[0].InsecureAlgorithms = false
	a.c.Start(n.now)
	n.runFor(time.Second)
	noSA(t, a)
	noSA(t, b)
	mustLog(t, b, "Aggressive Mode with a pre-shared key", "refused")
	// No key was checked: the log must not blame one (the peer still hears
	// AUTHENTICATION-FAILED, as from strongSwan).
	mustLog(t, b, "Aggressive Mode refused")
	if logged(b, "pre-shared keys differ") {
		t.Fatal("a policy refusal blamed the pre-shared key")
	}
}

func TestTamperedPhase1(t *testing.T) {
	// Flip one byte of the n-th datagram from A: an attribute of MM1 (the SA may still be
	// sound), the KE of MM3, the first encrypted block of MM5 (IDii).
	offsets := []func(m []byte) int{
		func(m []byte) int { return len(m) - 2 },
		func(m []byte) int { return isakmp.HeaderLen + 4 + 10 },
		func(m []byte) int { return isakmp.HeaderLen + 5 },
	}
	for i, what := range []string{"MM1", "MM3-KE", "MM5"} {
		t.Run(what, func(t *testing.T) {
			n, a, b := newPair(t, pairOpts{})
			count := 0
			n.filter = func(from, to *node, m []byte) []byte {
				if from != a {
					return m
				}
				count++
				if count != i+1 {
					return m
				}
				x := bytes.Clone(m)
				x[offsets[i](x)] ^= 0x40
				return x
			}
			a.conns[0].StartAction = "none" // no retry after the failure: one exchange to judge
			connNamed(a.c, "ab").BringUp(n.now, connNamed(a.c, "ab").Children)
			n.runFor(20 * time.Second)
			if currentSA(a.c, "ab") != nil && currentSA(b.c, "ba") != nil {
				// A tampered MM1 attribute may still be acceptable; then the SA must be sound.
				if what != "MM1" {
					t.Fatal("tampered message accepted")
				}
				return
			}
			if what == "MM1" {
				return
			}
			mustLog(t, b, "authentication failed")
			mustLog(t, a, "authentication failed")
			noSA(t, a)
			noSA(t, b)
		})
	}
}

func TestReplayedMessagesNotProcessedTwice(t *testing.T) {
	n, a, b := newPair(t, pairOpts{})
	var fromA [][]byte
	n.filter = func(from, to *node, m []byte) []byte {
		if from == a {
			fromA = append(fromA, bytes.Clone(m))
		}
		return m
	}
	establish(t, n, a, b)
	n.filter = nil
	ikeBefore, childBefore := b.ctr.Get(core.CtrIKEEstablished), b.ctr.Get(core.CtrChildEstablished)
	for _, m := range fromA {
		b.c.handleDatagram(n.now, m, netip.AddrPortFrom(ipA, 500), 500)
	}
	n.runFor(10 * time.Second)
	if b.ctr.Get(core.CtrIKEEstablished) != ikeBefore || b.ctr.Get(core.CtrChildEstablished) != childBefore {
		t.Fatal("a replayed exchange was processed again")
	}
	if len(b.dp.InboundSPIs()) != 1 || len(connNamed(b.c, "ba").IKEs()) != 1 {
		t.Fatalf("replay created state: %d inbound SAs", len(b.dp.InboundSPIs()))
	}
	if b.ctr.Get(core.CtrDuplicates) == 0 {
		t.Fatal("replays not counted")
	}
	// The replayed MM1 is a first message: it may only create bounded half-open state.
	if b.c.HalfOpenCount() > 1 {
		t.Fatalf("%d half-open SAs", b.c.HalfOpenCount())
	}
}

// mm1 builds a Main Mode first message with one transform and no vendor ID (the smallest
// a prober sends).
func mm1(t testing.TB, cookie isakmp.Cookie, tr p1Transform) []byte {
	h := isakmp.Header{InitiatorCookie: cookie, ExchangeType: isakmp.ExchangeMainMode}
	m, err := isakmp.EncodeMessage(h, []isakmp.Payload{p1SA([]p1Transform{tr})})
	if err != nil {
		t.Fatal(err)
	}
	return m.Raw
}

func TestHalfOpenFloodAndAmplification(t *testing.T) {
	n, a, b := newPair(t, pairOpts{})
	b.conns[0].RemoteAddr = netip.Addr{}
	tr := expandP1(props(b.c.Conns()[0]), isakmp.AuthPreSharedKey, time.Hour)[0]
	sent := 0
	for i := 0; i < 5000; i++ {
		var ck isakmp.Cookie
		binary.BigEndian.PutUint64(ck[:], uint64(i+1))
		src := netip.AddrPortFrom(netip.AddrFrom4([4]byte{203, 0, 113, byte(i % 64)}), 500)
		req := mm1(t, ck, tr)
		b.c.handleDatagram(n.now, req, src, 500)
		for _, o := range b.c.TakeOut() {
			sent++
			if len(o.Msg) > len(req) {
				t.Fatalf("reply of %d bytes to a first message of %d", len(o.Msg), len(req))
			}
		}
	}
	if b.c.HalfOpenCount() > core.HalfOpenMax || len(b.c.sas) > core.HalfOpenMax {
		t.Fatalf("%d half-open SAs, cap %d", b.c.HalfOpenCount(), core.HalfOpenMax)
	}
	for src, k := range b.c.HalfOpenBySource() {
		if k > core.HalfOpenPerSrc {
			t.Fatalf("%d half-open SAs from %s", k, src)
		}
	}
	// The full table evicts its oldest entries instead of refusing new ones.
	if b.ctr.Get(core.CtrHalfOpenEvicted) == 0 || b.c.HalfOpenCount() != core.HalfOpenMax {
		t.Fatalf("flood: %d answered, %d dropped, %d evicted, %d half-open", sent, b.ctr.Get(core.CtrHalfOpenDrops), b.ctr.Get(core.CtrHalfOpenEvicted), b.c.HalfOpenCount())
	}
	// One source alone cannot hold more than its share.
	for i := 0; i < 100; i++ {
		var ck isakmp.Cookie
		binary.BigEndian.PutUint64(ck[:], uint64(100000+i))
		b.c.handleDatagram(n.now, mm1(t, ck, tr), netip.AddrPortFrom(netip.MustParseAddr("198.51.100.77"), 500), 500)
	}
	b.c.TakeOut()
	if got := b.c.HalfOpenBySource()[netip.MustParseAddr("198.51.100.77")]; got != core.HalfOpenPerSrc || b.ctr.Get(core.CtrHalfOpenDrops) != 100-core.HalfOpenPerSrc {
		t.Fatalf("one source holds %d half-open SAs (cap %d), %d dropped", got, core.HalfOpenPerSrc, b.ctr.Get(core.CtrHalfOpenDrops))
	}
	// A real peer gets through while the table is still full of spoofed entries.
	establish(t, n, a, b)
	// The rest expire.
	n.runFor(core.HalfOpenTimeout + time.Second)
	if b.c.HalfOpenCount() != 0 || len(b.c.firsts) != 0 || len(b.c.HalfOpenBySource()) != 0 {
		t.Fatalf("half-open state left: %d/%d/%d", b.c.HalfOpenCount(), len(b.c.sas), len(b.c.firsts))
	}
}

func TestGarbageCounted(t *testing.T) {
	n, _, b := newPair(t, pairOpts{})
	inputs := [][]byte{nil, {1, 2, 3}, bytes.Repeat([]byte{0xff}, 28), make([]byte, 100)}
	good := mm1(t, isakmp.Cookie{1}, expandP1(props(b.c.Conns()[0]), isakmp.AuthPreSharedKey, time.Hour)[0])
	for i := 1; i < len(good); i++ {
		inputs = append(inputs, good[:i]) // every strict prefix
	}
	for _, in := range inputs {
		b.c.handleDatagram(n.now, in, netip.AddrPortFrom(ipA, 500), 500)
	}
	if got := b.ctr.Get(core.CtrMalformed) + b.ctr.Get(core.CtrInvalidCookie) + b.ctr.Get(core.CtrInvalidVersion); got != uint64(len(inputs)) {
		t.Fatalf("%d of %d bad inputs counted", got, len(inputs))
	}
	if len(b.c.TakeOut()) != 0 {
		t.Fatal("answered garbage")
	}
}

// TestReflectedFirstMessage: our own MM1 sent back to us must not be taken for MM2.
func TestReflectedFirstMessage(t *testing.T) {
	n, a, b := newPair(t, pairOpts{})
	a.c.Start(n.now)
	out := a.c.TakeOut()
	if len(out) != 1 {
		t.Fatal("no MM1")
	}
	a.c.handleDatagram(n.now, out[0].Msg, netip.AddrPortFrom(ipB, 500), 500)
	if a.ctr.Get(core.CtrUnexpected) != 1 || len(a.c.TakeOut()) != 0 {
		t.Fatal("reflected MM1 processed")
	}
	b.c.handleDatagram(n.now, out[0].Msg, netip.AddrPortFrom(ipA, 500), 500)
	n.runUntil(func() bool { return childUp(a, "ab", "net") && childUp(b, "ba", "net") }, time.Minute)
}

// TestWrongPSKEncryptedAnswers reproduces strongSwan's reaction to a Main Mode message 5
// encrypted under another PSK: it answers every copy with an encrypted PAYLOAD-MALFORMED our
// keys cannot read. The initiator must give up on the second such answer (about one
// retransmission), not after its whole retransmission schedule.
func TestWrongPSKEncryptedAnswers(t *testing.T) {
	n, a, b := newPair(t, pairOpts{})
	b.conns[0].PSK = crypto.Key("a different pre-shared key, also long enough")
	n.filter = func(from, to *node, m []byte) []byte {
		h, err := isakmp.DecodeHeader(m)
		if err != nil || from != a || h.ExchangeType != isakmp.ExchangeMainMode || !h.Flags.Has(isakmp.FlagEncryption) {
			return m
		}
		// Answer MM5 the way charon does, with an encrypted Informational we cannot decrypt.
		h.ExchangeType, h.MessageID, h.NextPayload = isakmp.ExchangeInformational, uint32(n.delivered)+7, isakmp.PayloadHash
		h.Length = uint32(isakmp.HeaderLen + 48)
		garbage := h.Append(nil)
		garbage = append(garbage, bytes.Repeat([]byte{0x5a}, 48)...)
		a.c.handleDatagram(n.now, garbage, netip.AddrPortFrom(b.ip, 4500), 4500)
		return nil
	}
	start := n.now
	a.c.Start(n.now)
	n.runUntil(func() bool { return logged(a, "pre-shared keys differ?") }, 10*time.Second)
	if took := n.now.Sub(start); took > 5*time.Second {
		t.Fatalf("gave up after %s", took)
	}
	noSA(t, a)
	mustLog(t, a, "authentication failed", "do not decrypt")
	if a.ctr.Get(core.CtrAuthFailures) != 1 {
		t.Fatalf("auth_failures %d", a.ctr.Get(core.CtrAuthFailures))
	}
}

// TestQuickModeTimeoutRetried: every Quick Mode message 2 is lost until A's first Quick Mode
// times out. The ISAKMP SA stays up, and nothing brought the child back before: A, with
// start_action = start, sat with no pair (58 virtual minutes in the test that found it).
// A now negotiates the child again about 2 s later, then 4, 8 ... s (jittered). Control: a
// Quick Mode the peer refuses (NO-PROPOSAL-CHOSEN) is not retried.
func TestQuickModeTimeoutRetried(t *testing.T) {
	t.Run("timeout", func(t *testing.T) {
		n, a, b := newPair(t, pairOpts{})
		lost := true
		n.filter = func(from, to *node, m []byte) []byte {
			if h, err := isakmp.DecodeHeader(m); err == nil && h.ExchangeType == isakmp.ExchangeQuickMode && from == b && lost {
				return nil
			}
			return m
		}
		a.c.Start(n.now)
		n.runUntil(func() bool { return a.ctr.Get(core.CtrChildFailed) == 2 }, 10*time.Minute)
		gaveUp := n.now
		lost = false
		n.runUntil(func() bool { return childUp(a, "ab", "net") && childUp(b, "ba", "net") }, 2*time.Minute)
		if took := n.now.Sub(gaveUp); took < 3200*time.Millisecond || took > 4800*time.Millisecond {
			t.Fatalf("up %s after the second time-out, want the second retry's 3.2-4.8 s", took)
		}
		mustLog(t, a, "negotiating the child again after a timeout")
		if currentSA(a.c, "ab") == nil || a.ctr.Get(core.CtrIKEEstablished) != 1 {
			t.Fatal("the retries did not run on the ISAKMP SA that stayed up")
		}
		checkKeysMatch(t, a.unit("ab", "net").Newest(), b.unit("ba", "net").Newest())
	})
	t.Run("refused-not-retried", func(t *testing.T) {
		n, a, b := newPair(t, pairOpts{})
		b.conns[0].Children[0].ESPProposals = mustProposals(t, crypto.ProtoESP, false, "aes128gcm16")
		connNamed(b.c, "ba").Children[0].Props = b.conns[0].Children[0].ESPProposals
		mids := map[uint32]bool{}
		n.filter = func(from, to *node, m []byte) []byte {
			if h, err := isakmp.DecodeHeader(m); err == nil && h.ExchangeType == isakmp.ExchangeQuickMode && from == a {
				mids[h.MessageID] = true
			}
			return m
		}
		a.c.Start(n.now)
		n.runFor(10 * time.Minute)
		mustLog(t, a, "peer refused Quick Mode: NO-PROPOSAL-CHOSEN")
		if len(mids) != 1 || logged(a, "negotiating the child again") {
			t.Fatalf("a refused Quick Mode: A started %d, want 1 (no retry)", len(mids))
		}
	})
}
