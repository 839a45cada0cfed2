package wire

import (
	"bytes"
	"encoding/binary"
	"math"
	"strconv"
)

// PayloadType is a Next Payload value (RFC 7296 §3.2 and the IANA "IKEv2 Payload Types").
type PayloadType uint8

// Payload types. Types 49–52 and 54 (GSPM, G-IKEv2, puzzles) are not implemented: they decode
// as *Unknown, or fail with ErrUnsupportedCritical when the sender marked them critical.
const (
	PayloadNone     PayloadType = 0
	PayloadSA       PayloadType = 33 // Security Association, §3.3
	PayloadKE       PayloadType = 34 // Key Exchange, §3.4
	PayloadIDi      PayloadType = 35 // Identification - Initiator, §3.5
	PayloadIDr      PayloadType = 36 // Identification - Responder, §3.5
	PayloadCERT     PayloadType = 37 // Certificate, §3.6
	PayloadCERTREQ  PayloadType = 38 // Certificate Request, §3.7
	PayloadAUTH     PayloadType = 39 // Authentication, §3.8
	PayloadNonce    PayloadType = 40 // Nonce (Ni, Nr), §3.9
	PayloadNotify   PayloadType = 41 // Notify (N), §3.10
	PayloadDelete   PayloadType = 42 // Delete (D), §3.11
	PayloadVendorID PayloadType = 43 // Vendor ID (V), §3.12
	PayloadTSi      PayloadType = 44 // Traffic Selector - Initiator, §3.13
	PayloadTSr      PayloadType = 45 // Traffic Selector - Responder, §3.13
	PayloadSK       PayloadType = 46 // Encrypted and Authenticated, §3.14
	PayloadCP       PayloadType = 47 // Configuration, §3.15
	PayloadEAP      PayloadType = 48 // Extensible Authentication, §3.16
	PayloadSKF      PayloadType = 53 // Encrypted and Authenticated Fragment, RFC 7383 §2.5
)

var payloadNames = map[PayloadType]string{
	PayloadNone:     "NONE",
	PayloadSA:       "SA",
	PayloadKE:       "KE",
	PayloadIDi:      "IDi",
	PayloadIDr:      "IDr",
	PayloadCERT:     "CERT",
	PayloadCERTREQ:  "CERTREQ",
	PayloadAUTH:     "AUTH",
	PayloadNonce:    "Ni/Nr",
	PayloadNotify:   "N",
	PayloadDelete:   "D",
	PayloadVendorID: "V",
	PayloadTSi:      "TSi",
	PayloadTSr:      "TSr",
	PayloadSK:       "SK",
	PayloadCP:       "CP",
	PayloadEAP:      "EAP",
	PayloadSKF:      "SKF",
}

// String returns the payload's notation in RFC 7296 §3.2, or PAYLOAD(n).
func (p PayloadType) String() string {
	if s, ok := payloadNames[p]; ok {
		return s
	}
	return "PAYLOAD(" + strconv.Itoa(int(p)) + ")"
}

// Known reports whether this package decodes payloads of type p (every other type is skipped
// as *Unknown unless critical).
func (p PayloadType) Known() bool { _, ok := payloadNames[p]; return ok && p != PayloadNone }

// genericHeaderLen is the generic payload header (RFC 7296 §3.2):
// Next Payload (1) | C (1 bit) + RESERVED (7 bits) | Payload Length (2).
const genericHeaderLen = 4

// criticalBit is the C bit of the generic payload header's second octet.
const criticalBit = 0x80

// Payload is one IKEv2 payload: *SA, *KeyExchange, *Identification, *Certificate,
// *CertificateRequest, *Auth, *Nonce, *Notify, *Delete, *VendorID, *TrafficSelectors,
// *Encrypted, *Configuration, *EAP, *EncryptedFragment or *Unknown.
//
// A decoded payload remembers the exact bytes it was decoded from: Raw is the whole payload
// including its 4-byte generic header, Body the same without it (for an ID payload that is
// the RestOfIDPayload of RFC 7296 §2.15). Both are nil for a payload built in memory; encoders
// never read them (they encode the fields). The slices are views: do not modify them.
type Payload interface {
	// Type is the payload type written in the preceding Next Payload field.
	Type() PayloadType
	// Raw is the whole payload as decoded, generic header included (nil if not decoded).
	Raw() []byte
	// Body is Raw without the generic payload header (nil if not decoded).
	Body() []byte

	// appendBody appends the encoded payload body (everything after the generic header).
	appendBody(b []byte) ([]byte, error)
	setRaw(raw []byte)
}

// wire is embedded in every payload struct: the bytes it was decoded from.
type wire struct{ raw []byte }

// Raw returns the whole payload as decoded, including its generic header; nil if the payload
// was not decoded. Do not modify the returned bytes.
func (w *wire) Raw() []byte { return w.raw }

// Body returns the payload as decoded without its generic header; nil if the payload was not
// decoded. Do not modify the returned bytes.
func (w *wire) Body() []byte {
	if len(w.raw) < genericHeaderLen {
		return nil
	}
	return w.raw[genericHeaderLen:]
}

func (w *wire) setRaw(raw []byte) { w.raw = raw }

// Unknown is a payload of a type this package does not decode, sent without the critical bit:
// RFC 7296 §2.5 says to skip it. It is kept so a message re-encodes to its own bytes; the
// engine ignores it.
//
// Unknown is plain data: safe for concurrent reads, not for concurrent mutation.
type Unknown struct {
	wire
	PayloadType PayloadType
	Data        []byte
}

// Type returns the payload's own type.
func (u *Unknown) Type() PayloadType { return u.PayloadType }

func (u *Unknown) appendBody(b []byte) ([]byte, error) { return append(b, u.Data...), nil }

// Span is the byte range [Start, End) of one payload, generic header included, in a Chain's Bytes.
type Span struct{ Start, End int }

// Chain is a payload chain as it is (or was) on the wire: the payloads, their bytes and where
// each one lies in them. Decoders fill it from their input, encoders from what they wrote.
//
// Chain is plain data: safe for concurrent reads, not for concurrent mutation.
type Chain struct {
	// Payloads in wire order.
	Payloads []Payload
	// Bytes is the chain: all payloads back to back.
	Bytes []byte
	// Spans[i] locates Payloads[i] in Bytes.
	Spans []Span
}

// Index returns the index of the first payload of type t, or -1.
func (c *Chain) Index(t PayloadType) int {
	if c == nil {
		return -1
	}
	for i, p := range c.Payloads {
		if p.Type() == t {
			return i
		}
	}
	return -1
}

// Find returns the first payload of type t, or nil.
func (c *Chain) Find(t PayloadType) Payload {
	if i := c.Index(t); i >= 0 {
		return c.Payloads[i]
	}
	return nil
}

// Notifies returns the Notify payloads of the chain in order.
func (c *Chain) Notifies() []*Notify {
	if c == nil {
		return nil
	}
	var ns []*Notify
	for _, p := range c.Payloads {
		if n, ok := p.(*Notify); ok {
			ns = append(ns, n)
		}
	}
	return ns
}

// Message is one IKEv2 message (RFC 7296 §3.1): the header, the payloads in the clear and, for
// a protected message, the decrypted inner payloads.
//
// Message is plain data: safe for concurrent reads, not for concurrent mutation.
type Message struct {
	Header Header
	// Chain holds the payloads after the header as sent: for IKE_SA_INIT all of them; for a
	// protected message the last one is the *Encrypted or *EncryptedFragment payload.
	Chain
	// Raw is the whole message (the datagram without the non-ESP marker of port 4500). For an
	// IKE_SA_INIT message it is the "RealMessage" that AUTH signs (RFC 7296 §2.15).
	Raw []byte
	// Inner is the decrypted content of the SK payload (DecodeEncrypted, EncodeEncrypted) or of
	// the reassembled SKF fragments (Reassembler); nil for a message in the clear.
	Inner *Chain
}

// Encrypted returns the message's SK payload, or nil.
func (m *Message) Encrypted() *Encrypted {
	if n := len(m.Payloads); n > 0 {
		if e, ok := m.Payloads[n-1].(*Encrypted); ok {
			return e
		}
	}
	return nil
}

// Fragment returns the message's SKF payload, or nil.
func (m *Message) Fragment() *EncryptedFragment {
	if n := len(m.Payloads); n > 0 {
		if f, ok := m.Payloads[n-1].(*EncryptedFragment); ok {
			return f
		}
	}
	return nil
}

// DecodeMessage decodes one message (without the 4-byte non-ESP marker of port 4500, RFC 3948
// §2.2): the header, whose Length must equal len(b) and be at most MaxMessageLen (RFC 7296
// §3.1), then the payload chain up to and including an SK or SKF payload, which "MUST be the
// last payload" (§3.14). Unknown non-critical payloads are kept as *Unknown, an unknown
// critical one fails with ErrUnsupportedCritical (§2.5). The SK payload's content stays
// encrypted: see DecodeEncrypted.
//
// The message is decoded from a private copy of b; nothing returned aliases b. Every error is
// an *Error wrapping the sentinels of errors.go.
func DecodeMessage(b []byte) (*Message, error) {
	if len(b) > MaxMessageLen {
		return nil, errAt(PayloadNone, 0, ErrTooLarge, "%d bytes exceed the %d-byte limit", len(b), MaxMessageLen)
	}
	buf := bytes.Clone(b)
	h, err := DecodeHeader(buf)
	if err != nil {
		return nil, err
	}
	if n := uint64(len(buf)); uint64(h.Length) != n {
		e := errAt(PayloadNone, 24, ErrLength, "header Length %d but the message has %d bytes", h.Length, n)
		switch {
		case h.Length < HeaderLen:
			e.errs = append(e.errs, ErrMalformed)
		case uint64(h.Length) > n:
			e.errs = append(e.errs, ErrTruncated)
		default:
			e.errs = append(e.errs, ErrTrailingData)
		}
		return nil, e
	}
	c, err := decodeChain(h.NextPayload, buf[HeaderLen:], HeaderLen, false)
	if err != nil {
		return nil, err
	}
	return &Message{Header: h, Chain: *c, Raw: buf}, nil
}

// DecodePayloads decodes a bare payload chain whose first payload has type first, such as the
// content of an SK payload an engine decrypted itself. SK and SKF payloads are refused in it
// (§3.14: an Encrypted payload MUST NOT contain another). Offsets in errors are relative to b
// and marked Inner. Nothing returned aliases b.
func DecodePayloads(first PayloadType, b []byte) (*Chain, error) {
	return decodeChain(first, bytes.Clone(b), 0, true)
}

// decodeChain walks the generic payload headers (RFC 7296 §3.2). b is private to the result;
// base is b's offset in the caller's input, for error messages; inner marks decrypted content.
func decodeChain(next PayloadType, b []byte, base int, inner bool) (*Chain, error) {
	c := &Chain{}
	off := 0
	for next != PayloadNone {
		rest := len(b) - off
		if rest < genericHeaderLen {
			return nil, mark(errAt(next, base+off, ErrTruncated, "the previous Next Payload announces %s but %d bytes are left", next, rest), inner)
		}
		l := int(binary.BigEndian.Uint16(b[off+2:]))
		if l < genericHeaderLen {
			return nil, mark(errAt(next, base+off, ErrMalformed, "Payload Length %d is less than the generic header", l), inner)
		}
		if l > rest {
			return nil, mark(errAt(next, base+off, ErrTruncated, "Payload Length %d exceeds the %d bytes left", l, rest), inner)
		}
		raw := b[off : off+l : off+l]
		critical := b[off+1]&criticalBit != 0
		if !next.Known() && critical {
			// §2.5: "reject the entire message" and answer UNSUPPORTED_CRITICAL_PAYLOAD.
			return nil, mark(errAt(next, base+off, ErrUnsupportedCritical, "payload type %d is not supported and marked critical", uint8(next)), inner)
		}
		protected := next == PayloadSK || next == PayloadSKF
		if protected && inner {
			return nil, mark(errAt(next, base+off, ErrMalformed, "an encrypted payload inside an encrypted payload"), inner)
		}
		p, err := decodePayload(next, raw, base+off)
		if err != nil {
			return nil, mark(err, inner)
		}
		p.setRaw(raw)
		c.Payloads = append(c.Payloads, p)
		c.Spans = append(c.Spans, Span{off, off + l})
		off += l
		if protected {
			// §3.14: the Encrypted payload is the last one; its Next Payload names the first
			// payload inside it.
			if off != len(b) {
				return nil, errAt(next, base+off, ErrTrailingData, "%d bytes after the %s payload, which must be the last", len(b)-off, next)
			}
			break
		}
		next = PayloadType(b[off-l])
	}
	if off < len(b) {
		return nil, mark(errAt(PayloadNone, base+off, ErrTrailingData, "%d bytes after the last payload", len(b)-off), inner)
	}
	c.Bytes = b[:off:off]
	return c, nil
}

// mark sets Inner on a decode error from decrypted content.
func mark(err error, inner bool) error {
	if e, ok := err.(*Error); ok && inner {
		e.Inner = true
	}
	return err
}

// decodePayload decodes one payload of type pt; raw is the whole payload (generic header
// included, length already checked) and off its offset in the input.
func decodePayload(pt PayloadType, raw []byte, off int) (Payload, error) {
	body := raw[genericHeaderLen:]
	boff := off + genericHeaderLen
	switch pt {
	case PayloadSA:
		return decodeSA(body, boff)
	case PayloadKE:
		return decodeKE(body, boff)
	case PayloadIDi, PayloadIDr:
		return decodeID(pt, body, boff)
	case PayloadCERT:
		return decodeCert(body, boff)
	case PayloadCERTREQ:
		return decodeCertReq(body, boff)
	case PayloadAUTH:
		return decodeAuth(body, boff)
	case PayloadNonce:
		return decodeNonce(body, boff)
	case PayloadNotify:
		return decodeNotify(body, boff)
	case PayloadDelete:
		return decodeDelete(body, boff)
	case PayloadVendorID:
		return decodeVendorID(body, boff)
	case PayloadTSi, PayloadTSr:
		return decodeTS(pt, body, boff)
	case PayloadSK:
		return &Encrypted{NextPayload: PayloadType(raw[0]), Data: body}, nil
	case PayloadCP:
		return decodeCP(body, boff)
	case PayloadEAP:
		return decodeEAP(body, boff)
	case PayloadSKF:
		return decodeSKF(raw, off)
	}
	return &Unknown{PayloadType: pt, Data: body}, nil
}

// EncodePayloads encodes a bare payload chain (what goes inside an SK payload): Next Payload
// fields chain the payloads in order, the last one 0, every length computed (RFC 7296 §3.2),
// critical bits clear. Encoding is deterministic. The returned Chain's Payloads is the payloads
// slice itself; Spans locate each payload in Bytes. SK and SKF payloads are refused.
func EncodePayloads(payloads []Payload) (*Chain, error) {
	for _, p := range payloads {
		if p != nil && (p.Type() == PayloadSK || p.Type() == PayloadSKF) {
			return nil, errEnc(p.Type(), "an encrypted payload cannot be inside an encrypted payload")
		}
	}
	b, spans, err := appendChain(nil, payloads)
	if err != nil {
		return nil, err
	}
	return &Chain{Payloads: payloads, Bytes: b, Spans: spans}, nil
}

// EncodeMessage encodes a message: h with NextPayload and Length computed and version 2.0,
// then the payload chain. It builds IKE_SA_INIT messages and re-encodes decoded ones; an
// *Encrypted or *EncryptedFragment payload may stand last and is written as it is (to build a
// protected message use EncodeEncrypted or EncodeFragments). The returned Message's Raw is the
// datagram to send; its Chain locates each payload (Chain.Bytes is Raw[HeaderLen:]).
func EncodeMessage(h Header, payloads []Payload) (*Message, error) {
	if err := h.checkEncode(); err != nil {
		return nil, err
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
	if len(b) > MaxMessageLen {
		return nil, errEnc(PayloadNone, "message of %d bytes exceeds %d", len(b), MaxMessageLen)
	}
	h.Length = uint32(len(b))
	binary.BigEndian.PutUint32(b[24:], h.Length)
	for i := range spans {
		spans[i].Start -= HeaderLen
		spans[i].End -= HeaderLen
	}
	return &Message{Header: h, Chain: Chain{Payloads: payloads, Bytes: b[HeaderLen:], Spans: spans}, Raw: b}, nil
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
		switch p := p.(type) {
		case *Encrypted:
			if i != len(payloads)-1 {
				return nil, nil, errEnc(PayloadSK, "the SK payload must be the last payload")
			}
			next = p.NextPayload
		case *EncryptedFragment:
			if i != len(payloads)-1 {
				return nil, nil, errEnc(PayloadSKF, "the SKF payload must be the last payload")
			}
			next = p.NextPayload
		}
		start := len(b)
		var err error
		if b, err = appendPayload(b, p, next); err != nil {
			return nil, nil, err
		}
		spans = append(spans, Span{start, len(b)})
	}
	return b, spans, nil
}

// appendPayload appends one payload with its generic header (RFC 7296 §3.2).
func appendPayload(b []byte, p Payload, next PayloadType) ([]byte, error) {
	t := p.Type()
	if t == PayloadNone {
		return nil, errEnc(t, "payload type 0 cannot stand in a payload chain")
	}
	if u, ok := p.(*Unknown); ok && u.PayloadType.Known() {
		return nil, errEnc(t, "an Unknown payload claims the known type %s", t)
	}
	start := len(b)
	b = append(b, byte(next), 0, 0, 0)
	b, err := p.appendBody(b)
	if err != nil {
		return nil, err
	}
	return putLength16(b, start, t)
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
