package core

import (
	"bytes"
	"net/netip"

	"oakley/ike/pki"
)

// Identities are pki's: one type for both versions, with the matching (DN wildcards,
// case-insensitive names) and the binding to certificates that pki implements.
type (
	IDType   = pki.IDType
	Identity = pki.Identity
)

// Identification types (RFC 2407 §4.6.2.1, RFC 7296 §3.5).
const (
	IDIPv4Addr  = pki.IDIPv4
	IDFQDN      = pki.IDFQDN
	IDUserFQDN  = pki.IDUserFQDN
	IDIPv6Addr  = pki.IDIPv6
	IDDERASN1DN = pki.IDDN
	IDKeyID     = pki.IDKeyID
)

// AnyIdentity is "%any".
var AnyIdentity = pki.AnyID

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

// IDString renders identification data of a type for logs and status (control bytes
// escaped, so a peer's identity cannot forge log lines).
func IDString(t IDType, data []byte) string { return Identity{Type: t, Data: data}.String() }

// MatchID reports whether received identification data of type t is the (remote)
// identity pattern: %any matches every identity, names compare case-insensitively, a DN
// pattern may hold "*" as an RDN value.
func MatchID(pattern Identity, t IDType, data []byte) bool {
	return pki.MatchID(pattern, Identity{Type: t, Data: data})
}
