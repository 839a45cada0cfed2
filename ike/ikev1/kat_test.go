package ikev1

// Known answers for every RFC 2409 derivation, from real strongSwan sessions: SKEYID,
// SKEYID_d/a/e, Ka (Appendix B), the Phase 1 IV and its chain, HASH_I / HASH_R, NAT-D,
// the Phase 2 IVs, Quick Mode HASH(1..3), Informational HASH(1) and the KEYMAT of both SAs
// (with and without PFS), each recomputed with this package's functions from the recorded
// datagrams and compared with what charon logged. Every encrypted message is decrypted and
// decoded by our code along the way.

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"net/netip"
	"testing"

	"oakley/ike/isakmp"
)

func eq(t *testing.T, what string, got, want []byte) {
	t.Helper()
	if !bytes.Equal(got, want) {
		t.Fatalf("%s:\n got %x\nwant %x", what, got, want)
	}
}

func TestRecordedKnownAnswers(t *testing.T) {
	for _, name := range recordingNames {
		t.Run(name, func(t *testing.T) { checkRecording(t, loadRecording(t, name)) })
	}
}

func checkRecording(t *testing.T, r *recording) {
	p := r.phase1(t)
	prf := p.prf
	gxy := r.val(t, "i", "shared_Diffie_Hellman_secret", 0)
	eq(t, "g^xy (both sides)", r.val(t, "r", "shared_Diffie_Hellman_secret", 0), gxy)

	// RFC 2409 §5: SKEYID and its family.
	skeyid := skeyidPSK(prf, []byte(recordedPSK), p.ni, p.nr)
	eq(t, "SKEYID", skeyid, r.val(t, "i", "SKEYID", 0))
	d, a, e := skeyidFamily(prf, skeyid, gxy, p.ckyI, p.ckyR)
	eq(t, "SKEYID_d", d, r.val(t, "i", "SKEYID_d", 0))
	eq(t, "SKEYID_a", a, r.val(t, "i", "SKEYID_a", 0))
	eq(t, "SKEYID_e", e, r.val(t, "i", "SKEYID_e", 0))
	// Appendix B: Ka (expanded for 3DES over SHA-1) and the Phase 1 IV.
	ka := encryptionKey(prf, e, p.tr.enc.KeyLen())
	eq(t, "Ka", ka, r.val(t, "i", "encryption_key_Ka", 0))
	ciph, err := newIKECipher(p.tr.enc, ka)
	if err != nil {
		t.Fatal(err)
	}
	iv := phase1IV(p.tr.hash.Hash, p.gxi, p.gxr, ciph.bs)
	eq(t, "initial IV", iv, r.val(t, "i", "initial_IV", 0))

	// The encrypted Phase 1 messages, the IV chain, HASH_I and HASH_R.
	var idiiB, idirB, hashIWire, hashRWire []byte
	if r.aggressive() {
		am1, am2 := r.msg(t, "AM1").msg, r.msg(t, "AM2").msg
		_, i := mustPayload[*isakmp.Identification](t, &am1.Chain)
		idiiB = am1.Chain.Body(i)
		_, i = mustPayload[*isakmp.Identification](t, &am2.Chain)
		idirB = am2.Chain.Body(i)
		h, _ := mustPayload[*isakmp.Hash](t, &am2.Chain)
		hashRWire = h.Data
		c, next := decryptRecorded(t, ciph, iv, r.msg(t, "AM3").msg)
		h, _ = mustPayload[*isakmp.Hash](t, c)
		hashIWire = h.Data
		iv = next
		eq(t, "IV after AM3", iv, r.val(t, "i", "IV_0", 0))
		checkNATD(t, p, r.msg(t, "AM2").msg.Chain, netip.MustParseAddrPort("198.18.0.1:500"))
		checkNATD(t, p, *c, netip.MustParseAddrPort("198.18.0.2:4500"))
	} else {
		c5, next := decryptRecorded(t, ciph, iv, r.msg(t, "MM5").msg)
		eq(t, "IV after MM5", next, r.val(t, "i", "IV_0", 0))
		c6, next6 := decryptRecorded(t, ciph, next, r.msg(t, "MM6").msg)
		eq(t, "IV after MM6", next6, r.val(t, "i", "IV_0", 1))
		iv = next6
		_, i := mustPayload[*isakmp.Identification](t, c5)
		idiiB = c5.Body(i)
		h, _ := mustPayload[*isakmp.Hash](t, c5)
		hashIWire = h.Data
		_, i = mustPayload[*isakmp.Identification](t, c6)
		idirB = c6.Body(i)
		h, _ = mustPayload[*isakmp.Hash](t, c6)
		hashRWire = h.Data
		checkNATD(t, p, r.msg(t, "MM3").msg.Chain, netip.MustParseAddrPort("198.18.0.2:500"))
		checkNATD(t, p, r.msg(t, "MM4").msg.Chain, netip.MustParseAddrPort("198.18.0.1:500"))
	}
	hi := hashI(prf, skeyid, p.gxi, p.gxr, p.ckyI, p.ckyR, p.saiB, idiiB)
	eq(t, "HASH_I", hi, r.val(t, "i", "HASH_I", 0))
	eq(t, "HASH_I on the wire", hashIWire, hi)
	hr := hashR(prf, skeyid, p.gxi, p.gxr, p.ckyI, p.ckyR, p.saiB, idirB)
	eq(t, "HASH_R", hr, r.val(t, "i", "HASH_R", 0))
	eq(t, "HASH_R on the wire", hashRWire, hr)
	lastP1 := iv

	// Quick Mode: Phase 2 IV chain, HASH(1..3), KEYMAT of both SAs.
	qms := r.quickModes()
	if len(qms) != 3 {
		t.Fatalf("%d Quick Mode messages", len(qms))
	}
	mid := qms[0].msg.Header.MessageID
	ivName := fmt.Sprintf("IV_%d", mid)
	qiv := phase2IV(p.tr.hash.Hash, lastP1, mid, ciph.bs)
	eq(t, "Quick Mode IV", qiv, r.val(t, "i", ivName, 0))
	c1, qiv := decryptRecorded(t, ciph, qiv, qms[0].msg)
	eq(t, "IV after QM1", qiv, r.val(t, "i", ivName, 1))
	c2, qiv := decryptRecorded(t, ciph, qiv, qms[1].msg)
	eq(t, "IV after QM2", qiv, r.val(t, "i", ivName, 2))
	c3, qiv := decryptRecorded(t, ciph, qiv, qms[2].msg)
	eq(t, "IV after QM3", qiv, r.val(t, "i", ivName, 3))
	niB, _ := mustPayload[*isakmp.Nonce](t, c1)
	nrB, _ := mustPayload[*isakmp.Nonce](t, c2)
	h1 := quickModeHash1(prf, a, mid, c1.Bytes[c1.Spans[0].End:])
	eq(t, "HASH(1)", h1, r.val(t, "i", "Hash(1)", 0))
	eq(t, "HASH(1) on the wire", c1.Payloads[0].(*isakmp.Hash).Data, h1)
	h2 := quickModeHash2(prf, a, mid, niB.Data, c2.Bytes[c2.Spans[0].End:])
	eq(t, "HASH(2)", h2, r.val(t, "r", "Hash(2)", 0))
	eq(t, "HASH(2) on the wire", c2.Payloads[0].(*isakmp.Hash).Data, h2)
	h3 := quickModeHash3(prf, a, mid, niB.Data, nrB.Data)
	eq(t, "HASH(3)", h3, r.val(t, "i", "Hash(3)", 0))
	eq(t, "HASH(3) on the wire", c3.Payloads[0].(*isakmp.Hash).Data, h3)

	sa1, _ := mustPayload[*isakmp.SA](t, c1)
	sa2, _ := mustPayload[*isakmp.SA](t, c2)
	spiI, spiR := be32u(sa1.Proposals[0].SPI), be32u(sa2.Proposals[0].SPI)
	tr, err := parseP2Transform(sa2.Proposals[0].ProtocolID, &sa2.Proposals[0].Transforms[0])
	if err != nil {
		t.Fatal(err)
	}
	var gqm []byte
	if tr.group != nil {
		gqm = r.val(t, "i", "DH_secret", 0)
		eq(t, "g(qm)^xy (both sides)", r.val(t, "r", "DH_secret", 0), gqm)
	}
	el, il := keyLengths(tr)
	// strongSwan's "initiator" keys protect initiator -> responder: the SA whose SPI the
	// responder chose.
	kmR := keymat(prf, d, gqm, isakmp.ProtoESP, spiR, niB.Data, nrB.Data, el+il)
	eq(t, "KEYMAT encryption (SPI "+hex.EncodeToString(be32(spiR))+")", kmR[:el], r.val(t, "i", "encryption_initiator_key", 0))
	kmI := keymat(prf, d, gqm, isakmp.ProtoESP, spiI, niB.Data, nrB.Data, el+il)
	eq(t, "KEYMAT encryption (SPI "+hex.EncodeToString(be32(spiI))+")", kmI[:el], r.val(t, "i", "encryption_responder_key", 0))
	if il > 0 {
		eq(t, "KEYMAT integrity (initiator)", kmR[el:], r.val(t, "i", "integrity_initiator_key", 0))
		eq(t, "KEYMAT integrity (responder)", kmI[el:], r.val(t, "i", "integrity_responder_key", 0))
	}
	if tr.enc.AEAD && el != tr.enc.KeyBits/8+4 {
		t.Fatalf("AES-GCM KEYMAT of %d bytes lacks the RFC 4106 salt", el)
	}

	// Informational exchanges: a fresh IV per message, HASH(1) over N/D.
	for _, m := range r.informationals() {
		mid := m.msg.Header.MessageID
		iv := phase2IV(p.tr.hash.Hash, lastP1, mid, ciph.bs)
		eq(t, m.label+" IV", iv, r.val(t, m.from, fmt.Sprintf("IV_%d", mid), 0))
		c, _ := decryptRecorded(t, ciph, iv, m.msg)
		h := quickModeHash1(prf, a, mid, c.Bytes[c.Spans[0].End:])
		eq(t, m.label+" HASH(1) on the wire", c.Payloads[0].(*isakmp.Hash).Data, h)
		found := false
		for _, v := range r.vals[m.from+" Hash"] {
			found = found || bytes.Equal(v, h)
		}
		if !found {
			t.Fatalf("%s: HASH(1) %x not among the values charon logged", m.label, h)
		}
	}
}

// decryptRecorded decrypts and decodes one recorded encrypted message.
func decryptRecorded(t *testing.T, c *ikeCipher, iv []byte, m *isakmp.Message) (*isakmp.Chain, []byte) {
	t.Helper()
	plain, next, err := c.decrypt(iv, m.Encrypted)
	if err != nil {
		t.Fatal(err)
	}
	chain, err := isakmp.DecodePayloads(m.Header.NextPayload, plain, isakmp.DecodeOptions{AllowPadding: true})
	if err != nil {
		t.Fatalf("decoding decrypted %s: %v", m.Header.ExchangeType, err)
	}
	if len(chain.Padding) == 0 || len(chain.Padding) > c.bs {
		t.Fatalf("%d bytes of padding", len(chain.Padding))
	}
	return chain, next
}

// checkNATD verifies the destination NAT-D hash (RFC 3947 §3.2; strongSwan fakes the
// source one, so only the first can be recomputed).
func checkNATD(t *testing.T, p recordedP1, c isakmp.Chain, dst netip.AddrPort) {
	t.Helper()
	n, _ := mustPayload[*isakmp.NATDiscovery](t, &c)
	eq(t, "NAT-D of "+dst.String(), n.Hash, natDiscoveryHash(p.tr.hash.Hash, p.ckyI, p.ckyR, dst))
}
