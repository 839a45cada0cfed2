package pki

import (
	"bytes"
	"crypto/sha1"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"math/big"
	"net/netip"
	"strings"
)

// BindID checks that the identity a peer sent is bound to its end-entity certificate
// (RFC 4945 §3.1, as strongSwan's x509 has_subject checks it):
//
//   - ID_IPV4_ADDR / ID_IPV6_ADDR: an iPAddress subjectAltName equal to it (RFC 4945 §3.1.1);
//   - ID_FQDN: a dNSName subjectAltName, compared case-insensitively (§3.1.2); a wildcard
//     dNSName in the certificate does not match (strongSwan does not either);
//   - ID_USER_FQDN: an rfc822Name subjectAltName, case-insensitively (§3.1.3);
//   - ID_DER_ASN1_DN: the subject, compared semantically (RFC 5280 §7.1: same RDNs and
//     attribute types in order, string values after space folding and case folding) (§3.1.5);
//   - ID_DER_ASN1_GN: the GeneralName is decoded and bound as the matching type above
//     (rfc822Name, dNSName, iPAddress, directoryName against the subject);
//   - ID_KEY_ID (§3.1.7 leaves it to local policy): strongSwan accepts a key ID equal to the
//     SHA-1 of the whole certificate, the subjectKeyIdentifier, the SHA-1 of the
//     SubjectPublicKeyInfo, the SHA-1 of the subjectPublicKey bits, or the serial number's
//     content octets; BindID accepts the same five.
//
// The result is nil or an error matching ErrIDMismatch (ErrMalformed for broken ID data).
func BindID(cert *x509.Certificate, id Identity) error {
	if cert == nil {
		return errorf(ErrIDMismatch, "no certificate to bind identity %s to", id)
	}
	subject := FormatDN(cert.RawSubject)
	if id.Any {
		return certErr(ErrIDMismatch, subject, "%%any is not an identity a peer can prove")
	}
	mismatch := func(where string) error {
		return certErr(ErrIDMismatch, subject, "identity %s (%s) matches no %s", id, id.Type, where)
	}
	switch id.Type {
	case IDIPv4, IDIPv6:
		a, ok := netip.AddrFromSlice(id.Data)
		if !ok || (id.Type == IDIPv4) != (len(id.Data) == 4) {
			return errorf(ErrMalformed, "%s of %d bytes", id.Type, len(id.Data))
		}
		if !hasIP(cert, a) {
			return mismatch("iPAddress subjectAltName" + sanList(cert.IPAddresses))
		}
	case IDFQDN:
		if !hasName(cert.DNSNames, string(id.Data)) {
			return mismatch("dNSName subjectAltName" + sanList(cert.DNSNames))
		}
	case IDUserFQDN:
		if !hasName(cert.EmailAddresses, string(id.Data)) {
			return mismatch("rfc822Name subjectAltName" + sanList(cert.EmailAddresses))
		}
	case IDDN:
		if _, err := parseDN(id.Data); err != nil {
			return err
		}
		if !dnEqualDER(cert.RawSubject, id.Data) {
			return mismatch("subject DN")
		}
	case IDGN:
		g, err := parseGeneralName(id.Data)
		if err != nil {
			return err
		}
		ok := false
		switch g.tag {
		case 1:
			ok = hasName(cert.EmailAddresses, string(g.bytes))
		case 2:
			ok = hasName(cert.DNSNames, string(g.bytes))
		case 4:
			ok = dnEqualDER(cert.RawSubject, g.bytes)
		case 7:
			a, valid := netip.AddrFromSlice(g.bytes)
			ok = valid && hasIP(cert, a)
		}
		if !ok {
			return mismatch("subject or subjectAltName")
		}
	case IDKeyID:
		if !keyIDMatches(cert, id.Data) {
			return mismatch("key identifier (certificate SHA-1, subjectKeyIdentifier, public key SHA-1 or serial)")
		}
	default:
		return errorf(ErrMalformed, "identification type %d cannot name a peer", uint8(id.Type))
	}
	return nil
}

func hasIP(cert *x509.Certificate, a netip.Addr) bool {
	a = a.Unmap()
	for _, ip := range cert.IPAddresses {
		if b, ok := netip.AddrFromSlice(ip); ok && b.Unmap() == a {
			return true
		}
	}
	return false
}

func hasName(names []string, s string) bool {
	for _, n := range names {
		if strings.EqualFold(n, s) {
			return true
		}
	}
	return false
}

// sanList prints up to four SAN values for an error message, escaped.
func sanList[T any](vals []T) string {
	if len(vals) == 0 {
		return " (the certificate has none)"
	}
	var parts []string
	for i, v := range vals {
		if i == 4 {
			parts = append(parts, "...")
			break
		}
		switch v := any(v).(type) {
		case string:
			parts = append(parts, printable([]byte(v)))
		case interface{ String() string }:
			parts = append(parts, v.String())
		}
	}
	return " (it has " + strings.Join(parts, ", ") + ")"
}

// keyIDMatches implements strongSwan's has_subject for ID_KEY_ID.
func keyIDMatches(cert *x509.Certificate, kid []byte) bool {
	if len(kid) == 0 {
		return false
	}
	whole := sha1.Sum(cert.Raw)
	spki := sha1.Sum(cert.RawSubjectPublicKeyInfo)
	switch {
	case bytes.Equal(kid, whole[:]),
		len(cert.SubjectKeyId) > 0 && bytes.Equal(kid, cert.SubjectKeyId),
		bytes.Equal(kid, spki[:]),
		bytes.Equal(kid, serialContent(cert.SerialNumber)):
		return true
	}
	if bits := subjectPublicKeyBits(cert); bits != nil {
		h := sha1.Sum(bits)
		return bytes.Equal(kid, h[:])
	}
	return false
}

// subjectPublicKeyBits returns the subjectPublicKey BIT STRING's bytes.
func subjectPublicKeyBits(cert *x509.Certificate) []byte {
	var spki struct {
		Algorithm pkix.AlgorithmIdentifier
		PublicKey asn1.BitString
	}
	if rest, err := asn1.Unmarshal(cert.RawSubjectPublicKeyInfo, &spki); err != nil || len(rest) != 0 {
		return nil
	}
	return spki.PublicKey.Bytes
}

// serialContent returns the content octets of the DER INTEGER encoding of n.
func serialContent(n *big.Int) []byte {
	if n == nil {
		return nil
	}
	der, err := asn1.Marshal(n)
	if err != nil || len(der) < 2 {
		return nil
	}
	var rv asn1.RawValue
	if _, err := asn1.Unmarshal(der, &rv); err != nil {
		return nil
	}
	return rv.Bytes
}

// MatchID reports whether a peer's (authenticated) identity got satisfies the configured
// remote_id pattern, as strongSwan's identification matches does:
//
//   - %any matches every identity;
//   - otherwise the types must be equal;
//   - FQDN and user@FQDN compare case-insensitively; a pattern "*" matches any name of its
//     type and "*suffix" any name, at least as long as the pattern, that ends in suffix
//     ("*.example.org", "*@example.org");
//   - a DN pattern matches a DN with the same number of RDNs and the same attribute types in
//     the same order, where a value of exactly "*" matches any value of that attribute and
//     the other values compare as in BindID;
//   - addresses, key IDs and GeneralNames compare byte for byte.
func MatchID(pattern, got Identity) bool {
	if pattern.Any {
		return true
	}
	if got.Any || pattern.Type != got.Type {
		return false
	}
	switch pattern.Type {
	case IDFQDN, IDUserFQDN:
		p, g := pattern.Data, got.Data
		if bytes.EqualFold(p, g) {
			return len(g) > 0
		}
		if len(p) == 0 || p[0] != '*' {
			return false
		}
		if len(p) == 1 {
			return len(g) > 0
		}
		return len(g) >= len(p) && bytes.EqualFold(g[len(g)-(len(p)-1):], p[1:])
	case IDDN:
		pd, err := parseDN(pattern.Data)
		if err != nil {
			return false
		}
		gd, err := parseDN(got.Data)
		if err != nil {
			return false
		}
		return dnMatch(pd, gd, true)
	}
	return len(got.Data) > 0 && bytes.Equal(pattern.Data, got.Data)
}
