package pki

import (
	"bytes"
	"encoding/asn1"
	"encoding/hex"
	"fmt"
	"net/netip"
	"strings"
)

// IDType is an Identification Type. RFC 2407 §4.6.2.1 (IKEv1) and RFC 7296 §3.5 (IKEv2) use
// the same numbers for the types a peer authenticates with, so one type serves both.
// IDType is a value type, safe for concurrent use.
type IDType uint8

// Identification types (RFC 2407 §4.6.2.1, RFC 7296 §3.5). The subnet and range types of
// IKEv1 (4, 6, 7, 8) name Phase 2 selectors, never a peer, and are not listed.
const (
	IDIPv4     IDType = 1  // ID_IPV4_ADDR
	IDFQDN     IDType = 2  // ID_FQDN
	IDUserFQDN IDType = 3  // ID_USER_FQDN (IKEv1), ID_RFC822_ADDR (IKEv2)
	IDIPv6     IDType = 5  // ID_IPV6_ADDR
	IDDN       IDType = 9  // ID_DER_ASN1_DN
	IDGN       IDType = 10 // ID_DER_ASN1_GN
	IDKeyID    IDType = 11 // ID_KEY_ID
)

// IDRFC822 is IKEv2's name for IDUserFQDN.
const IDRFC822 = IDUserFQDN

func (t IDType) String() string {
	switch t {
	case IDIPv4:
		return "ID_IPV4_ADDR"
	case IDFQDN:
		return "ID_FQDN"
	case IDUserFQDN:
		return "ID_USER_FQDN"
	case IDIPv6:
		return "ID_IPV6_ADDR"
	case IDDN:
		return "ID_DER_ASN1_DN"
	case IDGN:
		return "ID_DER_ASN1_GN"
	case IDKeyID:
		return "ID_KEY_ID"
	}
	return fmt.Sprintf("ID_TYPE_%d", uint8(t))
}

// maxIDData bounds Identification Data (the ID payload's 16-bit length allows more, no
// identity needs it).
const maxIDData = 4096

// maxIDText bounds the text form ParseID reads: printing escapes a byte as up to three
// characters, so the printed form of maxIDData bytes must still parse back.
const maxIDText = 4 * maxIDData

// Identity is a peer or local identity: the on-wire type and data of an ID payload, or Any
// ("%any", which only a remote_id pattern uses: it matches every authenticated identity).
// Data holds 4 or 16 address bytes, a name (FQDN, user@FQDN), a DER DN, a DER GeneralName or
// the key ID octets. An Identity is a value; do not modify Data after sharing it. It is then
// safe for concurrent use.
type Identity struct {
	Type IDType
	Data []byte
	Any  bool
}

// AnyID is the "%any" identity.
var AnyID = Identity{Any: true}

// ParseIdentity checks received Identification Data of type t (RFC 7296 §3.5, RFC 2407
// §4.6.2.1): address lengths, a name without NUL bytes, a DN or GeneralName that is valid
// DER, a non-empty key ID. The returned Identity keeps its own copy of data.
func ParseIdentity(t IDType, data []byte) (Identity, error) {
	id := Identity{Type: t, Data: bytes.Clone(data)}
	if len(data) == 0 {
		return Identity{}, errorf(ErrMalformed, "%s with empty data", t)
	}
	if len(data) > maxIDData {
		return Identity{}, errorf(ErrMalformed, "%s data longer than %d bytes", t, maxIDData)
	}
	switch t {
	case IDIPv4:
		if len(data) != 4 {
			return Identity{}, errorf(ErrMalformed, "ID_IPV4_ADDR of %d bytes, want 4", len(data))
		}
	case IDIPv6:
		if len(data) != 16 {
			return Identity{}, errorf(ErrMalformed, "ID_IPV6_ADDR of %d bytes, want 16", len(data))
		}
	case IDFQDN, IDUserFQDN:
		if bytes.IndexByte(data, 0) >= 0 {
			return Identity{}, errorf(ErrMalformed, "%s contains a NUL byte", t)
		}
	case IDDN:
		if _, err := parseDN(data); err != nil {
			return Identity{}, errorf(ErrMalformed, "ID_DER_ASN1_DN: %v", trimPrefix(err))
		}
	case IDGN:
		if _, err := parseGeneralName(data); err != nil {
			return Identity{}, err
		}
	case IDKeyID:
	default:
		return Identity{}, errorf(ErrMalformed, "identification type %d cannot name a peer", uint8(t))
	}
	return id, nil
}

// generalName is one decoded GeneralName (RFC 5280 §4.2.1.6).
type generalName struct {
	tag   int // context-specific tag: 1 rfc822Name, 2 dNSName, 4 directoryName, 7 iPAddress, ...
	bytes []byte
}

func parseGeneralName(der []byte) (generalName, error) {
	var rv asn1.RawValue
	rest, err := asn1.Unmarshal(der, &rv)
	if err != nil || len(rest) != 0 || rv.Class != asn1.ClassContextSpecific || rv.Tag > 8 {
		return generalName{}, errorf(ErrMalformed, "ID_DER_ASN1_GN is not one DER GeneralName")
	}
	g := generalName{tag: rv.Tag, bytes: rv.Bytes}
	if rv.Tag == 4 { // directoryName is EXPLICIT: the content is a Name
		if _, err := parseDN(rv.Bytes); err != nil {
			return generalName{}, errorf(ErrMalformed, "ID_DER_ASN1_GN directoryName: %v", trimPrefix(err))
		}
	}
	return g, nil
}

func trimPrefix(err error) string { return strings.TrimPrefix(err.Error(), "pki: ") }

// String prints the identity the way strongSwan does: "%any", an address, a name, a DN
// ("C=CH, O=Example, CN=gw"), "@#" and hex for a key ID. Bytes a peer chose are escaped
// (non-printables as \xNN in names, \XX in DN values), so an ID cannot forge log lines.
func (id Identity) String() string {
	if id.Any {
		return "%any"
	}
	switch id.Type {
	case IDIPv4, IDIPv6:
		if a, ok := netip.AddrFromSlice(id.Data); ok && (id.Type == IDIPv4) == (len(id.Data) == 4) {
			return a.String()
		}
		return "(invalid " + id.Type.String() + ")"
	case IDFQDN, IDUserFQDN:
		return printable(id.Data)
	case IDDN:
		return FormatDN(id.Data)
	case IDGN:
		return "(ASN.1 general name #" + hex.EncodeToString(id.Data) + ")"
	case IDKeyID:
		return "@#" + hex.EncodeToString(id.Data)
	}
	return fmt.Sprintf("(%s #%s)", id.Type, hex.EncodeToString(id.Data))
}

// printable returns b with control, non-ASCII and backslash bytes as \xNN.
func printable(b []byte) string {
	var sb strings.Builder
	for _, c := range b {
		if c < 0x20 || c > 0x7e || c == '\\' {
			fmt.Fprintf(&sb, `\x%02x`, c)
			continue
		}
		sb.WriteByte(c)
	}
	return sb.String()
}

// ParseID parses the text form of an identity, as CONFIG.md's local_id and remote_id and
// strongSwan write them: "%any"; an IPv4 or IPv6 address; "@#" and hex for a key ID;
// "@name" (a forced FQDN); a DN ("C=CH, O=Example, CN=gw", with "*" as a whole value for a
// wildcard in remote_id); user@FQDN; otherwise an FQDN (which may start with "*" as a
// remote_id wildcard). It is the inverse of Identity.String for every type but IDGN.
func ParseID(s string) (Identity, error) {
	t := trimBlanks(s)
	switch {
	case t == "":
		return Identity{}, errorf(ErrMalformed, "empty identity; want an address, FQDN, user@FQDN, DN, @#keyid or %%any")
	case len(t) > maxIDText:
		return Identity{}, errorf(ErrMalformed, "identity longer than %d bytes", maxIDText)
	case t == "%any" || t == "*":
		return AnyID, nil
	}
	if a, err := netip.ParseAddr(t); err == nil && a.Zone() == "" {
		a = a.Unmap()
		if a.Is4() {
			return Identity{Type: IDIPv4, Data: a.AsSlice()}, nil
		}
		return Identity{Type: IDIPv6, Data: a.AsSlice()}, nil
	}
	if strings.HasPrefix(t, "@#") {
		k, err := hex.DecodeString(strings.ReplaceAll(t[2:], ":", ""))
		if err != nil || len(k) == 0 || len(k) > maxIDData {
			return Identity{}, errorf(ErrMalformed, "identity %q: @# must be followed by at most %d bytes in hex", t, maxIDData)
		}
		return Identity{Type: IDKeyID, Data: k}, nil
	}
	if strings.Contains(t, "=") {
		d, err := parseDNString(t)
		if err != nil {
			return Identity{}, err
		}
		der, err := d.marshal()
		if err != nil {
			return Identity{}, errorf(ErrMalformed, "DN %q cannot be encoded: %v", t, err)
		}
		if len(der) > maxIDData {
			return Identity{}, errorf(ErrMalformed, "DN longer than %d bytes", maxIDData)
		}
		return Identity{Type: IDDN, Data: der}, nil
	}
	if len(t) > maxIDData {
		return Identity{}, errorf(ErrMalformed, "identity longer than %d bytes", maxIDData)
	}
	if strings.ContainsFunc(t, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		return Identity{}, errorf(ErrMalformed, "identity %q contains blanks or control characters", t)
	}
	if strings.HasPrefix(t, "@") {
		if len(t) == 1 {
			return Identity{}, errorf(ErrMalformed, "identity %q: want @FQDN", t)
		}
		return Identity{Type: IDFQDN, Data: []byte(t[1:])}, nil
	}
	if strings.Contains(t, "@") {
		return Identity{Type: IDUserFQDN, Data: []byte(t)}, nil
	}
	return Identity{Type: IDFQDN, Data: []byte(t)}, nil
}

// trimBlanks removes surrounding blanks but keeps a trailing one escaped by a backslash.
func trimBlanks(s string) string {
	s = strings.TrimLeft(s, " \t\r\n")
	for len(s) > 0 && strings.IndexByte(" \t\r\n", s[len(s)-1]) >= 0 && !(len(s) > 1 && s[len(s)-2] == '\\') {
		s = s[:len(s)-1]
	}
	return s
}

// Equal reports whether two identities are the same: same type and data (names compared
// case-insensitively, DNs semantically as in BindID), or both Any.
func (id Identity) Equal(o Identity) bool {
	if id.Any || o.Any {
		return id.Any == o.Any
	}
	if id.Type != o.Type {
		return false
	}
	switch id.Type {
	case IDFQDN, IDUserFQDN:
		return bytes.EqualFold(id.Data, o.Data)
	case IDDN:
		return dnEqualDER(id.Data, o.Data)
	}
	return bytes.Equal(id.Data, o.Data)
}
