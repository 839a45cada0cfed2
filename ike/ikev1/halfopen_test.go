package ikev1

import (
	"testing"
	"time"

	"oakley/ike/core"
	"oakley/ike/isakmp"
)

// TestSlowMainModeKeptByResponder: a Main Mode whose messages are lost until it has taken
// far longer than HalfOpenTimeout still completes, as long as the initiator keeps
// retransmitting within its schedule. Seen in TestReliability/chaos-ike at 30% loss: the
// responder forgot the half-open SA 30 s after MM1 while the initiator retransmitted MM3
// or MM5 for up to 165 s into an unknown cookie, gave up, and its retry met the same fate
// (the try was not up within 4 minutes; the responder counted invalid_cookie).
//
// mm4-and-mm5-lost, on the production schedule (4 s × 1.8^n, five retries: sends at 0,
// 4, 11.2, 24.2, 47.5 and 89.5 s, give-up at 165 s): MM4 is lost five times, so only the
// sixth MM3 (89.5 s) gets it; MM5 is lost five times, so the MM5 that arrives is sent 179 s after the first
// MM3. The responder must hold the SA because its initiator answered (MM3) and kept
// retransmitting: 30 s after MM1 is far too short, and even 165 s after the first MM3
// (without counting the retransmissions it heard since) ends before the last MM5.
//
// late-mm2: the initiator's first answer (MM2) is lost until late in the 30 s, then its
// MM3 twice; an entry not answered yet lives HalfOpenTimeout from the last MM1 heard.
//
// Negative control: a responder that got only MM1s (every MM2 lost, so the initiator never
// answered) forgets them HalfOpenTimeout after the last copy: only an initiator that
// proved its address buys the longer wait.
func TestSlowMainModeKeptByResponder(t *testing.T) {
	sched := core.Retransmit{Timeout: 4 * time.Second, Base: 1.8, Tries: 5}
	t.Run("mm4-and-mm5-lost", func(t *testing.T) {
		n, a, b := newPair(t, pairOpts{esp: []string{"aes128gcm16"}, retransmit: sched})
		sentAt := dropMainMode(n, a, map[int]int{4: 5, 5: 5})
		a.c.Start(n.now)
		b.c.Start(n.now)
		n.runUntil(func() bool { return childUp(a, "ab", "net") && childUp(b, "ba", "net") }, 5*time.Minute)
		if !childUp(a, "ab", "net") || !childUp(b, "ba", "net") {
			t.Fatalf("not up: Main Mode sends %v; a %v; b %v\n%s", sentAt, a.ctr.Snapshot(), b.ctr.Snapshot(), n.traceTail(20))
		}
		if a.ctr.Get(core.CtrIKEFailed) != 0 || b.ctr.Get(core.CtrHalfOpenExpired) != 0 || b.ctr.Get(core.CtrInvalidCookie) != 0 {
			t.Fatalf("ike_failed %d at a, half_open_expired %d and invalid_cookie %d at b", a.ctr.Get(core.CtrIKEFailed), b.ctr.Get(core.CtrHalfOpenExpired), b.ctr.Get(core.CtrInvalidCookie))
		}
		if got := sentAt[5]; len(got) != 6 || got[5]-sentAt[3][0] <= sched.Total() {
			t.Fatalf("MM3 sent at %v, MM5 at %v: want the sixth MM5 to arrive, more than %s after the first MM3 (the test's losses did not happen as planned)", sentAt[3], got, sched.Total())
		}
		if b.c.HalfOpenCount() != 0 {
			t.Fatalf("%d half-open entries left after the SA was established", b.c.HalfOpenCount())
		}
		t.Logf("up at %s; MM1 sent at %v, MM3 at %v, MM5 at %v", n.now.Sub(epoch).Round(100*time.Millisecond), sentAt[1], sentAt[3], sentAt[5])
	})

	// MM2 is lost until the fourth MM1 (24.2 s), then MM3 twice: the MM3 that arrives is
	// sent at 35.4 s. The entry is not answered yet, but it was heard at 24.2 s: 30 s from
	// the last MM1, not from the first.
	t.Run("late-mm2", func(t *testing.T) {
		n, a, b := newPair(t, pairOpts{esp: []string{"aes128gcm16"}, retransmit: sched})
		sentAt := dropMainMode(n, a, map[int]int{2: 3, 3: 2})
		a.c.Start(n.now)
		b.c.Start(n.now)
		n.runUntil(func() bool { return childUp(a, "ab", "net") && childUp(b, "ba", "net") }, 5*time.Minute)
		if a.ctr.Get(core.CtrIKEFailed) != 0 || b.ctr.Get(core.CtrHalfOpenExpired) != 0 || b.ctr.Get(core.CtrInvalidCookie) != 0 {
			t.Fatalf("ike_failed %d at a, half_open_expired %d and invalid_cookie %d at b", a.ctr.Get(core.CtrIKEFailed), b.ctr.Get(core.CtrHalfOpenExpired), b.ctr.Get(core.CtrInvalidCookie))
		}
		if mm3 := sentAt[3]; len(mm3) != 3 || mm3[2] <= core.HalfOpenTimeout {
			t.Fatalf("MM3 sent at %v: want the third to arrive, after %s (the test's losses did not happen as planned)", sentAt[3], core.HalfOpenTimeout)
		}
	})

	t.Run("negative-control-unanswered", func(t *testing.T) {
		n, a, b := newPair(t, pairOpts{esp: []string{"aes128gcm16"}, retransmit: sched})
		n.filter = func(from, to *node, m []byte) []byte {
			if h, err := isakmp.DecodeHeader(m); err == nil && h.ExchangeType == isakmp.ExchangeMainMode && from == b {
				return nil
			}
			return m
		}
		a.c.Start(n.now)
		b.c.Start(n.now)
		// MM1 at 0, 4, 11.2, 24.2, 47.5 and 89.5 s: each copy buys HalfOpenTimeout from
		// its arrival, so the entry lives until 77.5 s; the copy at 89.5 s admits a new one,
		// gone at 119.5 s. Never AnsweredTimeout (165 s).
		for _, c := range []struct {
			at       time.Duration
			entries  int
			expired  uint64
			expected string
		}{
			{54 * time.Second, 1, 0, "kept by the copy at 47.5 s"},
			{78 * time.Second, 0, 1, "expired 30 s after the copy at 47.5 s"},
			{90 * time.Second, 1, 1, "admitted again for the copy at 89.5 s"},
			{120 * time.Second, 0, 2, "expired 30 s after that"},
		} {
			n.runFor(epoch.Add(c.at).Sub(n.now))
			if b.c.HalfOpenCount() != c.entries || b.ctr.Get(core.CtrHalfOpenExpired) != c.expired {
				t.Fatalf("at %s: %d half-open entries, half_open_expired %d; want %d and %d (%s)", c.at, b.c.HalfOpenCount(), b.ctr.Get(core.CtrHalfOpenExpired), c.entries, c.expired, c.expected)
			}
		}
		if b.ctr.Get(core.CtrDuplicates) == 0 {
			t.Fatal("no retransmitted MM1 reached the responder")
		}
	})
}

// dropMainMode installs a filter on n that numbers Main Mode messages 1-6 (a sends 1, 3,
// 5; b answers the message a sent last, as the network has no delay), records when each
// was sent, and drops the first drops[k] of message k.
func dropMainMode(n *lnet, a *node, drops map[int]int) (sentAt map[int][]time.Duration) {
	sentAt = map[int][]time.Duration{}
	last := 0
	n.filter = func(from, to *node, m []byte) []byte {
		h, err := isakmp.DecodeHeader(m)
		if err != nil || h.ExchangeType != isakmp.ExchangeMainMode {
			return m
		}
		kind := last + 1
		if from == a {
			switch {
			case h.Flags.Has(isakmp.FlagEncryption):
				kind = 5
			case h.ResponderCookie.IsZero():
				kind = 1
			default:
				kind = 3
			}
			last = kind
		}
		sentAt[kind] = append(sentAt[kind], n.now.Sub(epoch).Round(100*time.Millisecond))
		if drops[kind] > 0 {
			drops[kind]--
			return nil
		}
		return m
	}
	return sentAt
}
