package core

import (
	"bytes"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/hex"
	"net/netip"
	"strings"
)

// IDType is an identification type. The numbers are those of RFC 2407 §4.6.2.1 (IKEv1),
// which RFC 7296 §3.5 keeps for the same types in IKEv2.
type IDType uint8

// Identification types.
const (
	IDIPv4Addr  IDType = 1  // ID_IPV4_ADDR
	IDFQDN      IDType = 2  // ID_FQDN
	IDUserFQDN  IDType = 3  // ID_USER_FQDN (IKEv2: ID_RFC822_ADDR)
	IDIPv6Addr  IDType = 5  // ID_IPV6_ADDR
	IDDERASN1DN IDType = 9  // ID_DER_ASN1_DN
	IDKeyID     IDType = 11 // ID_KEY_ID
)

func (t IDType) String() string {
	switch t {
	case IDIPv4Addr:
		return "ID_IPV4_ADDR"
	case IDFQDN:
		return "ID_FQDN"
	case IDUserFQDN:
		return "ID_USER_FQDN"
	case IDIPv6Addr:
		return "ID_IPV6_ADDR"
	case IDDERASN1DN:
		return "ID_DER_ASN1_DN"
	case IDKeyID:
		return "ID_KEY_ID"
	}
	return "ID_" + hex.EncodeToString([]byte{byte(t)})
}

// Identity is an IKE identity: a type and its identification data, or Any ("%any"), which
// as a remote identity accepts every authenticated peer and as a local identity means "our
// IP address" (the address identity of the address in use).
//
// Identity is plain data: safe for concurrent reads, not for concurrent mutation.
type Identity struct {
	Type IDType
	Data []byte
	Any  bool
}

// AnyIdentity is "%any".
var AnyIdentity = Identity{Any: true}

// AddrIdentity returns the ID_IPV4_ADDR or ID_IPV6_ADDR identity of a.
func AddrIdentity(a netip.Addr) Identity {
	a = a.Unmap()
	if a.Is4() {
		return Identity{Type: IDIPv4Addr, Data: a.AsSlice()}
	}
	return Identity{Type: IDIPv6Addr, Data: a.AsSlice()}
}

// FQDNIdentity returns the ID_FQDN identity of a domain name.
func FQDNIdentity(name string) Identity { return Identity{Type: IDFQDN, Data: []byte(name)} }

// UserFQDNIdentity returns the ID_USER_FQDN identity of user@domain.
func UserFQDNIdentity(s string) Identity { return Identity{Type: IDUserFQDN, Data: []byte(s)} }

// DNIdentity returns the ID_DER_ASN1_DN identity of a DER-encoded distinguished name.
func DNIdentity(der []byte) Identity { return Identity{Type: IDDERASN1DN, Data: bytes.Clone(der)} }

// KeyIDIdentity returns the ID_KEY_ID identity of opaque bytes (strongSwan's "@#hex").
func KeyIDIdentity(b []byte) Identity { return Identity{Type: IDKeyID, Data: bytes.Clone(b)} }

// String returns the identity the way strongSwan prints it: "%any", an address, a name,
// a DN in RFC 4514 form, "@#hex" for a key ID, or type:hex for the rest.
func (id Identity) String() string {
	if id.Any {
		return "%any"
	}
	return IDString(id.Type, id.Data)
}

// IDString renders identification data of a type for logs and status.
func IDString(t IDType, data []byte) string {
	switch t {
	case IDIPv4Addr, IDIPv6Addr:
		if a, ok := netip.AddrFromSlice(data); ok {
			return a.String()
		}
	case IDFQDN, IDUserFQDN:
		return Printable(data)
	case IDDERASN1DN:
		var rdn pkix.RDNSequence
		if rest, err := asn1.Unmarshal(data, &rdn); err == nil && len(rest) == 0 {
			return Printable([]byte(rdn.String()))
		}
	case IDKeyID:
		return "@#" + hex.EncodeToString(data)
	}
	return t.String() + ":" + hex.EncodeToString(data)
}

// Printable returns b with control and non-ASCII bytes escaped, so a peer's identity cannot
// forge log lines.
func Printable(b []byte) string {
	var sb strings.Builder
	for _, c := range b {
		if c < 0x20 || c > 0x7e || c == '\\' {
			sb.WriteString(`\x`)
			sb.WriteString(hex.EncodeToString([]byte{c}))
			continue
		}
		sb.WriteByte(c)
	}
	return sb.String()
}

// Matches reports whether received identification data of type t is this (remote)
// identity: %any matches every identity; names compare case-insensitively (DNS names are),
// the other types byte for byte.
func (id Identity) Matches(t IDType, data []byte) bool {
	if id.Any {
		return true
	}
	if t != id.Type {
		return false
	}
	switch id.Type {
	case IDFQDN, IDUserFQDN:
		return bytes.EqualFold(data, id.Data)
	}
	return bytes.Equal(data, id.Data)
}
