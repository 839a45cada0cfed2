package config

import (
	"bytes"
	"crypto/x509/pkix"
	"encoding/asn1"
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
	} {
		if _, err := parseIdentity(tc.in); err == nil || !strings.Contains(err.Error(), tc.frag) {
			t.Errorf("%q: %v, want ...%s...", tc.in, err, tc.frag)
		}
	}
}
