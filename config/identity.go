package config

import (
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/hex"
	"fmt"
	"net/netip"
	"strings"
	"unicode/utf8"
)

// IDType is the kind of an Identity. The values are the Identification Type numbers of
// RFC 2407 §4.6.2.1 (IKEv1), which RFC 7296 §3.5 keeps for the same types in IKEv2; IDAny
// (0) is not sent on the wire: it matches any authenticated peer identity.
// IDType is a value type, safe for concurrent use.
type IDType uint8

// Identity types (RFC 2407 §4.6.2.1, RFC 7296 §3.5).
const (
	IDAny      IDType = 0  // "%any": accept any authenticated identity
	IDIPv4     IDType = 1  // ID_IPV4_ADDR
	IDFQDN     IDType = 2  // ID_FQDN
	IDUserFQDN IDType = 3  // ID_USER_FQDN (IKEv2: ID_RFC822_ADDR)
	IDIPv6     IDType = 5  // ID_IPV6_ADDR
	IDDN       IDType = 9  // ID_DER_ASN1_DN
	IDKeyID    IDType = 11 // ID_KEY_ID: opaque bytes, strongSwan's "@#hex"
)

func (t IDType) String() string {
	switch t {
	case IDAny:
		return "any"
	case IDIPv4:
		return "ipv4"
	case IDFQDN:
		return "fqdn"
	case IDUserFQDN:
		return "user-fqdn"
	case IDIPv6:
		return "ipv6"
	case IDDN:
		return "dn"
	case IDKeyID:
		return "keyid"
	}
	return fmt.Sprintf("idtype(%d)", uint8(t))
}

// Identity is a parsed local_id or remote_id, in strongSwan's notation: an IPv4 or IPv6
// address, an FQDN ("site-a.example", or "@site-a.example" as strongSwan spells a forced
// FQDN), a user@FQDN ("ops@site-a.example", or "@@ops" forced), an X.500 distinguished name
// ("C=CH, O=Example, CN=site-a"), a key ID ("@#0102abcd": the hex-encoded bytes), "%any", or
// one of those with strongSwan's explicit type prefix (see typePrefixes).
//
// When the key is absent the identity defaults to local_addr / remote_addr: an address
// identity if that is an IP literal (FromAddr true). If it is "%any" (local_addr) or a DNS
// name (remote_addr), the identity is IDAny with FromAddr true, meaning "the IP address in use
// at run time", as strongSwan does.
//
// Identity is immutable after Load and safe for concurrent use.
type Identity struct {
	Type     IDType
	Raw      string           // as written (or the address it was defaulted from)
	Addr     netip.Addr       // IDIPv4, IDIPv6
	DN       pkix.RDNSequence // IDDN, in the order written
	Data     []byte           // the Identification Data to send: address bytes, the name, or the DER DN; nil for IDAny
	FromAddr bool             // not configured: derived from local_addr / remote_addr
}

// String returns the identity as written, or "%any".
func (id Identity) String() string {
	if id.Raw == "" {
		return "%any"
	}
	return id.Raw
}

// dnAttributes maps the DN attribute keywords strongSwan and OpenSSL print to their OIDs
// (RFC 4519 and RFC 5280 Appendix A). Matching is case-insensitive.
var dnAttributes = map[string]asn1.ObjectIdentifier{
	"c":            {2, 5, 4, 6},
	"st":           {2, 5, 4, 8},
	"s":            {2, 5, 4, 8},
	"l":            {2, 5, 4, 7},
	"o":            {2, 5, 4, 10},
	"ou":           {2, 5, 4, 11},
	"cn":           {2, 5, 4, 3},
	"sn":           {2, 5, 4, 4},
	"serialnumber": {2, 5, 4, 5},
	"street":       {2, 5, 4, 9},
	"title":        {2, 5, 4, 12},
	"postalcode":   {2, 5, 4, 17},
	"g":            {2, 5, 4, 42},
	"givenname":    {2, 5, 4, 42},
	"i":            {2, 5, 4, 43},
	"initials":     {2, 5, 4, 43},
	"dnqualifier":  {2, 5, 4, 46},
	"pseudonym":    {2, 5, 4, 65},
	"e":            {1, 2, 840, 113549, 1, 9, 1},
	"email":        {1, 2, 840, 113549, 1, 9, 1},
	"emailaddress": {1, 2, 840, 113549, 1, 9, 1},
	"dc":           {0, 9, 2342, 19200300, 100, 1, 25},
	"uid":          {0, 9, 2342, 19200300, 100, 1, 1},
}

// ia5Attributes are encoded as IA5String (RFC 5280 Appendix A: emailAddress, domainComponent).
func ia5Attribute(oid asn1.ObjectIdentifier) bool {
	return oid.Equal(dnAttributes["e"]) || oid.Equal(dnAttributes["dc"])
}

// parseIdentity parses a local_id / remote_id value.
func parseIdentity(s string) (Identity, error) {
	id := Identity{Raw: s}
	t := strings.TrimSpace(s)
	switch {
	case t == "":
		return id, fmt.Errorf("empty identity; want an IP address, FQDN, user@FQDN, DN or %%any")
	case len(t) > 1024:
		return id, fmt.Errorf("identity longer than 1024 bytes")
	case t == "%any":
		id.Type = IDAny
		return id, nil
	}
	if prefix, value, ok := strings.Cut(t, ":"); ok {
		if typ, known := typePrefixes[strings.ToLower(prefix)]; known {
			return typedIdentity(s, prefix, typ, value)
		}
	}
	if a, err := netip.ParseAddr(t); err == nil && a.Zone() == "" {
		return addrIdentity(s, a.Unmap()), nil
	}
	if strings.HasPrefix(t, "@#") { // strongSwan: "@#" + hex = ID_KEY_ID
		data, err := decodeIDHex(t[2:])
		if err != nil {
			return id, fmt.Errorf("identity %q: a key ID is \"@#\" followed by %v", s, err)
		}
		id.Type, id.Data = IDKeyID, data
		return id, nil
	}
	if strings.Contains(t, "=") {
		rdns, err := parseDN(t)
		if err != nil {
			return id, err
		}
		der, err := asn1.Marshal(rdns)
		if err != nil {
			return id, fmt.Errorf("DN %q cannot be encoded: %v", t, err)
		}
		id.Type, id.DN, id.Data = IDDN, rdns, der
		return id, nil
	}
	if !utf8.ValidString(t) || strings.ContainsFunc(t, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		return id, fmt.Errorf("identity %q contains spaces or control characters; a DN needs attribute=value pairs", s)
	}
	if strings.HasPrefix(t, "@@") { // strongSwan: "@@name" forces a user FQDN
		if t == "@@" {
			return id, fmt.Errorf("identity %q: want @@ followed by a user name, e.g. @@ops@site-a.example", s)
		}
		id.Type, id.Data = IDUserFQDN, []byte(t[2:])
		return id, nil
	}
	if strings.HasPrefix(t, "@") { // strongSwan: "@name" forces an FQDN
		t = t[1:]
		if t == "" || strings.Contains(t, "@") {
			return id, fmt.Errorf("identity %q: want @FQDN, e.g. @site-a.example", s)
		}
		id.Type, id.Data = IDFQDN, []byte(t)
		return id, nil
	}
	if user, domain, ok := strings.Cut(t, "@"); ok {
		if user == "" || domain == "" || strings.Contains(domain, "@") {
			return id, fmt.Errorf("identity %q: want user@FQDN, e.g. ops@site-a.example", s)
		}
		id.Type, id.Data = IDUserFQDN, []byte(t)
		return id, nil
	}
	id.Type, id.Data = IDFQDN, []byte(t)
	return id, nil
}

// typePrefixes are strongSwan's explicit identity types ("keyid:#0102", "fqdn:vpn.example",
// "email:ops@site.example"), matched case-insensitively. After the prefix a value starting
// with '#' is hex-encoded binary (allowed where the type is binary: keyid, asn1dn, ipv4,
// ipv6); anything else is the textual form of that type.
var typePrefixes = map[string]IDType{
	"ipv4":     IDIPv4,
	"ipv6":     IDIPv6,
	"fqdn":     IDFQDN,
	"dns":      IDFQDN,
	"rfc822":   IDUserFQDN,
	"email":    IDUserFQDN,
	"userfqdn": IDUserFQDN,
	"asn1dn":   IDDN,
	"keyid":    IDKeyID,
}

// typedIdentity parses the value after an explicit type prefix.
func typedIdentity(raw, prefix string, typ IDType, value string) (Identity, error) {
	id := Identity{Raw: raw, Type: typ}
	bad := func(format string, args ...any) (Identity, error) {
		return id, fmt.Errorf("identity %q: %s: %s", raw, prefix, fmt.Sprintf(format, args...))
	}
	if value == "" {
		return bad("empty value")
	}
	var bin []byte
	if strings.HasPrefix(value, "#") {
		if typ != IDKeyID && typ != IDDN && typ != IDIPv4 && typ != IDIPv6 {
			return bad("write the name as text; '#' (hex) is for keyid, asn1dn, ipv4 and ipv6")
		}
		var err error
		if bin, err = decodeIDHex(value[1:]); err != nil {
			return bad("'#' must be followed by %v", err)
		}
	} else if strings.ContainsFunc(value, func(r rune) bool { return r < ' ' || r == 0x7f }) || !utf8.ValidString(value) {
		return bad("contains control characters or is not UTF-8")
	}
	switch typ {
	case IDIPv4, IDIPv6:
		var a netip.Addr
		if bin != nil {
			a, _ = netip.AddrFromSlice(bin)
		} else if p, err := netip.ParseAddr(value); err == nil && p.Zone() == "" {
			a = p
		}
		if !a.IsValid() || a.Is4() != (typ == IDIPv4) { // 4 bytes for ipv4, 16 for ipv6
			return bad("not an IPv%s address", map[IDType]string{IDIPv4: "4", IDIPv6: "6"}[typ])
		}
		id.Addr, id.Data = a, a.AsSlice()
	case IDDN:
		if bin != nil {
			var rdns pkix.RDNSequence
			if rest, err := asn1.Unmarshal(bin, &rdns); err != nil || len(rest) > 0 {
				return bad("the hex is not one DER-encoded distinguished name")
			}
			id.DN, id.Data = rdns, bin
			break
		}
		rdns, err := parseDN(value)
		if err != nil {
			return bad("%v", err)
		}
		der, err := asn1.Marshal(rdns)
		if err != nil {
			return bad("cannot be encoded: %v", err)
		}
		id.DN, id.Data = rdns, der
	case IDKeyID:
		if bin == nil {
			bin = []byte(value)
		}
		id.Data = bin
	default: // FQDN, user FQDN: the text itself
		if strings.ContainsRune(value, ' ') {
			return bad("contains spaces")
		}
		id.Data = []byte(value)
	}
	return id, nil
}

// decodeIDHex decodes the hex of a key ID: a non-empty, even number of hex digits.
func decodeIDHex(h string) ([]byte, error) {
	switch {
	case h == "":
		return nil, fmt.Errorf("hex digits, and there are none")
	case len(h)%2 != 0:
		return nil, fmt.Errorf("an even number of hex digits, not %d", len(h))
	}
	b, err := hex.DecodeString(h)
	if err != nil {
		return nil, fmt.Errorf("hex digits only (0-9, a-f)")
	}
	return b, nil
}

func addrIdentity(raw string, a netip.Addr) Identity {
	id := Identity{Raw: raw, Addr: a, Type: IDIPv4}
	if a.Is6() {
		id.Type = IDIPv6
	}
	id.Data = a.AsSlice()
	return id
}

// parseDN parses an RFC 4514-like string "C=CH, O=Example, CN=site-a" in the order written
// (strongSwan's order, which is also the DER order). RDNs are separated by commas, attributes
// of one multi-valued RDN by '+'; a value may be "quoted" or use backslash escapes (\, \+ \"
// \\ \= or two hex digits).
func parseDN(s string) (pkix.RDNSequence, error) {
	var seq pkix.RDNSequence
	var set pkix.RelativeDistinguishedNameSET
	var cur strings.Builder
	var attr string
	inQuote, haveAttr := false, false
	flush := func(endRDN bool) error {
		val := strings.TrimSpace(cur.String())
		cur.Reset()
		if !haveAttr {
			return fmt.Errorf("DN %q: %q is not attribute=value", s, val)
		}
		if val == "" {
			return fmt.Errorf("DN %q: attribute %s has an empty value", s, attr)
		}
		oid, err := dnOID(attr)
		if err != nil {
			return fmt.Errorf("DN %q: %v", s, err)
		}
		var v any = val
		if ia5Attribute(oid) {
			for _, r := range []byte(val) {
				if r >= 0x80 {
					return fmt.Errorf("DN %q: %s must be ASCII (IA5String)", s, attr)
				}
			}
			v = asn1.RawValue{Tag: asn1.TagIA5String, Bytes: []byte(val)}
		}
		set = append(set, pkix.AttributeTypeAndValue{Type: oid, Value: v})
		haveAttr = false
		if endRDN {
			seq = append(seq, set)
			set = nil
		}
		return nil
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\':
			if i+1 >= len(s) {
				return nil, fmt.Errorf("DN %q ends in a lone backslash", s)
			}
			if i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]) {
				b, _ := hex.DecodeString(s[i+1 : i+3])
				cur.Write(b)
				i += 2
			} else {
				cur.WriteByte(s[i+1])
				i++
			}
		case c == '"':
			inQuote = !inQuote
		case inQuote:
			cur.WriteByte(c)
		case c == '=' && !haveAttr:
			attr, haveAttr = strings.TrimSpace(cur.String()), true
			cur.Reset()
		case c == ',' || c == '+':
			if err := flush(c == ','); err != nil {
				return nil, err
			}
		default:
			cur.WriteByte(c)
		}
	}
	if inQuote {
		return nil, fmt.Errorf("DN %q has an unterminated quote", s)
	}
	if err := flush(true); err != nil {
		return nil, err
	}
	return seq, nil
}

func dnOID(attr string) (asn1.ObjectIdentifier, error) {
	if oid, ok := dnAttributes[strings.ToLower(attr)]; ok {
		return oid, nil
	}
	if strings.Count(attr, ".") >= 1 { // a dotted OID such as 2.5.4.3
		var oid asn1.ObjectIdentifier
		for _, part := range strings.Split(attr, ".") {
			n := 0
			if part == "" || len(part) > 9 {
				return nil, fmt.Errorf("attribute %q is not a dotted OID", attr)
			}
			for _, d := range []byte(part) {
				if d < '0' || d > '9' {
					return nil, fmt.Errorf("attribute %q is not a dotted OID", attr)
				}
				n = n*10 + int(d-'0')
			}
			oid = append(oid, n)
		}
		if oid[0] > 2 || oid[0] < 2 && oid[1] > 39 {
			return nil, fmt.Errorf("attribute %q is not a valid OID", attr)
		}
		return oid, nil
	}
	return nil, fmt.Errorf("unknown attribute %q; want C, ST, L, O, OU, CN, SN, serialNumber, E, DC, UID, title, street, postalCode, givenName, initials, dnQualifier, pseudonym or a dotted OID", attr)
}

func isHex(c byte) bool { return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' }
