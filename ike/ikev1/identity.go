package ike

import (
	"bytes"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/hex"
	"net/netip"
	"strings"

	"oakley/ike/isakmp"
)

// Identity is a Phase 1 identity (RFC 2407 §4.6.2.1): a type and its Identification Data,
// or Any ("%any"), which as a remote identity accepts every authenticated peer and as a
// local identity means "our IP address" (ID_IPV4_ADDR / ID_IPV6_ADDR of the address in
// use).
//
// Identity is plain data: safe for concurrent reads, not for concurrent mutation.
type Identity struct {
	Type isakmp.IDType
	Data []byte
	Any  bool
}

// AnyIdentity is "%any".
var AnyIdentity = Identity{Any: true}

// AddrIdentity returns the ID_IPV4_ADDR or ID_IPV6_ADDR identity of a.
func AddrIdentity(a netip.Addr) Identity {
	a = a.Unmap()
	if a.Is4() {
		return Identity{Type: isakmp.IDIPv4Addr, Data: a.AsSlice()}
	}
	return Identity{Type: isakmp.IDIPv6Addr, Data: a.AsSlice()}
}

// FQDNIdentity returns the ID_FQDN identity of a domain name.
func FQDNIdentity(name string) Identity {
	return Identity{Type: isakmp.IDFQDN, Data: []byte(name)}
}

// UserFQDNIdentity returns the ID_USER_FQDN identity of user@domain.
func UserFQDNIdentity(s string) Identity {
	return Identity{Type: isakmp.IDUserFQDN, Data: []byte(s)}
}

// DNIdentity returns the ID_DER_ASN1_DN identity of a DER-encoded distinguished name.
func DNIdentity(der []byte) Identity {
	return Identity{Type: isakmp.IDDERASN1DN, Data: bytes.Clone(der)}
}

// String returns the identity the way strongSwan prints it: "%any", an address, a name,
// a DN in RFC 4514 form, or type:hex for the rest.
func (id Identity) String() string {
	if id.Any {
		return "%any"
	}
	return idString(id.Type, id.Data)
}

func idString(t isakmp.IDType, data []byte) string {
	switch t {
	case isakmp.IDIPv4Addr, isakmp.IDIPv6Addr:
		if a, ok := netip.AddrFromSlice(data); ok {
			return a.String()
		}
	case isakmp.IDFQDN, isakmp.IDUserFQDN:
		return printable(data)
	case isakmp.IDDERASN1DN:
		var rdn pkix.RDNSequence
		if rest, err := asn1.Unmarshal(data, &rdn); err == nil && len(rest) == 0 {
			return rdn.String()
		}
	}
	return t.String() + ":" + hex.EncodeToString(data)
}

// printable returns s with control and non-ASCII bytes escaped, so a peer's ID cannot
// forge log lines.
func printable(b []byte) string {
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

// payload returns the ID payload of a Phase 1 identity: protocol 0 and port 0, as
// strongSwan sends them (RFC 2407 §4.6.2.1 allows 0/0 or UDP/500).
func (id Identity) payload() *isakmp.Identification {
	return &isakmp.Identification{IDType: id.Type, Data: bytes.Clone(id.Data)}
}

// matches reports whether a received Phase 1 ID payload is this (remote) identity:
// %any matches every valid ID; names compare case-insensitively (DNS names are), the
// other types byte for byte. Protocol and port are not compared (RFC 2407 §4.6.2.1 lets
// them be 0/0 or UDP/500, and peers differ).
func (id Identity) matches(p *isakmp.Identification) bool {
	if p == nil {
		return false
	}
	if id.Any {
		return true
	}
	if p.IDType != id.Type {
		return false
	}
	switch id.Type {
	case isakmp.IDFQDN, isakmp.IDUserFQDN:
		return bytes.EqualFold(p.Data, id.Data)
	}
	return bytes.Equal(p.Data, id.Data)
}

// idOfPayload renders a received ID payload for logs and status.
func idOfPayload(p *isakmp.Identification) string {
	if p == nil {
		return "(none)"
	}
	return idString(p.IDType, p.Data)
}
