package wire

import "encoding/binary"

// KeyExchange is the Key Exchange payload (RFC 7296 §3.4):
//
//	generic header | Diffie-Hellman Group Num (2) | RESERVED (2) | Key Exchange Data
//
// The decoder requires Key Exchange Data (at least one octet); its length is bounded by the
// 16-bit Payload Length. Whether the length fits the group ("MUST be the length of the
// Diffie-Hellman public value", §3.4) and the value is valid (RFC 6989) is checked where the
// group is implemented (package oakley/crypto), by the engine; a mismatch of group and
// proposal is INVALID_KE_PAYLOAD (§1.2), also the engine's.
//
// KeyExchange is plain data: safe for concurrent reads, not for concurrent mutation.
type KeyExchange struct {
	wire
	Group uint16 // the KE transform ID of the group (e.g. 14 MODP-2048, 19 ECP-256, 31 Curve25519)
	Data  []byte
}

// Type returns PayloadKE.
func (*KeyExchange) Type() PayloadType { return PayloadKE }

const keFixedLen = 4

func decodeKE(body []byte, off int) (*KeyExchange, error) {
	if len(body) <= keFixedLen {
		return nil, errAt(PayloadKE, off, ErrMalformed, "body of %d bytes holds no Key Exchange Data", len(body))
	}
	return &KeyExchange{Group: binary.BigEndian.Uint16(body), Data: body[keFixedLen:]}, nil
}

func (k *KeyExchange) appendBody(b []byte) ([]byte, error) {
	if len(k.Data) == 0 {
		return nil, errEnc(PayloadKE, "no Key Exchange Data")
	}
	b = binary.BigEndian.AppendUint16(b, k.Group)
	b = append(b, 0, 0)
	return append(b, k.Data...), nil
}
