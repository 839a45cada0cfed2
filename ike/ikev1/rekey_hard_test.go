package ikev1

import (
	"testing"
	"time"

	"oakley/esp"
	"oakley/ike/isakmp"
)

// TestRekeyCompletesAfterHardLimit: the old pair reaches its hard byte limit while our rekey
// is still in flight (its Quick Mode message 2 was lost, so it waits for a retransmission).
// When the rekey completes, no pair sends any more: the new outbound SA must carry traffic at
// once, not after outboundSwitchDelay (seen against strongSwan under load: a second more of
// outage after every late rekey).
func TestRekeyCompletesAfterHardLimit(t *testing.T) {
	n, a, b := newPair(t, pairOpts{esp: []string{"aes128gcm16"}})
	old, _ := establish(t, n, a, b)
	pol := a.policy("ab", "net")
	lost := false
	n.filter = func(from, to *node, m []byte) []byte {
		if h, err := isakmp.DecodeHeader(m); err == nil && from == b && h.ExchangeType == isakmp.ExchangeQuickMode && !lost {
			lost = true
			return nil
		}
		return m
	}
	a.softExpire(old)
	n.runUntil(func() bool { return lost }, time.Minute)
	// The hard limit, before the retransmission.
	a.events = append(a.events, esp.SAEvent{Kind: esp.EventHard, SA: outOf(old)})
	n.step()
	if old.Alive() || pol.Binding() != nil {
		t.Fatalf("after the hard limit: old pair alive %v, binding %v", old.Alive(), pol.Binding())
	}
	ch := a.unit("ab", "net")
	n.runUntil(func() bool { return ch.Newest() != nil }, time.Minute)
	at := n.now
	if bd := pol.Binding(); bd == nil || bd.SA != outOf(ch.Newest()) {
		t.Fatalf("the rekey completed at %s with no pair sending, but the new outbound SA is not in use (binding %v)", at.Sub(epoch), bd)
	}
}
