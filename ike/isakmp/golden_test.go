package isakmp

// Golden decodes of real strongSwan 5.9.8 messages (testdata/strongswan-*.hex, captured
// with the interop harness, see testdata/README). Besides the decoded fields, these tests
// check that the bytes the decoder exposes are the ones IKE hashes, using values from
// the same session's charon log: HASH_I/HASH_R input data (RFC 2409 §5), Quick Mode
// HASH(1..3) (§5.5) and Informational HASH(1) (§5.7) recomputed with SKEYID_a, and the
// encrypted body of MM5 decrypted with Ka and the initial IV (Appendix B).

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/binary"
	"encoding/hex"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

type golden struct {
	msgs  map[string]*Message
	order []string
	plain map[string]*Chain
	mids  map[string]uint32
}

func loadGolden(t *testing.T, name string) *golden {
	t.Helper()
	g := &golden{msgs: map[string]*Message{}, plain: map[string]*Chain{}, mids: map[string]uint32{}}
	for _, v := range loadVectors(t, "strongswan-"+name+".hex") {
		m, err := DecodeMessage(v.data)
		if err != nil {
			t.Fatalf("%s %s: %v", name, v.label, err)
		}
		g.msgs[v.label] = m
		g.order = append(g.order, v.label)
	}
	for _, v := range loadVectors(t, "strongswan-"+name+"-plain.hex") {
		c, err := DecodePayloads(v.first, v.data, DecodeOptions{AllowPadding: true})
		if err != nil {
			t.Fatalf("%s %s: %v", name, v.label, err)
		}
		if len(c.Padding) == 0 || len(c.Padding) > aes.BlockSize || (len(c.Bytes)+len(c.Padding))%aes.BlockSize != 0 {
			t.Fatalf("%s %s: %d bytes of payloads and %d of padding", name, v.label, len(c.Bytes), len(c.Padding))
		}
		g.plain[v.label] = c
		g.mids[v.label] = v.messageID
	}
	return g
}

func (g *golden) msg(t *testing.T, label string, want ...PayloadType) *Message {
	t.Helper()
	m := g.msgs[label]
	if m == nil {
		t.Fatalf("no message %s", label)
	}
	if got := payloadTypes(m.Payloads); !slices.Equal(got, want) {
		t.Fatalf("%s: payloads %v, want %v", label, got, want)
	}
	return m
}

func (g *golden) chain(t *testing.T, label string, want ...PayloadType) *Chain {
	t.Helper()
	c := g.plain[label]
	if c == nil {
		t.Fatalf("no chain %s", label)
	}
	if got := payloadTypes(c.Payloads); !slices.Equal(got, want) {
		t.Fatalf("%s: payloads %v, want %v", label, got, want)
	}
	return c
}

func loadKeys(t *testing.T) map[string][]byte {
	b, err := os.ReadFile(filepath.Join("testdata", "strongswan-main-psk-keys.txt"))
	if err != nil {
		t.Fatal(err)
	}
	keys := map[string][]byte{}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) == 2 && !strings.HasPrefix(line, "#") {
			if keys[f[0]], err = hex.DecodeString(f[1]); err != nil {
				t.Fatal(err)
			}
		}
	}
	return keys
}

func prf(key []byte, parts ...[]byte) []byte {
	h := hmac.New(sha256.New, key)
	for _, p := range parts {
		h.Write(p)
	}
	return h.Sum(nil)
}

func be32(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }

// strongSwan's Phase 1 proposal for aes256-sha256-modp2048 (RFC 2409 Appendix A classes).
func strongSwanPhase1Attrs(auth AuthMethod) []Attribute {
	return []Attribute{
		TV(ClassEncryptionAlgorithm, 7), TV(ClassKeyLength, 256), TV(ClassHashAlgorithm, 4),
		TV(ClassGroupDescription, 14), TV(ClassAuthenticationMethod, uint16(auth)),
		TV(ClassLifeType, LifeTypeSeconds), TV(ClassLifeDuration, 15840),
	}
}

func checkPhase1SA(t *testing.T, p Payload, auth AuthMethod) *SA {
	t.Helper()
	sa := p.(*SA)
	if sa.DOI != DOIIPsec || sa.Situation != SituationIdentityOnly || len(sa.Proposals) != 1 {
		t.Fatalf("SA %+v", sa)
	}
	pr := sa.Proposals[0]
	if pr.Number != 1 || pr.ProtocolID != ProtoISAKMP || len(pr.SPI) != 0 || len(pr.Transforms) != 1 {
		t.Fatalf("proposal %+v", pr)
	}
	tr := pr.Transforms[0]
	if tr.Number != 1 || tr.ID != TransformKeyIKE || !reflect.DeepEqual(tr.Attributes, strongSwanPhase1Attrs(auth)) {
		t.Fatalf("transform %d id %d attributes %v", tr.Number, tr.ID, tr.Attributes)
	}
	a, ok := tr.Attr(ClassAuthenticationMethod)
	if v, err := a.Uint(); !ok || err != nil || AuthMethod(v) != auth {
		t.Fatalf("auth method %v %v", a, err)
	}
	return sa
}

func checkQuickModeSA(t *testing.T, p Payload, pfsGroup uint16) []byte {
	t.Helper()
	sa := p.(*SA)
	if sa.DOI != DOIIPsec || sa.Situation != SituationIdentityOnly || len(sa.Proposals) != 1 {
		t.Fatalf("SA %+v", sa)
	}
	pr := sa.Proposals[0]
	if pr.ProtocolID != ProtoESP || len(pr.SPI) != 4 || len(pr.Transforms) != 1 || pr.Transforms[0].ID != 12 /* ESP_AES */ {
		t.Fatalf("proposal %+v", pr)
	}
	want := map[AttributeType]uint64{
		AttrKeyLength: 256, AttrAuthenticationAlgorithm: 5, AttrEncapsulationMode: uint64(EncapUDPTunnel),
		AttrSALifeType: uint64(LifeTypeSeconds), AttrSALifeDuration: 3960,
	}
	if pfsGroup != 0 {
		want[AttrGroupDescription] = uint64(pfsGroup)
	}
	tr := pr.Transforms[0]
	if len(tr.Attributes) != len(want) {
		t.Fatalf("attributes %v", tr.Attributes)
	}
	for typ, v := range want {
		a, ok := tr.Attr(typ)
		if got, err := a.Uint(); !ok || !a.TV || err != nil || got != v {
			t.Fatalf("attribute %d = %v (%v), want %d", typ, a, err, v)
		}
	}
	return pr.SPI
}

func checkQuickModeIDs(t *testing.T, c *Chain, i int) {
	t.Helper()
	for k, want := range []string{"192.0.2.1", "198.51.100.1"} {
		id := c.Payloads[i+k].(*Identification)
		a, err := id.Addr()
		if err != nil || a != netip.MustParseAddr(want) || id.ProtocolID != 0 || id.Port != 0 {
			t.Fatalf("ID %d: %v %v", k, a, err)
		}
	}
}

func fqdn(t *testing.T, p Payload, want string) {
	t.Helper()
	id := p.(*Identification)
	if id.IDType != IDFQDN || string(id.Data) != want || id.ProtocolID != 0 || id.Port != 0 || id.Validate() != nil {
		t.Fatalf("ID %v %q, want ID_FQDN %q", id.IDType, id.Data, want)
	}
	if !bytes.Equal(id.Body(), append([]byte{byte(IDFQDN), 0, 0, 0}, want...)) {
		t.Fatalf("ID body %x", id.Body())
	}
}

var strongSwanVIDs = []string{
	"09002689dfd6b712",                         // XAUTH
	"afcad71368a1f1c96b8696fc77570100",         // DPD
	"4048b7d56ebce88525e7de7f00d6c2d380000000", // Cisco FRAGMENTATION
	"4a131c81070358455c5728f20e95452f",         // RFC 3947 NAT-T
	"90cb80913ebb696e086381b5ec427b1f",         // draft-ietf-ipsec-nat-t-ike-02\n
}

func checkVIDs(t *testing.T, ps []Payload, n int) {
	t.Helper()
	var got []string
	for _, p := range ps {
		if v, ok := p.(*VendorID); ok {
			got = append(got, hex.EncodeToString(v.Data))
		}
	}
	if !slices.Equal(got, strongSwanVIDs[:n]) {
		t.Fatalf("vendor IDs %v", got)
	}
}

func cookies(h Header) []byte { return append(h.InitiatorCookie[:], h.ResponderCookie[:]...) }

func TestGoldenStrongSwanMainModePSK(t *testing.T) {
	g := loadGolden(t, "main-psk")
	keys := loadKeys(t)
	V, SA_, KE, NO, ND, ID, HA, N, D := PayloadVendorID, PayloadSA, PayloadKE, PayloadNonce, PayloadNATD, PayloadID, PayloadHash, PayloadNotification, PayloadDelete

	mm1 := g.msg(t, "MM1", SA_, V, V, V, V, V)
	h := mm1.Header
	if h.InitiatorCookie.IsZero() || !h.ResponderCookie.IsZero() || h.ExchangeType != ExchangeMainMode ||
		h.Flags != 0 || h.MessageID != 0 || h.NextPayload != PayloadSA || h.Length != uint32(len(mm1.Raw)) {
		t.Fatalf("MM1 header %+v", h)
	}
	sai := checkPhase1SA(t, mm1.Payloads[0], AuthPreSharedKey)
	checkVIDs(t, mm1.Payloads, 5)
	mm2 := g.msg(t, "MM2", SA_, V, V, V, V)
	if mm2.Header.InitiatorCookie != h.InitiatorCookie || mm2.Header.ResponderCookie.IsZero() {
		t.Fatalf("MM2 cookies %v %v", mm2.Header.InitiatorCookie, mm2.Header.ResponderCookie)
	}
	h = mm2.Header
	checkPhase1SA(t, mm2.Payloads[0], AuthPreSharedKey)
	checkVIDs(t, mm2.Payloads, 4)
	mm3 := g.msg(t, "MM3", KE, NO, ND, ND)
	mm4 := g.msg(t, "MM4", KE, NO, ND, ND)
	for _, m := range []*Message{mm3, mm4} {
		if len(m.Payloads[0].(*KeyExchange).Data) != 256 || len(m.Payloads[1].(*Nonce).Data) != 32 ||
			len(m.Payloads[2].(*NATDiscovery).Hash) != 32 || m.Payloads[2].(*NATDiscovery).Draft {
			t.Fatal("MM3/MM4 payload sizes")
		}
	}
	for _, l := range g.order[4:] {
		m := g.msgs[l]
		if !m.Header.Flags.Has(FlagEncryption) || len(m.Encrypted) == 0 || len(m.Encrypted)%aes.BlockSize != 0 ||
			m.Header.InitiatorCookie != h.InitiatorCookie || m.Header.ResponderCookie != h.ResponderCookie {
			t.Fatalf("%s: header %+v, %d encrypted bytes", l, m.Header, len(m.Encrypted))
		}
	}

	// MM5: decrypt the captured body with Ka and the initial IV; it must be the chain the
	// responder logged, and decode (padding tolerated) to [ID HASH N(INITIAL-CONTACT)].
	mm5 := g.msgs["MM5-enc"]
	if mm5.Header.NextPayload != PayloadID || mm5.Header.ExchangeType != ExchangeMainMode {
		t.Fatalf("MM5 header %+v", mm5.Header)
	}
	block, err := aes.NewCipher(keys["encryption_key_Ka"])
	if err != nil {
		t.Fatal(err)
	}
	plain := make([]byte, len(mm5.Encrypted))
	cipher.NewCBCDecrypter(block, keys["initial_IV"]).CryptBlocks(plain, mm5.Encrypted)
	mm5c, err := DecodePayloads(mm5.Header.NextPayload, plain, DecodeOptions{AllowPadding: true})
	if err != nil {
		t.Fatal(err)
	}
	p7 := g.chain(t, "P7", ID, HA, N)
	if !bytes.Equal(mm5c.Bytes, p7.Bytes) || !reflect.DeepEqual(mm5c.Payloads, p7.Payloads) {
		t.Fatal("MM5 decrypted here differs from the responder's log")
	}
	fqdn(t, p7.Payloads[0], "left.test")
	ic := p7.Payloads[2].(*Notification)
	if ic.NotifyType != NotifyInitialContact || ic.DOI != DOIIPsec || ic.ProtocolID != ProtoISAKMP ||
		!bytes.Equal(ic.SPI, cookies(h)) || len(ic.Data) != 0 {
		t.Fatalf("INITIAL-CONTACT %+v", ic)
	}

	// HASH_I = prf(SKEYID, g^xi | g^xr | CKY-I | CKY-R | SAi_b | IDii_b): the input strongSwan
	// logged is made of exactly the bodies this package exposes.
	gxi, gxr := mm3.Payloads[0].(*KeyExchange).Data, mm4.Payloads[0].(*KeyExchange).Data
	hashIData := slices.Concat(gxi, gxr, h.InitiatorCookie[:], h.ResponderCookie[:], sai.Body(), p7.Payloads[0].Body())
	if !bytes.Equal(hashIData, keys["HASH_I_data"]) || !bytes.Equal(p7.Payloads[1].(*Hash).Data, keys["HASH_I"]) {
		t.Fatal("HASH_I input is not g^xi | g^xr | CKY-I | CKY-R | SAi_b | IDii_b")
	}
	if !bytes.Equal(sai.Body(), mm1.Body(0)) || !bytes.Equal(sai.Raw(), mm1.Payload(0)) {
		t.Fatal("SA Body/Raw differ from the chain's span")
	}
	p1 := g.chain(t, "P1", ID, HA)
	fqdn(t, p1.Payloads[0], "right.test")
	hashRData := slices.Concat(gxr, gxi, h.ResponderCookie[:], h.InitiatorCookie[:], sai.Body(), p1.Payloads[0].Body())
	if !bytes.Equal(hashRData, keys["HASH_R_data"]) || !bytes.Equal(p1.Payloads[1].(*Hash).Data, keys["HASH_R"]) {
		t.Fatal("HASH_R input is not g^xr | g^xi | CKY-R | CKY-I | SAi_b | IDir_b")
	}

	// Quick Mode (RFC 2409 §5.5): HASH(1) = prf(SKEYID_a, M-ID | rest of message after HASH),
	// HASH(2) = prf(SKEYID_a, M-ID | Ni_b | rest), HASH(3) = prf(SKEYID_a, 0 | M-ID | Ni_b | Nr_b).
	skeyidA := keys["SKEYID_a"]
	qm1 := g.msgs["QM1-enc"]
	mid := qm1.Header.MessageID
	if qm1.Header.ExchangeType != ExchangeQuickMode || mid == 0 || qm1.Header.NextPayload != PayloadHash {
		t.Fatalf("QM1 header %+v", qm1.Header)
	}
	p8 := g.chain(t, "P8", HA, SA_, NO, ID, ID) // QM1 as the responder decrypted it
	p2 := g.chain(t, "P2", HA, SA_, NO, ID, ID) // QM2 as the initiator decrypted it
	p9 := g.chain(t, "P9", HA)                  // QM3
	if g.mids["P8"] != mid || g.mids["P2"] != mid || g.mids["P9"] != mid {
		t.Fatal("Quick Mode message IDs")
	}
	if !bytes.Equal(p8.Payloads[0].(*Hash).Data, prf(skeyidA, be32(mid), p8.Bytes[p8.Spans[0].End:])) {
		t.Fatal("QM HASH(1) does not cover the bytes after the HASH payload")
	}
	ni, nr := p8.Payloads[2].Body(), p2.Payloads[2].Body()
	if !bytes.Equal(p2.Payloads[0].(*Hash).Data, prf(skeyidA, be32(mid), ni, p2.Bytes[p2.Spans[0].End:])) {
		t.Fatal("QM HASH(2)")
	}
	if !bytes.Equal(p9.Payloads[0].(*Hash).Data, prf(skeyidA, []byte{0}, be32(mid), ni, nr)) {
		t.Fatal("QM HASH(3)")
	}
	spiI := checkQuickModeSA(t, p8.Payloads[1], 0)
	spiR := checkQuickModeSA(t, p2.Payloads[1], 0)
	checkQuickModeIDs(t, p8, 3)
	checkQuickModeIDs(t, p2, 3)

	// Informational (RFC 2409 §5.7): HASH(1) = prf(SKEYID_a, M-ID | N/D); DPD (RFC 3706).
	var seqs, acks []uint32
	for _, l := range []string{"P3", "P4", "P5", "P6", "P10", "P11", "P12", "P13", "P14", "P15"} {
		c := g.plain[l]
		if !bytes.Equal(c.Payloads[0].(*Hash).Data, prf(skeyidA, be32(g.mids[l]), c.Bytes[c.Spans[0].End:])) {
			t.Fatalf("%s: Informational HASH(1)", l)
		}
		if n, ok := c.Payloads[1].(*Notification); ok {
			s, err := n.DPDSequence()
			if err != nil || !bytes.Equal(n.SPI, cookies(h)) || n.ProtocolID != ProtoISAKMP {
				t.Fatalf("%s: %+v %v", l, n, err)
			}
			if n.NotifyType == NotifyRUThere {
				seqs = append(seqs, s)
			} else {
				acks = append(acks, s)
			}
		}
	}
	if len(seqs) != 4 || !slices.Equal(seqs, acks) || seqs[3] != seqs[0]+3 {
		t.Fatalf("DPD sequence numbers %v, acks %v", seqs, acks)
	}
	// Deletes: the initiator's inbound ESP SA (the SPI it proposed in QM1), then the ISAKMP SA.
	d1 := g.chain(t, "P14", HA, D).Payloads[1].(*Delete)
	d2 := g.chain(t, "P15", HA, D).Payloads[1].(*Delete)
	if d1.ProtocolID != ProtoESP || d1.SPISize != 4 || len(d1.SPIs) != 1 || !bytes.Equal(d1.SPIs[0], spiI) || bytes.Equal(spiI, spiR) {
		t.Fatalf("ESP delete %+v (SPIs %x / %x)", d1, spiI, spiR)
	}
	if d2.ProtocolID != ProtoISAKMP || d2.SPISize != 16 || len(d2.SPIs) != 1 || !bytes.Equal(d2.SPIs[0], cookies(h)) {
		t.Fatalf("ISAKMP delete %+v", d2)
	}
}

func TestGoldenStrongSwanAggressivePSK(t *testing.T) {
	g := loadGolden(t, "aggr-psk")
	V, SA_, KE, NO, ID, ND, HA := PayloadVendorID, PayloadSA, PayloadKE, PayloadNonce, PayloadID, PayloadNATD, PayloadHash
	am1 := g.msg(t, "AM1", SA_, KE, NO, ID, V, V, V, V, V)
	if am1.Header.ExchangeType != ExchangeAggressive || !am1.Header.ResponderCookie.IsZero() || am1.Header.Flags != 0 {
		t.Fatalf("AM1 header %+v", am1.Header)
	}
	checkPhase1SA(t, am1.Payloads[0], AuthPreSharedKey)
	fqdn(t, am1.Payloads[3], "left.test") // IDii_b is sent in the clear in Aggressive Mode
	checkVIDs(t, am1.Payloads, 5)
	am2 := g.msg(t, "AM2", SA_, KE, NO, ID, V, V, V, V, ND, ND, HA)
	checkPhase1SA(t, am2.Payloads[0], AuthPreSharedKey)
	fqdn(t, am2.Payloads[3], "right.test")
	if len(am2.Payloads[10].(*Hash).Data) != 32 || am2.Header.ResponderCookie.IsZero() {
		t.Fatal("AM2 HASH_R / cookie")
	}
	am3 := g.msgs["AM3-enc"]
	if !am3.Header.Flags.Has(FlagEncryption) || am3.Header.NextPayload != PayloadHash {
		t.Fatalf("AM3 header %+v", am3.Header)
	}
	g.chain(t, "P2", HA, ND, ND)
	p1 := g.chain(t, "P1", HA, SA_, NO, ID, ID)
	checkQuickModeSA(t, p1.Payloads[1], 0)
	checkQuickModeIDs(t, p1, 3)
}

func TestGoldenStrongSwanCertificatesAndFragments(t *testing.T) {
	g := loadGolden(t, "main-cert")
	V, SA_, KE, NO, ND, CR, FR := PayloadVendorID, PayloadSA, PayloadKE, PayloadNonce, PayloadNATD, PayloadCertRequest, PayloadFragment
	checkPhase1SA(t, g.msg(t, "MM1", SA_, V, V, V, V, V).Payloads[0], AuthRSASig)
	mm4 := g.msg(t, "MM4", KE, NO, CR, ND, ND)
	cr := mm4.Payloads[2].(*CertificateRequest)
	var dn pkix.RDNSequence
	if rest, err := asn1.Unmarshal(cr.Authority, &dn); err != nil || len(rest) != 0 || cr.CertType != CertX509Signature ||
		!strings.Contains(dn.String(), "CN=interop test CA") {
		t.Fatalf("CR %v %q (%v)", cr.CertType, dn.String(), err)
	}

	// MM5 went out as two FRAG payloads; their data is the encrypted MM5, header included.
	f1 := g.msg(t, "MM5-frag1", FR)
	f2 := g.msg(t, "MM5-frag2", FR)
	a, b := f1.Payloads[0].(*Fragment), f2.Payloads[0].(*Fragment)
	if a.ID != b.ID || a.Number != 1 || b.Number != 2 || a.Last() || !b.Last() || f1.Header.Flags != 0 {
		t.Fatalf("fragments %+v %+v", a, b)
	}
	whole, err := DecodeMessage(append(bytes.Clone(a.Data), b.Data...))
	if err != nil {
		t.Fatal(err)
	}
	if !whole.Header.Flags.Has(FlagEncryption) || whole.Header.NextPayload != PayloadID || whole.Header.ExchangeType != ExchangeMainMode ||
		whole.Header.InitiatorCookie != f1.Header.InitiatorCookie || len(whole.Encrypted)%aes.BlockSize != 0 {
		t.Fatalf("reassembled MM5 header %+v", whole.Header)
	}
	checkReencodeMessage(t, whole, whole.Raw)

	p3 := g.chain(t, "P3", PayloadID, PayloadCert, PayloadSig, CR, PayloadNotification) // MM5 decrypted by the responder
	p1 := g.chain(t, "P1", PayloadID, PayloadCert, PayloadSig)                          // MM6
	for _, c := range []struct {
		ch   *Chain
		name string
	}{{p3, "left.test"}, {p1, "right.test"}} {
		fqdn(t, c.ch.Payloads[0], c.name)
		cert := c.ch.Payloads[1].(*Certificate)
		x, err := x509.ParseCertificate(cert.Data)
		if err != nil || cert.Encoding != CertX509Signature || x.Subject.CommonName != c.name {
			t.Fatalf("CERT %v: %v", cert.Encoding, err)
		}
		if len(c.ch.Payloads[2].(*Signature).Data) != 256 {
			t.Fatal("RSA-2048 signature size")
		}
	}
	if !bytes.Equal(p3.Payloads[3].(*CertificateRequest).Authority, cr.Authority) {
		t.Fatal("both CRs name the same CA")
	}
}

func TestGoldenStrongSwanQuickModePFS(t *testing.T) {
	g := loadGolden(t, "main-psk-pfs")
	HA, SA_, NO, KE, ID := PayloadHash, PayloadSA, PayloadNonce, PayloadKE, PayloadID
	for _, l := range []string{"P2", "P4"} {
		c := g.chain(t, l, HA, SA_, NO, KE, ID, ID)
		checkQuickModeSA(t, c.Payloads[1], 14)
		if len(c.Payloads[3].(*KeyExchange).Data) != 256 {
			t.Fatal("PFS KE size")
		}
		checkQuickModeIDs(t, c, 4)
	}
	if qm := g.msgs["QM1-enc"]; qm.Header.ExchangeType != ExchangeQuickMode || !qm.Header.Flags.Has(FlagEncryption) {
		t.Fatalf("QM1 header %+v", qm.Header)
	}
}

// Every recorded message and chain re-encodes to exactly the bytes strongSwan sent.
func TestGoldenReencode(t *testing.T) {
	for _, f := range vectorFiles {
		for _, v := range loadVectors(t, f) {
			if v.chain {
				c, err := DecodePayloads(v.first, v.data, DecodeOptions{AllowPadding: true})
				if err != nil {
					t.Fatalf("%s %s: %v", f, v.label, err)
				}
				if !bytes.Equal(append(bytes.Clone(c.Bytes), c.Padding...), v.data) {
					t.Fatalf("%s %s: Bytes+Padding is not the input", f, v.label)
				}
				checkReencodeChain(t, v.first, c)
				continue
			}
			m, err := DecodeMessage(v.data)
			if err != nil {
				t.Fatalf("%s %s: %v", f, v.label, err)
			}
			checkReencodeMessage(t, m, v.data)
		}
	}
}
