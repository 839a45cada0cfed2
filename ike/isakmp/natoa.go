package isakmp

import "net/netip"

// NATOriginalAddress is the NAT-OA payload (RFC 3947 §5.2): the original address of a
// peer behind a NAT, sent in Quick Mode for transport mode (to fix up TCP/UDP checksums):
//
//	generic header | ID Type (1) | RESERVED (1) | RESERVED (2) | IPv4 (4) or IPv6 (16)
//
// ID Type is ID_IPV4_ADDR or ID_IPV6_ADDR, derived from Addr; the decoder rejects any other
// type, a length that does not match it and non-zero RESERVED bytes. Draft selects payload
// type 131 of draft-ietf-ipsec-nat-t-ike-02/03 instead of 21.
//
// NATOriginalAddress is plain data: safe for concurrent reads, not for concurrent mutation.
type NATOriginalAddress struct {
	wire
	Draft bool
	Addr  netip.Addr
}

// Type returns PayloadNATOA, or PayloadNATOADraft when Draft is set.
func (p *NATOriginalAddress) Type() PayloadType {
	if p != nil && p.Draft {
		return PayloadNATOADraft
	}
	return PayloadNATOA
}

const natoaFixedLen = 4

// decodeNATOA decodes a NAT-OA payload body (RFC 3947 §5.2).
func decodeNATOA(pt PayloadType, body []byte, off int) (*NATOriginalAddress, error) {
	if len(body) < natoaFixedLen {
		return nil, errAt(pt, off, ErrMalformed, "body of %d bytes cannot hold ID Type and RESERVED", len(body))
	}
	if body[1] != 0 || body[2] != 0 || body[3] != 0 {
		return nil, errAt(pt, off+1, ErrMalformed, "RESERVED is %x, not zero", body[1:4])
	}
	want := 0
	switch IDType(body[0]) {
	case IDIPv4Addr:
		want = 4
	case IDIPv6Addr:
		want = 16
	default:
		return nil, errAt(pt, off, ErrMalformed, "ID Type %s (only ID_IPV4_ADDR and ID_IPV6_ADDR are allowed)", IDType(body[0]))
	}
	if got := len(body) - natoaFixedLen; got != want {
		return nil, errAt(pt, off+natoaFixedLen, ErrMalformed, "%s with %d bytes of address", IDType(body[0]), got)
	}
	a, _ := netip.AddrFromSlice(body[natoaFixedLen:])
	return &NATOriginalAddress{Draft: pt == PayloadNATOADraft, Addr: a}, nil
}

// appendBody encodes the NAT-OA body (RFC 3947 §5.2).
func (p *NATOriginalAddress) appendBody(b []byte) ([]byte, error) {
	if p == nil {
		return nil, errEnc(PayloadNATOA, "nil payload")
	}
	switch {
	case p.Addr.Is4():
		b = append(b, byte(IDIPv4Addr), 0, 0, 0)
	case p.Addr.Is6():
		b = append(b, byte(IDIPv6Addr), 0, 0, 0)
	default:
		return nil, errEnc(p.Type(), "invalid address")
	}
	return append(b, p.Addr.AsSlice()...), nil
}
