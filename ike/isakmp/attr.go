package isakmp

import (
	"encoding/binary"
	"math"
	"strconv"
)

// AttributeType is the 15-bit Attribute Type of a data attribute (RFC 2408 §3.3). Its
// meaning depends on where the attribute is: a Phase 1 transform (the Class* constants,
// RFC 2409 Appendix A), an IPsec DOI transform (the Attr* constants, RFC 2407 §4.5) or a
// Mode Config payload (the Cfg* constants).
type AttributeType uint16

// Phase 1 attribute classes (RFC 2409 Appendix A; B = basic, V = variable).
const (
	ClassEncryptionAlgorithm  AttributeType = 1  // B
	ClassHashAlgorithm        AttributeType = 2  // B
	ClassAuthenticationMethod AttributeType = 3  // B
	ClassGroupDescription     AttributeType = 4  // B
	ClassGroupType            AttributeType = 5  // B
	ClassGroupPrime           AttributeType = 6  // V: Group Prime/Irreducible Polynomial
	ClassGroupGeneratorOne    AttributeType = 7  // V
	ClassGroupGeneratorTwo    AttributeType = 8  // V
	ClassGroupCurveA          AttributeType = 9  // V
	ClassGroupCurveB          AttributeType = 10 // V
	ClassLifeType             AttributeType = 11 // B
	ClassLifeDuration         AttributeType = 12 // V
	ClassPRF                  AttributeType = 13 // B
	ClassKeyLength            AttributeType = 14 // B
	ClassFieldSize            AttributeType = 15 // B
	ClassGroupOrder           AttributeType = 16 // V
)

// IPsec DOI SA attributes (RFC 2407 §4.5; ECN Tunnel RFC 3168 §9.2.1; Extended Sequence
// Number RFC 4304 §2).
const (
	AttrSALifeType               AttributeType = 1  // B
	AttrSALifeDuration           AttributeType = 2  // V
	AttrGroupDescription         AttributeType = 3  // B
	AttrEncapsulationMode        AttributeType = 4  // B
	AttrAuthenticationAlgorithm  AttributeType = 5  // B
	AttrKeyLength                AttributeType = 6  // B
	AttrKeyRounds                AttributeType = 7  // B
	AttrCompressDictionarySize   AttributeType = 8  // B
	AttrCompressPrivateAlgorithm AttributeType = 9  // V
	AttrECNTunnel                AttributeType = 10 // B
	AttrExtendedSequenceNumber   AttributeType = 11 // B
)

// Life Type values, the same for Phase 1 (RFC 2409 Appendix A) and IPsec SAs (RFC 2407 §4.5).
const (
	LifeTypeSeconds   uint16 = 1
	LifeTypeKilobytes uint16 = 2
)

// Group Type values (RFC 2409 Appendix A).
const (
	GroupTypeMODP uint16 = 1
	GroupTypeECP  uint16 = 2
	GroupTypeEC2N uint16 = 3
)

// AuthMethod is a Phase 1 Authentication Method value (RFC 2409 Appendix A; ECDSA RFC 4754
// §3; XAUTH draft-beaulieu-ike-xauth-02 §7.2).
type AuthMethod uint16

// Authentication methods.
const (
	AuthPreSharedKey               AuthMethod = 1
	AuthDSS                        AuthMethod = 2
	AuthRSASig                     AuthMethod = 3
	AuthRSAEnc                     AuthMethod = 4
	AuthRSAEncRevised              AuthMethod = 5
	AuthECDSASHA256P256            AuthMethod = 9
	AuthECDSASHA384P384            AuthMethod = 10
	AuthECDSASHA512P521            AuthMethod = 11
	AuthXAUTHInitPreShared         AuthMethod = 65001
	AuthXAUTHRespPreShared         AuthMethod = 65002
	AuthXAUTHInitDSS               AuthMethod = 65003
	AuthXAUTHRespDSS               AuthMethod = 65004
	AuthXAUTHInitRSA               AuthMethod = 65005
	AuthXAUTHRespRSA               AuthMethod = 65006
	AuthXAUTHInitRSAEncryption     AuthMethod = 65007
	AuthXAUTHRespRSAEncryption     AuthMethod = 65008
	AuthXAUTHInitRSARevisedEncrypt AuthMethod = 65009
	AuthXAUTHRespRSARevisedEncrypt AuthMethod = 65010
)

var authMethodNames = map[AuthMethod]string{
	AuthPreSharedKey:               "pre-shared key",
	AuthDSS:                        "DSS signatures",
	AuthRSASig:                     "RSA signatures",
	AuthRSAEnc:                     "Encryption with RSA",
	AuthRSAEncRevised:              "Revised encryption with RSA",
	AuthECDSASHA256P256:            "ECDSA with SHA-256 on the P-256 curve",
	AuthECDSASHA384P384:            "ECDSA with SHA-384 on the P-384 curve",
	AuthECDSASHA512P521:            "ECDSA with SHA-512 on the P-521 curve",
	AuthXAUTHInitPreShared:         "XAUTHInitPreShared",
	AuthXAUTHRespPreShared:         "XAUTHRespPreShared",
	AuthXAUTHInitDSS:               "XAUTHInitDSS",
	AuthXAUTHRespDSS:               "XAUTHRespDSS",
	AuthXAUTHInitRSA:               "XAUTHInitRSA",
	AuthXAUTHRespRSA:               "XAUTHRespRSA",
	AuthXAUTHInitRSAEncryption:     "XAUTHInitRSAEncryption",
	AuthXAUTHRespRSAEncryption:     "XAUTHRespRSAEncryption",
	AuthXAUTHInitRSARevisedEncrypt: "XAUTHInitRSARevisedEncryption",
	AuthXAUTHRespRSARevisedEncrypt: "XAUTHRespRSARevisedEncryption",
}

func (m AuthMethod) String() string {
	if s, ok := authMethodNames[m]; ok {
		return s
	}
	return "AUTH(" + strconv.Itoa(int(m)) + ")"
}

// IsXAUTH reports whether m is one of the XAUTH variants 65001..65010.
func (m AuthMethod) IsXAUTH() bool {
	return m >= AuthXAUTHInitPreShared && m <= AuthXAUTHRespRSARevisedEncrypt
}

// EncapsulationMode is an IPsec DOI Encapsulation Mode value (RFC 2407 §4.5; UDP
// encapsulation RFC 3947 §5.1 and the values of draft-ietf-ipsec-nat-t-ike-02/03).
type EncapsulationMode uint16

// Encapsulation modes.
const (
	EncapTunnel            EncapsulationMode = 1
	EncapTransport         EncapsulationMode = 2
	EncapUDPTunnel         EncapsulationMode = 3
	EncapUDPTransport      EncapsulationMode = 4
	EncapUDPTunnelDraft    EncapsulationMode = 61443
	EncapUDPTransportDraft EncapsulationMode = 61444
)

func (m EncapsulationMode) String() string {
	switch m {
	case EncapTunnel:
		return "Tunnel"
	case EncapTransport:
		return "Transport"
	case EncapUDPTunnel:
		return "UDP-Encapsulated-Tunnel"
	case EncapUDPTransport:
		return "UDP-Encapsulated-Transport"
	case EncapUDPTunnelDraft:
		return "UDP-Encapsulated-Tunnel (draft)"
	case EncapUDPTransportDraft:
		return "UDP-Encapsulated-Transport (draft)"
	}
	return "ENCAP(" + strconv.Itoa(int(m)) + ")"
}

// Attribute is a data attribute (RFC 2408 §3.3):
//
//	AF (1 bit) | Attribute Type (15 bits) | Attribute Length or Value (2) | [Attribute Value]
//
// With the AF bit set (TV form) the two bytes after the type are the value; with it clear
// (TLV form) they are the length of the value that follows.
//
// Attribute is plain data: safe for concurrent reads, not for concurrent mutation.
type Attribute struct {
	Type AttributeType
	// TV is the AF bit: the value is carried in the attribute header and Value is exactly
	// 2 bytes. When false, Value is carried after a 2-byte length (0 to 65535 bytes).
	TV    bool
	Value []byte
}

// TV returns a TV-form (basic) attribute carrying v (RFC 2408 §3.3, AF = 1).
func TV(t AttributeType, v uint16) Attribute {
	return Attribute{Type: t, TV: true, Value: binary.BigEndian.AppendUint16(nil, v)}
}

// TLV returns a TLV-form (variable) attribute carrying value (RFC 2408 §3.3, AF = 0).
func TLV(t AttributeType, value []byte) Attribute {
	return Attribute{Type: t, Value: value}
}

// IntAttr returns an attribute carrying the integer v in the shortest form RFC 2409
// Appendix A allows for a variable attribute such as Life Duration: TV if v fits 16 bits
// ("variable length attributes MAY be encoded as basic attributes"), otherwise TLV with a
// 4-byte value, or 8 bytes if v needs them.
func IntAttr(t AttributeType, v uint64) Attribute {
	switch {
	case v <= math.MaxUint16:
		return TV(t, uint16(v))
	case v <= math.MaxUint32:
		return TLV(t, binary.BigEndian.AppendUint32(nil, uint32(v)))
	}
	return TLV(t, binary.BigEndian.AppendUint64(nil, v))
}

// Uint returns the attribute's value as an unsigned integer: the 2-byte value of the TV
// form, or a TLV value of 1 to 8 bytes read big-endian (Life Duration may arrive either
// way, RFC 2409 Appendix A). Longer or empty TLV values are ErrMalformed.
func (a Attribute) Uint() (uint64, error) {
	if a.TV && len(a.Value) != 2 {
		return 0, errNoOff(PayloadNone, ErrMalformed, "TV attribute %d has a value of %d bytes", a.Type, len(a.Value))
	}
	if len(a.Value) == 0 || len(a.Value) > 8 {
		return 0, errNoOff(PayloadNone, ErrMalformed, "attribute %d has a value of %d bytes, not an integer of 1 to 8 bytes", a.Type, len(a.Value))
	}
	var v uint64
	for _, c := range a.Value {
		v = v<<8 | uint64(c)
	}
	return v, nil
}

// DecodeAttributes decodes a run of data attributes (RFC 2408 §3.3) that fills b exactly,
// such as the Notification Data of a RESPONDER-LIFETIME notification (RFC 2407 §4.6.3.1).
// The attributes never alias b.
func DecodeAttributes(b []byte) ([]Attribute, error) {
	b = append([]byte(nil), b...)
	return decodeAttributes(PayloadNone, b, 0)
}

// EncodeAttributes encodes a run of data attributes (RFC 2408 §3.3), the counterpart of
// DecodeAttributes, e.g. for a RESPONDER-LIFETIME notification's data.
func EncodeAttributes(attrs []Attribute) ([]byte, error) {
	return appendAttributes(PayloadNone, nil, attrs)
}

// decodeAttributes decodes attributes filling b; pt names the enclosing payload and off is
// b's offset in the input, for errors. Values alias b.
func decodeAttributes(pt PayloadType, b []byte, off int) ([]Attribute, error) {
	var attrs []Attribute
	pos := 0
	for pos < len(b) {
		if len(b)-pos < 4 {
			return nil, errAt(pt, off+pos, ErrMalformed, "%d bytes left, too few for a data attribute", len(b)-pos)
		}
		a := Attribute{Type: AttributeType(binary.BigEndian.Uint16(b[pos:]) & 0x7fff), TV: b[pos]&0x80 != 0}
		if a.TV {
			a.Value = b[pos+2 : pos+4 : pos+4]
			pos += 4
		} else {
			l := int(binary.BigEndian.Uint16(b[pos+2:]))
			if l > len(b)-pos-4 {
				return nil, errAt(pt, off+pos+2, ErrMalformed, "Attribute Length %d of attribute %d exceeds the %d bytes left", l, a.Type, len(b)-pos-4)
			}
			a.Value = b[pos+4 : pos+4+l : pos+4+l]
			pos += 4 + l
		}
		attrs = append(attrs, a)
	}
	return attrs, nil
}

// appendAttributes encodes attrs (RFC 2408 §3.3).
func appendAttributes(pt PayloadType, b []byte, attrs []Attribute) ([]byte, error) {
	for _, a := range attrs {
		if a.Type > 0x7fff {
			return nil, errEnc(pt, "Attribute Type %d does not fit 15 bits", a.Type)
		}
		if a.TV {
			if len(a.Value) != 2 {
				return nil, errEnc(pt, "TV attribute %d needs a 2-byte value, has %d", a.Type, len(a.Value))
			}
			b = binary.BigEndian.AppendUint16(b, uint16(a.Type)|0x8000)
			b = append(b, a.Value...)
			continue
		}
		if len(a.Value) > math.MaxUint16 {
			return nil, errEnc(pt, "TLV attribute %d has a value of %d bytes", a.Type, len(a.Value))
		}
		b = binary.BigEndian.AppendUint16(b, uint16(a.Type))
		b = binary.BigEndian.AppendUint16(b, uint16(len(a.Value)))
		b = append(b, a.Value...)
	}
	return b, nil
}
