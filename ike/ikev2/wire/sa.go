package wire

import (
	"encoding/binary"
	"strconv"

	"oakley/crypto"
)

// ProtocolID is the Protocol ID of a Proposal, Notify or Delete payload (RFC 7296 §3.3.1).
type ProtocolID uint8

// Protocol IDs (RFC 7296 §3.3.1).
const (
	ProtoNone ProtocolID = 0 // Notify without SPI: the field "MUST be sent as zero"
	ProtoIKE  ProtocolID = 1
	ProtoAH   ProtocolID = 2
	ProtoESP  ProtocolID = 3
)

func (p ProtocolID) String() string {
	switch p {
	case ProtoNone:
		return "NONE"
	case ProtoIKE:
		return "IKE"
	case ProtoAH:
		return "AH"
	case ProtoESP:
		return "ESP"
	}
	return "PROTO(" + strconv.Itoa(int(p)) + ")"
}

// spiSizeOK reports whether an SPI of n bytes fits protocol p in a proposal (RFC 7296 §3.3.1):
// IKE 0 during IKE_SA_INIT and 8 when rekeying the IKE SA in CREATE_CHILD_SA, AH and ESP 4.
// Protocols this package does not know take any size: the engine skips such proposals.
func spiSizeOK(p ProtocolID, n int) bool {
	switch p {
	case ProtoIKE:
		return n == 0 || n == 8
	case ProtoAH, ProtoESP:
		return n == 4
	}
	return true
}

// TransformType is a Transform Type (RFC 7296 §3.3.2; RFC 9370 adds the additional key
// exchanges). Its values are those of crypto.Kind for the five classic types.
type TransformType uint8

// Transform types.
const (
	TransformENCR   TransformType = 1 // encryption algorithm (ENCR)
	TransformPRF    TransformType = 2 // pseudorandom function (PRF)
	TransformINTEG  TransformType = 3 // integrity algorithm (INTEG)
	TransformKE     TransformType = 4 // key exchange method (D-H group), "KE" since RFC 9370
	TransformESN    TransformType = 5 // extended sequence numbers (ESN)
	TransformADDKE1 TransformType = 6 // additional key exchange 1, RFC 9370 (…7: 12)
	TransformADDKE7 TransformType = 12
)

func (t TransformType) String() string {
	switch {
	case t == TransformENCR:
		return "ENCR"
	case t == TransformPRF:
		return "PRF"
	case t == TransformINTEG:
		return "INTEG"
	case t == TransformKE:
		return "KE"
	case t == TransformESN:
		return "ESN"
	case t >= TransformADDKE1 && t <= TransformADDKE7:
		return "ADDKE" + strconv.Itoa(int(t-TransformADDKE1)+1)
	}
	return "TRANSFORM(" + strconv.Itoa(int(t)) + ")"
}

// AttrKeyLength is the only transform attribute RFC 7296 defines (§3.3.5): the key length
// in bits of a variable-key cipher, always in the TV format.
const AttrKeyLength uint16 = 14

// Attribute is a transform attribute (RFC 7296 §3.3.5): Type without the AF bit and either a
// two-octet Value (AF = 1, TV) or variable Data (AF = 0, TLV).
//
// Attribute is plain data: safe for concurrent reads, not for concurrent mutation.
type Attribute struct {
	Type  uint16
	TV    bool
	Value uint16 // TV only
	Data  []byte // TLV only
}

// SA is the Security Association payload (RFC 7296 §3.3): one or more proposals.
//
//	generic header | Proposal substructures
//
// SA is plain data: safe for concurrent reads, not for concurrent mutation.
type SA struct {
	wire
	Proposals []Proposal
}

// Type returns PayloadSA.
func (*SA) Type() PayloadType { return PayloadSA }

// Proposal is a Proposal substructure (RFC 7296 §3.3.1):
//
//	Last Substruc (1) | RESERVED (1) | Proposal Length (2) | Proposal Num (1) | Protocol ID (1) |
//	SPI Size (1) | Num Transforms (1) | SPI (SPI Size) | Transforms
//
// Proposal is plain data: safe for concurrent reads, not for concurrent mutation.
type Proposal struct {
	Number   uint8
	Protocol ProtocolID
	// SPI is the sender's SPI: empty in IKE_SA_INIT, the new IKE SA's 8-byte SPI when
	// rekeying an IKE SA, the 4-byte inbound SPI for AH and ESP.
	SPI        []byte
	Transforms []Transform
}

// Transform is a Transform substructure (RFC 7296 §3.3.2):
//
//	Last Substruc (1) | RESERVED (1) | Transform Length (2) | Transform Type (1) |
//	RESERVED (1) | Transform ID (2) | Transform Attributes
//
// Transform is plain data: safe for concurrent reads, not for concurrent mutation.
type Transform struct {
	Type       TransformType
	ID         uint16
	Attributes []Attribute
}

// KeyLength returns the Key Length attribute in bits, if there is one.
func (t Transform) KeyLength() (bits int, ok bool) {
	for _, a := range t.Attributes {
		if a.Type == AttrKeyLength && a.TV {
			return int(a.Value), true
		}
	}
	return 0, false
}

// Algorithm returns the registry entry the transform names (by IKEv2 transform type, ID and
// key length), or nil when oakley does not implement it or the transform carries an attribute
// other than Key Length, which RFC 7296 §3.3.6 says makes the transform unacceptable. RFC 9370
// additional key exchanges resolve like the KE type.
func (t Transform) Algorithm() *crypto.Algorithm {
	kind := crypto.Kind(t.Type)
	if t.Type >= TransformADDKE1 && t.Type <= TransformADDKE7 {
		kind = crypto.KindDH
	}
	if kind < crypto.KindEncr || kind > crypto.KindESN {
		return nil
	}
	for _, a := range t.Attributes {
		if a.Type != AttrKeyLength {
			return nil
		}
	}
	bits, _ := t.KeyLength()
	return crypto.ByIKEv2(kind, t.ID, bits)
}

// TransformFor returns the transform that offers alg (RFC 7296 §3.3.2, §3.3.5): its kind as
// the transform type, its IKEv2 ID and, for variable-key ciphers, a Key Length attribute.
func TransformFor(alg *crypto.Algorithm) Transform {
	t := Transform{Type: TransformType(alg.Kind), ID: alg.IKEv2ID}
	if alg.KeyLenAttr {
		t.Attributes = []Attribute{{Type: AttrKeyLength, TV: true, Value: uint16(alg.KeyBits)}}
	}
	return t
}

const (
	proposalFixedLen  = 8 // Last Substruc .. Num Transforms
	transformFixedLen = 8 // Last Substruc .. Transform ID
	lastSubstruc      = 0
	moreProposals     = 2
	moreTransforms    = 3
	attrFormatTV      = 0x8000
)

// decodeSA decodes an SA payload body (RFC 7296 §3.3). Proposal numbering (§3.3.1): "The first
// Proposal MUST have a Proposal Num of one (1)... each subsequent proposal MUST have a Proposal
// Num one greater than the previous"; a response carries the one chosen proposal with its
// original number, so only a first number of at least 1 and steps of one are checked.
func decodeSA(body []byte, off int) (*SA, error) {
	sa := &SA{}
	if len(body) == 0 {
		return nil, errAt(PayloadSA, off, ErrMalformed, "no proposal")
	}
	pos := 0
	for more := true; more; {
		if len(body)-pos < proposalFixedLen {
			return nil, errAt(PayloadSA, off+pos, ErrTruncated, "%d bytes left, a proposal needs at least %d", len(body)-pos, proposalFixedLen)
		}
		l := int(binary.BigEndian.Uint16(body[pos+2:]))
		if l < proposalFixedLen || l > len(body)-pos {
			return nil, errAt(PayloadSA, off+pos+2, ErrMalformed, "Proposal Length %d does not fit the %d bytes left", l, len(body)-pos)
		}
		switch body[pos] {
		case lastSubstruc:
			more = false
		case moreProposals:
		default:
			return nil, errAt(PayloadSA, off+pos, ErrMalformed, "Last Substruc %d in a proposal (only 0 and 2)", body[pos])
		}
		p, err := decodeProposal(body[pos:pos+l], off+pos)
		if err != nil {
			return nil, err
		}
		if n := len(sa.Proposals); n == 0 && p.Number == 0 ||
			n > 0 && int(p.Number) != int(sa.Proposals[n-1].Number)+1 {
			return nil, errAt(PayloadSA, off+pos+4, ErrMalformed, "Proposal Num %d breaks the numbering (1, or one more than the previous)", p.Number)
		}
		sa.Proposals = append(sa.Proposals, p)
		pos += l
		if more && pos == len(body) {
			return nil, errAt(PayloadSA, off+pos, ErrTruncated, "Last Substruc announces another proposal but the SA payload ends")
		}
	}
	if pos != len(body) {
		return nil, errAt(PayloadSA, off+pos, ErrTrailingData, "%d bytes after the last proposal", len(body)-pos)
	}
	return sa, nil
}

// decodeProposal decodes one Proposal substructure (RFC 7296 §3.3.1); b is exactly the
// proposal, at input offset off.
func decodeProposal(b []byte, off int) (Proposal, error) {
	p := Proposal{Number: b[4], Protocol: ProtocolID(b[5])}
	spiSize, count := int(b[6]), int(b[7])
	if p.Protocol == ProtoNone {
		return Proposal{}, errAt(PayloadSA, off+5, ErrMalformed, "Protocol ID 0 in a proposal")
	}
	if !spiSizeOK(p.Protocol, spiSize) {
		return Proposal{}, errAt(PayloadSA, off+6, ErrMalformed, "SPI Size %d for protocol %s", spiSize, p.Protocol)
	}
	pos := proposalFixedLen
	if spiSize > len(b)-pos {
		return Proposal{}, errAt(PayloadSA, off+6, ErrMalformed, "SPI Size %d exceeds the %d bytes left in the proposal", spiSize, len(b)-pos)
	}
	p.SPI = b[pos : pos+spiSize : pos+spiSize]
	pos += spiSize
	if count == 0 {
		return Proposal{}, errAt(PayloadSA, off+7, ErrMalformed, "a proposal without transforms")
	}
	p.Transforms = make([]Transform, 0, count)
	for i := 0; i < count; i++ {
		if len(b)-pos < transformFixedLen {
			return Proposal{}, errAt(PayloadSA, off+pos, ErrMalformed, "Num Transforms %d but only %d transforms fit the proposal", count, i)
		}
		l := int(binary.BigEndian.Uint16(b[pos+2:]))
		if l < transformFixedLen || l > len(b)-pos {
			return Proposal{}, errAt(PayloadSA, off+pos+2, ErrMalformed, "Transform Length %d does not fit the %d bytes left in the proposal", l, len(b)-pos)
		}
		want := byte(moreTransforms)
		if i == count-1 {
			want = lastSubstruc
		}
		if b[pos] != want {
			return Proposal{}, errAt(PayloadSA, off+pos, ErrMalformed, "Last Substruc %d in transform %d of %d (want %d)", b[pos], i+1, count, want)
		}
		t, err := decodeTransform(b[pos:pos+l], off+pos)
		if err != nil {
			return Proposal{}, err
		}
		p.Transforms = append(p.Transforms, t)
		pos += l
	}
	if pos != len(b) {
		return Proposal{}, errAt(PayloadSA, off+pos, ErrTrailingData, "%d bytes after the last transform of the proposal", len(b)-pos)
	}
	return p, nil
}

// decodeTransform decodes one Transform substructure and its attributes (RFC 7296 §3.3.2,
// §3.3.5).
func decodeTransform(b []byte, off int) (Transform, error) {
	t := Transform{Type: TransformType(b[4]), ID: binary.BigEndian.Uint16(b[6:8])}
	pos := transformFixedLen
	for pos < len(b) {
		if len(b)-pos < 4 {
			return Transform{}, errAt(PayloadSA, off+pos, ErrMalformed, "%d bytes left in the transform, an attribute needs 4", len(b)-pos)
		}
		typ := binary.BigEndian.Uint16(b[pos:])
		v := binary.BigEndian.Uint16(b[pos+2:])
		a := Attribute{Type: typ &^ attrFormatTV, TV: typ&attrFormatTV != 0}
		if a.TV {
			a.Value = v
			pos += 4
		} else {
			if int(v) > len(b)-pos-4 {
				return Transform{}, errAt(PayloadSA, off+pos+2, ErrMalformed, "attribute length %d exceeds the %d bytes left in the transform", v, len(b)-pos-4)
			}
			a.Data = b[pos+4 : pos+4+int(v) : pos+4+int(v)]
			pos += 4 + int(v)
		}
		if a.Type == AttrKeyLength && !a.TV {
			return Transform{}, errAt(PayloadSA, off+pos, ErrMalformed, "Key Length attribute in the TLV format (§3.3.5: TV only)")
		}
		t.Attributes = append(t.Attributes, a)
	}
	return t, nil
}

func (sa *SA) appendBody(b []byte) ([]byte, error) {
	if len(sa.Proposals) == 0 {
		return nil, errEnc(PayloadSA, "no proposal")
	}
	for i, p := range sa.Proposals {
		if i == 0 && p.Number == 0 || i > 0 && int(p.Number) != int(sa.Proposals[i-1].Number)+1 {
			return nil, errEnc(PayloadSA, "Proposal Num %d breaks the numbering", p.Number)
		}
		if p.Protocol == ProtoNone || !spiSizeOK(p.Protocol, len(p.SPI)) || len(p.SPI) > 255 {
			return nil, errEnc(PayloadSA, "SPI of %d bytes for protocol %s", len(p.SPI), p.Protocol)
		}
		if len(p.Transforms) == 0 || len(p.Transforms) > 255 {
			return nil, errEnc(PayloadSA, "%d transforms in proposal %d", len(p.Transforms), p.Number)
		}
		start := len(b)
		last := byte(moreProposals)
		if i == len(sa.Proposals)-1 {
			last = lastSubstruc
		}
		b = append(b, last, 0, 0, 0, p.Number, byte(p.Protocol), byte(len(p.SPI)), byte(len(p.Transforms)))
		b = append(b, p.SPI...)
		for j, t := range p.Transforms {
			var err error
			if b, err = appendTransform(b, t, j == len(p.Transforms)-1); err != nil {
				return nil, err
			}
		}
		var err error
		if b, err = putLength16(b, start, PayloadSA); err != nil {
			return nil, err
		}
	}
	return b, nil
}

func appendTransform(b []byte, t Transform, last bool) ([]byte, error) {
	start := len(b)
	ls := byte(moreTransforms)
	if last {
		ls = lastSubstruc
	}
	b = append(b, ls, 0, 0, 0, byte(t.Type), 0)
	b = binary.BigEndian.AppendUint16(b, t.ID)
	for _, a := range t.Attributes {
		if a.Type&attrFormatTV != 0 {
			return nil, errEnc(PayloadSA, "attribute type %d does not fit 15 bits", a.Type)
		}
		if a.TV {
			b = binary.BigEndian.AppendUint16(b, a.Type|attrFormatTV)
			b = binary.BigEndian.AppendUint16(b, a.Value)
			continue
		}
		if a.Type == AttrKeyLength {
			return nil, errEnc(PayloadSA, "Key Length attribute must be TV")
		}
		if len(a.Data) > 0xffff {
			return nil, errEnc(PayloadSA, "attribute of %d bytes", len(a.Data))
		}
		b = binary.BigEndian.AppendUint16(b, a.Type)
		b = binary.BigEndian.AppendUint16(b, uint16(len(a.Data)))
		b = append(b, a.Data...)
	}
	return putLength16(b, start, PayloadSA)
}
