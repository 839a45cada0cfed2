package wire

import (
	"encoding/binary"
	"net/netip"
	"strconv"
)

// CFGType is the CFG Type of a Configuration payload (RFC 7296 §3.15).
type CFGType uint8

// Configuration payload types.
const (
	CFGRequest CFGType = 1 // CFG_REQUEST
	CFGReply   CFGType = 2 // CFG_REPLY
	CFGSet     CFGType = 3 // CFG_SET
	CFGAck     CFGType = 4 // CFG_ACK
)

func (t CFGType) String() string {
	switch t {
	case CFGRequest:
		return "CFG_REQUEST"
	case CFGReply:
		return "CFG_REPLY"
	case CFGSet:
		return "CFG_SET"
	case CFGAck:
		return "CFG_ACK"
	}
	return "CFG(" + strconv.Itoa(int(t)) + ")"
}

// ConfigAttrType is a Configuration Attribute type (RFC 7296 §3.15.1 and the IANA registry),
// 15 bits.
type ConfigAttrType uint16

// Configuration attribute types. The length column of RFC 7296 §3.15.1 is enforced for the
// types marked "checked"; the others are kept unparsed (the engine skips what it does not use).
const (
	AttrInternalIP4Address  ConfigAttrType = 1  // 0 or 4 octets, checked
	AttrInternalIP4Netmask  ConfigAttrType = 2  // 0 or 4, checked
	AttrInternalIP4DNS      ConfigAttrType = 3  // 0 or 4, checked
	AttrInternalIP4NBNS     ConfigAttrType = 4  // 0 or 4, checked
	AttrInternalIP4DHCP     ConfigAttrType = 6  // 0 or 4, checked
	AttrApplicationVersion  ConfigAttrType = 7  // 0 or more
	AttrInternalIP6Address  ConfigAttrType = 8  // 0 or 17 (address + prefix length), checked
	AttrInternalIP6DNS      ConfigAttrType = 10 // 0 or 16, checked
	AttrInternalIP6DHCP     ConfigAttrType = 12 // 0 or 16, checked
	AttrInternalIP4Subnet   ConfigAttrType = 13 // 0 or 8 (address + netmask), checked
	AttrSupportedAttributes ConfigAttrType = 14 // multiple of 2, checked
	AttrInternalIP6Subnet   ConfigAttrType = 15 // 0 or 17, checked
	AttrP_CSCFIP4Address    ConfigAttrType = 20 // RFC 7651: 0 or 4, checked
	AttrP_CSCFIP6Address    ConfigAttrType = 21 // RFC 7651: 0 or 16, checked
	AttrInternalDNSDomain   ConfigAttrType = 25 // RFC 8598: a domain name
	AttrInternalDNSSECTA    ConfigAttrType = 26 // RFC 8598
)

var configAttrNames = map[ConfigAttrType]string{
	AttrInternalIP4Address: "INTERNAL_IP4_ADDRESS", AttrInternalIP4Netmask: "INTERNAL_IP4_NETMASK",
	AttrInternalIP4DNS: "INTERNAL_IP4_DNS", AttrInternalIP4NBNS: "INTERNAL_IP4_NBNS",
	AttrInternalIP4DHCP: "INTERNAL_IP4_DHCP", AttrApplicationVersion: "APPLICATION_VERSION",
	AttrInternalIP6Address: "INTERNAL_IP6_ADDRESS", AttrInternalIP6DNS: "INTERNAL_IP6_DNS",
	AttrInternalIP6DHCP: "INTERNAL_IP6_DHCP", AttrInternalIP4Subnet: "INTERNAL_IP4_SUBNET",
	AttrSupportedAttributes: "SUPPORTED_ATTRIBUTES", AttrInternalIP6Subnet: "INTERNAL_IP6_SUBNET",
	AttrP_CSCFIP4Address: "P_CSCF_IP4_ADDRESS", AttrP_CSCFIP6Address: "P_CSCF_IP6_ADDRESS",
	AttrInternalDNSDomain: "INTERNAL_DNS_DOMAIN", AttrInternalDNSSECTA: "INTERNAL_DNSSEC_TA",
}

func (t ConfigAttrType) String() string {
	if s, ok := configAttrNames[t]; ok {
		return s
	}
	return "ATTR(" + strconv.Itoa(int(t)) + ")"
}

// attrSizes gives the non-zero value length of the checked types (0 is always allowed: a
// request for the attribute, §3.15.1); SUPPORTED_ATTRIBUTES (-2) takes any multiple of 2.
var attrSizes = map[ConfigAttrType]int{
	AttrInternalIP4Address: 4, AttrInternalIP4Netmask: 4, AttrInternalIP4DNS: 4, AttrInternalIP4NBNS: 4,
	AttrInternalIP4DHCP: 4, AttrInternalIP6Address: 17, AttrInternalIP6DNS: 16, AttrInternalIP6DHCP: 16,
	AttrInternalIP4Subnet: 8, AttrSupportedAttributes: -2, AttrInternalIP6Subnet: 17,
	AttrP_CSCFIP4Address: 4, AttrP_CSCFIP6Address: 16,
}

// ConfigAttribute is one Configuration Attribute (RFC 7296 §3.15.1):
//
//	R (1 bit) | Attribute Type (15 bits) | Length (2) | Value
//
// The R bit "MUST be set to zero and MUST be ignored on receipt". An empty Value asks for the
// attribute (in a CFG_REQUEST) or acknowledges it.
//
// ConfigAttribute is plain data: safe for concurrent reads, not for concurrent mutation.
type ConfigAttribute struct {
	Type  ConfigAttrType
	Value []byte
}

// Configuration is the CP payload (RFC 7296 §3.15):
//
//	generic header | CFG Type (1) | RESERVED (3) | Configuration Attributes
//
// Configuration is plain data: safe for concurrent reads, not for concurrent mutation.
type Configuration struct {
	wire
	CFGType    CFGType
	Attributes []ConfigAttribute
}

// Type returns PayloadCP.
func (*Configuration) Type() PayloadType { return PayloadCP }

func checkAttr(a ConfigAttribute) bool {
	n, ok := attrSizes[a.Type]
	switch {
	case !ok || len(a.Value) == 0:
		return true
	case n < 0:
		return len(a.Value)%-n == 0
	}
	return len(a.Value) == n
}

func decodeCP(body []byte, off int) (*Configuration, error) {
	if len(body) < 4 {
		return nil, errAt(PayloadCP, off, ErrMalformed, "body of %d bytes cannot hold CFG Type and RESERVED", len(body))
	}
	c := &Configuration{CFGType: CFGType(body[0])}
	for pos := 4; pos < len(body); {
		if len(body)-pos < 4 {
			return nil, errAt(PayloadCP, off+pos, ErrMalformed, "%d bytes left, an attribute needs 4", len(body)-pos)
		}
		a := ConfigAttribute{Type: ConfigAttrType(binary.BigEndian.Uint16(body[pos:]) & 0x7fff)}
		l := int(binary.BigEndian.Uint16(body[pos+2:]))
		if l > len(body)-pos-4 {
			return nil, errAt(PayloadCP, off+pos+2, ErrMalformed, "attribute Length %d exceeds the %d bytes left", l, len(body)-pos-4)
		}
		a.Value = body[pos+4 : pos+4+l : pos+4+l]
		if !checkAttr(a) {
			return nil, errAt(PayloadCP, off+pos, ErrMalformed, "%s with %d bytes", a.Type, l)
		}
		c.Attributes = append(c.Attributes, a)
		pos += 4 + l
	}
	return c, nil
}

func (c *Configuration) appendBody(b []byte) ([]byte, error) {
	b = append(b, byte(c.CFGType), 0, 0, 0)
	for _, a := range c.Attributes {
		if a.Type > 0x7fff || len(a.Value) > 0xffff || !checkAttr(a) {
			return nil, errEnc(PayloadCP, "%s with %d bytes", a.Type, len(a.Value))
		}
		b = binary.BigEndian.AppendUint16(b, uint16(a.Type))
		b = binary.BigEndian.AppendUint16(b, uint16(len(a.Value)))
		b = append(b, a.Value...)
	}
	return b, nil
}

// Addr returns the address of INTERNAL_IP4_ADDRESS/NETMASK/DNS/NBNS/DHCP, INTERNAL_IP6_DNS/DHCP,
// P_CSCF_IP4/IP6_ADDRESS, and the address part of INTERNAL_IP6_ADDRESS. ok is false for an
// empty value or another type.
func (a ConfigAttribute) Addr() (netip.Addr, bool) {
	switch {
	case len(a.Value) == 0 || !checkAttr(a):
		return netip.Addr{}, false
	case a.Type == AttrInternalIP6Address:
		return netip.AddrFrom16([16]byte(a.Value[:16])), true
	}
	switch n := attrSizes[a.Type]; {
	case n == 4 && a.Type != AttrInternalIP4Subnet:
		return netip.AddrFrom4([4]byte(a.Value)), true
	case n == 16:
		return netip.AddrFrom16([16]byte(a.Value)), true
	}
	return netip.Addr{}, false
}

// Prefix returns the prefix of INTERNAL_IP6_ADDRESS and INTERNAL_IP6_SUBNET (address and
// prefix length) and of INTERNAL_IP4_SUBNET (address and a contiguous netmask). ok is false
// for an empty value, another type, a prefix length above 128 or a non-contiguous netmask.
func (a ConfigAttribute) Prefix() (netip.Prefix, bool) {
	if len(a.Value) == 0 || !checkAttr(a) {
		return netip.Prefix{}, false
	}
	switch a.Type {
	case AttrInternalIP6Address, AttrInternalIP6Subnet:
		bits := int(a.Value[16])
		if bits > 128 {
			return netip.Prefix{}, false
		}
		return netip.PrefixFrom(netip.AddrFrom16([16]byte(a.Value[:16])), bits), true
	case AttrInternalIP4Subnet:
		bits, ok := maskBits(a.Value[4:8])
		if !ok {
			return netip.Prefix{}, false
		}
		return netip.PrefixFrom(netip.AddrFrom4([4]byte(a.Value[:4])), bits), true
	}
	return netip.Prefix{}, false
}

// maskBits returns the prefix length of a contiguous 4-octet netmask.
func maskBits(m []byte) (int, bool) {
	v := binary.BigEndian.Uint32(m)
	bits := 0
	for v&0x80000000 != 0 {
		bits++
		v <<= 1
	}
	return bits, v == 0
}

// SupportedAttributes returns the attribute types listed in SUPPORTED_ATTRIBUTES.
func (a ConfigAttribute) SupportedAttributes() ([]ConfigAttrType, bool) {
	if a.Type != AttrSupportedAttributes || len(a.Value)%2 != 0 {
		return nil, false
	}
	ts := make([]ConfigAttrType, 0, len(a.Value)/2)
	for i := 0; i < len(a.Value); i += 2 {
		ts = append(ts, ConfigAttrType(binary.BigEndian.Uint16(a.Value[i:])&0x7fff))
	}
	return ts, true
}

// AddrAttr returns an attribute carrying addr: a 4-octet type for IPv4 (INTERNAL_IP4_ADDRESS,
// INTERNAL_IP4_DNS, ...), a 16-octet one for IPv6 (INTERNAL_IP6_DNS, ...).
func AddrAttr(t ConfigAttrType, addr netip.Addr) ConfigAttribute {
	return ConfigAttribute{Type: t, Value: addr.Unmap().AsSlice()}
}

// PrefixAttr returns INTERNAL_IP6_ADDRESS or INTERNAL_IP6_SUBNET (address | prefix length) or
// INTERNAL_IP4_SUBNET (address | netmask) for p.
func PrefixAttr(t ConfigAttrType, p netip.Prefix) ConfigAttribute {
	a := p.Addr().Unmap()
	v := a.AsSlice()
	if t == AttrInternalIP4Subnet {
		mask := uint32(0)
		if p.Bits() > 0 {
			mask = ^uint32(0) << (32 - p.Bits())
		}
		return ConfigAttribute{Type: t, Value: binary.BigEndian.AppendUint32(v, mask)}
	}
	return ConfigAttribute{Type: t, Value: append(v, byte(p.Bits()))}
}
