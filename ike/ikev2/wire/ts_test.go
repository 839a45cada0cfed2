package wire

import (
	"bytes"
	"crypto/sha1"
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"

	"oakley/crypto"
)

func TestTSPrefixConversions(t *testing.T) {
	for _, c := range []struct {
		prefix     string
		start, end string
	}{
		{"192.0.2.1/32", "192.0.2.1", "192.0.2.1"},
		{"198.51.100.0/24", "198.51.100.0", "198.51.100.255"},
		{"198.51.100.77/24", "198.51.100.0", "198.51.100.255"}, // masked
		{"0.0.0.0/0", "0.0.0.0", "255.255.255.255"},
		{"2001:db8::/32", "2001:db8::", "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff"},
		{"::/0", "::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"},
		{"::ffff:192.0.2.0/120", "192.0.2.0", "192.0.2.255"}, // IPv4-mapped: unmapped
	} {
		ts := TSFromPrefix(netip.MustParsePrefix(c.prefix))
		if ts.Start.String() != c.start || ts.End.String() != c.end || !ts.AllPorts() || ts.Protocol != 0 {
			t.Errorf("%s: %v..%v ports %d-%d", c.prefix, ts.Start, ts.End, ts.StartPort, ts.EndPort)
		}
		p, ok := ts.Prefix()
		if !ok || p != netip.MustParsePrefix(c.prefix).Masked() && c.prefix != "::ffff:192.0.2.0/120" {
			t.Errorf("%s: Prefix() = %v %v", c.prefix, p, ok)
		}
		if ps := ts.Prefixes(); len(ps) != 1 || ps[0] != p {
			t.Errorf("%s: Prefixes() = %v", c.prefix, ps)
		}
	}
}

func TestTSRangePrefixes(t *testing.T) {
	for _, c := range []struct {
		start, end string
		want       []string
	}{
		{"192.0.2.1", "192.0.2.1", []string{"192.0.2.1/32"}},
		{"192.0.2.1", "192.0.2.6", []string{"192.0.2.1/32", "192.0.2.2/31", "192.0.2.4/31", "192.0.2.6/32"}},
		{"192.0.2.0", "192.0.3.255", []string{"192.0.2.0/23"}},
		{"192.0.2.255", "192.0.3.0", []string{"192.0.2.255/32", "192.0.3.0/32"}},
		{"0.0.0.1", "255.255.255.255", nil}, // 32 prefixes, counted below
		{"2001:db8::1", "2001:db8::ff", nil},
		{"ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", []string{"ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe/127"}},
	} {
		ts, err := TSFromRange(netip.MustParseAddr(c.start), netip.MustParseAddr(c.end))
		if err != nil {
			t.Fatal(err)
		}
		ps := ts.Prefixes()
		if c.want != nil {
			var got []string
			for _, p := range ps {
				got = append(got, p.String())
			}
			if !slices.Equal(got, c.want) {
				t.Errorf("%s..%s: %v, want %v", c.start, c.end, got, c.want)
			}
		}
		checkCover(t, ts, ps)
		_, exact := ts.Prefix()
		if exact != (len(ps) == 1) {
			t.Errorf("%s..%s: Prefix ok=%v with %d prefixes", c.start, c.end, exact, len(ps))
		}
	}
	if _, err := TSFromRange(netip.MustParseAddr("192.0.2.9"), netip.MustParseAddr("192.0.2.1")); err == nil {
		t.Fatal("reversed range accepted")
	}
	if _, err := TSFromRange(netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("2001:db8::1")); err == nil {
		t.Fatal("mixed families accepted")
	}
	if ps := (TrafficSelector{TSType: TSSecLabel}).Prefixes(); ps != nil {
		t.Fatal("a label has prefixes")
	}
}

// checkCover asserts that ps are ordered, disjoint, contiguous and exactly cover ts, and that
// no two neighbours could merge (minimality of the greedy split).
func checkCover(t *testing.T, ts TrafficSelector, ps []netip.Prefix) {
	t.Helper()
	if len(ps) == 0 || ps[0].Addr() != ts.Start || lastAddr(ps[len(ps)-1]) != ts.End {
		t.Fatalf("%v: prefixes %v do not span it", ts, ps)
	}
	if len(ps) > 2*ts.Start.BitLen() {
		t.Fatalf("%v: %d prefixes", ts, len(ps))
	}
	for i := 1; i < len(ps); i++ {
		if lastAddr(ps[i-1]).Next() != ps[i].Addr() {
			t.Fatalf("%v: gap or overlap between %v and %v", ts, ps[i-1], ps[i])
		}
		if ps[i-1].Bits() == ps[i].Bits() && ps[i-1].Bits() > 0 {
			if up := netip.PrefixFrom(ps[i-1].Addr(), ps[i-1].Bits()-1); up.Masked().Addr() == ps[i-1].Addr() {
				t.Fatalf("%v: %v and %v could be one prefix", ts, ps[i-1], ps[i])
			}
		}
	}
}

func TestTSRandomRanges(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for i := 0; i < 2000; i++ {
		var a, b netip.Addr
		if i%2 == 0 {
			a, b = netip.AddrFrom4([4]byte(u32(rng.Uint32()))), netip.AddrFrom4([4]byte(u32(rng.Uint32())))
		} else {
			var x, y [16]byte
			base := rng.Uint64()
			copy(x[:8], u64(base))
			copy(y[:8], u64(base+uint64(rng.IntN(3))))
			copy(x[8:], u64(rng.Uint64()))
			copy(y[8:], u64(rng.Uint64()))
			a, b = netip.AddrFrom16(x), netip.AddrFrom16(y)
		}
		if a.Compare(b) > 0 {
			a, b = b, a
		}
		ts, err := TSFromRange(a, b)
		if err != nil {
			t.Fatal(err)
		}
		checkCover(t, ts, ts.Prefixes())
		// Encoded and decoded, the selector stays the same.
		c, err := EncodePayloads([]Payload{&TrafficSelectors{Selectors: []TrafficSelector{ts}}})
		if err != nil {
			t.Fatal(err)
		}
		d, err := DecodePayloads(PayloadTSi, c.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		if got := d.Payloads[0].(*TrafficSelectors).Selectors[0]; err != nil || got.Start != ts.Start || got.End != ts.End || got.TSType != ts.TSType || got.EndPort != 0xffff {
			t.Fatalf("%v: %v", ts, err)
		}
	}
}

func u64(v uint64) []byte { return append(u32(uint32(v>>32)), u32(uint32(v))...) }

func TestTSContainsAndString(t *testing.T) {
	ts := TSFromPrefix(netip.MustParsePrefix("198.51.100.0/24"))
	ts.Protocol, ts.StartPort, ts.EndPort = 6, 80, 443
	for _, c := range []struct {
		addr  string
		proto uint8
		port  uint16
		want  bool
	}{
		{"198.51.100.9", 6, 80, true},
		{"198.51.100.9", 6, 443, true},
		{"198.51.100.9", 6, 444, false},
		{"198.51.100.9", 17, 80, false},
		{"198.51.100.9", 0, 80, true},
		{"198.51.101.9", 6, 80, false},
		{"::ffff:198.51.100.9", 6, 80, true},
		{"2001:db8::1", 6, 80, false},
	} {
		if got := ts.Contains(netip.MustParseAddr(c.addr), c.proto, c.port); got != c.want {
			t.Errorf("%v contains %s %d/%d = %v", ts, c.addr, c.proto, c.port, got)
		}
	}
	if s := ts.String(); s != "198.51.100.0/24[6/80-443]" {
		t.Errorf("String %q", s)
	}
	op := TSFromPrefix(netip.MustParsePrefix("192.0.2.1/32"))
	op.Protocol, op.StartPort, op.EndPort = 17, 0xffff, 0
	if !op.Opaque() || !op.Contains(netip.MustParseAddr("192.0.2.1"), 17, 4500) || op.String() != "192.0.2.1/32[17/OPAQUE]" {
		t.Errorf("opaque %v", op)
	}
	r, _ := TSFromRange(netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.6"))
	if r.String() != "192.0.2.1..192.0.2.6" || TSFromPrefix(netip.MustParsePrefix("192.0.2.0/24")).String() != "192.0.2.0/24" {
		t.Errorf("String %q", r.String())
	}
}

func TestAccessors(t *testing.T) {
	// CP attributes (§3.15.1).
	for _, c := range []struct {
		a      ConfigAttribute
		addr   string
		prefix string
	}{
		{AddrAttr(AttrInternalIP4Address, netip.MustParseAddr("192.0.2.7")), "192.0.2.7", ""},
		{AddrAttr(AttrInternalIP6DNS, netip.MustParseAddr("2001:db8::53")), "2001:db8::53", ""},
		{PrefixAttr(AttrInternalIP6Address, netip.MustParsePrefix("2001:db8::7/64")), "2001:db8::7", "2001:db8::7/64"},
		{PrefixAttr(AttrInternalIP4Subnet, netip.MustParsePrefix("198.51.100.0/24")), "", "198.51.100.0/24"},
		{PrefixAttr(AttrInternalIP4Subnet, netip.MustParsePrefix("0.0.0.0/0")), "", "0.0.0.0/0"},
		{PrefixAttr(AttrInternalIP6Subnet, netip.MustParsePrefix("2001:db8:1::/48")), "", "2001:db8:1::/48"},
		{ConfigAttribute{Type: AttrInternalIP4Address}, "", ""},
		{ConfigAttribute{Type: AttrInternalIP4Subnet, Value: []byte{192, 0, 2, 0, 255, 0, 255, 0}}, "", ""}, // non-contiguous
		{ConfigAttribute{Type: AttrInternalIP6Subnet, Value: append(make([]byte, 16), 129)}, "", ""},
		{ConfigAttribute{Type: AttrApplicationVersion, Value: []byte("x")}, "", ""},
	} {
		a, okA := c.a.Addr()
		p, okP := c.a.Prefix()
		if okA != (c.addr != "") || okA && a.String() != c.addr || okP != (c.prefix != "") || okP && p.String() != c.prefix {
			t.Errorf("%v %x: Addr %v %v, Prefix %v %v", c.a.Type, c.a.Value, a, okA, p, okP)
		}
	}
	sa := ConfigAttribute{Type: AttrSupportedAttributes, Value: []byte{0, 1, 0x80, 3, 0, 13}}
	if ts, ok := sa.SupportedAttributes(); !ok || !slices.Equal(ts, []ConfigAttrType{1, 3, 13}) {
		t.Errorf("SUPPORTED_ATTRIBUTES %v", ts)
	}
	if ConfigAttrType(20).String() != "P_CSCF_IP4_ADDRESS" || ConfigAttrType(999).String() != "ATTR(999)" || CFGAck.String() != "CFG_ACK" {
		t.Error("CP names")
	}

	// Notify accessors and names (§3.10.1).
	if g, err := NewNotify(NotifyInvalidKEPayload, []byte{0, 19}).KEGroup(); err != nil || g != 19 {
		t.Errorf("KEGroup %d %v", g, err)
	}
	if _, err := NewNotify(NotifyCookie, []byte{0, 19}).KEGroup(); err == nil {
		t.Error("KEGroup of a COOKIE")
	}
	if p, err := NewNotify(NotifyUnsupportedCriticalPayload, []byte{200}).UnsupportedPayload(); err != nil || p != 200 {
		t.Errorf("UnsupportedPayload %v %v", p, err)
	}
	if a, err := NewNotify(NotifyAdditionalIP6Address, netip.MustParseAddr("2001:db8::9").AsSlice()).Addr(); err != nil || a.String() != "2001:db8::9" {
		t.Errorf("Addr %v %v", a, err)
	}
	if hs, err := NewHashAlgorithms(HashSHA2_256, HashIdentity).HashAlgorithms(); err != nil || !slices.Equal(hs, []HashAlgorithm{2, 5}) {
		t.Errorf("HashAlgorithms %v %v", hs, err)
	}
	if spi, ok := NewChildNotify(ProtoESP, 0xc0ffee01, NotifyRekeySA, nil).ChildSPI(); !ok || spi != 0xc0ffee01 {
		t.Error("ChildSPI")
	}
	for typ, name := range map[NotifyType]string{
		1: "UNSUPPORTED_CRITICAL_PAYLOAD", 4: "INVALID_IKE_SPI", 5: "INVALID_MAJOR_VERSION", 7: "INVALID_SYNTAX",
		9: "INVALID_MESSAGE_ID", 11: "INVALID_SPI", 14: "NO_PROPOSAL_CHOSEN", 17: "INVALID_KE_PAYLOAD",
		24: "AUTHENTICATION_FAILED", 34: "SINGLE_PAIR_REQUIRED", 35: "NO_ADDITIONAL_SAS", 36: "INTERNAL_ADDRESS_FAILURE",
		37: "FAILED_CP_REQUIRED", 38: "TS_UNACCEPTABLE", 39: "INVALID_SELECTORS", 43: "TEMPORARY_FAILURE",
		44: "CHILD_SA_NOT_FOUND", 16384: "INITIAL_CONTACT", 16385: "SET_WINDOW_SIZE", 16386: "ADDITIONAL_TS_POSSIBLE",
		16387: "IPCOMP_SUPPORTED", 16388: "NAT_DETECTION_SOURCE_IP", 16389: "NAT_DETECTION_DESTINATION_IP",
		16390: "COOKIE", 16391: "USE_TRANSPORT_MODE", 16392: "HTTP_CERT_LOOKUP_SUPPORTED", 16393: "REKEY_SA",
		16394: "ESP_TFC_PADDING_NOT_SUPPORTED", 16395: "NON_FIRST_FRAGMENTS_ALSO", 16396: "MOBIKE_SUPPORTED",
		16397: "ADDITIONAL_IP4_ADDRESS", 16398: "ADDITIONAL_IP6_ADDRESS", 16399: "NO_ADDITIONAL_ADDRESSES",
		16400: "UPDATE_SA_ADDRESSES", 16401: "COOKIE2", 16402: "NO_NATS_ALLOWED", 16404: "MULTIPLE_AUTH_SUPPORTED",
		16405: "ANOTHER_AUTH_FOLLOWS", 16406: "REDIRECT_SUPPORTED", 16417: "EAP_ONLY_AUTHENTICATION",
		16418: "CHILDLESS_IKEV2_SUPPORTED", 16430: "IKEV2_FRAGMENTATION_SUPPORTED", 16431: "SIGNATURE_HASH_ALGORITHMS",
		16435: "USE_PPK", 16436: "PPK_IDENTITY", 16437: "NO_PPK_AUTH", 16441: "ADDITIONAL_KEY_EXCHANGE",
		12: "ERROR(12)", 20000: "STATUS(20000)",
	} {
		if typ.String() != name {
			t.Errorf("%d: %q, want %q", typ, typ.String(), name)
		}
	}
	if !NotifyTemporaryFailure.IsError() || NotifyInitialContact.IsError() {
		t.Error("IsError")
	}
	n := NewChildNotify(ProtoESP, 1, NotifyRekeySA, nil)
	n.Data = []byte("secret-cookie")
	if s := n.String(); s != "REKEY_SA(ESP SPI 00000001)" {
		t.Errorf("Notify.String %q", s)
	}

	// ID accessors (§3.5).
	for _, c := range []struct {
		id   *Identification
		want string
	}{
		{IDFromAddr(netip.MustParseAddr("192.0.2.1"), false), "192.0.2.1"},
		{IDFromAddr(netip.MustParseAddr("::ffff:192.0.2.1"), true), "192.0.2.1"},
		{IDFromAddr(netip.MustParseAddr("2001:db8::1"), false), "2001:db8::1"},
		{&Identification{IDType: IDFQDN, Data: []byte("left.example")}, `"left.example"`},
		{&Identification{IDType: IDRFC822Addr, Data: []byte("a@b.example")}, `"a@b.example"`},
		{&Identification{IDType: IDDERASN1DN, Data: mustHexS("301b310b3009060355040613025858310c300a06035504031303726967")}, "CN=rig,C=XX"},
		{&Identification{IDType: IDKeyID, Data: []byte{0xde, 0xad}}, "ID_KEY_ID:dead"},
		{&Identification{IDType: IDNull}, "ID_NULL"},
	} {
		if s := c.id.String(); s != c.want {
			t.Errorf("%v: %q, want %q", c.id.IDType, s, c.want)
		}
	}
	if IDFromAddr(netip.MustParseAddr("::ffff:192.0.2.1"), true).IDType != IDIPv4Addr {
		t.Error("mapped address")
	}
	if _, err := (&Identification{IDType: IDFQDN, Data: []byte("x")}).Addr(); err == nil {
		t.Error("Addr of an FQDN")
	}

	// CERT, CERTREQ, AUTH, EAP accessors.
	c := &Certificate{Encoding: CertHashURLX509, Data: append(seq(20, 1), "http://a.example/c\x00"...)}
	if h, u, err := c.HashAndURL(); err != nil || !bytes.Equal(h, seq(20, 1)) || u != "http://a.example/c" {
		t.Errorf("HashAndURL %x %q %v", h, u, err)
	}
	if _, _, err := (&Certificate{Encoding: CertX509Signature, Data: seq(30, 0)}).HashAndURL(); err == nil {
		t.Error("HashAndURL of a DER certificate")
	}
	if as := (&CertificateRequest{Encoding: CertX509Signature, Data: seq(40, 0)}).Authorities(); len(as) != 2 || !bytes.Equal(as[1], seq(20, 20)) {
		t.Errorf("Authorities %x", as)
	}
	if (&CertificateRequest{Encoding: CertCRL, Data: seq(40, 0)}).Authorities() != nil {
		t.Error("Authorities of a CRL request")
	}
	algID := mustHexS("300d06092a864886f70d01010b0500")
	a, err := NewDigitalSignatureAuth(algID, []byte{9, 9})
	if err != nil {
		t.Fatal(err)
	}
	raw, ident, sig, err := a.SignatureAlgorithm()
	if err != nil || !bytes.Equal(raw, algID) || ident.Algorithm.String() != "1.2.840.113549.1.1.11" || !bytes.Equal(sig, []byte{9, 9}) {
		t.Errorf("SignatureAlgorithm %x %v %x %v", raw, ident.Algorithm, sig, err)
	}
	if _, _, _, err := (&Auth{Method: AuthSharedKeyMIC, Data: []byte{1}}).SignatureAlgorithm(); err == nil {
		t.Error("SignatureAlgorithm of a PSK AUTH")
	}
	e := NewEAP(EAPResponse, 7, 26, []byte{1, 2})
	if e.Code() != EAPResponse || e.Identifier() != 7 || e.EAPType() != 26 || !bytes.Equal(e.TypeData(), []byte{1, 2}) {
		t.Errorf("EAP %x", e.Message)
	}
	if s := NewEAP(EAPFailure, 8, 26, []byte{1}); len(s.Message) != 4 || s.EAPType() != 0 || s.TypeData() != nil {
		t.Errorf("EAP failure %x", s.Message)
	}

	// Transforms and the registry (§3.3.2, §3.3.5).
	for _, name := range []string{"aes128", "aes256", "3des", "aes128gcm16", "aes256gcm8", "chacha20poly1305",
		"sha1", "sha256", "sha512", "prfsha256", "prfsha384", "modp2048", "ecp256", "curve25519", "esn", "noesn"} {
		alg := crypto.Lookup(name)
		tr := TransformFor(alg)
		if tr.Algorithm() != alg {
			t.Errorf("%s: transform %+v resolves to %v", name, tr, tr.Algorithm())
		}
		_, hasKL := tr.KeyLength()
		if hasKL != alg.KeyLenAttr {
			t.Errorf("%s: Key Length attribute %v", name, hasKL)
		}
	}
	bad := TransformFor(crypto.Lookup("aes128"))
	bad.Attributes = append(bad.Attributes, Attribute{Type: 99, TV: true, Value: 1})
	if bad.Algorithm() != nil {
		t.Error("a transform with an unknown attribute resolves")
	}
	if (Transform{Type: TransformENCR, ID: 12}).Algorithm() != nil {
		t.Error("AES-CBC without Key Length resolves")
	}
	if (Transform{Type: TransformADDKE1, ID: 19}).Algorithm() != crypto.Lookup("ecp256") {
		t.Error("ADDKE1 does not resolve like KE")
	}
	if TransformADDKE7.String() != "ADDKE7" || TransformType(99).String() != "TRANSFORM(99)" {
		t.Error("transform names")
	}
}

// NAT detection (RFC 7296 §2.23): SHA-1 over SPIi | SPIr | IP | port.
func TestNATDetectionHash(t *testing.T) {
	spii, spir := SPI{1, 2, 3, 4, 5, 6, 7, 8}, SPI{}
	ap := netip.MustParseAddrPort("192.0.2.1:500")
	h := NATDetectionHash(spii, spir, ap)
	want := mustHexS("0102030405060708" + "0000000000000000" + "c0000201" + "01f4")
	sum := sha1Sum(want)
	if !bytes.Equal(h, sum) {
		t.Fatalf("hash %x", h)
	}
	if bytes.Equal(h, NATDetectionHash(spii, spir, netip.MustParseAddrPort("192.0.2.1:4500"))) ||
		!bytes.Equal(h, NATDetectionHash(spii, spir, netip.MustParseAddrPort("[::ffff:192.0.2.1]:500"))) {
		t.Fatal("port or mapping")
	}
}

func sha1Sum(b []byte) []byte {
	s := sha1.Sum(b)
	return s[:]
}
