package ikev1

// Table tests of the pure pieces: transforms and their attributes, selectors and IDs,
// identities, the Phase 1 cipher, timers and the reply cache.

import (
	"bytes"
	"net/netip"
	"testing"
	"time"

	"oakley/ike/core"
	"oakley/ike/core/coretest"

	"oakley/crypto"
	"oakley/esp"
	"oakley/ike/isakmp"
)

func TestP1TransformRoundTrip(t *testing.T) {
	props := mustProposals(t, crypto.ProtoIKEv1, true, "aes128-aes192-aes256-3des-des-sha1-sha256-sha384-sha512-md5-modp768-modp1024-modp1536-modp2048-modp3072-modp4096-modp6144-modp8192-ecp256-ecp384-ecp521-curve25519")
	trs := expandP1(props, isakmp.AuthPreSharedKey, 15840*time.Second)
	if len(trs) != 255 { // 5*5*12 combinations, capped at the 255 a proposal can carry
		t.Fatalf("%d transforms", len(trs))
	}
	sa := p1SA(trs[:255])
	for i := range sa.Proposals[0].Transforms {
		got, err := parseP1Transform(&sa.Proposals[0].Transforms[i])
		if err != nil {
			t.Fatalf("%s: %v", trs[i], err)
		}
		if !got.sameAlgorithms(trs[i]) || got.life != trs[i].life {
			t.Fatalf("round trip %s -> %s", trs[i], got)
		}
	}
	// Unsupported attributes make a transform unacceptable, not a panic.
	for _, attrs := range [][]isakmp.Attribute{
		{isakmp.TV(isakmp.ClassEncryptionAlgorithm, 7), isakmp.TV(isakmp.ClassKeyLength, 100)},
		{isakmp.TV(isakmp.ClassEncryptionAlgorithm, 7), isakmp.TV(isakmp.ClassHashAlgorithm, 4), isakmp.TV(isakmp.ClassGroupDescription, 14), isakmp.TV(isakmp.ClassAuthenticationMethod, 1), isakmp.TV(isakmp.ClassPRF, 1)},
		{isakmp.TV(isakmp.ClassLifeDuration, 10)},
		{isakmp.TV(isakmp.ClassLifeType, 3)},
		{isakmp.TLV(isakmp.ClassEncryptionAlgorithm, make([]byte, 9))},
	} {
		if _, err := parseP1Transform(&isakmp.Transform{ID: isakmp.TransformKeyIKE, Attributes: attrs}); err == nil {
			t.Fatalf("accepted %v", attrs)
		}
	}
	// Life Duration as a 4-byte TLV and kilobytes are understood.
	tr, err := parseP1Transform(&isakmp.Transform{ID: 1, Attributes: append(trs[0].attributes(),
		isakmp.TV(isakmp.ClassLifeType, isakmp.LifeTypeKilobytes), isakmp.IntAttr(isakmp.ClassLifeDuration, 1<<20))})
	if err != nil || tr.lifeKB != 1<<20 {
		t.Fatalf("kilobytes: %v %d", err, tr.lifeKB)
	}
}

func TestP2TransformRoundTrip(t *testing.T) {
	cases := []struct {
		proto isakmp.ProtocolID
		text  string
		n     int
	}{
		{isakmp.ProtoESP, "aes128-aes256-sha256-sha1-esn-noesn", 8},
		{isakmp.ProtoESP, "aes128gcm16-aes256gcm8-modp2048", 2},
		{isakmp.ProtoESP, "null-sha512", 1},
		{isakmp.ProtoESP, "chacha20poly1305", 1},
		{isakmp.ProtoAH, "sha256-sha384-md5", 3},
	}
	for _, tc := range cases {
		cp := crypto.ProtoESP
		if tc.proto == isakmp.ProtoAH {
			cp = crypto.ProtoAH
		}
		props := mustProposals(t, cp, true, tc.text)
		trs := expandP2(tc.proto, props, pfsGroup(props, nil), isakmp.EncapUDPTransport, time.Hour, 1024)
		if len(trs) != tc.n {
			t.Fatalf("%s: %d transforms", tc.text, len(trs))
		}
		for _, tr := range trs {
			got, err := parseP2Transform(tc.proto, &isakmp.Transform{ID: tr.id(), Attributes: tr.attributes()})
			if err != nil {
				t.Fatalf("%s: %v", tr, err)
			}
			if got != tr {
				t.Fatalf("round trip %+v -> %+v", tr, got)
			}
			if !p2Acceptable(props, got, true) {
				t.Fatalf("%s not acceptable to its own proposal", got)
			}
		}
	}
	// An AEAD with an authentication algorithm, or a cipher without, is refused.
	for _, tr := range []isakmp.Transform{
		{ID: crypto.V1ESPAESGCM16, Attributes: []isakmp.Attribute{isakmp.TV(isakmp.AttrKeyLength, 128), isakmp.TV(isakmp.AttrAuthenticationAlgorithm, 5)}},
		{ID: crypto.V1ESPAESCBC, Attributes: []isakmp.Attribute{isakmp.TV(isakmp.AttrKeyLength, 128)}},
		{ID: 99},
		{ID: crypto.V1ESPAESCBC, Attributes: []isakmp.Attribute{isakmp.TV(isakmp.AttrEncapsulationMode, 7)}},
	} {
		if _, err := parseP2Transform(isakmp.ProtoESP, &tr); err == nil {
			t.Fatalf("accepted %+v", tr)
		}
	}
	// The draft NAT-T encapsulation modes of old peers are understood.
	m, err := parseP2Transform(isakmp.ProtoESP, &isakmp.Transform{ID: crypto.V1ESPAESCBC, Attributes: []isakmp.Attribute{
		isakmp.TV(isakmp.AttrKeyLength, 128), isakmp.TV(isakmp.AttrAuthenticationAlgorithm, 2), isakmp.TV(isakmp.AttrEncapsulationMode, 61443)}})
	if err != nil || !modeIsUDP(m.mode) || modeIsTransport(m.mode) {
		t.Fatalf("draft mode: %v %v", err, m.mode)
	}
}

func TestSelectors(t *testing.T) {
	for _, tc := range []struct {
		lo, hi string
		want   []string
	}{
		{"192.0.2.0", "192.0.2.255", []string{"192.0.2.0/24"}},
		{"192.0.2.1", "192.0.2.1", []string{"192.0.2.1/32"}},
		{"192.0.2.1", "192.0.2.6", []string{"192.0.2.1/32", "192.0.2.2/31", "192.0.2.4/31", "192.0.2.6/32"}},
		{"0.0.0.0", "255.255.255.255", []string{"0.0.0.0/0"}},
		{"2001:db8::", "2001:db8::ffff", []string{"2001:db8::/112"}},
	} {
		var got []string
		for _, p := range rangePrefixes(netip.MustParseAddr(tc.lo), netip.MustParseAddr(tc.hi)) {
			got = append(got, p.String())
		}
		if len(got) != len(tc.want) {
			t.Fatalf("%s-%s: %v", tc.lo, tc.hi, got)
		}
		for i := range got {
			if got[i] != tc.want[i] {
				t.Fatalf("%s-%s: %v", tc.lo, tc.hi, got)
			}
		}
	}
	// Selector -> ID -> selectors.
	for _, s := range []esp.Selector{sel("192.0.2.0/24"), sel("192.0.2.7/32"), sel("2001:db8::/48"),
		{Prefix: netip.MustParsePrefix("198.51.100.0/24"), Proto: 6, PortLo: 443, PortHi: 443}} {
		id, err := selectorID(s)
		if err != nil {
			t.Fatal(err)
		}
		back, err := idSelectors(id)
		if err != nil || len(back) != 1 || back[0] != s {
			t.Fatalf("%s -> %v -> %v (%v)", s, id, back, err)
		}
	}
	r, _ := isakmp.IDFromRange(netip.MustParseAddr("192.0.2.10"), netip.MustParseAddr("192.0.2.20"))
	back, err := idSelectors(r)
	if err != nil || !allWithin(back, []esp.Selector{sel("192.0.2.0/27")}) || allWithin(back, []esp.Selector{sel("192.0.2.16/28")}) {
		t.Fatalf("range: %v %v", back, err)
	}
	if _, err := idSelectors(&isakmp.Identification{IDType: isakmp.IDFQDN, Data: []byte("x")}); err == nil {
		t.Fatal("FQDN as a traffic selector")
	}
	within := []struct {
		in, out esp.Selector
		ok      bool
	}{
		{sel("192.0.2.0/25"), sel("192.0.2.0/24"), true},
		{sel("192.0.2.0/23"), sel("192.0.2.0/24"), false},
		{sel("2001:db8::/64"), sel("0.0.0.0/0"), false},
		{esp.Selector{Prefix: netip.MustParsePrefix("192.0.2.1/32"), Proto: 17, PortLo: 53, PortHi: 53}, sel("192.0.2.0/24"), true},
		{sel("192.0.2.1/32"), esp.Selector{Prefix: netip.MustParsePrefix("192.0.2.0/24"), Proto: 17, PortHi: 0xffff}, false},
		{esp.Selector{Prefix: netip.MustParsePrefix("192.0.2.1/32"), Proto: 6, PortLo: 80, PortHi: 80}, esp.Selector{Prefix: netip.MustParsePrefix("192.0.2.0/24"), Proto: 6, PortLo: 443, PortHi: 443}, false},
	}
	for _, w := range within {
		if selectorWithin(w.in, w.out) != w.ok {
			t.Fatalf("%s within %s: want %v", w.in, w.out, w.ok)
		}
	}
}

func TestIdentity(t *testing.T) {
	fq := core.FQDNIdentity("VPN.Example.test")
	if !idMatches(fq, &isakmp.Identification{IDType: isakmp.IDFQDN, Data: []byte("vpn.example.test")}) {
		t.Fatal("FQDN match must ignore case")
	}
	if idMatches(fq, &isakmp.Identification{IDType: isakmp.IDUserFQDN, Data: []byte("vpn.example.test")}) {
		t.Fatal("type ignored")
	}
	if !idMatches(core.AnyIdentity, &isakmp.Identification{IDType: isakmp.IDKeyID, Data: []byte{1}}) || idMatches(core.AnyIdentity, nil) {
		t.Fatal("%any")
	}
	kid := core.KeyIDIdentity([]byte{1, 2, 0xab})
	if !idMatches(kid, &isakmp.Identification{IDType: isakmp.IDKeyID, Data: []byte{1, 2, 0xab}}) || kid.String() != "@#0102ab" {
		t.Fatalf("KEY_ID identity %s", kid)
	}
	if idMatches(kid, &isakmp.Identification{IDType: isakmp.IDFQDN, Data: []byte("#0102ab")}) {
		t.Fatal("a KEY_ID matched an FQDN")
	}
	a := core.AddrIdentity(netip.MustParseAddr("::ffff:192.0.2.1"))
	if a.Type != core.IDIPv4Addr || a.String() != "192.0.2.1" {
		t.Fatalf("%v %s", a.Type, a)
	}
	if s := idOfPayload(&isakmp.Identification{IDType: isakmp.IDFQDN, Data: []byte("evil\nline")}); s != `evil\x0aline` {
		t.Fatalf("control bytes reach the log: %q", s)
	}
	dn := core.DNIdentity([]byte{0x30, 0x0f, 0x31, 0x0d, 0x30, 0x0b, 0x06, 0x03, 0x55, 0x04, 0x03, 0x0c, 0x04, 't', 'e', 's', 't'})
	if dn.String() != "CN=test" {
		t.Fatalf("DN %q", dn)
	}
}

func TestIKECipher(t *testing.T) {
	for _, name := range []string{"aes128", "aes192", "aes256", "3des", "des"} {
		alg := crypto.Lookup(name)
		c, err := newIKECipher(alg, bytes.Repeat([]byte{7}, alg.KeyLen()))
		if err != nil {
			t.Fatal(err)
		}
		iv := bytes.Repeat([]byte{1}, c.bs)
		for n := 0; n < 3*c.bs; n++ {
			p := c.pad(bytes.Repeat([]byte{9}, n))
			if len(p)%c.bs != 0 || len(p) <= n || len(p) > n+c.bs {
				t.Fatalf("%s: pad %d -> %d", name, n, len(p))
			}
			ct, next := c.encrypt(iv, p)
			pt, next2, err := c.decrypt(iv, ct)
			if err != nil || !bytes.Equal(pt, p) || !bytes.Equal(next, next2) || !bytes.Equal(next, ct[len(ct)-c.bs:]) {
				t.Fatalf("%s: round trip of %d bytes", name, n)
			}
		}
		for _, bad := range [][]byte{nil, make([]byte, c.bs-1), make([]byte, c.bs+1)} {
			if _, _, err := c.decrypt(iv, bad); err == nil {
				t.Fatalf("%s decrypted %d bytes", name, len(bad))
			}
		}
	}
	if _, err := newIKECipher(crypto.Lookup("aes128gcm16"), make([]byte, 20)); err == nil {
		t.Fatal("GCM as a Phase 1 cipher")
	}
}

func TestConfigValidation(t *testing.T) {
	good := func() *core.Connection {
		c, _ := pairConfig(t, []string{"aes256-sha256-modp2048"}, []string{"aes256-sha256"})
		return c
	}
	bad := []func(c *core.Connection){
		func(c *core.Connection) { c.Name = "" },
		func(c *core.Connection) { c.PSK = nil },
		func(c *core.Connection) { c.Auth = "xauth-magic" },
		func(c *core.Connection) { c.DPDAction = "explode" },
		func(c *core.Connection) { c.Encap = "tcp" },
		func(c *core.Connection) { c.LocalID = core.Identity{} },
		func(c *core.Connection) {
			c.Children[0].LocalTS[0].PortLo, c.Children[0].LocalTS[0].PortHi = 80, 90
		},
		func(c *core.Connection) { c.Children[0].RemoteTS = nil },
		func(c *core.Connection) { c.Children = append(c.Children, c.Children[0]) },
		func(c *core.Connection) {
			c.Proposals = mustProposals(t, crypto.ProtoIKEv1, true, "aes128-sha256-modp1024")
		},
	}
	for i, f := range bad {
		c := good()
		f(c)
		if _, err := newTestCore(core.Config{Connections: []*core.Connection{c}, Dataplane: coretest.NewFakeDP()}, nil); err == nil {
			t.Fatalf("case %d accepted", i)
		}
	}
	if _, err := newTestCore(core.Config{Connections: []*core.Connection{good()}, Dataplane: coretest.NewFakeDP()}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := newTestCore(core.Config{Connections: []*core.Connection{good(), good()}, Dataplane: coretest.NewFakeDP()}, nil); err == nil {
		t.Fatal("duplicate connection names accepted")
	}
	if _, err := newTestCore(core.Config{}, nil); err == nil {
		t.Fatal("no data plane accepted")
	}
}

func TestNATDiscoveryHash(t *testing.T) {
	// RFC 3947 §3.2 input layout: CKY-I | CKY-R | IP | Port, hashed with the negotiated
	// hash (not its HMAC); IPv4-mapped addresses hash as IPv4.
	ci, cr := isakmp.Cookie{1, 2, 3, 4, 5, 6, 7, 8}, isakmp.Cookie{9, 10, 11, 12, 13, 14, 15, 16}
	h := crypto.Lookup("sha256").Hash
	in := append(append(append(ci[:], cr[:]...), 192, 0, 2, 1), 0x11, 0x94)
	want := hashTrunc(h, 0, in)
	if got := natDiscoveryHash(h, ci, cr, netip.MustParseAddrPort("[::ffff:192.0.2.1]:4500")); !bytes.Equal(got, want) {
		t.Fatalf("%x != %x", got, want)
	}
}
