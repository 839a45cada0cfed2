package isakmp

import (
	"bytes"
	"encoding/binary"
	"math/bits"
	"net/netip"
	"strconv"
)

// IDType is an Identification Type of the IPsec DOI (RFC 2407 §4.6.2.1).
type IDType uint8

// ID types (RFC 2407 §4.6.2.1).
const (
	IDIPv4Addr       IDType = 1  // ID_IPV4_ADDR: 4 bytes
	IDFQDN           IDType = 2  // ID_FQDN: a domain name string, no terminator
	IDUserFQDN       IDType = 3  // ID_USER_FQDN: user@domain string, no terminator
	IDIPv4AddrSubnet IDType = 4  // ID_IPV4_ADDR_SUBNET: address (4) + netmask (4)
	IDIPv6Addr       IDType = 5  // ID_IPV6_ADDR: 16 bytes
	IDIPv6AddrSubnet IDType = 6  // ID_IPV6_ADDR_SUBNET: address (16) + netmask (16)
	IDIPv4AddrRange  IDType = 7  // ID_IPV4_ADDR_RANGE: first (4) + last (4)
	IDIPv6AddrRange  IDType = 8  // ID_IPV6_ADDR_RANGE: first (16) + last (16)
	IDDERASN1DN      IDType = 9  // ID_DER_ASN1_DN: binary DER Distinguished Name
	IDDERASN1GN      IDType = 10 // ID_DER_ASN1_GN: binary DER GeneralName
	IDKeyID          IDType = 11 // ID_KEY_ID: opaque bytes
)

var idTypeNames = map[IDType]string{
	IDIPv4Addr:       "ID_IPV4_ADDR",
	IDFQDN:           "ID_FQDN",
	IDUserFQDN:       "ID_USER_FQDN",
	IDIPv4AddrSubnet: "ID_IPV4_ADDR_SUBNET",
	IDIPv6Addr:       "ID_IPV6_ADDR",
	IDIPv6AddrSubnet: "ID_IPV6_ADDR_SUBNET",
	IDIPv4AddrRange:  "ID_IPV4_ADDR_RANGE",
	IDIPv6AddrRange:  "ID_IPV6_ADDR_RANGE",
	IDDERASN1DN:      "ID_DER_ASN1_DN",
	IDDERASN1GN:      "ID_DER_ASN1_GN",
	IDKeyID:          "ID_KEY_ID",
}

func (t IDType) String() string {
	if s, ok := idTypeNames[t]; ok {
		return s
	}
	return "ID(" + strconv.Itoa(int(t)) + ")"
}

// Identification is the Identification payload (RFC 2408 §3.8) in its IPsec DOI form
// (RFC 2407 §4.6.2):
//
//	generic header | ID Type (1) | Protocol ID (1) | Port (2) | Identification Data
//
// The decoder does not judge Data against IDType (a wrong length is the state machine's
// INVALID-ID-INFORMATION, not PAYLOAD-MALFORMED): Validate and the net/netip helpers do,
// returning ErrInvalidID. Body() is IKE's IDii_b / IDir_b (RFC 2409 §5).
//
// Identification is plain data: safe for concurrent reads, not for concurrent mutation.
type Identification struct {
	wire
	IDType IDType
	// ProtocolID is an IP protocol number (0: any; RFC 2407 §4.6.2). Phase 1 IDs carry
	// 0 or UDP (17) with port 0 or 500 (RFC 2407 §4.6.2.1).
	ProtocolID uint8
	// Port is a UDP/TCP port (0: any).
	Port uint16
	Data []byte
}

// Type returns PayloadID.
func (*Identification) Type() PayloadType { return PayloadID }

const idFixedLen = 4

// decodeIdentification decodes an Identification payload body (RFC 2408 §3.8, RFC 2407 §4.6.2).
func decodeIdentification(body []byte, off int) (*Identification, error) {
	if len(body) < idFixedLen {
		return nil, errAt(PayloadID, off, ErrMalformed, "body of %d bytes cannot hold ID Type, Protocol ID and Port", len(body))
	}
	return &Identification{
		IDType:     IDType(body[0]),
		ProtocolID: body[1],
		Port:       binary.BigEndian.Uint16(body[2:4]),
		Data:       body[idFixedLen:],
	}, nil
}

// appendBody encodes the Identification body (RFC 2407 §4.6.2).
func (id *Identification) appendBody(b []byte) ([]byte, error) {
	if id == nil {
		return nil, errEnc(PayloadID, "nil payload")
	}
	b = append(b, byte(id.IDType), id.ProtocolID)
	b = binary.BigEndian.AppendUint16(b, id.Port)
	return append(b, id.Data...), nil
}

// IDFromAddr returns an ID_IPV4_ADDR or ID_IPV6_ADDR identification of a, protocol and port
// 0. The family is a's own: an IPv4-mapped IPv6 address stays IPv6 (Unmap it first to mean
// IPv4), so that decoding and re-encoding an identification is exact.
func IDFromAddr(a netip.Addr) (*Identification, error) {
	switch {
	case a.Is4():
		return &Identification{IDType: IDIPv4Addr, Data: a.AsSlice()}, nil
	case a.Is6():
		return &Identification{IDType: IDIPv6Addr, Data: a.AsSlice()}, nil
	}
	return nil, errNoOff(PayloadID, ErrInvalidID, "invalid address")
}

// IDFromPrefix returns an ID_IPV4_ADDR_SUBNET or ID_IPV6_ADDR_SUBNET identification of p
// (RFC 2407 §4.6.2.4/.6): p's masked address and its netmask, in p's own family (as for
// IDFromAddr).
func IDFromPrefix(p netip.Prefix) (*Identification, error) {
	if !p.IsValid() {
		return nil, errNoOff(PayloadID, ErrInvalidID, "invalid prefix")
	}
	a := p.Masked().Addr().AsSlice()
	t := IDIPv4AddrSubnet
	if len(a) == 16 {
		t = IDIPv6AddrSubnet
	}
	mask := make([]byte, len(a))
	for i := range p.Bits() {
		mask[i/8] |= 0x80 >> (i % 8)
	}
	return &Identification{IDType: t, Data: append(a, mask...)}, nil
}

// IDFromRange returns an ID_IPV4_ADDR_RANGE or ID_IPV6_ADDR_RANGE identification
// (RFC 2407 §4.6.2.7/.8) of first..last, which must be of one family with first <= last
// (IPv4-mapped IPv6 addresses are IPv6, as for IDFromAddr).
func IDFromRange(first, last netip.Addr) (*Identification, error) {
	if !first.IsValid() || !last.IsValid() || first.Is4() != last.Is4() {
		return nil, errNoOff(PayloadID, ErrInvalidID, "range %v..%v is not of one address family", first, last)
	}
	if first.Compare(last) > 0 {
		return nil, errNoOff(PayloadID, ErrInvalidID, "range %v..%v is reversed", first, last)
	}
	t := IDIPv4AddrRange
	if first.Is6() {
		t = IDIPv6AddrRange
	}
	return &Identification{IDType: t, Data: append(first.AsSlice(), last.AsSlice()...)}, nil
}

// ipDataLen returns the Identification Data length of an address-based ID type and
// whether the type is one.
func ipDataLen(t IDType) (int, bool) {
	switch t {
	case IDIPv4Addr:
		return 4, true
	case IDIPv6Addr:
		return 16, true
	case IDIPv4AddrSubnet, IDIPv4AddrRange:
		return 8, true
	case IDIPv6AddrSubnet, IDIPv6AddrRange:
		return 32, true
	}
	return 0, false
}

// checkIPData checks that the data length matches the address-based ID type.
func (id *Identification) checkIPData() error {
	want, ok := ipDataLen(id.IDType)
	if !ok {
		return errNoOff(PayloadID, ErrInvalidID, "%s is not an address ID type", id.IDType)
	}
	if len(id.Data) != want {
		return errNoOff(PayloadID, ErrInvalidID, "%s needs %d bytes of data, has %d", id.IDType, want, len(id.Data))
	}
	return nil
}

// Addr returns the address of an ID_IPV4_ADDR or ID_IPV6_ADDR identification.
func (id *Identification) Addr() (netip.Addr, error) {
	if id.IDType != IDIPv4Addr && id.IDType != IDIPv6Addr {
		return netip.Addr{}, errNoOff(PayloadID, ErrInvalidID, "%s is not a single address", id.IDType)
	}
	if err := id.checkIPData(); err != nil {
		return netip.Addr{}, err
	}
	a, _ := netip.AddrFromSlice(id.Data)
	return a, nil
}

// Prefix returns the prefix of an ID_IPV4_ADDR_SUBNET or ID_IPV6_ADDR_SUBNET identification,
// whose netmask must be contiguous; the address is returned as sent (call Masked to drop
// host bits). A single-address ID gives a full-length prefix.
func (id *Identification) Prefix() (netip.Prefix, error) {
	switch id.IDType {
	case IDIPv4Addr, IDIPv6Addr:
		a, err := id.Addr()
		if err != nil {
			return netip.Prefix{}, err
		}
		return netip.PrefixFrom(a, a.BitLen()), nil
	case IDIPv4AddrSubnet, IDIPv6AddrSubnet:
	default:
		return netip.Prefix{}, errNoOff(PayloadID, ErrInvalidID, "%s is not a subnet", id.IDType)
	}
	if err := id.checkIPData(); err != nil {
		return netip.Prefix{}, err
	}
	n := len(id.Data) / 2
	a, _ := netip.AddrFromSlice(id.Data[:n])
	ones, err := maskBits(id.Data[n:])
	if err != nil {
		return netip.Prefix{}, err
	}
	return netip.PrefixFrom(a, ones), nil
}

// maskBits returns the prefix length of a contiguous netmask.
func maskBits(mask []byte) (int, error) {
	ones := 0
	for i, m := range mask {
		if m == 0xff {
			ones += 8
			continue
		}
		ones += bits.LeadingZeros8(^m)
		if m<<bits.LeadingZeros8(^m) != 0 || !allZero(mask[i+1:]) {
			return 0, errNoOff(PayloadID, ErrInvalidID, "netmask %x is not contiguous", mask)
		}
		break
	}
	return ones, nil
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// IPRange returns the first and last address an address-based identification covers: the
// address itself, a subnet's network and broadcast addresses, or a range's bounds (which
// must not be reversed).
func (id *Identification) IPRange() (first, last netip.Addr, err error) {
	switch id.IDType {
	case IDIPv4Addr, IDIPv6Addr:
		a, err := id.Addr()
		return a, a, err
	case IDIPv4AddrSubnet, IDIPv6AddrSubnet:
		p, err := id.Prefix()
		if err != nil {
			return netip.Addr{}, netip.Addr{}, err
		}
		p = p.Masked()
		b := p.Addr().AsSlice()
		for i := p.Bits(); i < len(b)*8; i++ {
			b[i/8] |= 0x80 >> (i % 8)
		}
		l, _ := netip.AddrFromSlice(b)
		return p.Addr(), l, nil
	case IDIPv4AddrRange, IDIPv6AddrRange:
		if err := id.checkIPData(); err != nil {
			return netip.Addr{}, netip.Addr{}, err
		}
		n := len(id.Data) / 2
		f, _ := netip.AddrFromSlice(id.Data[:n])
		l, _ := netip.AddrFromSlice(id.Data[n:])
		if f.Compare(l) > 0 {
			return netip.Addr{}, netip.Addr{}, errNoOff(PayloadID, ErrInvalidID, "range %v..%v is reversed", f, l)
		}
		return f, l, nil
	}
	return netip.Addr{}, netip.Addr{}, errNoOff(PayloadID, ErrInvalidID, "%s is not an address ID type", id.IDType)
}

// Validate checks Data against IDType (RFC 2407 §4.6.2.1): exact lengths, contiguous
// netmasks and ordered ranges for the address types; non-empty strings without NUL
// terminators for ID_FQDN and ID_USER_FQDN; non-empty data for the DER and KEY_ID types.
// Unknown ID types are invalid.
func (id *Identification) Validate() error {
	switch id.IDType {
	case IDIPv4Addr, IDIPv6Addr, IDIPv4AddrSubnet, IDIPv6AddrSubnet, IDIPv4AddrRange, IDIPv6AddrRange:
		_, _, err := id.IPRange()
		return err
	case IDFQDN, IDUserFQDN:
		if len(id.Data) == 0 || bytes.IndexByte(id.Data, 0) >= 0 {
			return errNoOff(PayloadID, ErrInvalidID, "%s is empty or contains a NUL terminator", id.IDType)
		}
		return nil
	case IDDERASN1DN, IDDERASN1GN, IDKeyID:
		if len(id.Data) == 0 {
			return errNoOff(PayloadID, ErrInvalidID, "%s is empty", id.IDType)
		}
		return nil
	}
	return errNoOff(PayloadID, ErrInvalidID, "unknown ID type %d", uint8(id.IDType))
}
