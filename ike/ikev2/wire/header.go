package wire

import (
	"encoding/binary"
	"encoding/hex"
	"strconv"
)

// HeaderLen is the length of the IKE header (RFC 7296 §3.1).
const HeaderLen = 28

// The version this package speaks: 2.0 (RFC 7296 §3.1).
const (
	MajorVersion = 2
	MinorVersion = 0
)

// MaxMessageLen bounds every IKE message this package decodes or encodes, and every message a
// Reassembler rebuilds: the largest UDP payload, and the largest message the 16-bit length of
// TCP encapsulation (RFC 9329 §3) can frame. The engine may enforce a smaller limit.
const MaxMessageLen = 65535

// SPI is an IKE SA SPI (RFC 7296 §3.1): the initiator's or the responder's 8 octets.
type SPI [8]byte

// String returns the SPI in hex, the form strongSwan and tshark print.
func (s SPI) String() string { return hex.EncodeToString(s[:]) }

// IsZero reports whether s is all zeros (the responder SPI of an IKE_SA_INIT request).
func (s SPI) IsZero() bool { return s == SPI{} }

// ExchangeType is the header's Exchange Type (RFC 7296 §3.1 and the IANA registry).
type ExchangeType uint8

// Exchange types.
const (
	ExchangeIKESAInit        ExchangeType = 34 // IKE_SA_INIT, RFC 7296 §1.2
	ExchangeIKEAuth          ExchangeType = 35 // IKE_AUTH, RFC 7296 §1.2
	ExchangeCreateChildSA    ExchangeType = 36 // CREATE_CHILD_SA, RFC 7296 §1.3
	ExchangeInformational    ExchangeType = 37 // INFORMATIONAL, RFC 7296 §1.4
	ExchangeIKESessionResume ExchangeType = 38 // IKE_SESSION_RESUME, RFC 5723
	ExchangeIKEIntermediate  ExchangeType = 43 // IKE_INTERMEDIATE, RFC 9242
	ExchangeIKEFollowupKE    ExchangeType = 44 // IKE_FOLLOWUP_KE, RFC 9370
)

var exchangeNames = map[ExchangeType]string{
	ExchangeIKESAInit:        "IKE_SA_INIT",
	ExchangeIKEAuth:          "IKE_AUTH",
	ExchangeCreateChildSA:    "CREATE_CHILD_SA",
	ExchangeInformational:    "INFORMATIONAL",
	ExchangeIKESessionResume: "IKE_SESSION_RESUME",
	ExchangeIKEIntermediate:  "IKE_INTERMEDIATE",
	ExchangeIKEFollowupKE:    "IKE_FOLLOWUP_KE",
}

// String returns the exchange's IANA name, or EXCHANGE(n).
func (e ExchangeType) String() string {
	if s, ok := exchangeNames[e]; ok {
		return s
	}
	return "EXCHANGE(" + strconv.Itoa(int(e)) + ")"
}

// Known reports whether e is one of the exchange types above. The decoder accepts any value;
// which exchanges an IKE SA takes part in is the engine's decision.
func (e ExchangeType) Known() bool { _, ok := exchangeNames[e]; return ok }

// Flags is the header's Flags octet (RFC 7296 §3.1).
type Flags uint8

// Header flags (RFC 7296 §3.1). The other bits "MUST be cleared when sending and MUST be
// ignored on receipt": the decoder drops them and the encoders refuse them.
const (
	FlagInitiator Flags = 0x08 // I: sent by the original initiator of the IKE SA
	FlagVersion   Flags = 0x10 // V: the sender could speak a higher major version
	FlagResponse  Flags = 0x20 // R: this message is a response

	flagsKnown = FlagInitiator | FlagVersion | FlagResponse
)

// Has reports whether all bits of f2 are set in f.
func (f Flags) Has(f2 Flags) bool { return f&f2 == f2 }

func (f Flags) String() string {
	s := ""
	for _, x := range []struct {
		f Flags
		n string
	}{{FlagInitiator, "I"}, {FlagVersion, "V"}, {FlagResponse, "R"}} {
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

// Header is the IKE header (RFC 7296 §3.1):
//
//	IKE SA Initiator's SPI (8) | IKE SA Responder's SPI (8) | Next Payload (1) |
//	MjVer (4 bits) | MnVer (4 bits) | Exchange Type (1) | Flags (1) | Message ID (4) | Length (4)
//
// The version is not a field: decoders accept major 2 with any minor version ("MUST ignore the
// minor version number of received messages") and encoders write 2.0.
//
// Header is plain data: safe for concurrent reads, not for concurrent mutation.
type Header struct {
	SPIi SPI
	SPIr SPI
	// NextPayload is the type of the first payload. Encoders set it from the payloads.
	NextPayload PayloadType
	Exchange    ExchangeType
	Flags       Flags
	MessageID   uint32
	// Length is the length of the whole message including the header. Encoders compute it.
	Length uint32
}

// IsResponse reports whether the R flag is set.
func (h Header) IsResponse() bool { return h.Flags.Has(FlagResponse) }

// FromInitiator reports whether the I flag is set (the sender is the IKE SA's original
// initiator).
func (h Header) FromInitiator() bool { return h.Flags.Has(FlagInitiator) }

// DecodeHeader decodes and checks the first HeaderLen bytes of b. It does not compare Length
// with len(b) (DecodeMessage does), so the socket loop may call it on any datagram to find the
// IKE SA by its SPIs. It never retains b.
//
// RFC 7296 §3.1 and §2.5: a major version above 2 is ErrInvalidMajorVersion (the responder
// answers INVALID_MAJOR_VERSION), below 2 ErrNotIKEv2; the minor version and the undefined
// flag bits are ignored; the initiator's SPI "MUST NOT be zero" (ErrMalformed). The exchange
// type is not checked here: which ones are valid is the engine's knowledge.
func DecodeHeader(b []byte) (Header, error) {
	var h Header
	if len(b) < HeaderLen {
		return h, errAt(PayloadNone, len(b), ErrTruncated, "%d bytes, the IKE header needs %d", len(b), HeaderLen)
	}
	copy(h.SPIi[:], b[0:8])
	copy(h.SPIr[:], b[8:16])
	h.NextPayload = PayloadType(b[16])
	switch mj := b[17] >> 4; {
	case mj > MajorVersion:
		return h, errAt(PayloadNone, 17, ErrInvalidMajorVersion, "major version %d", mj)
	case mj < MajorVersion:
		return h, errAt(PayloadNone, 17, ErrNotIKEv2, "major version %d", mj)
	}
	h.Exchange = ExchangeType(b[18])
	h.Flags = Flags(b[19]) & flagsKnown
	h.MessageID = binary.BigEndian.Uint32(b[20:24])
	h.Length = binary.BigEndian.Uint32(b[24:28])
	if h.SPIi.IsZero() {
		return h, errAt(PayloadNone, 0, ErrMalformed, "the IKE SA initiator's SPI is zero")
	}
	return h, nil
}

// Append appends the header's HeaderLen bytes to b exactly as its fields say (version 2.0),
// without computing NextPayload or Length.
func (h Header) Append(b []byte) []byte {
	b = append(b, h.SPIi[:]...)
	b = append(b, h.SPIr[:]...)
	b = append(b, byte(h.NextPayload), MajorVersion<<4|MinorVersion, byte(h.Exchange), byte(h.Flags))
	b = binary.BigEndian.AppendUint32(b, h.MessageID)
	return binary.BigEndian.AppendUint32(b, h.Length)
}

// checkEncode refuses a header an encoder cannot send.
func (h Header) checkEncode() error {
	if h.Flags&^flagsKnown != 0 {
		return errEnc(PayloadNone, "flags 0x%02x have undefined bits set", uint8(h.Flags))
	}
	if h.SPIi.IsZero() {
		return errEnc(PayloadNone, "the IKE SA initiator's SPI is zero")
	}
	return nil
}
