package isakmp

import (
	"encoding/binary"
	"encoding/hex"
	"strconv"
)

// HeaderLen is the length of the ISAKMP header (RFC 2408 §3.1).
const HeaderLen = 28

// Version is the only ISAKMP version this package speaks: major 1, minor 0 (RFC 2408 §3.1).
const (
	MajorVersion = 1
	MinorVersion = 0
)

// Cookie is an initiator or responder cookie (RFC 2408 §2.5.3, §3.1). IKE's "CKY-I" and
// "CKY-R"; the pair names an ISAKMP SA.
type Cookie [8]byte

// String returns the cookie in hex, the form strongSwan and tshark print.
func (c Cookie) String() string { return hex.EncodeToString(c[:]) }

// IsZero reports whether c is all zeros (the responder cookie of a first message).
func (c Cookie) IsZero() bool { return c == Cookie{} }

// ExchangeType is the header's Exchange Type (RFC 2408 §3.1, IPsec DOI values RFC 2407 §4.7).
type ExchangeType uint8

// Exchange types. RFC 2408 §3.1 and §4.4–4.8; Quick Mode and New Group Mode are RFC 2409
// §5.5 and §6.2 (numbered by RFC 2407 §4.7); Transaction is draft-ietf-ipsec-isakmp-mode-cfg
// (Mode Config and XAUTH).
const (
	ExchangeNone               ExchangeType = 0
	ExchangeBase               ExchangeType = 1
	ExchangeIdentityProtection ExchangeType = 2 // Main Mode
	ExchangeAuthOnly           ExchangeType = 3
	ExchangeAggressive         ExchangeType = 4
	ExchangeInformational      ExchangeType = 5
	ExchangeTransaction        ExchangeType = 6 // Mode Config / XAUTH
	ExchangeQuickMode          ExchangeType = 32
	ExchangeNewGroupMode       ExchangeType = 33

	// ExchangeMainMode is IKE's name for Identity Protection (RFC 2409 §5).
	ExchangeMainMode = ExchangeIdentityProtection
)

var exchangeNames = map[ExchangeType]string{
	ExchangeNone:               "NONE",
	ExchangeBase:               "Base",
	ExchangeIdentityProtection: "Identity Protection (Main Mode)",
	ExchangeAuthOnly:           "Authentication Only",
	ExchangeAggressive:         "Aggressive",
	ExchangeInformational:      "Informational",
	ExchangeTransaction:        "Transaction",
	ExchangeQuickMode:          "Quick Mode",
	ExchangeNewGroupMode:       "New Group Mode",
}

func (e ExchangeType) String() string {
	if s, ok := exchangeNames[e]; ok {
		return s
	}
	return "EXCHANGE(" + strconv.Itoa(int(e)) + ")"
}

// Flags is the header's Flags field (RFC 2408 §3.1).
type Flags uint8

// Header flags (RFC 2408 §3.1).
const (
	FlagEncryption Flags = 0x01 // E: payloads after the header are encrypted
	FlagCommit     Flags = 0x02 // C: commit (RFC 2408 §3.1, RFC 2409 §5.5 CONNECTED)
	FlagAuthOnly   Flags = 0x04 // A: authentication only (Informational)

	flagsKnown = FlagEncryption | FlagCommit | FlagAuthOnly
)

// Has reports whether all bits of f2 are set in f.
func (f Flags) Has(f2 Flags) bool { return f&f2 == f2 }

func (f Flags) String() string {
	s := ""
	for _, x := range []struct {
		f Flags
		n string
	}{{FlagEncryption, "E"}, {FlagCommit, "C"}, {FlagAuthOnly, "A"}} {
		if f&x.f != 0 {
			s += x.n
		}
	}
	if rest := f &^ flagsKnown; rest != 0 {
		s += "|0x" + strconv.FormatUint(uint64(rest), 16)
	}
	if s == "" {
		return "-"
	}
	return s
}

// PayloadType is a Next Payload value (RFC 2408 §3.1), extended by RFC 3947 (NAT-D, NAT-OA),
// draft-ietf-ipsec-nat-t-ike-02/03 (the draft NAT-D/NAT-OA numbers), draft-dukes-ike-mode-cfg
// (ATTR) and the Cisco/strongSwan IKEv1 fragmentation extension (FRAG).
type PayloadType uint8

// Payload types.
const (
	PayloadNone         PayloadType = 0
	PayloadSA           PayloadType = 1
	PayloadProposal     PayloadType = 2
	PayloadTransform    PayloadType = 3
	PayloadKE           PayloadType = 4
	PayloadID           PayloadType = 5
	PayloadCert         PayloadType = 6
	PayloadCertRequest  PayloadType = 7
	PayloadHash         PayloadType = 8
	PayloadSig          PayloadType = 9
	PayloadNonce        PayloadType = 10
	PayloadNotification PayloadType = 11
	PayloadDelete       PayloadType = 12
	PayloadVendorID     PayloadType = 13
	PayloadAttribute    PayloadType = 14 // Mode Config
	PayloadNATD         PayloadType = 20 // RFC 3947 §3.2
	PayloadNATOA        PayloadType = 21 // RFC 3947 §5.2
	PayloadNATDDraft    PayloadType = 130
	PayloadNATOADraft   PayloadType = 131
	PayloadFragment     PayloadType = 132
)

var payloadNames = map[PayloadType]string{
	PayloadNone:         "NONE",
	PayloadSA:           "SA",
	PayloadProposal:     "P",
	PayloadTransform:    "T",
	PayloadKE:           "KE",
	PayloadID:           "ID",
	PayloadCert:         "CERT",
	PayloadCertRequest:  "CR",
	PayloadHash:         "HASH",
	PayloadSig:          "SIG",
	PayloadNonce:        "NONCE",
	PayloadNotification: "N",
	PayloadDelete:       "D",
	PayloadVendorID:     "VID",
	PayloadAttribute:    "ATTR",
	PayloadNATD:         "NAT-D",
	PayloadNATOA:        "NAT-OA",
	PayloadNATDDraft:    "NAT-D-draft",
	PayloadNATOADraft:   "NAT-OA-draft",
	PayloadFragment:     "FRAG",
}

// String returns the payload's short name as RFC 2408 §3.1 and RFC 3947 write it.
func (p PayloadType) String() string {
	if s, ok := payloadNames[p]; ok {
		return s
	}
	return "PAYLOAD(" + strconv.Itoa(int(p)) + ")"
}

// Header is the ISAKMP header (RFC 2408 §3.1):
//
//	Initiator Cookie (8) | Responder Cookie (8) | Next Payload (1) | MjVer/MnVer (1) |
//	Exchange Type (1) | Flags (1) | Message ID (4) | Length (4)
//
// The version is not a field: decoders reject anything but 1.0 and encoders write 1.0.
//
// Header is plain data: safe for concurrent reads, not for concurrent mutation.
type Header struct {
	InitiatorCookie Cookie
	ResponderCookie Cookie
	// NextPayload is the type of the first payload. Encoders set it from the payloads.
	NextPayload  PayloadType
	ExchangeType ExchangeType
	Flags        Flags
	MessageID    uint32
	// Length is the length of the whole message including the header. Encoders compute it.
	Length uint32
}

// DecodeHeader decodes and checks the first HeaderLen bytes of b: version 1.0 and flags.
// It does not compare Length with len(b) (DecodeMessage does), so a socket loop may call
// it to read the cookies of any datagram. It never retains b.
//
// RFC 2408 §5.2: check the version (INVALID-MAJOR-VERSION, INVALID-MINOR-VERSION) and the
// Flags (INVALID-FLAGS). The exchange type is not checked here: which ones are valid is
// the state machine's knowledge.
func DecodeHeader(b []byte) (Header, error) {
	var h Header
	if len(b) < HeaderLen {
		return h, errAt(PayloadNone, len(b), ErrTruncated, "%d bytes, the ISAKMP header needs %d", len(b), HeaderLen)
	}
	copy(h.InitiatorCookie[:], b[0:8])
	copy(h.ResponderCookie[:], b[8:16])
	h.NextPayload = PayloadType(b[16])
	if mj := b[17] >> 4; mj != MajorVersion {
		return h, errAt(PayloadNone, 17, ErrInvalidMajorVersion, "major version %d", mj)
	}
	if mn := b[17] & 0x0f; mn != MinorVersion {
		return h, errAt(PayloadNone, 17, ErrInvalidMinorVersion, "minor version %d", mn)
	}
	h.ExchangeType = ExchangeType(b[18])
	h.Flags = Flags(b[19])
	if h.Flags&^flagsKnown != 0 {
		return h, errAt(PayloadNone, 19, ErrInvalidFlags, "flags 0x%02x have undefined bits set", uint8(h.Flags))
	}
	h.MessageID = binary.BigEndian.Uint32(b[20:24])
	h.Length = binary.BigEndian.Uint32(b[24:28])
	return h, nil
}

// Append appends the header's HeaderLen bytes to b exactly as its fields say (version 1.0),
// without computing NextPayload or Length.
func (h Header) Append(b []byte) []byte {
	b = append(b, h.InitiatorCookie[:]...)
	b = append(b, h.ResponderCookie[:]...)
	b = append(b, byte(h.NextPayload), MajorVersion<<4|MinorVersion, byte(h.ExchangeType), byte(h.Flags))
	b = binary.BigEndian.AppendUint32(b, h.MessageID)
	return binary.BigEndian.AppendUint32(b, h.Length)
}
