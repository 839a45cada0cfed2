package ikev2

import (
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net/netip"
	"testing"
	"time"

	"oakley/ike/core"
	"oakley/ike/ikev2/wire"
	"oakley/ike/pki"
)

// fragPath is a path that drops every datagram larger than one unfragmented IP datagram of
// fragDatagram bytes would carry (a router dropping IP fragments), and counts what passes.
type fragPath struct {
	skf, dropped int
	announced    map[*node]bool // which nodes announced IKEV2_FRAGMENTATION_SUPPORTED
	// drop, when set, may drop a datagram that would pass (retransmission tests).
	drop func(from *node, h wire.Header, m []byte) bool
}

func (fp *fragPath) filter(t *testing.T) func(from, to *node, m []byte) []byte {
	return func(from, to *node, m []byte) []byte {
		h, err := wire.DecodeHeader(m)
		if err != nil {
			return m
		}
		if h.Exchange == wire.ExchangeIKESAInit {
			if mm, _ := wire.DecodeMessage(m); mm != nil && hasNotify(&mm.Chain, wire.NotifyIKEv2FragmentationSupported) {
				if fp.announced == nil {
					fp.announced = map[*node]bool{}
				}
				fp.announced[from] = true
			}
		}
		if len(m) > fragLimit(netip.AddrPortFrom(to.ip, 500), false) {
			fp.dropped++
			return nil
		}
		if fp.drop != nil && fp.drop(from, h, m) {
			return nil
		}
		if h.NextPayload == wire.PayloadSKF {
			fp.skf++
		}
		return m
	}
}

// TestFragmentSending: an IKE_AUTH exchange with RSA certificates (both messages above the
// 1252 bytes an IPv4 datagram of 1280 carries) goes as SKF fragments in both directions
// through a path that drops oversized datagrams, and the peer reassembles them. Negative
// controls: with fragmentation = "no" on either side (nothing announced) or "accept" on the
// initiator (announced, never sent), the same path loses IKE_AUTH and nothing comes up.
func TestFragmentSending(t *testing.T) {
	ca := newTestCA(t, "oakley test CA")
	for _, tc := range []struct {
		name         string
		fragA, fragB string
		up           bool
		annA, annB   bool // who announces IKEV2_FRAGMENTATION_SUPPORTED
	}{
		{"yes", "", "", true, true, true},
		{"force-acts-as-yes", "force", "yes", true, true, true},
		{"initiator-no", "no", "", false, false, false},
		{"responder-no", "", "no", false, true, false},
		{"initiator-accept", "accept", "", false, true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, b := chainPair(t, ca)
			a.Fragmentation, b.Fragmentation = tc.fragA, tc.fragB
			n, x, y := pair(t, a, b)
			fp := &fragPath{}
			n.filter = fp.filter(t)
			x.core.Start(n.now)
			if tc.up {
				n.runUntil(func() bool { return childUp(x, "ab", "net") && childUp(y, "ba", "net") }, time.Minute)
				if x.ctr.Get(core.CtrFragmentsOut) < 2 || y.ctr.Get(core.CtrFragmentsOut) < 2 {
					t.Fatalf("fragments out: A %d, B %d", x.ctr.Get(core.CtrFragmentsOut), y.ctr.Get(core.CtrFragmentsOut))
				}
				if x.ctr.Get(core.CtrFragmentsReassembled) != 1 || y.ctr.Get(core.CtrFragmentsReassembled) != 1 {
					t.Fatalf("reassembled: A %d, B %d", x.ctr.Get(core.CtrFragmentsReassembled), y.ctr.Get(core.CtrFragmentsReassembled))
				}
				if fp.dropped != 0 || fp.skf == 0 {
					t.Fatalf("%d datagrams too large, %d SKF", fp.dropped, fp.skf)
				}
				if st := currentSA(y, "ba").reasm.Stats(); st.Completed != 1 {
					t.Fatalf("B reassembled %+v", st)
				}
				if st := currentSA(x, "ab").reasm.Stats(); st.Completed != 1 {
					t.Fatalf("A reassembled %+v", st)
				}
			} else {
				n.runFor(40 * time.Second)
				if childUp(x, "ab", "net") || childUp(y, "ba", "net") {
					t.Fatal("came up")
				}
				if fp.skf != 0 || fp.dropped == 0 {
					t.Fatalf("%d SKF sent, %d dropped", fp.skf, fp.dropped)
				}
			}
			if fp.announced[x] != tc.annA || fp.announced[y] != tc.annB {
				t.Fatalf("announced: A %v, B %v; want %v, %v", fp.announced[x], fp.announced[y], tc.annA, tc.annB)
			}
		})
	}
}

// TestFragmentRetransmission: a lost fragment of the IKE_AUTH request makes the initiator
// resend all its fragments; a lost fragment of the response makes it retransmit again, and
// the responder answers from its reply cache with every fragment of the response.
func TestFragmentRetransmission(t *testing.T) {
	ca := newTestCA(t, "oakley test CA")
	a, b := chainPair(t, ca)
	n, x, y := pair(t, a, b)
	var reqSent, respSent int
	fp := &fragPath{drop: func(from *node, h wire.Header, m []byte) bool {
		if h.Exchange != wire.ExchangeIKEAuth || h.NextPayload != wire.PayloadSKF {
			return false
		}
		if from == x {
			reqSent++
			return reqSent == 2 // fragment 2 of the first transmission
		}
		respSent++
		return respSent == 1 // fragment 1 of the first response
	}}
	n.filter = fp.filter(t)
	x.core.Start(n.now)
	n.runUntil(func() bool { return childUp(x, "ab", "net") && childUp(y, "ba", "net") }, time.Minute)
	frags := int(x.ctr.Get(core.CtrFragmentsOut))
	if x.ctr.Get(core.CtrRetransmits) != 2 {
		t.Fatalf("A retransmitted %d times, want 2", x.ctr.Get(core.CtrRetransmits))
	}
	// Three transmissions of the whole request, two of the response (the second from the
	// cache), each in every fragment.
	perReq := frags / 3
	if perReq < 2 || frags != 3*perReq || reqSent != frags {
		t.Fatalf("A sent %d fragments (%d through the path)", frags, reqSent)
	}
	perResp := int(y.ctr.Get(core.CtrFragmentsOut)) / 2
	if perResp < 2 || int(y.ctr.Get(core.CtrFragmentsOut)) != 2*perResp || respSent != 2*perResp {
		t.Fatalf("B sent %d fragments (%d through the path)", y.ctr.Get(core.CtrFragmentsOut), respSent)
	}
	if y.ctr.Get(core.CtrDuplicates) == 0 {
		t.Fatal("B did not answer from its reply cache")
	}
	if st := currentSA(y, "ba").reasm.Stats(); st.Completed != 1 {
		t.Fatalf("B reassembled %+v", st)
	}
}

// chainPair configures A and B with RSA certificates under an RSA intermediate of ca (sent
// with the end entity: about 2 KB of CERT payloads in each IKE_AUTH message).
func chainPair(t *testing.T, ca *testCA) (a, b *core.Connection) {
	t.Helper()
	a, b = certPair(t, ca, "rsa", "rsa")
	ik := testKey(t, "rsa", 1)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(10), Subject: pkix.Name{CommonName: "oakley test intermediate", Organization: []string{"oakley test"}},
		NotBefore: epoch.Add(-24 * time.Hour), NotAfter: epoch.Add(365 * 24 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, ik.Public(), ca.key)
	if err != nil {
		t.Fatal(err)
	}
	inter, _ := x509.ParseCertificate(der)
	sub := &testCA{cert: inter, key: ik}
	for i, c := range []*core.Connection{a, b} {
		leaf := sub.issue(t, []string{"a.test", "b.test"}[i], "rsa", int64(20+i))
		cr, err := pki.NewCredentials([]*x509.Certificate{leaf.Leaf(), inter}, leaf.Signer())
		if err != nil {
			t.Fatal(err)
		}
		c.Creds = cr.WithCAs([]*x509.Certificate{ca.cert})
		c.SendCert = pki.SendCertAlways
	}
	return a, b
}
