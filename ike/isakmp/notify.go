package isakmp

import (
	"encoding/binary"
	"math"
	"strconv"
)

// NotifyType is a Notify Message Type (RFC 2408 §3.14.1; IPsec DOI status types RFC 2407
// §4.6.3; DPD RFC 3706 §5). Types below 16384 are errors, 16384 and above status.
type NotifyType uint16

// Error types (RFC 2408 §3.14.1).
const (
	NotifyInvalidPayloadType      NotifyType = 1
	NotifyDOINotSupported         NotifyType = 2
	NotifySituationNotSupported   NotifyType = 3
	NotifyInvalidCookie           NotifyType = 4
	NotifyInvalidMajorVersion     NotifyType = 5
	NotifyInvalidMinorVersion     NotifyType = 6
	NotifyInvalidExchangeType     NotifyType = 7
	NotifyInvalidFlags            NotifyType = 8
	NotifyInvalidMessageID        NotifyType = 9
	NotifyInvalidProtocolID       NotifyType = 10
	NotifyInvalidSPI              NotifyType = 11
	NotifyInvalidTransformID      NotifyType = 12
	NotifyAttributesNotSupported  NotifyType = 13
	NotifyNoProposalChosen        NotifyType = 14
	NotifyBadProposalSyntax       NotifyType = 15
	NotifyPayloadMalformed        NotifyType = 16
	NotifyInvalidKeyInformation   NotifyType = 17
	NotifyInvalidIDInformation    NotifyType = 18
	NotifyInvalidCertEncoding     NotifyType = 19
	NotifyInvalidCertificate      NotifyType = 20
	NotifyCertTypeUnsupported     NotifyType = 21
	NotifyInvalidCertAuthority    NotifyType = 22
	NotifyInvalidHashInformation  NotifyType = 23
	NotifyAuthenticationFailed    NotifyType = 24
	NotifyInvalidSignature        NotifyType = 25
	NotifyAddressNotification     NotifyType = 26
	NotifyNotifySALifetime        NotifyType = 27
	NotifyCertificateUnavailable  NotifyType = 28
	NotifyUnsupportedExchangeType NotifyType = 29
	NotifyUnequalPayloadLengths   NotifyType = 30
	NotifyConnected               NotifyType = 16384 // RFC 2408 §3.14.1
	NotifyResponderLifetime       NotifyType = 24576 // RFC 2407 §4.6.3.1
	NotifyReplayStatus            NotifyType = 24577 // RFC 2407 §4.6.3.2
	NotifyInitialContact          NotifyType = 24578 // RFC 2407 §4.6.3.3
	NotifyRUThere                 NotifyType = 36136 // RFC 3706 §5
	NotifyRUThereAck              NotifyType = 36137 // RFC 3706 §5
	// NotifyOakleyRekeySA is oakley's own status type, from the private-use range (RFC 2408
	// §3.14.1, 32768-40959), like IKEv2's REKEY_SA: in a Quick Mode message 1 it names the
	// pair the Quick Mode replaces by the sender's inbound SPI. Sent only to peers that sent
	// oakley's vendor ID.
	NotifyOakleyRekeySA NotifyType = 39321
)

var notifyNames = map[NotifyType]string{
	NotifyInvalidPayloadType:      "INVALID-PAYLOAD-TYPE",
	NotifyDOINotSupported:         "DOI-NOT-SUPPORTED",
	NotifySituationNotSupported:   "SITUATION-NOT-SUPPORTED",
	NotifyInvalidCookie:           "INVALID-COOKIE",
	NotifyInvalidMajorVersion:     "INVALID-MAJOR-VERSION",
	NotifyInvalidMinorVersion:     "INVALID-MINOR-VERSION",
	NotifyInvalidExchangeType:     "INVALID-EXCHANGE-TYPE",
	NotifyInvalidFlags:            "INVALID-FLAGS",
	NotifyInvalidMessageID:        "INVALID-MESSAGE-ID",
	NotifyInvalidProtocolID:       "INVALID-PROTOCOL-ID",
	NotifyInvalidSPI:              "INVALID-SPI",
	NotifyInvalidTransformID:      "INVALID-TRANSFORM-ID",
	NotifyAttributesNotSupported:  "ATTRIBUTES-NOT-SUPPORTED",
	NotifyNoProposalChosen:        "NO-PROPOSAL-CHOSEN",
	NotifyBadProposalSyntax:       "BAD-PROPOSAL-SYNTAX",
	NotifyPayloadMalformed:        "PAYLOAD-MALFORMED",
	NotifyInvalidKeyInformation:   "INVALID-KEY-INFORMATION",
	NotifyInvalidIDInformation:    "INVALID-ID-INFORMATION",
	NotifyInvalidCertEncoding:     "INVALID-CERT-ENCODING",
	NotifyInvalidCertificate:      "INVALID-CERTIFICATE",
	NotifyCertTypeUnsupported:     "CERT-TYPE-UNSUPPORTED",
	NotifyInvalidCertAuthority:    "INVALID-CERT-AUTHORITY",
	NotifyInvalidHashInformation:  "INVALID-HASH-INFORMATION",
	NotifyAuthenticationFailed:    "AUTHENTICATION-FAILED",
	NotifyInvalidSignature:        "INVALID-SIGNATURE",
	NotifyAddressNotification:     "ADDRESS-NOTIFICATION",
	NotifyNotifySALifetime:        "NOTIFY-SA-LIFETIME",
	NotifyCertificateUnavailable:  "CERTIFICATE-UNAVAILABLE",
	NotifyUnsupportedExchangeType: "UNSUPPORTED-EXCHANGE-TYPE",
	NotifyUnequalPayloadLengths:   "UNEQUAL-PAYLOAD-LENGTHS",
	NotifyConnected:               "CONNECTED",
	NotifyResponderLifetime:       "RESPONDER-LIFETIME",
	NotifyReplayStatus:            "REPLAY-STATUS",
	NotifyInitialContact:          "INITIAL-CONTACT",
	NotifyRUThere:                 "R-U-THERE",
	NotifyRUThereAck:              "R-U-THERE-ACK",
	NotifyOakleyRekeySA:           "OAKLEY-REKEY-SA",
}

// String returns the RFC's name, e.g. "NO-PROPOSAL-CHOSEN".
func (t NotifyType) String() string {
	if s, ok := notifyNames[t]; ok {
		return s
	}
	return "NOTIFY(" + strconv.Itoa(int(t)) + ")"
}

// IsError reports whether t is an error type (below 16384, RFC 2408 §3.14.1).
func (t NotifyType) IsError() bool { return t < NotifyConnected }

// Notification is the Notification payload (RFC 2408 §3.14):
//
//	generic header | DOI (4) | Protocol-ID (1) | SPI Size (1) | Notify Message Type (2) |
//	SPI (SPI Size) | Notification Data
//
// SPI Size is len(SPI). A DPD notification (RFC 3706 §5) has Protocol-ID PROTO_ISAKMP, the
// two cookies as a 16-byte SPI and a 4-byte sequence number as data.
//
// Notification is plain data: safe for concurrent reads, not for concurrent mutation.
type Notification struct {
	wire
	DOI        uint32
	ProtocolID ProtocolID
	NotifyType NotifyType
	SPI        []byte
	Data       []byte
}

// Type returns PayloadNotification.
func (*Notification) Type() PayloadType { return PayloadNotification }

// DPDSequence returns the sequence number of an R-U-THERE or R-U-THERE-ACK notification
// (RFC 3706 §5: 4 bytes of Notification Data).
func (n *Notification) DPDSequence() (uint32, error) {
	if n.NotifyType != NotifyRUThere && n.NotifyType != NotifyRUThereAck {
		return 0, errNoOff(PayloadNotification, ErrMalformed, "%s is not a DPD notification", n.NotifyType)
	}
	if len(n.Data) != 4 {
		return 0, errNoOff(PayloadNotification, ErrMalformed, "%s carries %d bytes of data, not a 4-byte sequence number", n.NotifyType, len(n.Data))
	}
	return binary.BigEndian.Uint32(n.Data), nil
}

const notificationFixedLen = 8

// decodeNotification decodes a Notification payload body (RFC 2408 §3.14).
func decodeNotification(body []byte, off int) (*Notification, error) {
	if len(body) < notificationFixedLen {
		return nil, errAt(PayloadNotification, off, ErrMalformed, "body of %d bytes cannot hold DOI, Protocol-ID, SPI Size and Notify Message Type", len(body))
	}
	spiSize := int(body[5])
	if spiSize > len(body)-notificationFixedLen {
		return nil, errAt(PayloadNotification, off+5, ErrMalformed, "SPI Size %d exceeds the %d bytes left", spiSize, len(body)-notificationFixedLen)
	}
	end := notificationFixedLen + spiSize
	return &Notification{
		DOI:        binary.BigEndian.Uint32(body[0:4]),
		ProtocolID: ProtocolID(body[4]),
		NotifyType: NotifyType(binary.BigEndian.Uint16(body[6:8])),
		SPI:        body[notificationFixedLen:end:end],
		Data:       body[end:],
	}, nil
}

// appendBody encodes the Notification body (RFC 2408 §3.14); SPI Size is len(SPI).
func (n *Notification) appendBody(b []byte) ([]byte, error) {
	if n == nil {
		return nil, errEnc(PayloadNotification, "nil payload")
	}
	if len(n.SPI) > math.MaxUint8 {
		return nil, errEnc(PayloadNotification, "SPI of %d bytes does not fit SPI Size", len(n.SPI))
	}
	b = binary.BigEndian.AppendUint32(b, n.DOI)
	b = append(b, byte(n.ProtocolID), byte(len(n.SPI)))
	b = binary.BigEndian.AppendUint16(b, uint16(n.NotifyType))
	b = append(b, n.SPI...)
	return append(b, n.Data...), nil
}

// Delete is the Delete payload (RFC 2408 §3.15):
//
//	generic header | DOI (4) | Protocol-Id (1) | SPI Size (1) | # of SPIs (2) |
//	SPIs (SPI Size each)
//
// The decoder requires # of SPIs × SPI Size to equal the bytes that follow, and at least
// one SPI of at least one byte: an ISAKMP SA is deleted by its cookies (SPI Size 16,
// RFC 2408 §3.15), an ESP or AH SA by its 4-byte SPI.
//
// Delete is plain data: safe for concurrent reads, not for concurrent mutation.
type Delete struct {
	wire
	DOI        uint32
	ProtocolID ProtocolID
	SPISize    uint8
	SPIs       [][]byte
}

// Type returns PayloadDelete.
func (*Delete) Type() PayloadType { return PayloadDelete }

const deleteFixedLen = 8

// decodeDelete decodes a Delete payload body (RFC 2408 §3.15).
func decodeDelete(body []byte, off int) (*Delete, error) {
	if len(body) < deleteFixedLen {
		return nil, errAt(PayloadDelete, off, ErrMalformed, "body of %d bytes cannot hold DOI, Protocol-Id, SPI Size and # of SPIs", len(body))
	}
	d := &Delete{
		DOI:        binary.BigEndian.Uint32(body[0:4]),
		ProtocolID: ProtocolID(body[4]),
		SPISize:    body[5],
	}
	count := int(binary.BigEndian.Uint16(body[6:8]))
	size := int(d.SPISize)
	spis := body[deleteFixedLen:]
	if size == 0 || count == 0 {
		return nil, errAt(PayloadDelete, off+5, ErrMalformed, "SPI Size %d and # of SPIs %d delete nothing", size, count)
	}
	// Checked before allocating anything by count.
	if count*size != len(spis) {
		return nil, errAt(PayloadDelete, off+6, ErrMalformed, "# of SPIs %d × SPI Size %d is not the %d bytes that follow", count, size, len(spis))
	}
	d.SPIs = make([][]byte, count)
	for i := range d.SPIs {
		d.SPIs[i] = spis[i*size : (i+1)*size : (i+1)*size]
	}
	return d, nil
}

// appendBody encodes the Delete body (RFC 2408 §3.15); # of SPIs is len(SPIs).
func (d *Delete) appendBody(b []byte) ([]byte, error) {
	if d == nil {
		return nil, errEnc(PayloadDelete, "nil payload")
	}
	if d.SPISize == 0 || len(d.SPIs) == 0 || len(d.SPIs) > math.MaxUint16 {
		return nil, errEnc(PayloadDelete, "SPI Size %d with %d SPIs", d.SPISize, len(d.SPIs))
	}
	b = binary.BigEndian.AppendUint32(b, d.DOI)
	b = append(b, byte(d.ProtocolID), d.SPISize)
	b = binary.BigEndian.AppendUint16(b, uint16(len(d.SPIs)))
	for i, spi := range d.SPIs {
		if len(spi) != int(d.SPISize) {
			return nil, errEnc(PayloadDelete, "SPI %d has %d bytes, SPI Size is %d", i, len(spi), d.SPISize)
		}
		b = append(b, spi...)
	}
	return b, nil
}
