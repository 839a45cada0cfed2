package isakmp

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"strconv"
)

// CfgType is the Type of an Attribute payload (draft-dukes-ike-mode-cfg-02 §3.2).
type CfgType uint8

// Attribute payload types.
const (
	CfgRequest CfgType = 1 // ISAKMP_CFG_REQUEST
	CfgReply   CfgType = 2 // ISAKMP_CFG_REPLY
	CfgSet     CfgType = 3 // ISAKMP_CFG_SET
	CfgAck     CfgType = 4 // ISAKMP_CFG_ACK
)

func (t CfgType) String() string {
	switch t {
	case CfgRequest:
		return "ISAKMP_CFG_REQUEST"
	case CfgReply:
		return "ISAKMP_CFG_REPLY"
	case CfgSet:
		return "ISAKMP_CFG_SET"
	case CfgAck:
		return "ISAKMP_CFG_ACK"
	}
	return "CFG(" + strconv.Itoa(int(t)) + ")"
}

// Mode Config attribute types (draft-dukes-ike-mode-cfg-02 §3.3) and XAUTH attribute types
// (draft-beaulieu-ike-xauth-02 §6.1).
const (
	CfgInternalIP4Address    AttributeType = 1
	CfgInternalIP4Netmask    AttributeType = 2
	CfgInternalIP4DNS        AttributeType = 3
	CfgInternalIP4NBNS       AttributeType = 4
	CfgInternalAddressExpiry AttributeType = 5
	CfgInternalIP4DHCP       AttributeType = 6
	CfgApplicationVersion    AttributeType = 7
	CfgInternalIP6Address    AttributeType = 8
	CfgInternalIP6Netmask    AttributeType = 9
	CfgInternalIP6DNS        AttributeType = 10
	CfgInternalIP6NBNS       AttributeType = 11
	CfgInternalIP6DHCP       AttributeType = 12
	CfgInternalIP4Subnet     AttributeType = 13
	CfgSupportedAttributes   AttributeType = 14
	CfgInternalIP6Subnet     AttributeType = 15
	CfgXAUTHType             AttributeType = 16520
	CfgXAUTHUserName         AttributeType = 16521
	CfgXAUTHUserPassword     AttributeType = 16522
	CfgXAUTHPasscode         AttributeType = 16523
	CfgXAUTHMessage          AttributeType = 16524
	CfgXAUTHChallenge        AttributeType = 16525
	CfgXAUTHDomain           AttributeType = 16526
	CfgXAUTHStatus           AttributeType = 16527
	CfgXAUTHNextPIN          AttributeType = 16528
	CfgXAUTHAnswer           AttributeType = 16529
)

// ConfigAttributes is the Attribute payload of Mode Config and XAUTH, carried in
// Transaction exchanges (draft-dukes-ike-mode-cfg-02 §3.2):
//
//	generic header | Type (1) | RESERVED (1) | Identifier (2) | Attributes
//
// The attributes use the data attribute format of RFC 2408 §3.3; a TLV attribute may be
// empty (a request for a value). Values such as XAUTH_USER_PASSWORD are secrets: never log
// them.
//
// ConfigAttributes is plain data: safe for concurrent reads, not for concurrent mutation.
type ConfigAttributes struct {
	wire
	CfgType    CfgType
	Identifier uint16
	Attributes []Attribute
}

// Type returns PayloadAttribute.
func (*ConfigAttributes) Type() PayloadType { return PayloadAttribute }

// Attr returns the first attribute of type t.
func (c *ConfigAttributes) Attr(t AttributeType) (Attribute, bool) {
	for _, a := range c.Attributes {
		if a.Type == t {
			return a, true
		}
	}
	return Attribute{}, false
}

const cfgFixedLen = 4

// decodeConfigAttributes decodes an Attribute payload body (draft-dukes-ike-mode-cfg-02 §3.2).
func decodeConfigAttributes(body []byte, off int) (*ConfigAttributes, error) {
	if len(body) < cfgFixedLen {
		return nil, errAt(PayloadAttribute, off, ErrMalformed, "body of %d bytes cannot hold Type, RESERVED and Identifier", len(body))
	}
	if body[1] != 0 {
		return nil, errAt(PayloadAttribute, off+1, ErrMalformed, "RESERVED is 0x%02x, not zero", body[1])
	}
	attrs, err := decodeAttributes(PayloadAttribute, body[cfgFixedLen:], off+cfgFixedLen)
	if err != nil {
		return nil, err
	}
	return &ConfigAttributes{
		CfgType:    CfgType(body[0]),
		Identifier: binary.BigEndian.Uint16(body[2:4]),
		Attributes: attrs,
	}, nil
}

func (c *ConfigAttributes) appendBody(b []byte) ([]byte, error) {
	if c == nil {
		return nil, errEnc(PayloadAttribute, "nil payload")
	}
	b = append(b, byte(c.CfgType), 0)
	b = binary.BigEndian.AppendUint16(b, c.Identifier)
	return appendAttributes(PayloadAttribute, b, c.Attributes)
}

// Cisco Unity attribute types (private use range of draft-dukes-ike-mode-cfg-02 §3.3), as
// Cisco-compatible gateways and strongSwan's unity plugin send them.
const (
	CfgUnityBanner        AttributeType = 28672
	CfgUnitySavePasswd    AttributeType = 28673
	CfgUnityDefDomain     AttributeType = 28674
	CfgUnitySplitDNSName  AttributeType = 28675
	CfgUnitySplitInclude  AttributeType = 28676
	CfgUnityNATTPort      AttributeType = 28677
	CfgUnityLocalLAN      AttributeType = 28678
	CfgUnityPFS           AttributeType = 28679
	CfgUnityFWType        AttributeType = 28680
	CfgUnityBackupServers AttributeType = 28681
	CfgUnityDDNSHostname  AttributeType = 28682
)

// XAUTH_TYPE and XAUTH_STATUS values (draft-beaulieu-ike-xauth-02 §6.1).
const (
	XAUTHTypeGeneric uint16 = 0
	XAUTHStatusFail  uint16 = 0
	XAUTHStatusOK    uint16 = 1
)

// splitIncludeLen is the size of one UNITY_SPLIT_INCLUDE entry as Cisco sends it: an IPv4
// network (4), its mask (4), then protocol, source and destination port (0 = any) and
// padding (6). strongSwan's pools send each network alone without the last 6 bytes.
const (
	splitIncludeLen      = 14
	splitIncludeShortLen = 8
)

// DecodeSplitInclude parses a UNITY_SPLIT_INCLUDE value into IPv4 networks: entries of 14
// bytes, or of 8 (network and mask only). The mask must be contiguous; host bits are
// cleared.
func DecodeSplitInclude(v []byte) ([]netip.Prefix, error) {
	size := splitIncludeLen
	if len(v)%splitIncludeLen != 0 {
		size = splitIncludeShortLen
	}
	if len(v)%size != 0 {
		return nil, fmt.Errorf("%w: UNITY_SPLIT_INCLUDE of %d bytes is not a multiple of %d or %d", ErrMalformed, len(v), splitIncludeLen, splitIncludeShortLen)
	}
	var out []netip.Prefix
	for i := 0; i < len(v); i += size {
		addr := netip.AddrFrom4([4]byte(v[i : i+4]))
		bits, err := maskBits(v[i+4 : i+8])
		if err != nil {
			return nil, fmt.Errorf("%w: UNITY_SPLIT_INCLUDE entry %d: %v", ErrMalformed, i/size, err)
		}
		out = append(out, netip.PrefixFrom(addr, bits).Masked())
	}
	return out, nil
}

// AppendSplitInclude encodes IPv4 networks as a UNITY_SPLIT_INCLUDE value; IPv6 networks
// are skipped (Unity has no IPv6 form).
func AppendSplitInclude(b []byte, nets []netip.Prefix) []byte {
	for _, p := range nets {
		if !p.Addr().Is4() {
			continue
		}
		a := p.Masked().Addr().As4()
		b = append(b, a[:]...)
		b = binary.BigEndian.AppendUint32(b, uint32(uint64(0xffffffff)<<(32-p.Bits())))
		b = append(b, 0, 0, 0, 0, 0, 0)
	}
	return b
}

// DecodeIP4Netmask parses an INTERNAL_IP4_NETMASK value into a prefix length.
func DecodeIP4Netmask(v []byte) (int, error) {
	if len(v) != 4 {
		return 0, fmt.Errorf("%w: INTERNAL_IP4_NETMASK of %d bytes", ErrMalformed, len(v))
	}
	return maskBits(v)
}

// DecodeCfgAddr parses the value of an address attribute: INTERNAL_IP4_ADDRESS / _DNS /
// _NBNS / _DHCP (4 bytes), INTERNAL_IP6_DNS / _NBNS / _DHCP (16 bytes), INTERNAL_IP6_ADDRESS
// (16 bytes, or 17 with a prefix length as in RFC 7296 §3.15.1, which strongSwan sends).
// An empty value (a request) is the invalid Addr with no error.
func DecodeCfgAddr(t AttributeType, v []byte) (netip.Addr, error) {
	if len(v) == 0 {
		return netip.Addr{}, nil
	}
	switch t {
	case CfgInternalIP4Address, CfgInternalIP4DNS, CfgInternalIP4NBNS, CfgInternalIP4DHCP:
		if len(v) != 4 {
			return netip.Addr{}, fmt.Errorf("%w: attribute %d: IPv4 address of %d bytes", ErrMalformed, t, len(v))
		}
		return netip.AddrFrom4([4]byte(v)), nil
	case CfgInternalIP6Address:
		if len(v) != 16 && !(len(v) == 17 && v[16] <= 128) {
			return netip.Addr{}, fmt.Errorf("%w: INTERNAL_IP6_ADDRESS of %d bytes", ErrMalformed, len(v))
		}
		return netip.AddrFrom16([16]byte(v[:16])), nil
	case CfgInternalIP6DNS, CfgInternalIP6NBNS, CfgInternalIP6DHCP:
		if len(v) != 16 {
			return netip.Addr{}, fmt.Errorf("%w: attribute %d: IPv6 address of %d bytes", ErrMalformed, t, len(v))
		}
		return netip.AddrFrom16([16]byte(v)), nil
	}
	return netip.Addr{}, fmt.Errorf("%w: attribute %d is not an address", ErrMalformed, t)
}
