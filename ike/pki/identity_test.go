package pki

import (
	"crypto/sha1"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"strings"
	"testing"
)

func mustID(t *testing.T, s string) Identity {
	t.Helper()
	id, err := ParseID(s)
	if err != nil {
		t.Fatalf("ParseID(%q): %v", s, err)
	}
	return id
}

func TestParseIDAndString(t *testing.T) {
	cases := []struct {
		in   string
		typ  IDType
		out  string
		data string // hex, optional
	}{
		{"198.18.0.1", IDIPv4, "198.18.0.1", "c6120001"},
		{"2001:db8::1", IDIPv6, "2001:db8::1", "20010db8000000000000000000000001"},
		{"gw.example.org", IDFQDN, "gw.example.org", ""},
		{"@gw", IDFQDN, "gw", ""},
		{"ops@example.org", IDUserFQDN, "ops@example.org", ""},
		{"@#0a0b0c", IDKeyID, "@#0a0b0c", "0a0b0c"},
		{"C=CH, O=Example, CN=gw", IDDN, "C=CH, O=Example, CN=gw", ""},
		{"c=CH,o=Example,cn=gw", IDDN, "C=CH, O=Example, CN=gw", ""},
		{`C=CH, O=Example\, Inc., CN=a\+b`, IDDN, `C=CH, O=Example\, Inc., CN=a\+b`, ""},
		{`CN=" spaced "`, IDDN, `CN=\ spaced\ `, ""},
		{"CN=Zürich", IDDN, "CN=Zürich", ""},
		{"E=ops@example.org, DC=org, UID=x, 2.5.4.99=y", IDDN, "E=ops@example.org, DC=org, UID=x, 2.5.4.99=y", ""},
		{"CN=gw+OU=ipsec", IDDN, "CN=gw+OU=ipsec", ""},
		{"C=CH, CN=*", IDDN, "C=CH, CN=*", ""},
		{"CN=#0c026777", IDDN, "CN=gw", ""},
	}
	for _, c := range cases {
		id := mustID(t, c.in)
		if id.Type != c.typ || id.Any {
			t.Errorf("%q: type %v", c.in, id.Type)
		}
		if id.String() != c.out {
			t.Errorf("%q printed %q, want %q", c.in, id.String(), c.out)
		}
		if c.data != "" && c.data != strings.ToLower(hexs(id.Data)) {
			t.Errorf("%q data %x", c.in, id.Data)
		}
		// The printed form parses back to the same identity.
		back := mustID(t, id.String())
		if !back.Equal(id) {
			t.Errorf("%q: %q does not parse back (%x vs %x)", c.in, id.String(), back.Data, id.Data)
		}
		if _, err := ParseIdentity(id.Type, id.Data); err != nil {
			t.Errorf("%q: wire form refused: %v", c.in, err)
		}
	}
	if !mustID(t, "%any").Any || mustID(t, "%any").String() != "%any" {
		t.Error("%any")
	}
	for _, bad := range []string{"", "CN=", "XX=y", "CN=\"open", `CN=a\`, "a b", "@", "@#zz", "CN=#zz", "CN=#0c02", "E=Zürich@x"} {
		if _, err := ParseID(bad); err == nil {
			t.Errorf("ParseID(%q) accepted", bad)
		} else {
			wantErr(t, err, ErrMalformed)
		}
	}
}

func hexs(b []byte) string {
	const digits = "0123456789abcdef"
	out := make([]byte, 2*len(b))
	for i, c := range b {
		out[2*i], out[2*i+1] = digits[c>>4], digits[c&15]
	}
	return string(out)
}

func TestIdentityStringEscapes(t *testing.T) {
	fq := Identity{Type: IDFQDN, Data: []byte("evil\n[info] peer authenticated\\")}
	if s := fq.String(); strings.ContainsAny(s, "\n") || !strings.Contains(s, `\x0a`) || !strings.Contains(s, `\x5c`) {
		t.Errorf("FQDN printed %q", s)
	}
	dn, _ := asn1.Marshal(pkix.Name{CommonName: "x\r\nCN=admin\u202e"}.ToRDNSequence())
	s := Identity{Type: IDDN, Data: dn}.String()
	if strings.ContainsAny(s, "\r\n\u202e") || !strings.Contains(s, `\0D\0A`) || !strings.Contains(s, `\E2\80\AE`) || !strings.Contains(s, `CN\=admin`) {
		t.Errorf("DN printed %q", s)
	}
	if got := (Identity{Type: IDIPv4, Data: []byte{1, 2, 3}}).String(); got != "(invalid ID_IPV4_ADDR)" {
		t.Errorf("short IPv4 printed %q", got)
	}
	if got := (Identity{Type: IDDN, Data: []byte{0x30, 0x01}}).String(); got != "(invalid DN)" {
		t.Errorf("broken DN printed %q", got)
	}
}

func TestParseIdentityWire(t *testing.T) {
	dn := mustID(t, "C=CH, CN=gw").Data
	gn, _ := asn1.Marshal(asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 2, Bytes: []byte("gw.example.org")})
	good := []struct {
		t IDType
		d []byte
	}{{IDIPv4, []byte{198, 18, 0, 1}}, {IDIPv6, make([]byte, 16)}, {IDFQDN, []byte("gw")}, {IDUserFQDN, []byte("a@b")}, {IDDN, dn}, {IDGN, gn}, {IDKeyID, []byte{1}}}
	for _, g := range good {
		if _, err := ParseIdentity(g.t, g.d); err != nil {
			t.Errorf("%v %x refused: %v", g.t, g.d, err)
		}
	}
	bad := []struct {
		t IDType
		d []byte
	}{{IDIPv4, []byte{1, 2, 3}}, {IDIPv6, make([]byte, 4)}, {IDFQDN, nil}, {IDFQDN, []byte("a\x00b")}, {IDDN, append(dn, 0)},
		{IDDN, []byte{0x30, 0x02, 0x31, 0x00}}, {IDGN, []byte{0x82, 0x05, 'a'}}, {IDGN, dn}, {IDKeyID, nil}, {4, []byte{1, 2, 3, 4, 5, 6, 7, 8}}, {IDKeyID, make([]byte, maxIDData+1)}}
	for _, b := range bad {
		_, err := ParseIdentity(b.t, b.d)
		wantErr(t, err, ErrMalformed)
	}
}

func TestBindID(t *testing.T) {
	p := standardPKI(t)
	leaf := p.leaf.cert
	utf8DN, _ := asn1.Marshal(pkix.RDNSequence{
		{{Type: asn1.ObjectIdentifier{2, 5, 4, 6}, Value: asn1.RawValue{Tag: asn1.TagUTF8String, Bytes: []byte("ch")}}},
		{{Type: asn1.ObjectIdentifier{2, 5, 4, 10}, Value: asn1.RawValue{Tag: asn1.TagUTF8String, Bytes: []byte("OAKLEY  test ")}}},
		{{Type: asn1.ObjectIdentifier{2, 5, 4, 3}, Value: asn1.RawValue{Tag: asn1.TagUTF8String, Bytes: []byte("GW.example.org")}}},
	})
	spki := sha1.Sum(leaf.RawSubjectPublicKeyInfo)
	whole := sha1.Sum(leaf.Raw)
	bits := sha1.Sum(subjectPublicKeyBits(leaf))
	gnDNS, _ := asn1.Marshal(asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 2, Bytes: []byte("gw.example.org")})
	gnIP, _ := asn1.Marshal(asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 7, Bytes: []byte{198, 18, 0, 1}})
	gnDir, _ := asn1.Marshal(asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 4, IsCompound: true, Bytes: leaf.RawSubject})
	ski := mkCert(t, certSpec{cn: "ski", key: "p256", pathLen: -1, ski: []byte{1, 2, 3, 4}}, p.inter)

	cases := []struct {
		name string
		cert *x509.Certificate
		id   Identity
		kind error
	}{
		{"IPv4 SAN", leaf, mustID(t, "198.18.0.1"), nil},
		{"IPv4 not in SAN", leaf, mustID(t, "198.18.0.2"), ErrIDMismatch},
		{"IPv6 SAN", leaf, mustID(t, "2001:db8::1"), nil},
		{"IPv6 not in SAN", leaf, mustID(t, "2001:db8::2"), ErrIDMismatch},
		{"FQDN SAN, other case", leaf, mustID(t, "GW.Example.ORG"), nil},
		{"FQDN not in SAN", leaf, mustID(t, "vpn.example.org"), ErrIDMismatch},
		{"FQDN that is only the CN", mkCert(t, certSpec{cn: "cn-only.example.org", key: "p256", pathLen: -1}, p.inter).cert, mustID(t, "cn-only.example.org"), ErrIDMismatch},
		{"user FQDN SAN", leaf, mustID(t, "OPS@example.org"), nil},
		{"user FQDN not in SAN", leaf, mustID(t, "root@example.org"), ErrIDMismatch},
		{"DN equal", leaf, mustID(t, "C=CH, O=oakley test, CN=gw.example.org"), nil},
		{"DN other string type, case and spaces", leaf, Identity{Type: IDDN, Data: utf8DN}, nil},
		{"DN other CN", leaf, mustID(t, "C=CH, O=oakley test, CN=vpn.example.org"), ErrIDMismatch},
		{"DN other order", leaf, mustID(t, "CN=gw.example.org, O=oakley test, C=CH"), ErrIDMismatch},
		{"DN wildcard is no binding", leaf, mustID(t, "C=CH, O=oakley test, CN=*"), ErrIDMismatch},
		{"KEY_ID SHA-1 of SPKI", leaf, Identity{Type: IDKeyID, Data: spki[:]}, nil},
		{"KEY_ID SHA-1 of certificate", leaf, Identity{Type: IDKeyID, Data: whole[:]}, nil},
		{"KEY_ID SHA-1 of key bits", leaf, Identity{Type: IDKeyID, Data: bits[:]}, nil},
		{"KEY_ID serial", leaf, Identity{Type: IDKeyID, Data: leaf.SerialNumber.Bytes()}, nil},
		{"KEY_ID subjectKeyIdentifier", ski.cert, Identity{Type: IDKeyID, Data: []byte{1, 2, 3, 4}}, nil},
		{"KEY_ID other", leaf, Identity{Type: IDKeyID, Data: []byte{9, 9, 9}}, ErrIDMismatch},
		{"GN dNSName", leaf, Identity{Type: IDGN, Data: gnDNS}, nil},
		{"GN iPAddress", leaf, Identity{Type: IDGN, Data: gnIP}, nil},
		{"GN directoryName", leaf, Identity{Type: IDGN, Data: gnDir}, nil},
		{"GN directoryName other", ski.cert, Identity{Type: IDGN, Data: gnDir}, ErrIDMismatch},
		{"%any", leaf, AnyID, ErrIDMismatch},
		{"broken DN", leaf, Identity{Type: IDDN, Data: []byte{0x30, 0x01, 0}}, ErrMalformed},
		{"IPv4 of 16 bytes", leaf, Identity{Type: IDIPv4, Data: make([]byte, 16)}, ErrMalformed},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			wantErr(t, BindID(c.cert, c.id), c.kind)
		})
	}
	err := BindID(leaf, mustID(t, "vpn.example.org"))
	wantErr(t, err, ErrIDMismatch, "vpn.example.org", "dNSName", "gw.example.org")
	noSAN := mkCert(t, certSpec{cn: "nosan", key: "p256", pathLen: -1}, p.inter)
	wantErr(t, BindID(noSAN.cert, mustID(t, "198.18.0.1")), ErrIDMismatch, "has none")
}

func TestMatchID(t *testing.T) {
	cases := []struct {
		pattern, got string
		want         bool
	}{
		{"%any", "198.18.0.1", true},
		{"%any", "C=CH, CN=x", true},
		{"198.18.0.1", "198.18.0.1", true},
		{"198.18.0.1", "198.18.0.2", false},
		{"198.18.0.1", "::ffff:198.18.0.1", true}, // ParseID unmaps
		{"gw.example.org", "GW.EXAMPLE.org", true},
		{"gw.example.org", "gw.example.org.evil", false},
		{"*.example.org", "gw.example.org", true},
		{"*.example.org", ".example.org", false},
		{"*.example.org", "gw.example.com", false},
		{"*", "anything.example", true},
		{"*@example.org", "ops@EXAMPLE.org", true},
		{"*@example.org", "ops@example.net", false},
		{"gw.example.org", "ops@gw.example.org", false}, // type differs
		{"C=CH, O=Example, CN=gw", "C=CH, O=example, CN=GW", true},
		{"C=CH, O=Example, CN=*", "C=CH, O=Example, CN=anyone", true},
		{"C=CH, O=*, CN=*", "C=CH, O=Other, CN=anyone", true},
		{"C=CH, O=Example, CN=*", "C=CH, O=Other, CN=anyone", false},
		{"C=CH, O=Example, CN=*", "C=CH, O=Example, OU=x, CN=anyone", false}, // RDN count
		{"C=CH, O=Example, CN=*", "C=CH, OU=Example, CN=anyone", false},      // attribute type
		{"C=CH, CN=*, O=Example", "C=CH, O=Example, CN=anyone", false},       // order
		{"CN=gw+OU=a", "OU=a+CN=gw", true},                                   // multi-valued RDN as a set
		{"@#0102", "@#0102", true},
		{"@#0102", "@#0103", false},
		{"C=CH, CN=x", "x", false},
	}
	for _, c := range cases {
		if got := MatchID(mustID(t, c.pattern), mustID(t, c.got)); got != c.want {
			t.Errorf("MatchID(%q, %q) = %v", c.pattern, c.got, got)
		}
	}
	if MatchID(mustID(t, "gw"), AnyID) {
		t.Error("a received %any matched a name")
	}
	if MatchID(mustID(t, "C=CH"), Identity{Type: IDDN, Data: []byte{1}}) {
		t.Error("broken DN matched")
	}
}

func TestDNStringTypes(t *testing.T) {
	// The same CN in every string type X.520 allows compares equal (RFC 5280 §7.1).
	mk := func(tag int, b []byte) []byte {
		der, _ := asn1.Marshal(pkix.RDNSequence{{{Type: asn1.ObjectIdentifier{2, 5, 4, 3}, Value: asn1.RawValue{Tag: tag, Bytes: b}}}})
		return der
	}
	want := mk(asn1.TagUTF8String, []byte("Zürich"))
	for _, c := range []struct {
		name string
		der  []byte
	}{
		{"BMPString", mk(asn1.TagBMPString, []byte{0, 'Z', 0, 0xfc, 0, 'r', 0, 'i', 0, 'c', 0, 'h'})},
		{"T61String", mk(asn1.TagT61String, []byte{'Z', 0xfc, 'r', 'i', 'c', 'h'})},
		{"UniversalString", mk(28, []byte{0, 0, 0, 'Z', 0, 0, 0, 0xfc, 0, 0, 0, 'r', 0, 0, 0, 'i', 0, 0, 0, 'c', 0, 0, 0, 'h'})},
	} {
		if !dnEqualDER(want, c.der) || FormatDN(c.der) != "CN=Zürich" {
			t.Errorf("%s: %q", c.name, FormatDN(c.der))
		}
	}
	// Broken encodings and other values fall back to byte comparison and #hex printing.
	odd := mk(asn1.TagBMPString, []byte{0, 'Z', 0})
	if dnEqualDER(want, odd) || FormatDN(odd) != "CN=#1e03005a00" {
		t.Errorf("odd BMPString: %q", FormatDN(odd))
	}
	octets := mk(asn1.TagOctetString, []byte("Zürich"))
	if dnEqualDER(want, octets) || !dnEqualDER(octets, octets) {
		t.Error("OCTET STRING value compared as text")
	}
	if MatchID(Identity{Type: IDDN, Data: mustID(t, "CN=*").Data}, Identity{Type: IDDN, Data: octets}) != true {
		t.Error("wildcard does not match a non-string value")
	}
}

func TestAccessors(t *testing.T) {
	p := standardPKI(t)
	tr := mustTrust(t, []*x509.Certificate{p.root.cert}, p.leaf.cert)
	if len(tr.Anchors()) != 1 || tr.Pinned() != p.leaf.cert {
		t.Fatal("Trust accessors")
	}
	for s, h := range map[Scheme]HashAlg{RSAPKCS1SHA256: HashSHA256, RSAPSSSHA384: HashSHA384, ECDSASHA512: HashSHA512, Ed25519: HashIdentity, SchemeNone: 0} {
		if s.HashAlg() != h {
			t.Errorf("%v.HashAlg() = %v", s, s.HashAlg())
		}
	}
	if Ed25519.Hash() != 0 || RSAPSSSHA256.Hash().Size() != 32 || HashAlg(9).String() != "HASH_9" || HashSHA1.String() != "SHA1" {
		t.Error("Hash / String")
	}
}

func TestLoadTrustFiles(t *testing.T) {
	p := standardPKI(t)
	dir := t.TempDir()
	ca := writeFile(t, dir, "ca.pem", certsPEM(p.root.cert, p.inter.cert), 0o644)
	remote := writeFile(t, dir, "remote.pem", certsPEM(p.leaf.cert), 0o644)
	crl := writeFile(t, dir, "crl.der", mkCRL(t, p.inter, validTo, p.leaf.cert).Raw, 0o644)
	tr, err := LoadTrust([]string{ca}, remote, []string{crl})
	wantErr(t, err, nil)
	_, err = tr.Verify([]*x509.Certificate{p.leaf.cert}, testNow)
	wantErr(t, err, ErrRevoked)
	_, err = LoadTrust([]string{writeFile(t, dir, "leaf.pem", certsPEM(p.leaf.cert), 0o644)}, "", nil)
	wantErr(t, err, ErrNotCA, "cacerts", "leaf.pem")
	_, err = LoadTrust([]string{ca}, ca, nil)
	wantErr(t, err, ErrFile, "remote_cert", "exactly one")
	_, err = LoadTrust([]string{ca}, "", []string{ca})
	wantErr(t, err, ErrFile, "crls")
	_, err = LoadTrust([]string{dir + "/none.pem"}, "", nil)
	wantErr(t, err, ErrFile, "cacerts", "does not exist")
}
