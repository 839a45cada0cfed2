package ikev2

import (
	"strings"
	"testing"
	"time"

	"oakley/crypto"
	"oakley/esp"
	"oakley/ike/core"
)

// refusal runs a negotiation that must fail and returns the network after it settled.
func refusal(t *testing.T, adjust func(a, b *core.Connection)) (*lnet, *node, *node) {
	t.Helper()
	a, b := pairConfig(t, []string{"aes128gcm16-prfsha256-ecp256"}, []string{"aes128gcm16"})
	adjust(a, b)
	n, x, y := pair(t, a, b)
	x.core.Start(n.now)
	n.runFor(20 * time.Second)
	return n, x, y
}

func connErr(nd *node, name string) string {
	for _, s := range nd.core.Status() {
		if s.Name == name {
			return s.LastError
		}
	}
	return ""
}

// Every refusal is a clear error on both sides, with its notification.
func TestRefusals(t *testing.T) {
	for _, tc := range []struct {
		name       string
		adjust     func(a, b *core.Connection)
		childOnly  bool   // the IKE SA comes up, the child fails
		aErr, bLog string // A's error (connection or child), a line B logs
		bCounter   string
	}{
		{name: "wrong-psk", adjust: func(a, _ *core.Connection) { a.PSK = crypto.Key("another pre-shared key, also long enough") },
			aErr: "AUTHENTICATION_FAILED", bLog: "pre-shared keys differ?", bCounter: core.CtrAuthFailures},
		{name: "no-ike-proposal", adjust: func(_, b *core.Connection) { b.Proposals = props(t, crypto.ProtoIKEv2, "aes256-sha512-modp3072") },
			aErr: "NO_PROPOSAL_CHOSEN", bLog: "no proposal chosen", bCounter: core.CtrNoProposal},
		{name: "unknown-identity", adjust: func(a, _ *core.Connection) { a.LocalID = core.FQDNIdentity("stranger.test") },
			aErr: "AUTHENTICATION_FAILED", bLog: "stranger.test", bCounter: core.CtrAuthFailures},
		{name: "idr-unknown", adjust: func(a, _ *core.Connection) { a.RemoteID = core.FQDNIdentity("c.test") },
			aErr: "AUTHENTICATION_FAILED", bLog: "no connection accepts", bCounter: core.CtrAuthFailures},
		{name: "responder-identity-refused", adjust: func(a, _ *core.Connection) { a.RemoteID = core.FQDNIdentity("*.other.test") },
			aErr: "we expect *.other.test", bLog: "peer refused the IKE SA", bCounter: core.CtrErrorNotifiesIn},
		{name: "ts-unacceptable", childOnly: true,
			adjust: func(_, b *core.Connection) { b.Children[0].RemoteTS = []esp.Selector{sel("203.0.113.0/24")} },
			aErr:   "TS_UNACCEPTABLE", bLog: "no child accepts", bCounter: core.CtrInvalidID},
		{name: "no-esp-proposal", childOnly: true,
			adjust: func(_, b *core.Connection) { b.Children[0].ESPProposals = props(t, crypto.ProtoESP, "aes256-sha512") },
			aErr:   "NO_PROPOSAL_CHOSEN", bLog: "CHILD_SA refused", bCounter: core.CtrNoProposal},
		{name: "transport-refused", childOnly: true,
			adjust: func(_, b *core.Connection) { b.Children[0].Mode = esp.Transport },
			aErr:   "TS_UNACCEPTABLE", bLog: "no child accepts", bCounter: core.CtrInvalidID},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, x, y := refusal(t, tc.adjust)
			if childUp(x, "ab", "net") || childUp(y, "ba", "net") {
				t.Fatal("a child came up")
			}
			got := connErr(x, "ab")
			if tc.childOnly {
				if currentSA(x, "ab") == nil || currentSA(y, "ba") == nil {
					t.Fatal("the IKE SA should stay up when only the child is refused")
				}
				got = unit(x, "ab", "net").LastError.Error()
			} else if len(x.p.SAs()) != 0 || len(y.p.SAs()) != 0 {
				t.Fatalf("IKE SAs left: A %d, B %d", len(x.p.SAs()), len(y.p.SAs()))
			}
			if !strings.Contains(got, tc.aErr) {
				t.Fatalf("A's error %q, want %q", got, tc.aErr)
			}
			if !logged(y, tc.bLog) {
				dumpLogs(t, y, 20)
				t.Fatalf("B did not log %q", tc.bLog)
			}
			if y.ctr.Get(tc.bCounter) == 0 {
				t.Fatalf("B's %s counter is 0", tc.bCounter)
			}
			if y.core.HalfOpenCount() != 0 {
				t.Fatal("B kept half-open state")
			}
		})
	}
}

// TestNoCandidate: a peer no connection accepts gets NO_PROPOSAL_CHOSEN, statelessly.
func TestNoCandidate(t *testing.T) {
	a, b := pairConfig(t, []string{"aes128gcm16-prfsha256-ecp256"}, []string{"aes128gcm16"})
	b.RemoteAddr = ipB // only itself
	_, x, y := func() (*lnet, *node, *node) {
		n, x, y := pair(t, a, b)
		x.core.Start(n.now)
		n.runFor(10 * time.Second)
		return n, x, y
	}()
	if !strings.Contains(connErr(x, "ab"), "NO_PROPOSAL_CHOSEN") || len(y.p.SAs()) != 0 || y.ctr.Get(core.CtrNoProposal) == 0 {
		t.Fatalf("A: %q; B SAs %d", connErr(x, "ab"), len(y.p.SAs()))
	}
}
