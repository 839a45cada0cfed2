package wire

import (
	"encoding/binary"
	"strconv"
)

// EAPCode is the Code of an EAP packet (RFC 3748 §4).
type EAPCode uint8

// EAP codes.
const (
	EAPRequest  EAPCode = 1
	EAPResponse EAPCode = 2
	EAPSuccess  EAPCode = 3
	EAPFailure  EAPCode = 4
)

func (c EAPCode) String() string {
	switch c {
	case EAPRequest:
		return "Request"
	case EAPResponse:
		return "Response"
	case EAPSuccess:
		return "Success"
	case EAPFailure:
		return "Failure"
	}
	return "EAP_CODE(" + strconv.Itoa(int(c)) + ")"
}

// EAP is the EAP payload (RFC 7296 §3.16): generic header | EAP Message, one whole EAP packet
// (RFC 3748 §4):
//
//	Code (1) | Identifier (1) | Length (2) | Type (1, Request/Response only) | Type-Data
//
// The decoder checks the packet's own Length against the payload (they must agree exactly),
// the code (1..4), that a Request or Response carries a Type and that Success and Failure are
// exactly 4 octets. The EAP method's Type-Data is the EAP layer's.
//
// EAP is plain data: safe for concurrent reads, not for concurrent mutation.
type EAP struct {
	wire
	Message []byte
}

// Type returns PayloadEAP.
func (*EAP) Type() PayloadType { return PayloadEAP }

// Code, Identifier and EAPType read the checked packet's header; EAPType is 0 for Success and
// Failure.
func (e *EAP) Code() EAPCode     { return EAPCode(e.Message[0]) }
func (e *EAP) Identifier() uint8 { return e.Message[1] }
func (e *EAP) EAPType() uint8 {
	if len(e.Message) > 4 {
		return e.Message[4]
	}
	return 0
}

// TypeData returns the method data after the Type octet (nil for Success and Failure).
func (e *EAP) TypeData() []byte {
	if len(e.Message) > 5 {
		return e.Message[5:]
	}
	return nil
}

// checkEAP returns why m is not one well-formed EAP packet, or "".
func checkEAP(m []byte) string {
	if len(m) < 4 {
		return "EAP packet of " + strconv.Itoa(len(m)) + " bytes has no header"
	}
	if l := int(binary.BigEndian.Uint16(m[2:])); l != len(m) {
		return "EAP Length " + strconv.Itoa(l) + " but the payload holds " + strconv.Itoa(len(m)) + " bytes"
	}
	switch EAPCode(m[0]) {
	case EAPRequest, EAPResponse:
		if len(m) < 5 {
			return "EAP " + EAPCode(m[0]).String() + " without a Type"
		}
	case EAPSuccess, EAPFailure:
		if len(m) != 4 {
			return "EAP " + EAPCode(m[0]).String() + " with data"
		}
	default:
		return "EAP Code " + strconv.Itoa(int(m[0]))
	}
	return ""
}

func decodeEAP(body []byte, off int) (*EAP, error) {
	if reason := checkEAP(body); reason != "" {
		return nil, errAt(PayloadEAP, off, ErrMalformed, "%s", reason)
	}
	return &EAP{Message: body}, nil
}

func (e *EAP) appendBody(b []byte) ([]byte, error) {
	if reason := checkEAP(e.Message); reason != "" {
		return nil, errEnc(PayloadEAP, "%s", reason)
	}
	return append(b, e.Message...), nil
}

// NewEAP builds an EAP payload from code, identifier, type and type data (type and data are
// ignored for Success and Failure), computing the EAP Length.
func NewEAP(code EAPCode, id, typ uint8, data []byte) *EAP {
	m := []byte{byte(code), id, 0, 0}
	if code == EAPRequest || code == EAPResponse {
		m = append(append(m, typ), data...)
	}
	binary.BigEndian.PutUint16(m[2:], uint16(len(m)))
	return &EAP{Message: m}
}
