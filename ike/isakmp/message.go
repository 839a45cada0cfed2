package isakmp

import (
	"bytes"
	"encoding/binary"
	"math"
)

// genericHeaderLen is the length of the generic payload header (RFC 2408 §3.2):
// Next Payload (1) | RESERVED (1) | Payload Length (2).
const genericHeaderLen = 4

// Payload is one ISAKMP payload: *SA, *KeyExchange, *Identification, *Certificate,
// *CertificateRequest, *Hash, *Signature, *Nonce, *Notification, *Delete, *VendorID,
// *ConfigAttributes, *NATDiscovery, *NATOriginalAddress, *Fragment or *Unknown.
// Proposal and Transform payloads live only inside an SA payload.
//
// A decoded payload remembers the exact bytes it was decoded from: Raw is the whole payload
// including its 4-byte generic header, Body the same without the header (IKE's "SAi_b" and
// "IDii_b", RFC 2409 §5). Both are nil for a payload built in memory; encoders never read
// them (they encode the fields). The slices are views: do not modify them.
type Payload interface {
	// Type is the payload type written in the preceding Next Payload field.
	Type() PayloadType
	// Raw is the whole payload as decoded, generic header included (nil if not decoded).
	Raw() []byte
	// Body is Raw without the generic payload header (nil if not decoded).
	Body() []byte

	// appendBody appends the encoded payload body (everything after the generic header).
	appendBody(b []byte) ([]byte, error)
}

// wire is embedded in every payload struct: the bytes it was decoded from.
type wire struct{ raw []byte }

// Raw returns the whole payload as decoded, including its generic header; nil if the payload
// was not decoded. Do not modify the returned bytes.
func (w wire) Raw() []byte { return w.raw }

// Body returns the payload as decoded without its generic header; nil if the payload was not
// decoded. Do not modify the returned bytes.
func (w wire) Body() []byte {
	if len(w.raw) < genericHeaderLen {
		return nil
	}
	return w.raw[genericHeaderLen:]
}

// Span is the byte range [Start, End) of one payload, generic header included, in a Chain's Bytes.
type Span struct{ Start, End int }

// Chain is a payload chain as it is (or was) on the wire: the payloads, their bytes and
// where each one lies in them. DecodePayloads and DecodeMessage fill it from the input;
// EncodePayloads and EncodeMessage fill it from what they wrote, so the state machine can
// hash exactly what went on the wire. Example, Quick Mode HASH(1) (RFC 2409 §5.5) covers
// "the entire message that follows the hash including all payload headers":
//
//	c.Bytes[c.Spans[0].End:]   // everything after the leading HASH payload, no padding
//
// Chain is plain data: safe for concurrent reads, not for concurrent mutation.
type Chain struct {
	// Payloads in wire order.
	Payloads []Payload
	// Bytes is the chain: all payloads back to back, without padding.
	Bytes []byte
	// Spans[i] locates Payloads[i] in Bytes.
	Spans []Span
	// Padding holds the bytes tolerated after the last payload (DecodeOptions.AllowPadding).
	Padding []byte
}

// Payload returns the bytes of payload i, generic header included.
func (c *Chain) Payload(i int) []byte { return c.Bytes[c.Spans[i].Start:c.Spans[i].End] }

// Body returns the bytes of payload i without its generic header (e.g. SAi_b, IDii_b).
func (c *Chain) Body(i int) []byte {
	return c.Bytes[c.Spans[i].Start+genericHeaderLen : c.Spans[i].End]
}

// Index returns the index of the first payload of type t, or -1.
func (c *Chain) Index(t PayloadType) int {
	for i, p := range c.Payloads {
		if p.Type() == t {
			return i
		}
	}
	return -1
}

// Message is one ISAKMP datagram (RFC 2408 §3.1): the header and either the plaintext
// payload chain or, with the E flag, the encrypted body that the engine decrypts and hands
// to DecodePayloads.
//
// Message is plain data: safe for concurrent reads, not for concurrent mutation.
type Message struct {
	Header Header
	// Chain holds the payloads of a plaintext message; it is empty when the E flag is set.
	Chain
	// Encrypted is the body after the header of a message with the E flag set: the
	// ciphertext including its padding (RFC 2408 §3.1: the header's Length covers it).
	// nil for a plaintext message.
	Encrypted []byte
	// Raw is the whole datagram.
	Raw []byte
}

// DecodeOptions adjusts DecodePayloads.
type DecodeOptions struct {
	// AllowPadding tolerates bytes after the last payload: the padding that ends a
	// decrypted body (RFC 2409 Appendix B encrypts in CBC mode; RFC 2408 §3.1 counts the
	// padding in the header's Length).
	// The tolerated bytes land in Chain.Padding, unchecked. Without AllowPadding any
	// byte after the last payload is ErrTrailingData.
	AllowPadding bool
}

// DecodeMessage decodes one datagram (without the 4-byte non-ESP marker of port 4500,
// RFC 3948 §2.2): the header, whose Length must equal len(b) (RFC 2408 §5.1), then the
// payload chain, or for a message with the E flag set only the encrypted body.
//
// The message is decoded from a private copy of b; nothing returned aliases b. Every error
// is an *Error wrapping the sentinels of errors.go.
func DecodeMessage(b []byte) (*Message, error) {
	buf := bytes.Clone(b)
	h, err := DecodeHeader(buf)
	if err != nil {
		return nil, err
	}
	if n := uint64(len(buf)); uint64(h.Length) != n {
		// RFC 2408 §5.1: the datagram must be exactly as long as the header says.
		e := errAt(PayloadNone, 24, ErrUnequalPayloadLengths, "header Length %d but the datagram has %d bytes", h.Length, n)
		switch {
		case uint64(h.Length) > n:
			e.errs = append(e.errs, ErrTruncated)
		case h.Length < HeaderLen:
			e.errs = append(e.errs, ErrMalformed)
		default:
			e.errs = append(e.errs, ErrTrailingData)
		}
		return nil, e
	}
	m := &Message{Header: h, Raw: buf}
	if h.Flags.Has(FlagEncryption) {
		m.Encrypted = buf[HeaderLen:]
		return m, nil
	}
	c, err := decodeChain(h.NextPayload, buf[HeaderLen:], HeaderLen, false)
	if err != nil {
		return nil, err
	}
	m.Chain = *c
	return m, nil
}

// DecodePayloads decodes a bare payload chain whose first payload has type first: the
// decrypted body of an encrypted message (first is then the header's NextPayload), or any
// other chain. Offsets in errors are relative to b. Nothing returned aliases b.
func DecodePayloads(first PayloadType, b []byte, opt DecodeOptions) (*Chain, error) {
	return decodeChain(first, bytes.Clone(b), 0, opt.AllowPadding)
}

// decodeChain walks the generic payload headers (RFC 2408 §3.2, §5.3). b is private to the
// result; base is b's offset in the caller's input, for error messages.
func decodeChain(next PayloadType, b []byte, base int, allowPadding bool) (*Chain, error) {
	c := &Chain{}
	off := 0
	for next != PayloadNone {
		rest := len(b) - off
		if rest < genericHeaderLen {
			return nil, errAt(next, base+off, ErrTruncated, "the previous Next Payload announces %s but %d bytes are left", next, rest)
		}
		l := int(binary.BigEndian.Uint16(b[off+2:]))
		if l < genericHeaderLen {
			return nil, errAt(next, base+off, ErrMalformed, "Payload Length %d is less than the generic header", l)
		}
		if l > rest {
			return nil, errAt(next, base+off, ErrTruncated, "Payload Length %d exceeds the %d bytes left", l, rest)
		}
		if b[off+1] != 0 {
			return nil, errAt(next, base+off+1, ErrMalformed, "RESERVED is 0x%02x, not zero", b[off+1])
		}
		p, err := decodePayload(next, b[off:off+l:off+l], base+off)
		if err != nil {
			return nil, err
		}
		c.Payloads = append(c.Payloads, p)
		c.Spans = append(c.Spans, Span{off, off + l})
		next = PayloadType(b[off])
		off += l
	}
	if off < len(b) {
		if !allowPadding {
			return nil, errAt(PayloadNone, base+off, ErrTrailingData, "%d bytes after the last payload", len(b)-off)
		}
		c.Padding = b[off:]
	}
	c.Bytes = b[:off:off]
	return c, nil
}

// decodePayload decodes one payload of type pt; raw is the whole payload (generic header
// included, length already checked) and off its offset in the input.
func decodePayload(pt PayloadType, raw []byte, off int) (Payload, error) {
	body := raw[genericHeaderLen:]
	boff := off + genericHeaderLen
	var (
		p   Payload
		err error
	)
	switch pt {
	case PayloadSA:
		p, err = decodeSA(body, boff)
	case PayloadProposal, PayloadTransform:
		return nil, errAt(pt, off, ErrInvalidPayloadType, "%s payload outside an SA payload", pt)
	case PayloadKE:
		p = &KeyExchange{Data: body}
	case PayloadID:
		p, err = decodeIdentification(body, boff)
	case PayloadCert:
		p, err = decodeCertificate(body, boff)
	case PayloadCertRequest:
		p, err = decodeCertificateRequest(body, boff)
	case PayloadHash:
		p = &Hash{Data: body}
	case PayloadSig:
		p = &Signature{Data: body}
	case PayloadNonce:
		p = &Nonce{Data: body}
	case PayloadNotification:
		p, err = decodeNotification(body, boff)
	case PayloadDelete:
		p, err = decodeDelete(body, boff)
	case PayloadVendorID:
		p = &VendorID{Data: body}
	case PayloadAttribute:
		p, err = decodeConfigAttributes(body, boff)
	case PayloadNATD, PayloadNATDDraft:
		p = &NATDiscovery{Draft: pt == PayloadNATDDraft, Hash: body}
	case PayloadNATOA, PayloadNATOADraft:
		p, err = decodeNATOA(pt, body, boff)
	case PayloadFragment:
		p, err = decodeFragment(body, boff)
	default:
		p = &Unknown{PayloadType: pt, Data: body}
	}
	if err != nil {
		return nil, err
	}
	setRaw(p, raw)
	return p, nil
}

// knownPayload reports whether decodePayload has a decoder of its own for pt.
func knownPayload(pt PayloadType) bool {
	switch pt {
	case PayloadSA, PayloadProposal, PayloadTransform, PayloadKE, PayloadID, PayloadCert,
		PayloadCertRequest, PayloadHash, PayloadSig, PayloadNonce, PayloadNotification,
		PayloadDelete, PayloadVendorID, PayloadAttribute, PayloadNATD, PayloadNATDDraft,
		PayloadNATOA, PayloadNATOADraft, PayloadFragment:
		return true
	}
	return false
}

// setRaw records the decoded bytes in the payload's embedded wire.
func setRaw(p Payload, raw []byte) {
	switch p := p.(type) {
	case *SA:
		p.raw = raw
	case *KeyExchange:
		p.raw = raw
	case *Identification:
		p.raw = raw
	case *Certificate:
		p.raw = raw
	case *CertificateRequest:
		p.raw = raw
	case *Hash:
		p.raw = raw
	case *Signature:
		p.raw = raw
	case *Nonce:
		p.raw = raw
	case *Notification:
		p.raw = raw
	case *Delete:
		p.raw = raw
	case *VendorID:
		p.raw = raw
	case *ConfigAttributes:
		p.raw = raw
	case *NATDiscovery:
		p.raw = raw
	case *NATOriginalAddress:
		p.raw = raw
	case *Fragment:
		p.raw = raw
	case *Unknown:
		p.raw = raw
	}
}

// EncodePayloads encodes a bare payload chain (what gets encrypted): Next Payload fields
// chain the payloads in order, the last one 0, every length computed (RFC 2408 §3.2).
// Encoding is deterministic: the same payloads always give the same bytes. The returned
// Chain's Payloads is the payloads slice itself; Spans locate each payload in Bytes. The
// caller pads and encrypts Bytes, then calls EncodeEncrypted with payloads[0].Type().
func EncodePayloads(payloads []Payload) (*Chain, error) {
	b, spans, err := appendChain(nil, payloads)
	if err != nil {
		return nil, err
	}
	return &Chain{Payloads: payloads, Bytes: b, Spans: spans}, nil
}

// EncodeMessage encodes a plaintext message: h with NextPayload and Length computed and
// version 1.0, then the payload chain. h.Flags must not have the E flag (see
// EncodeEncrypted). The returned Message's Raw is the datagram to send; its Chain locates
// each payload (Chain.Bytes is Raw[HeaderLen:]).
func EncodeMessage(h Header, payloads []Payload) (*Message, error) {
	if h.Flags&^flagsKnown != 0 {
		return nil, errEnc(PayloadNone, "flags 0x%02x have undefined bits set", uint8(h.Flags))
	}
	if h.Flags.Has(FlagEncryption) {
		return nil, errEnc(PayloadNone, "the E flag is set: encode the chain with EncodePayloads, encrypt it, then use EncodeEncrypted")
	}
	h.NextPayload = PayloadNone
	if len(payloads) > 0 && payloads[0] != nil {
		h.NextPayload = payloads[0].Type()
	}
	b := h.Append(make([]byte, 0, 512))
	b, spans, err := appendChain(b, payloads)
	if err != nil {
		return nil, err
	}
	if uint64(len(b)) > math.MaxUint32 {
		return nil, errEnc(PayloadNone, "message of %d bytes is too long", len(b))
	}
	h.Length = uint32(len(b))
	binary.BigEndian.PutUint32(b[24:], h.Length)
	for i := range spans {
		spans[i].Start -= HeaderLen
		spans[i].End -= HeaderLen
	}
	return &Message{Header: h, Chain: Chain{Payloads: payloads, Bytes: b[HeaderLen:], Spans: spans}, Raw: b}, nil
}

// EncodeEncrypted encodes a message whose body is already encrypted (RFC 2408 §3.1,
// RFC 2409 Appendix B): h with the E flag set, NextPayload = first (the type of the first
// encrypted payload) and Length covering the ciphertext and its padding. ciphertext is
// copied.
func EncodeEncrypted(h Header, first PayloadType, ciphertext []byte) (*Message, error) {
	if h.Flags&^flagsKnown != 0 {
		return nil, errEnc(PayloadNone, "flags 0x%02x have undefined bits set", uint8(h.Flags))
	}
	if uint64(len(ciphertext))+HeaderLen > math.MaxUint32 {
		return nil, errEnc(PayloadNone, "ciphertext of %d bytes is too long", len(ciphertext))
	}
	h.Flags |= FlagEncryption
	h.NextPayload = first
	h.Length = uint32(HeaderLen + len(ciphertext))
	b := h.Append(make([]byte, 0, HeaderLen+len(ciphertext)))
	b = append(b, ciphertext...)
	return &Message{Header: h, Encrypted: b[HeaderLen:], Raw: b}, nil
}

// appendChain appends the chain of payloads to b; spans are offsets into the returned slice.
func appendChain(b []byte, payloads []Payload) ([]byte, []Span, error) {
	spans := make([]Span, 0, len(payloads))
	for i, p := range payloads {
		if p == nil {
			return nil, nil, errEnc(PayloadNone, "payload %d is nil", i)
		}
		next := PayloadNone
		if i+1 < len(payloads) && payloads[i+1] != nil {
			next = payloads[i+1].Type()
		}
		start := len(b)
		var err error
		b, err = appendPayload(b, p, next)
		if err != nil {
			return nil, nil, err
		}
		spans = append(spans, Span{start, len(b)})
	}
	return b, spans, nil
}

// appendPayload appends one payload with its generic header (RFC 2408 §3.2).
func appendPayload(b []byte, p Payload, next PayloadType) ([]byte, error) {
	switch t := p.Type(); t {
	case PayloadNone, PayloadProposal, PayloadTransform:
		return nil, errEnc(t, "payload type %d cannot stand in a payload chain", uint8(t))
	}
	start := len(b)
	b = append(b, byte(next), 0, 0, 0)
	b, err := p.appendBody(b)
	if err != nil {
		return nil, err
	}
	return putLength16(b, start, p.Type())
}

// putLength16 writes len(b)-start into the 2-byte length field at b[start+2:].
func putLength16(b []byte, start int, pt PayloadType) ([]byte, error) {
	l := len(b) - start
	if l > math.MaxUint16 {
		return nil, errEnc(pt, "payload of %d bytes exceeds the 16-bit Payload Length", l)
	}
	binary.BigEndian.PutUint16(b[start+2:], uint16(l))
	return b, nil
}
