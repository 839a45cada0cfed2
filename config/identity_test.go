package config

import (
	"bytes"
	"crypto/x509/pkix"
	"encoding/asn1"
	"fmt"
	"strings"
	"testing"
)

func TestParseIdentity(t *testing.T) {
	for _, tc := range []struct {
		in   string
		typ  IDType
		data string
	}{
		{"%any", IDAny, ""},
		{"192.0.2.1", IDIPv4, "\xc0\x00\x02\x01"},
		{"2001:db8::1", IDIPv6, "\x20\x01\x0d\xb8" + strings.Repeat("\x00", 11) + "\x01"},
		{"site-a.example", IDFQDN, "site-a.example"},
		{"@site-a.example", IDFQDN, "site-a.example"},
		{"ops@site-a.example", IDUserFQDN, "ops@site-a.example"},
		// strongSwan's "@#hex" is an ID_KEY_ID (it used to be read as the FQDN "#0102abcd").
		{"@#0102abcd", IDKeyID, "\x01\x02\xab\xcd"},
		{"@#0102ABCD", IDKeyID, "\x01\x02\xab\xcd"},
		{"@@ops", IDUserFQDN, "ops"},
		// Explicit type prefixes (strongSwan's identification parser), case-insensitive.
		{"keyid:#0102abcd", IDKeyID, "\x01\x02\xab\xcd"},
		{"KEYID:opaque-text", IDKeyID, "opaque-text"},
		{"fqdn:gw.example", IDFQDN, "gw.example"},
		{"dns:gw.example", IDFQDN, "gw.example"},
		{"email:ops@site-a.example", IDUserFQDN, "ops@site-a.example"},
		{"rfc822:ops", IDUserFQDN, "ops"},
		{"userfqdn:ops@site-a.example", IDUserFQDN, "ops@site-a.example"},
		{"ipv4:192.0.2.1", IDIPv4, "\xc0\x00\x02\x01"},
		{"ipv4:#c0000201", IDIPv4, "\xc0\x00\x02\x01"},
		{"ipv6:2001:db8::1", IDIPv6, "\x20\x01\x0d\xb8" + strings.Repeat("\x00", 11) + "\x01"},
		{"asn1dn:#300c310a300806035504030c0161", IDDN, "\x30\x0c\x31\x0a\x30\x08\x06\x03\x55\x04\x03\x0c\x01\x61"},
		// Not a prefix: an FQDN with a colon stays what it was.
		{"host:500", IDFQDN, "host:500"},
	} {
		id, err := parseIdentity(tc.in)
		if err != nil || id.Type != tc.typ || string(id.Data) != tc.data || id.Raw != tc.in || id.String() != tc.in {
			t.Errorf("%q = %+v, %v; want type %v data %q", tc.in, id, err, tc.typ, tc.data)
		}
	}
}

func TestParseDN(t *testing.T) {
	id, err := parseIdentity(`C=CH, O=Example, CN=site-a`)
	if err != nil || id.Type != IDDN {
		t.Fatalf("%+v, %v", id, err)
	}
	// The same DN built by encoding/asn1 from pkix.Name's attribute types.
	want, _ := asn1.Marshal(pkix.RDNSequence{
		{{Type: asn1.ObjectIdentifier{2, 5, 4, 6}, Value: "CH"}},
		{{Type: asn1.ObjectIdentifier{2, 5, 4, 10}, Value: "Example"}},
		{{Type: asn1.ObjectIdentifier{2, 5, 4, 3}, Value: "site-a"}},
	})
	if !bytes.Equal(id.Data, want) {
		t.Errorf("DER %x, want %x", id.Data, want)
	}
	var back pkix.RDNSequence
	if rest, err := asn1.Unmarshal(id.Data, &back); err != nil || len(rest) != 0 {
		t.Fatalf("DER does not parse back: %v", err)
	}
	var name pkix.Name
	name.FillFromRDNSequence(&back)
	if name.CommonName != "site-a" || name.Country[0] != "CH" || name.Organization[0] != "Example" {
		t.Errorf("name = %+v", name)
	}

	for _, tc := range []struct {
		in   string
		want [][]string // per RDN, attribute values
	}{
		{`CN="a, b", O=x\,y`, [][]string{{"a, b"}, {"x,y"}}},
		{`CN=a+UID=b, DC=example`, [][]string{{"a", "b"}, {"example"}}},
		{`CN=caf\c3\a9`, [][]string{{"café"}}},
		{`2.5.4.3=plain, E=ops@example.com`, [][]string{{"plain"}, {"ops@example.com"}}},
	} {
		seq, err := parseDN(tc.in)
		if err != nil || len(seq) != len(tc.want) {
			t.Errorf("%q = %v, %v", tc.in, seq, err)
			continue
		}
		for i, rdn := range seq {
			for j, atv := range rdn {
				v := atv.Value
				if raw, ok := v.(asn1.RawValue); ok {
					v = string(raw.Bytes)
				}
				if j >= len(tc.want[i]) || v != tc.want[i][j] {
					t.Errorf("%q: RDN %d attr %d = %v", tc.in, i, j, v)
				}
			}
		}
		if _, err := parseIdentity(tc.in); err != nil {
			t.Errorf("%q does not encode: %v", tc.in, err)
		}
	}

	for _, tc := range []struct{ in, frag string }{
		{"C=CH, X=1", `unknown attribute "X"`},
		{"CN=", "empty value"},
		{"CN=a, , O=b", "is not attribute=value"},
		{`CN="open`, "unterminated quote"},
		{`CN=a\`, "lone backslash"},
		{"3.1=x", "not a valid OID"}, {"1.40=x", "not a valid OID"},
		{"a.b=x", "not a dotted OID"},
		{"E=caf\u00e9@example", "must be ASCII"},
		{"site b", "contains spaces"},
		{"a@", "want user@FQDN"},
		{"@", "want @FQDN"},
		{"", "empty identity"},
		{"@#", "a key ID is \"@#\" followed by hex digits, and there are none"},
		{"@#123", "an even number of hex digits, not 3"},
		{"@#01zz", "hex digits only"},
		{"@@", "want @@ followed by a user name"},
		{"keyid:#", "'#' must be followed by hex digits"},
		{"keyid:", "empty value"},
		{"fqdn:#6162", "write the name as text"},
		{"fqdn:a b", "contains spaces"},
		{"email:a\x01b", "control characters"},
		{"ipv4:2001:db8::1", "not an IPv4 address"},
		{"ipv4:#c00002", "not an IPv4 address"},
		{"ipv6:192.0.2.1", "not an IPv6 address"},
		{"asn1dn:#0102", "not one DER-encoded distinguished name"},
		{"asn1dn:CN=a, X=b", `unknown attribute "X"`},
	} {
		if _, err := parseIdentity(tc.in); err == nil || !strings.Contains(err.Error(), tc.frag) {
			t.Errorf("%q: %v, want ...%s...", tc.in, err, tc.frag)
		}
	}
}

// TestAsn1DNPrefix: asn1dn: in text form gives the same DER as the bare DN.
func TestAsn1DNPrefix(t *testing.T) {
	a, err1 := parseIdentity("asn1dn:C=CH, CN=site-a")
	b, err2 := parseIdentity("C=CH, CN=site-a")
	if err1 != nil || err2 != nil || !bytes.Equal(a.Data, b.Data) || len(a.DN) != 2 {
		t.Errorf("%+v %v / %+v %v", a, err1, b, err2)
	}
	hexDN, err := parseIdentity("asn1dn:#" + strings.ToUpper(fmt.Sprintf("%x", b.Data)))
	if err != nil || !bytes.Equal(hexDN.Data, b.Data) || len(hexDN.DN) != 2 {
		t.Errorf("hex DN = %+v, %v", hexDN, err)
	}
}

// TestKeyIDInConfig: remote_id = "@#0102abcd" arrives as a key ID, and a malformed one is an
// error at its line.
func TestKeyIDInConfig(t *testing.T) {
	cfg, err := Parse("k.toml", []byte(expand(strings.Replace(minimal, "psk =", "remote_id = \"@#0102abcd\"\npsk =", 1))), "")
	if err != nil {
		t.Fatal(err)
	}
	if id := cfg.Connections[0].RemoteID; id.Type != IDKeyID || !bytes.Equal(id.Data, []byte{1, 2, 0xab, 0xcd}) || id.String() != "@#0102abcd" || id.Type.String() != "keyid" {
		t.Errorf("remote_id = %+v", id)
	}
	_, err = Parse("k.toml", []byte(expand(strings.Replace(minimal, "psk =", "remote_id = \"@#0102abc\"\npsk =", 1))), "")
	if es := asErrors(t, err); !hasError(es, 4, `remote_id: identity "@#0102abc": a key ID is "@#" followed by an even number of hex digits, not 7`) {
		t.Errorf("got %v", err)
	}
}
