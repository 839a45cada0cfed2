package wire

import "encoding/binary"

// Delete is the Delete payload (RFC 7296 §3.11):
//
//	generic header | Protocol ID (1) | SPI Size (1) | Num of SPIs (2) | SPIs
//
// Deleting the IKE SA is Protocol ID 1 with SPI Size 0 and no SPIs (the SPIs are in the
// header); deleting Child SAs is AH or ESP with SPI Size 4 and one or more inbound SPIs of the
// sender. The decoder enforces exactly that; other protocol IDs are ErrMalformed.
//
// Delete is plain data: safe for concurrent reads, not for concurrent mutation.
type Delete struct {
	wire
	Protocol ProtocolID
	// SPIs are the 4-octet SPIs of an AH or ESP deletion; nil for the IKE SA.
	SPIs []uint32
}

// Type returns PayloadDelete.
func (*Delete) Type() PayloadType { return PayloadDelete }

const deleteFixedLen = 4

func decodeDelete(body []byte, off int) (*Delete, error) {
	if len(body) < deleteFixedLen {
		return nil, errAt(PayloadDelete, off, ErrMalformed, "body of %d bytes cannot hold Protocol ID, SPI Size and Num of SPIs", len(body))
	}
	d := &Delete{Protocol: ProtocolID(body[0])}
	size, count := int(body[1]), int(binary.BigEndian.Uint16(body[2:]))
	rest := body[deleteFixedLen:]
	switch d.Protocol {
	case ProtoIKE:
		if size != 0 || count != 0 || len(rest) != 0 {
			return nil, errAt(PayloadDelete, off+1, ErrMalformed, "IKE SA deletion with SPI Size %d, %d SPIs, %d bytes of SPIs (all must be 0)", size, count, len(rest))
		}
		return d, nil
	case ProtoAH, ProtoESP:
		if size != 4 {
			return nil, errAt(PayloadDelete, off+1, ErrMalformed, "%s deletion with SPI Size %d", d.Protocol, size)
		}
	default:
		return nil, errAt(PayloadDelete, off, ErrMalformed, "Protocol ID %d", d.Protocol)
	}
	if count == 0 || len(rest) != 4*count {
		return nil, errAt(PayloadDelete, off+2, ErrMalformed, "Num of SPIs %d but %d bytes of SPIs", count, len(rest))
	}
	d.SPIs = make([]uint32, count)
	for i := range d.SPIs {
		d.SPIs[i] = binary.BigEndian.Uint32(rest[4*i:])
	}
	return d, nil
}

func (d *Delete) appendBody(b []byte) ([]byte, error) {
	switch d.Protocol {
	case ProtoIKE:
		if len(d.SPIs) != 0 {
			return nil, errEnc(PayloadDelete, "IKE SA deletion with %d SPIs", len(d.SPIs))
		}
		return append(b, byte(ProtoIKE), 0, 0, 0), nil
	case ProtoAH, ProtoESP:
		if len(d.SPIs) == 0 || len(d.SPIs) > 0xffff {
			return nil, errEnc(PayloadDelete, "%s deletion with %d SPIs", d.Protocol, len(d.SPIs))
		}
	default:
		return nil, errEnc(PayloadDelete, "Protocol ID %d", d.Protocol)
	}
	b = append(b, byte(d.Protocol), 4)
	b = binary.BigEndian.AppendUint16(b, uint16(len(d.SPIs)))
	for _, s := range d.SPIs {
		b = binary.BigEndian.AppendUint32(b, s)
	}
	return b, nil
}
