package wire

import (
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/hex"
	"net/netip"
	"strconv"
	"unicode/utf8"
)

// IDType is the ID Type of an Identification payload (RFC 7296 §3.5; RFC 4595 for FC_NAME,
// RFC 7619 for NULL).
type IDType uint8

// ID types.
const (
	IDIPv4Addr   IDType = 1  // ID_IPV4_ADDR: 4 octets
	IDFQDN       IDType = 2  // ID_FQDN: "example.com", no terminator
	IDRFC822Addr IDType = 3  // ID_RFC822_ADDR: "user@example.com"
	IDIPv6Addr   IDType = 5  // ID_IPV6_ADDR: 16 octets
	IDDERASN1DN  IDType = 9  // ID_DER_ASN1_DN: DER of an X.500 Name
	IDDERASN1GN  IDType = 10 // ID_DER_ASN1_GN: DER of an X.509 GeneralName
	IDKeyID      IDType = 11 // ID_KEY_ID: opaque octets
	IDFCName     IDType = 12 // ID_FC_NAME, RFC 4595
	IDNull       IDType = 13 // ID_NULL, RFC 7619: no identity
)

var idTypeNames = map[IDType]string{
	IDIPv4Addr: "ID_IPV4_ADDR", IDFQDN: "ID_FQDN", IDRFC822Addr: "ID_RFC822_ADDR",
	IDIPv6Addr: "ID_IPV6_ADDR", IDDERASN1DN: "ID_DER_ASN1_DN", IDDERASN1GN: "ID_DER_ASN1_GN",
	IDKeyID: "ID_KEY_ID", IDFCName: "ID_FC_NAME", IDNull: "ID_NULL",
}

func (t IDType) String() string {
	if s, ok := idTypeNames[t]; ok {
		return s
	}
	return "ID(" + strconv.Itoa(int(t)) + ")"
}

// Identification is the IDi or IDr payload (RFC 7296 §3.5):
//
//	generic header | ID Type (1) | RESERVED (3) | Identification Data
//
// Everything after the generic header is the "RestOfInitIDPayload" / "RestOfRespIDPayload"
// that AUTH covers (§2.15): RestOfIDPayload returns exactly those octets, as received
// (RESERVED included, whatever its value) or as this package encodes them.
//
// The decoder checks the lengths of address IDs (4 and 16 octets) and requires data for every
// type but ID_NULL; matching an ID against policy or a certificate (RFC 4945) is the engine's.
//
// Identification is plain data: safe for concurrent reads, not for concurrent mutation.
type Identification struct {
	wire
	// Responder selects IDr (true) or IDi (false).
	Responder bool
	IDType    IDType
	Data      []byte
}

// Type returns PayloadIDi or PayloadIDr.
func (id *Identification) Type() PayloadType {
	if id.Responder {
		return PayloadIDr
	}
	return PayloadIDi
}

const idFixedLen = 4

func decodeID(pt PayloadType, body []byte, off int) (*Identification, error) {
	if len(body) < idFixedLen {
		return nil, errAt(pt, off, ErrMalformed, "body of %d bytes cannot hold ID Type and RESERVED", len(body))
	}
	id := &Identification{Responder: pt == PayloadIDr, IDType: IDType(body[0]), Data: body[idFixedLen:]}
	if err := id.checkData(); err != nil {
		return nil, errAt(pt, off+idFixedLen, ErrMalformed, "%s", err.Reason)
	}
	return id, nil
}

// checkData checks the data length for the ID type.
func (id *Identification) checkData() *Error {
	n := len(id.Data)
	switch id.IDType {
	case IDIPv4Addr:
		if n != 4 {
			return errNoOff(id.Type(), ErrMalformed, "ID_IPV4_ADDR of %d bytes", n)
		}
	case IDIPv6Addr:
		if n != 16 {
			return errNoOff(id.Type(), ErrMalformed, "ID_IPV6_ADDR of %d bytes", n)
		}
	case IDNull:
	default:
		if n == 0 {
			return errNoOff(id.Type(), ErrMalformed, "empty %s", id.IDType)
		}
	}
	return nil
}

func (id *Identification) appendBody(b []byte) ([]byte, error) {
	if err := id.checkData(); err != nil {
		err.errs = []error{ErrEncode}
		return nil, err
	}
	b = append(b, byte(id.IDType), 0, 0, 0)
	return append(b, id.Data...), nil
}

// RestOfIDPayload returns the octets AUTH covers for this ID (RFC 7296 §2.15): the payload
// after its generic header. For a decoded payload they are Body(), for one built in memory
// what EncodeMessage writes. The caller must not modify them.
func (id *Identification) RestOfIDPayload() []byte {
	if body := id.Body(); body != nil {
		return body
	}
	b, err := id.appendBody(nil)
	if err != nil {
		return nil
	}
	return b
}

// Addr returns the address of an ID_IPV4_ADDR or ID_IPV6_ADDR.
func (id *Identification) Addr() (netip.Addr, error) {
	switch {
	case id.IDType == IDIPv4Addr && len(id.Data) == 4:
		return netip.AddrFrom4([4]byte(id.Data)), nil
	case id.IDType == IDIPv6Addr && len(id.Data) == 16:
		return netip.AddrFrom16([16]byte(id.Data)), nil
	}
	return netip.Addr{}, errNoOff(id.Type(), ErrMalformed, "%s of %d bytes is not an address", id.IDType, len(id.Data))
}

// String renders the ID for logs: addresses and names as text, a DN in RFC 4514 form, other
// types in hex.
func (id *Identification) String() string {
	switch id.IDType {
	case IDIPv4Addr, IDIPv6Addr:
		if a, err := id.Addr(); err == nil {
			return a.String()
		}
	case IDFQDN, IDRFC822Addr:
		if utf8.Valid(id.Data) {
			return strconv.Quote(string(id.Data))
		}
	case IDDERASN1DN:
		var rdn pkix.RDNSequence
		if rest, err := asn1.Unmarshal(id.Data, &rdn); err == nil && len(rest) == 0 {
			var n pkix.Name
			n.FillFromRDNSequence(&rdn)
			return n.String()
		}
	case IDNull:
		return "ID_NULL"
	}
	return id.IDType.String() + ":" + hex.EncodeToString(id.Data)
}

// IDFromAddr returns an ID_IPV4_ADDR or ID_IPV6_ADDR for a (unzoned) address; an IPv4-mapped
// IPv6 address becomes ID_IPV4_ADDR.
func IDFromAddr(a netip.Addr, responder bool) *Identification {
	a = a.Unmap()
	if a.Is4() {
		v := a.As4()
		return &Identification{Responder: responder, IDType: IDIPv4Addr, Data: v[:]}
	}
	v := a.As16()
	return &Identification{Responder: responder, IDType: IDIPv6Addr, Data: v[:]}
}
