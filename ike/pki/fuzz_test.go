package pki

import (
	"bytes"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// Every decoder of received bytes has a fuzz target; the seed corpora are checked in under
// testdata/fuzz/FuzzXxx and regenerated with `go test -run TestFuzzSeeds -update-seeds`.

var updateSeeds = flag.Bool("update-seeds", false, "rewrite the checked-in fuzz seed corpora")

// noControl fails if a printed value could break a log line.
func noControl(t *testing.T, s string) {
	t.Helper()
	for _, r := range s {
		if r < 0x20 || r == 0x7f || r == 0x2028 || r == 0x2029 || r == 0x202e {
			t.Fatalf("printed form %q contains control character %U", s, r)
		}
	}
}

func FuzzParseCertReqV1(f *testing.F) {
	for _, s := range seedsCertReqV1(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		dn, err := ParseCertReqV1(data)
		if err != nil {
			return
		}
		if len(data) == 0 {
			if dn != nil {
				t.Fatal("empty CERTREQ gave a DN")
			}
			return
		}
		noControl(t, FormatDN(dn))
		var r CertRequest
		if err := r.AddV1(data); err != nil || !r.Seen() {
			t.Fatalf("AddV1 refused what ParseCertReqV1 accepted: %v", err)
		}
		if !dnEqualDER(dn, data) {
			t.Fatal("DN not equal to itself")
		}
	})
}

func FuzzParseCertReqV2(f *testing.F) {
	for _, s := range seedsCertReqV2(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		ids, err := ParseCertReqV2(data)
		if err != nil {
			if len(data)%KeyIDLen == 0 {
				t.Fatalf("refused a multiple of %d: %v", KeyIDLen, err)
			}
			return
		}
		var out []byte
		for _, id := range ids {
			out = append(out, id[:]...)
		}
		if !bytes.Equal(out, data) {
			t.Fatal("hashes do not round-trip")
		}
	})
}

func FuzzDecodeSignatureAuth(f *testing.F) {
	for _, s := range seedsSignatureAuth() {
		f.Add(s)
	}
	pubs := []any{testKey(f, "rsa2048").Public(), testKey(f, "p256").Public(), testKey(f, "ed25519").Public()}
	f.Fuzz(func(t *testing.T, data []byte) {
		sa, err := DecodeSignatureAuth(data)
		if err == nil {
			if _, ok := schemes[sa.Scheme]; !ok || len(sa.Signature) == 0 {
				t.Fatalf("accepted %+v", sa)
			}
			if !bytes.HasSuffix(data, sa.Signature) {
				t.Fatal("signature is not the tail of the data")
			}
		}
		for _, pub := range pubs {
			if _, err := VerifyV2(pub, V2DigitalSignature, data, data); err == nil {
				t.Fatal("random data verified")
			}
		}
	})
}

func FuzzParseIdentity(f *testing.F) {
	for _, s := range seedsIdentity(f) {
		f.Add(s.typ, s.data)
	}
	leaf := standardPKI(f).leaf.cert
	f.Fuzz(func(t *testing.T, typ uint8, data []byte) {
		id, err := ParseIdentity(IDType(typ), data)
		if err != nil {
			return
		}
		noControl(t, id.String())
		if !MatchID(id, id) || !id.Equal(id) {
			t.Fatalf("%s does not match itself", id)
		}
		_ = BindID(leaf, id)
	})
}

func FuzzParseID(f *testing.F) {
	for _, s := range seedsIDText() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		id, err := ParseID(s)
		if err != nil || id.Any {
			return
		}
		printed := id.String()
		noControl(t, printed)
		if _, err := ParseIdentity(id.Type, id.Data); err != nil {
			t.Fatalf("ParseID(%q) made wire data ParseIdentity refuses: %v", s, err)
		}
		if !roundTrips(id) {
			return
		}
		back, err := ParseID(printed)
		if err != nil || !back.Equal(id) {
			t.Fatalf("ParseID(%q) printed %q, which parses to %v (%v)", s, printed, back, err)
		}
	})
}

// roundTrips reports whether String's output is meant to parse back: DNs, addresses, key
// IDs, and names of plain printable ASCII that ParseID would not read as another type.
func roundTrips(id Identity) bool {
	switch id.Type {
	case IDDN, IDIPv4, IDIPv6, IDKeyID:
		return true
	case IDFQDN, IDUserFQDN:
		s := string(id.Data)
		if s == "" || s[0] == '@' || s == "*" || strings.ContainsAny(s, "=\\ ") || (id.Type == IDFQDN) == strings.Contains(s, "@") {
			return false
		}
		for _, c := range []byte(s) {
			if c < 0x21 || c > 0x7e {
				return false
			}
		}
		back, err := ParseID(s) // "::" as an FQDN prints like an address
		return err == nil && back.Type == id.Type
	}
	return false
}

func FuzzParseHashAlgs(f *testing.F) {
	f.Add([]byte{0, 2, 0, 3, 0, 4, 0, 5})
	f.Add([]byte{0, 1})
	f.Add([]byte{0})
	f.Fuzz(func(t *testing.T, data []byte) {
		algs, err := ParseHashAlgs(data)
		if err != nil {
			return
		}
		if !bytes.Equal(EncodeHashAlgs(algs), data) {
			t.Fatal("no round trip")
		}
	})
}

// Seeds.

func seedsCertReqV1(tb testing.TB) [][]byte {
	p := standardPKI(tb)
	utf, _ := asn1.Marshal(pkix.Name{CommonName: "Zürich CA", Organization: []string{"a,b"}}.ToRDNSequence())
	return [][]byte{nil, p.root.cert.RawSubject, p.inter.cert.RawSubject, utf, {0x30, 0x00}, {0x30, 0x02, 0x31, 0x00}, append(append([]byte(nil), p.root.cert.RawSubject...), 0)}
}

func seedsCertReqV2(tb testing.TB) [][]byte {
	p := standardPKI(tb)
	return [][]byte{nil, CertReqV2([]*x509.Certificate{p.root.cert, p.inter.cert}), make([]byte, 19)}
}

func seedsSignatureAuth() [][]byte {
	var out [][]byte
	for _, c := range rfc7427AlgIDs {
		der := mustHex(c.der)
		out = append(out, append(append([]byte{byte(len(der))}, der...), 1, 2, 3, 4))
	}
	return append(out, []byte{0}, []byte{5, 0x30, 0x03, 0x06, 0x01, 0x00, 0xff})
}

type idSeed struct {
	typ  uint8
	data []byte
}

func seedsIdentity(tb testing.TB) []idSeed {
	p := standardPKI(tb)
	gn, _ := asn1.Marshal(asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 2, Bytes: []byte("gw.example.org")})
	return []idSeed{
		{1, []byte{198, 18, 0, 1}}, {5, make([]byte, 16)}, {2, []byte("gw.example.org")}, {3, []byte("ops@example.org")},
		{9, p.leaf.cert.RawSubject}, {10, gn}, {11, []byte{1, 2, 3}}, {2, []byte("a\nb")}, {9, []byte{0x30, 0x01}},
	}
}

func seedsIDText() []string {
	return []string{"%any", "198.18.0.1", "2001:db8::1", "gw.example.org", "@gw", "ops@example.org", "@#0102",
		"C=CH, O=Example, CN=gw", `CN=a\+b\, c`, `CN=" x "`, "CN=#0c026777", "CN=*", "2.5.4.3=x+OU=y", "CN=Z\\C3\\BCrich"}
}

// TestFuzzSeeds writes the seed corpora with -update-seeds and otherwise checks that each
// fuzz target has a checked-in corpus.
func TestFuzzSeeds(t *testing.T) {
	corpora := map[string][][]string{}
	for _, b := range seedsCertReqV1(t) {
		corpora["FuzzParseCertReqV1"] = append(corpora["FuzzParseCertReqV1"], []string{goBytes(b)})
	}
	for _, b := range seedsCertReqV2(t) {
		corpora["FuzzParseCertReqV2"] = append(corpora["FuzzParseCertReqV2"], []string{goBytes(b)})
	}
	for _, b := range seedsSignatureAuth() {
		corpora["FuzzDecodeSignatureAuth"] = append(corpora["FuzzDecodeSignatureAuth"], []string{goBytes(b)})
	}
	for _, s := range seedsIdentity(t) {
		corpora["FuzzParseIdentity"] = append(corpora["FuzzParseIdentity"], []string{fmt.Sprintf("uint8(%d)", s.typ), goBytes(s.data)})
	}
	for _, s := range seedsIDText() {
		corpora["FuzzParseID"] = append(corpora["FuzzParseID"], []string{"string(" + strconv.Quote(s) + ")"})
	}
	for _, b := range [][]byte{{0, 2, 0, 3, 0, 4, 0, 5}, {0, 1, 0}} {
		corpora["FuzzParseHashAlgs"] = append(corpora["FuzzParseHashAlgs"], []string{goBytes(b)})
	}
	for name, entries := range corpora {
		dir := filepath.Join("testdata", "fuzz", name)
		if !*updateSeeds {
			files, err := os.ReadDir(dir)
			if err != nil || len(files) == 0 {
				t.Errorf("%s has no checked-in seed corpus (run with -update-seeds)", name)
			}
			continue
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for i, e := range entries {
			body := "go test fuzz v1\n" + strings.Join(e, "\n") + "\n"
			if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("seed%02d", i)), []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func goBytes(b []byte) string {
	var sb strings.Builder
	sb.WriteString(`[]byte("`)
	for _, c := range b {
		fmt.Fprintf(&sb, `\x%02x`, c)
	}
	sb.WriteString(`")`)
	return sb.String()
}
