package isakmp

import (
	"encoding/binary"
	"math"
	"strconv"
)

// DOI values (RFC 2408 §3.4, RFC 2407 §6).
const (
	DOIISAKMP uint32 = 0 // generic ISAKMP SA (not parsed in SA payloads, see ErrDOINotSupported)
	DOIIPsec  uint32 = 1 // the IPsec DOI, RFC 2407
)

// IPsec DOI situations (RFC 2407 §4.2), a bitmask.
const (
	SituationIdentityOnly uint32 = 0x01 // SIT_IDENTITY_ONLY
	SituationSecrecy      uint32 = 0x02 // SIT_SECRECY (labelled domains: not parsed)
	SituationIntegrity    uint32 = 0x04 // SIT_INTEGRITY (labelled domains: not parsed)
)

// ProtocolID is a Protocol-Id of a Proposal, Notification or Delete payload
// (RFC 2408 §3.5, IPsec DOI values RFC 2407 §4.4.1).
type ProtocolID uint8

// Protocol IDs (RFC 2407 §4.4.1).
const (
	ProtoISAKMP ProtocolID = 1 // PROTO_ISAKMP
	ProtoAH     ProtocolID = 2 // PROTO_IPSEC_AH
	ProtoESP    ProtocolID = 3 // PROTO_IPSEC_ESP
	ProtoIPCOMP ProtocolID = 4 // PROTO_IPCOMP
)

func (p ProtocolID) String() string {
	switch p {
	case 0:
		return "RESERVED"
	case ProtoISAKMP:
		return "PROTO_ISAKMP"
	case ProtoAH:
		return "PROTO_IPSEC_AH"
	case ProtoESP:
		return "PROTO_IPSEC_ESP"
	case ProtoIPCOMP:
		return "PROTO_IPCOMP"
	}
	return "PROTO(" + strconv.Itoa(int(p)) + ")"
}

// TransformKeyIKE is the only Transform ID of an ISAKMP (Phase 1) proposal, KEY_IKE
// (RFC 2407 §4.4.2). IPsec transform IDs (ESP_AES, AH_SHA, ...) are the crypto package's.
const TransformKeyIKE uint8 = 1

// SA is the Security Association payload (RFC 2408 §3.4) of the IPsec DOI (RFC 2407 §4.6.1):
//
//	generic header | DOI (4) | Situation (4) | Proposal payloads
//
// Only the IPsec DOI is decoded (its Situation is 4 bytes unless SIT_SECRECY or
// SIT_INTEGRITY is set, which is rejected with ErrSituationNotSupported). An SA payload
// needs at least one proposal. Proposal payloads with the same Number form one proposal
// combined by AND (RFC 2408 §4.2, e.g. AH and ESP together); that meaning is the state
// machine's.
//
// SA is plain data: safe for concurrent reads, not for concurrent mutation.
type SA struct {
	wire
	DOI       uint32
	Situation uint32
	Proposals []Proposal
}

// Type returns PayloadSA.
func (*SA) Type() PayloadType { return PayloadSA }

// Proposal is a Proposal payload (RFC 2408 §3.5), chained inside an SA payload with Next
// Payload 2 and 0 for the last:
//
//	generic header | Proposal # (1) | Protocol-Id (1) | SPI Size (1) | # of Transforms (1) |
//	SPI (SPI Size) | Transform payloads
//
// The decoder checks that # of Transforms equals the Transform payloads found. Raw and Body
// are the proposal's own bytes.
//
// Proposal is plain data: safe for concurrent reads, not for concurrent mutation.
type Proposal struct {
	wire
	Number     uint8
	ProtocolID ProtocolID
	// SPI is the sending entity's SPI: empty for an ISAKMP proposal in Phase 1 (RFC 2409
	// §5: ignored), 4 bytes for ESP and AH, 2 (or 4) for an IPCOMP CPI (RFC 2407 §4.4.1).
	SPI        []byte
	Transforms []Transform
}

// Transform is a Transform payload (RFC 2408 §3.6), chained inside a Proposal with Next
// Payload 3 and 0 for the last:
//
//	generic header | Transform # (1) | Transform-Id (1) | RESERVED2 (2) | SA Attributes
//
// Transform is plain data: safe for concurrent reads, not for concurrent mutation.
type Transform struct {
	wire
	Number uint8
	// ID is the Transform-Id: KEY_IKE for ISAKMP, or an ESP/AH/IPCOMP transform ID (RFC 2407 §4.4).
	ID         uint8
	Attributes []Attribute
}

// Attr returns the first attribute of type t.
func (t *Transform) Attr(typ AttributeType) (Attribute, bool) {
	for _, a := range t.Attributes {
		if a.Type == typ {
			return a, true
		}
	}
	return Attribute{}, false
}

const (
	saFixedLen        = 8 // DOI + Situation
	proposalFixedLen  = 8 // generic header + Proposal #, Protocol-Id, SPI Size, # of Transforms
	transformFixedLen = 8 // generic header + Transform #, Transform-Id, RESERVED2
)

// decodeSA decodes an SA payload body (RFC 2408 §3.4, §5.4; RFC 2407 §4.6.1). off is the
// body's offset in the input.
func decodeSA(body []byte, off int) (*SA, error) {
	if len(body) < saFixedLen {
		return nil, errAt(PayloadSA, off, ErrMalformed, "body of %d bytes cannot hold DOI and Situation", len(body))
	}
	sa := &SA{
		DOI:       binary.BigEndian.Uint32(body[0:4]),
		Situation: binary.BigEndian.Uint32(body[4:8]),
	}
	if sa.DOI != DOIIPsec {
		return nil, errAt(PayloadSA, off, ErrDOINotSupported, "DOI %d (only the IPsec DOI, 1, is decoded)", sa.DOI)
	}
	if sa.Situation&(SituationSecrecy|SituationIntegrity) != 0 {
		return nil, errAt(PayloadSA, off+4, ErrSituationNotSupported, "Situation 0x%08x has SIT_SECRECY or SIT_INTEGRITY set", sa.Situation)
	}
	pos := saFixedLen
	for next := PayloadProposal; next != PayloadNone; {
		if next != PayloadProposal {
			return nil, errAt(PayloadProposal, off+pos, ErrInvalidPayloadType, "Next Payload %d inside an SA payload (only 2 and 0 are allowed)", uint8(next))
		}
		raw, err := subPayload(PayloadProposal, body, pos, off, proposalFixedLen, "SA")
		if err != nil {
			return nil, err
		}
		p, err := decodeProposal(raw, off+pos)
		if err != nil {
			return nil, err
		}
		sa.Proposals = append(sa.Proposals, p)
		next = PayloadType(raw[0])
		pos += len(raw)
	}
	if pos != len(body) {
		return nil, errAt(PayloadSA, off+pos, ErrTrailingData, "%d bytes after the last Proposal payload", len(body)-pos)
	}
	return sa, nil
}

// subPayload checks the generic header of a Proposal or Transform payload at b[pos:] and
// returns the payload's bytes. min is the payload's minimum length; parent names the
// enclosing payload in errors.
func subPayload(pt PayloadType, b []byte, pos, off, min int, parent string) ([]byte, error) {
	rest := len(b) - pos
	if rest < genericHeaderLen {
		return nil, errAt(pt, off+pos, ErrMalformed, "%d bytes left in the %s payload, too few for the announced %s payload", rest, parent, pt)
	}
	l := int(binary.BigEndian.Uint16(b[pos+2:]))
	if l < min {
		return nil, errAt(pt, off+pos, ErrMalformed, "Payload Length %d is less than the minimum %d", l, min)
	}
	if l > rest {
		return nil, errAt(pt, off+pos, ErrMalformed, "Payload Length %d exceeds the %d bytes left in the %s payload", l, rest, parent)
	}
	if b[pos+1] != 0 {
		return nil, errAt(pt, off+pos+1, ErrMalformed, "RESERVED is 0x%02x, not zero", b[pos+1])
	}
	return b[pos : pos+l : pos+l], nil
}

// decodeProposal decodes one Proposal payload (RFC 2408 §3.5, §5.4); raw includes its
// generic header and starts at offset off.
func decodeProposal(raw []byte, off int) (Proposal, error) {
	p := Proposal{
		wire:       wire{raw},
		Number:     raw[4],
		ProtocolID: ProtocolID(raw[5]),
	}
	spiSize := int(raw[6])
	count := int(raw[7])
	pos := proposalFixedLen
	if spiSize > len(raw)-pos {
		return Proposal{}, errAt(PayloadProposal, off+6, ErrMalformed, "SPI Size %d exceeds the %d bytes left in the proposal", spiSize, len(raw)-pos)
	}
	p.SPI = raw[pos : pos+spiSize : pos+spiSize]
	pos += spiSize
	for next := PayloadTransform; next != PayloadNone; {
		if next != PayloadTransform {
			return Proposal{}, errAt(PayloadTransform, off+pos, ErrInvalidPayloadType, "Next Payload %d inside a Proposal payload (only 3 and 0 are allowed)", uint8(next))
		}
		tr, err := subPayload(PayloadTransform, raw, pos, off, transformFixedLen, "Proposal")
		if err != nil {
			return Proposal{}, err
		}
		t, err := decodeTransform(tr, off+pos)
		if err != nil {
			return Proposal{}, err
		}
		p.Transforms = append(p.Transforms, t)
		next = PayloadType(tr[0])
		pos += len(tr)
	}
	if pos != len(raw) {
		return Proposal{}, errAt(PayloadProposal, off+pos, ErrTrailingData, "%d bytes after the last Transform payload", len(raw)-pos)
	}
	if count != len(p.Transforms) {
		return Proposal{}, errAt(PayloadProposal, off+7, ErrMalformed, "# of Transforms is %d but %d Transform payloads follow", count, len(p.Transforms))
	}
	return p, nil
}

// decodeTransform decodes one Transform payload (RFC 2408 §3.6, §5.4).
func decodeTransform(raw []byte, off int) (Transform, error) {
	if raw[6] != 0 || raw[7] != 0 {
		return Transform{}, errAt(PayloadTransform, off+6, ErrMalformed, "RESERVED2 is 0x%02x%02x, not zero", raw[6], raw[7])
	}
	attrs, err := decodeAttributes(PayloadTransform, raw[transformFixedLen:], off+transformFixedLen)
	if err != nil {
		return Transform{}, err
	}
	return Transform{wire: wire{raw}, Number: raw[4], ID: raw[5], Attributes: attrs}, nil
}

// appendBody encodes the SA body. RFC 2408 §3.4–3.6: proposals chained with 2/0,
// transforms with 3/0, counts and lengths computed.
func (sa *SA) appendBody(b []byte) ([]byte, error) {
	if sa == nil {
		return nil, errEnc(PayloadSA, "nil payload")
	}
	if sa.DOI != DOIIPsec {
		return nil, errEnc(PayloadSA, "DOI %d is not the IPsec DOI", sa.DOI)
	}
	if sa.Situation&(SituationSecrecy|SituationIntegrity) != 0 {
		return nil, errEnc(PayloadSA, "Situation 0x%08x with SIT_SECRECY or SIT_INTEGRITY is not supported", sa.Situation)
	}
	if len(sa.Proposals) == 0 {
		return nil, errEnc(PayloadSA, "no proposal")
	}
	b = binary.BigEndian.AppendUint32(b, sa.DOI)
	b = binary.BigEndian.AppendUint32(b, sa.Situation)
	for i := range sa.Proposals {
		p := &sa.Proposals[i]
		next := PayloadProposal
		if i == len(sa.Proposals)-1 {
			next = PayloadNone
		}
		var err error
		if b, err = p.append(b, next); err != nil {
			return nil, err
		}
	}
	return b, nil
}

func (p *Proposal) append(b []byte, next PayloadType) ([]byte, error) {
	if len(p.SPI) > math.MaxUint8 {
		return nil, errEnc(PayloadProposal, "SPI of %d bytes does not fit SPI Size", len(p.SPI))
	}
	if len(p.Transforms) == 0 || len(p.Transforms) > math.MaxUint8 {
		return nil, errEnc(PayloadProposal, "%d transforms (1 to 255 allowed)", len(p.Transforms))
	}
	start := len(b)
	b = append(b, byte(next), 0, 0, 0, p.Number, byte(p.ProtocolID), byte(len(p.SPI)), byte(len(p.Transforms)))
	b = append(b, p.SPI...)
	for i := range p.Transforms {
		t := &p.Transforms[i]
		tnext := PayloadTransform
		if i == len(p.Transforms)-1 {
			tnext = PayloadNone
		}
		tstart := len(b)
		b = append(b, byte(tnext), 0, 0, 0, t.Number, t.ID, 0, 0)
		var err error
		if b, err = appendAttributes(PayloadTransform, b, t.Attributes); err != nil {
			return nil, err
		}
		if b, err = putLength16(b, tstart, PayloadTransform); err != nil {
			return nil, err
		}
	}
	return putLength16(b, start, PayloadProposal)
}
