package ikev1

// Public-key encryption (RFC 2409 §5.2 method 4, §5.3 method 5) between two engines in
// memory, in Main Mode and Aggressive Mode; the identity checks after HASH; and the
// property the modes need to be safe at all: a responder answers a ciphertext with invalid
// PKCS#1 padding exactly as one with valid padding and unknown content (the same messages
// of the same lengths, the same notification, the same log lines).

import (
	"crypto/rand"
	"crypto/rsa"
	"fmt"
	"strings"
	"testing"
	"time"

	"oakley/ike/core"
	"oakley/ike/core/coretest"
	"oakley/ike/isakmp"
	"oakley/ike/pki"
)

// pkePair builds a pair with public-key encryption: RSA certificates under one PKI, each
// side pinning the other's certificate (revisedCA: the responder trusts the CA instead and
// learns the initiator's key from its encrypted certificate).
func pkePair(t *testing.T, auth string, aggressive, revisedCA bool, adjust func(p *testPKI, a, b *core.Connection)) (*lnet, *node, *node) {
	t.Helper()
	p := newTestPKI(t, "rsa2048")
	n, a, b := newPair(t, pairOpts{aggressive: aggressive, insecure: true, tweak: func(a, b *core.Connection) {
		ea, eb := useCerts(t, p, "rsa2048", a, b)
		a.Auth, b.Auth = auth, auth
		a.Trust = pinnedTrust(t, eb.cert)
		b.Trust = pinnedTrust(t, ea.cert)
		if revisedCA {
			b.Trust = p.trust(t, nil)
		}
		if adjust != nil {
			adjust(p, a, b)
		}
	}})
	return n, a, b
}

func TestPublicKeyEncryption(t *testing.T) {
	cases := []struct {
		auth       string
		aggressive bool
		revisedCA  bool
		want       isakmp.AuthMethod
	}{
		{"pke", false, false, isakmp.AuthRSAEncRevised},
		{"pke-original", false, false, isakmp.AuthRSAEnc},
		{"pke-revised", false, true, isakmp.AuthRSAEncRevised},
		{"pke-original", true, false, isakmp.AuthRSAEnc},
		{"pke-revised", true, false, isakmp.AuthRSAEncRevised},
		{"pke-revised", true, true, isakmp.AuthRSAEncRevised},
	}
	for _, tc := range cases {
		name := fmt.Sprintf("%s-%s-ca=%v", tc.auth, map[bool]string{false: "main", true: "aggressive"}[tc.aggressive], tc.revisedCA)
		t.Run(name, func(t *testing.T) {
			n, a, b := pkePair(t, tc.auth, tc.aggressive, tc.revisedCA, nil)
			establish(t, n, a, b)
			sa, sb := currentSA(a.c, "ab"), currentSA(b.c, "ba")
			if sa.tr.auth != tc.want || sb.tr.auth != tc.want {
				t.Fatalf("negotiated %s/%s, want %s", sa.tr.auth, sb.tr.auth, tc.want)
			}
			if idOfPayload(sb.peerID) != "a.test" || idOfPayload(sa.peerID) != "b.test" {
				t.Fatalf("identities %q / %q", idOfPayload(sb.peerID), idOfPayload(sa.peerID))
			}
			if sa.Status().PeerCert == nil || sb.Status().PeerCert == nil {
				t.Fatal("no peer certificate in status")
			}
		})
	}
}

// TestPublicKeyEncryptionRefusals: a wrong pinned key and an identity the responder does
// not expect fail with AUTHENTICATION-FAILED / INVALID-ID-INFORMATION and no SA.
func TestPublicKeyEncryptionRefusals(t *testing.T) {
	t.Run("responder-pins-another-key", func(t *testing.T) {
		n, a, b := pkePair(t, "pke-original", false, false, func(p *testPKI, a, b *core.Connection) {
			other := p.endEntity(t, certSpec{cn: "a.test", dns: []string{"a.test"}, keyKind: "rsa2048#other"})
			b.Trust = pinnedTrust(t, other.cert)
		})
		certFailure(t, n, a, b, []string{"authentication failed"}, []string{"authentication failed", "public-key encryption"})
	})
	t.Run("unexpected-identity", func(t *testing.T) {
		n, a, b := pkePair(t, "pke", false, false, func(p *testPKI, a, b *core.Connection) {
			b.RemoteID = core.FQDNIdentity("someone.test")
		})
		certFailure(t, n, a, b, []string{"authentication failed"}, []string{"authentication failed", "public-key encryption"})
	})
	t.Run("id-not-in-certificate", func(t *testing.T) {
		n, a, b := pkePair(t, "pke", false, false, func(p *testPKI, a, b *core.Connection) {
			a.LocalID = core.FQDNIdentity("c.test")
			b.RemoteID = core.AnyIdentity
		})
		certFailure(t, n, a, b, []string{"peer sent AUTHENTICATION-FAILED"}, []string{"c.test", "is not in the peer's certificate"})
	})
	t.Run("needs-opt-in", func(t *testing.T) {
		_, cb := pairConfig(t, []string{"aes256-sha256-modp2048"}, []string{"aes256-sha256"})
		p := newTestPKI(t, "rsa2048")
		useCerts(t, p, "rsa2048", cb, cb)
		cb.Auth, cb.Trust = "pke", pinnedTrust(t, cb.Creds.Leaf())
		cb.InsecureAlgorithms = false
		_, err := newTestCore(core.Config{Connections: []*core.Connection{cb}, Dataplane: coretest.NewFakeDP()}, core.NewCounters())
		if err == nil || !strings.Contains(err.Error(), "needs insecure_algorithms") {
			t.Fatalf("auth = pke without insecure_algorithms: %v", err)
		}
		// The control: with the opt-in the same connection is accepted.
		cb.InsecureAlgorithms = true
		if _, err := newTestCore(core.Config{Connections: []*core.Connection{cb}, Dataplane: coretest.NewFakeDP()}, core.NewCounters()); err != nil {
			t.Fatalf("auth = pke with insecure_algorithms refused: %v", err)
		}
	})
}

// observedRun records what a responder sends and logs (at info and above) for one attempt
// whose MM3 nonce ciphertext tamper replaces.
type observedRun struct {
	sent []string // exchange, flags, length of each datagram B sent
	logs []string // level and message of B's info+ lines
	ctr  map[string]uint64
}

func runTampered(t *testing.T, tamper func(pub *rsa.PublicKey, ct []byte) []byte) observedRun {
	t.Helper()
	n, a, b := pkePair(t, "pke-original", false, false, nil)
	var run observedRun
	pub := b.conns[0].Creds.Leaf().PublicKey.(*rsa.PublicKey)
	n.filter = func(from, to *node, m []byte) []byte {
		msg, err := isakmp.DecodeMessage(m)
		if err != nil {
			return m
		}
		if from == b {
			run.sent = append(run.sent, fmt.Sprintf("%s/%s/%d/%d", msg.Header.ExchangeType, msg.Header.Flags, len(m), len(msg.Payloads)))
			return m
		}
		if msg.Header.ExchangeType != isakmp.ExchangeMainMode || msg.Header.Flags.Has(isakmp.FlagEncryption) || msg.Chain.Index(isakmp.PayloadNonce) < 0 {
			return m
		}
		np := msg.Payloads[msg.Chain.Index(isakmp.PayloadNonce)].(*isakmp.Nonce)
		np.Data = tamper(pub, np.Data)
		out, err := isakmp.EncodeMessage(msg.Header, msg.Payloads)
		if err != nil {
			t.Fatal(err)
		}
		return out.Raw
	}
	a.c.Start(n.now)
	n.runFor(3 * time.Second) // one attempt: MM1..MM5 and the refusal
	noSA(t, a)
	noSA(t, b)
	for _, e := range b.logs.All() {
		if e.Level >= 0 { // info and above
			run.logs = append(run.logs, e.Level.String()+" "+e.Message)
		}
	}
	run.ctr = b.ctr.Snapshot()
	return run
}

// TestPublicKeyEncryptionNoOracle: invalid padding, valid padding with random content, and a
// ciphertext of the wrong length get the same treatment from the responder.
func TestPublicKeyEncryptionNoOracle(t *testing.T) {
	runs := map[string]observedRun{
		"invalid-padding": runTampered(t, func(pub *rsa.PublicKey, ct []byte) []byte {
			bad := make([]byte, len(ct))
			rand.Read(bad)
			bad[0] = 0 // below the modulus, and (with overwhelming probability) not 00 02 ...
			bad[1] = 0x55
			return bad
		}),
		"valid-padding-unknown-content": runTampered(t, func(pub *rsa.PublicKey, ct []byte) []byte {
			junk := make([]byte, 32)
			rand.Read(junk)
			out, err := rsa.EncryptPKCS1v15(rand.Reader, pub, junk)
			if err != nil {
				t.Fatal(err)
			}
			return out
		}),
		"valid-padding-odd-length": runTampered(t, func(pub *rsa.PublicKey, ct []byte) []byte {
			out, _ := rsa.EncryptPKCS1v15(rand.Reader, pub, []byte{1, 2, 3})
			return out
		}),
	}
	ref := runs["invalid-padding"]
	if len(ref.sent) < 3 {
		t.Fatalf("the responder sent only %v", ref.sent)
	}
	for name, r := range runs {
		if fmt.Sprint(r.sent) != fmt.Sprint(ref.sent) {
			t.Errorf("%s: the responder sent %v, with invalid padding %v", name, r.sent, ref.sent)
		}
		if fmt.Sprint(r.logs) != fmt.Sprint(ref.logs) {
			t.Errorf("%s: the responder logged %q, with invalid padding %q", name, r.logs, ref.logs)
		}
		for _, c := range []string{core.CtrAuthFailures, core.CtrMalformed, core.CtrDecryptFailures, core.CtrInvalidID, core.CtrErrorNotifiesOut} {
			if r.ctr[c] != ref.ctr[c] {
				t.Errorf("%s: counter %s = %d, with invalid padding %d", name, c, r.ctr[c], ref.ctr[c])
			}
		}
	}
	if ref.ctr[core.CtrAuthFailures] == 0 {
		t.Fatal("the tampered exchange did not fail with an authentication failure")
	}
	t.Logf("responder's answers: %v; log: %q", ref.sent, ref.logs)
}

var _ = pki.SendCertNever
