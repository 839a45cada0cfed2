package ikev1

// Message building and reading helpers, kept apart from the state machines: payload
// lookup, the bodies IKE hashes, the SA a responder echoes, nonces, and the amplification
// bound of first replies.

import (
	"encoding/binary"

	"oakley/ike/isakmp"
)

// Answers to unauthenticated first messages are never longer than the request (STANDARDS.md:
// no amplification); our vendor IDs are dropped to fit. The one exception is Aggressive Mode,
// whose answer must carry HASH_R (and our nonce and identity, which may be longer than the
// initiator's), and so may exceed the request by those alone; an Aggressive Mode PSK
// responder needs the insecure opt-in anyway.

// payloadOf returns the first payload of type T in a chain, and its index.
func payloadOf[T isakmp.Payload](c *isakmp.Chain) (T, int) {
	var zero T
	for i, p := range c.Payloads {
		if t, ok := p.(T); ok {
			return t, i
		}
	}
	return zero, -1
}

// plainChain returns the payloads of a message that must not be encrypted.
func plainChain(in *inbound) (*isakmp.Chain, error) {
	if in.msg.Header.Flags.Has(isakmp.FlagEncryption) {
		return nil, fail(0, ErrUnexpected, "encrypted %s message where a plaintext one belongs", in.msg.Header.ExchangeType)
	}
	return &in.msg.Chain, nil
}

// idBody is the body of an ID payload as it goes on the wire (IDii_b, IDir_b, RFC 2409 §5):
// ID Type | Protocol ID | Port | Identification Data.
func idBody(id *isakmp.Identification) []byte {
	if b := id.Body(); b != nil {
		return b
	}
	b := []byte{byte(id.IDType), id.ProtocolID}
	b = binary.BigEndian.AppendUint16(b, id.Port)
	return append(b, id.Data...)
}

// nonceBody is Ni_b / Nr_b: the body of a Nonce payload. RFC 2409 §5 bounds its length to
// 8..256 bytes.
func nonceBody(c *isakmp.Chain) ([]byte, error) {
	n, i := payloadOf[*isakmp.Nonce](c)
	if i < 0 {
		return nil, fail(isakmp.NotifyInvalidPayloadType, ErrMalformed, "no Nonce payload")
	}
	if len(n.Data) < 8 || len(n.Data) > 256 {
		return nil, fail(isakmp.NotifyPayloadMalformed, ErrMalformed, "nonce of %d bytes (RFC 2409 §5: 8 to 256)", len(n.Data))
	}
	return append([]byte(nil), n.Data...), nil
}

// keData returns the KE payload's public value.
func keData(c *isakmp.Chain) ([]byte, error) {
	k, i := payloadOf[*isakmp.KeyExchange](c)
	if i < 0 {
		return nil, fail(isakmp.NotifyInvalidPayloadType, ErrMalformed, "no KE payload")
	}
	return append([]byte(nil), k.Data...), nil
}

// keNonce returns the Phase 1 KE public value and nonce of c.
func keNonce(c *isakmp.Chain) (ke, nonce []byte, err error) {
	if ke, err = keData(c); err != nil {
		return nil, nil, err
	}
	if nonce, err = nonceBody(c); err != nil {
		return nil, nil, err
	}
	return ke, nonce, nil
}

// echoSA is a responder's SA payload (RFC 2409 §5): the proposal and the one transform it
// chose, exactly as the initiator sent them (attributes unchanged), with our SPI for
// Phase 2.
func echoSA(req *isakmp.SA, p *isakmp.Proposal, t *isakmp.Transform, spi []byte) *isakmp.SA {
	return &isakmp.SA{
		DOI: req.DOI, Situation: req.Situation,
		Proposals: []isakmp.Proposal{{
			Number: p.Number, ProtocolID: p.ProtocolID, SPI: spi,
			Transforms: []isakmp.Transform{{Number: t.Number, ID: t.ID, Attributes: t.Attributes}},
		}},
	}
}

// initialContact is the INITIAL-CONTACT notification (RFC 2407 §4.6.3.3), SPI = the
// cookies, as strongSwan sends it in MM5.
func (sa *ikeSA) initialContact() *isakmp.Notification {
	return &isakmp.Notification{DOI: isakmp.DOIIPsec, ProtocolID: isakmp.ProtoISAKMP,
		NotifyType: isakmp.NotifyInitialContact, SPI: sa.cookies()}
}

// cookies is CKY-I | CKY-R, the SPI of an ISAKMP SA in Delete and Notification payloads.
func (sa *ikeSA) cookies() []byte {
	return append(append([]byte{}, sa.ckyI[:]...), sa.ckyR[:]...)
}

// encodePlain encodes a plaintext message of this SA.
func (sa *ikeSA) encodePlain(exch isakmp.ExchangeType, payloads []isakmp.Payload) (*isakmp.Message, error) {
	h := isakmp.Header{InitiatorCookie: sa.ckyI, ResponderCookie: sa.ckyR, ExchangeType: exch}
	return isakmp.EncodeMessage(h, payloads)
}

// fitFirstReply encodes the answer to a first message within the amplification bound,
// dropping optional payloads (vendor IDs, last first) until it fits. It returns nil when
// even the bare answer is too long.
func (sa *ikeSA) fitFirstReply(exch isakmp.ExchangeType, reqLen, allowance int, required []isakmp.Payload, optional []isakmp.Payload, tail []isakmp.Payload) (*isakmp.Message, error) {
	for n := len(optional); n >= 0; n-- {
		payloads := append(append(append([]isakmp.Payload{}, required...), optional[:n]...), tail...)
		m, err := sa.encodePlain(exch, payloads)
		if err != nil {
			return nil, err
		}
		if len(m.Raw) <= reqLen+allowance {
			return m, nil
		}
	}
	return nil, nil
}
