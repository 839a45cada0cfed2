package esp

// ESP-in-UDP framing, RFC 3948 §2: on the NAT-T port, a datagram is an IKE message when its
// first four bytes are the zero non-ESP marker, a NAT keepalive when it is the single byte 0xFF,
// and an ESP packet otherwise (an SPI is never zero).

import "encoding/binary"

// UDPKind is what a datagram received on the NAT-T port carries.
type UDPKind uint8

const (
	UDPInvalid   UDPKind = iota // too short to be anything
	UDPESP                      // an ESP packet, starting at the SPI
	UDPIKE                      // an IKE message after the 4-byte non-ESP marker
	UDPKeepalive                // RFC 3948 §2.3 NAT-keepalive
)

// NonESPMarkerLen is the length of the zero marker in front of IKE messages on port 4500.
const NonESPMarkerLen = 4

// NATKeepalive is the one-byte payload of a NAT-keepalive packet, RFC 3948 §2.3.
var NATKeepalive = []byte{0xff}

// ClassifyUDP tells what a datagram received on the NAT-T port carries, RFC 3948 §2.2.
func ClassifyUDP(b []byte) UDPKind {
	switch {
	case len(b) == 1 && b[0] == 0xff:
		return UDPKeepalive
	case len(b) < 4:
		return UDPInvalid
	case binary.BigEndian.Uint32(b) == 0:
		if len(b) == 4 {
			return UDPInvalid
		}
		return UDPIKE
	case len(b) < 8: // SPI + sequence number at least
		return UDPInvalid
	}
	return UDPESP
}

// PacketSPI returns the SPI of an ESP packet (or of the AH header at off in an AH packet).
func PacketSPI(b []byte) uint32 {
	if len(b) < 4 {
		return 0
	}
	return binary.BigEndian.Uint32(b)
}
