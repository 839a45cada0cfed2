package isakmp

import (
	"encoding/binary"
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
