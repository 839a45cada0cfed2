package isakmp

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"reflect"
	"testing"
)

func sampleHeader() Header {
	return Header{
		InitiatorCookie: Cookie{1, 2, 3, 4, 5, 6, 7, 8},
		ResponderCookie: Cookie{9, 10, 11, 12, 13, 14, 15, 16},
		ExchangeType:    ExchangeIdentityProtection,
		MessageID:       0xdeadbeef,
	}
}

// Every payload type alone, encoded and decoded as a chain and as a message.
func TestRoundTripEachPayload(t *testing.T) {
	for _, p := range samplePayloads() {
		t.Run(p.Type().String(), func(t *testing.T) {
			c, err := EncodePayloads([]Payload{p})
			if err != nil {
				t.Fatal(err)
			}
			if c.Spans[0] != (Span{0, len(c.Bytes)}) || int(c.Bytes[2])<<8|int(c.Bytes[3]) != len(c.Bytes) {
				t.Fatalf("span %v / length field for %d bytes", c.Spans[0], len(c.Bytes))
			}
			if c.Bytes[0] != 0 {
				t.Fatalf("last payload's Next Payload is %d", c.Bytes[0])
			}
			d, err := DecodePayloads(p.Type(), c.Bytes, DecodeOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if !equalPayloads(d.Payloads, []Payload{p}) {
				t.Fatalf("decoded %#v, want %#v", canon(d.Payloads[0]), canon(p))
			}
			if got := d.Payloads[0]; !bytes.Equal(got.Raw(), c.Bytes) || !bytes.Equal(got.Body(), c.Bytes[4:]) {
				t.Fatalf("Raw/Body do not match the encoded bytes")
			}
			if p.Raw() != nil || p.Body() != nil {
				t.Fatalf("a payload built in memory has Raw %x", p.Raw())
			}
			checkReencodeChain(t, p.Type(), d)
		})
	}
}

// All payloads in one message: chaining, spans, header fields, and decode(encode(x)) == x.
func TestRoundTripMessage(t *testing.T) {
	ps := samplePayloads()
	h := sampleHeader()
	h.NextPayload, h.Length = PayloadVendorID, 9999 // computed by the encoder, whatever the caller says
	h.Flags = FlagCommit
	m, err := EncodeMessage(h, ps)
	if err != nil {
		t.Fatal(err)
	}
	if m.Header.NextPayload != PayloadSA || m.Header.Length != uint32(len(m.Raw)) {
		t.Fatalf("header NextPayload %v Length %d for %d bytes", m.Header.NextPayload, m.Header.Length, len(m.Raw))
	}
	if !bytes.Equal(m.Bytes, m.Raw[HeaderLen:]) {
		t.Fatal("Chain.Bytes is not the datagram after the header")
	}
	d, err := DecodeMessage(m.Raw)
	if err != nil {
		t.Fatal(err)
	}
	if d.Header != m.Header {
		t.Fatalf("header %+v, want %+v", d.Header, m.Header)
	}
	if !equalPayloads(d.Payloads, ps) {
		t.Fatalf("payloads differ: %v vs %v", payloadTypes(d.Payloads), payloadTypes(ps))
	}
	if len(d.Spans) != len(ps) {
		t.Fatalf("%d spans", len(d.Spans))
	}
	for i := range ps {
		if d.Spans[i] != m.Spans[i] {
			t.Fatalf("span %d: decoded %v, encoded %v", i, d.Spans[i], m.Spans[i])
		}
		if !bytes.Equal(d.Payloads[i].Raw(), m.Payload(i)) || !bytes.Equal(d.Payloads[i].Body(), m.Body(i)) {
			t.Fatalf("payload %d: Raw/Body differ from the encoder's span", i)
		}
		next := byte(0)
		if i+1 < len(ps) {
			next = byte(ps[i+1].Type())
		}
		if m.Payload(i)[0] != next {
			t.Fatalf("payload %d: Next Payload %d, want %d", i, m.Payload(i)[0], next)
		}
	}
	if d.Encrypted != nil {
		t.Fatal("plaintext message has an encrypted body")
	}
	if i := d.Index(PayloadNonce); i < 0 || d.Payloads[i].Type() != PayloadNonce || d.Index(PayloadType(99)) != -1 {
		t.Fatal("Index")
	}
	checkReencodeMessage(t, d, m.Raw)

	// Deterministic: encoding twice gives the same bytes.
	m2, err := EncodeMessage(h, samplePayloads())
	if err != nil || !bytes.Equal(m2.Raw, m.Raw) {
		t.Fatalf("second encoding differs (%v)", err)
	}
}

func TestDecodeDoesNotAliasInput(t *testing.T) {
	m, err := EncodeMessage(sampleHeader(), []Payload{&Nonce{Data: seq(16, 1)}})
	if err != nil {
		t.Fatal(err)
	}
	in := bytes.Clone(m.Raw)
	d, err := DecodeMessage(in)
	if err != nil {
		t.Fatal(err)
	}
	c, err := DecodePayloads(PayloadNonce, in[HeaderLen:], DecodeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range in {
		in[i] ^= 0xff
	}
	if !bytes.Equal(d.Raw, m.Raw) || !bytes.Equal(d.Payloads[0].(*Nonce).Data, seq(16, 1)) ||
		!bytes.Equal(c.Payloads[0].(*Nonce).Data, seq(16, 1)) {
		t.Fatal("decoded values changed with the input buffer")
	}
}

func TestEmptyMessage(t *testing.T) {
	m, err := EncodeMessage(sampleHeader(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Raw) != HeaderLen || m.Header.NextPayload != PayloadNone {
		t.Fatalf("empty message: %x", m.Raw)
	}
	d, err := DecodeMessage(m.Raw)
	if err != nil || len(d.Payloads) != 0 {
		t.Fatalf("decode empty message: %v %v", d, err)
	}
	checkReencodeMessage(t, d, m.Raw)
}

// The encrypted-message path: the engine encodes the chain, pads and encrypts it, wraps it
// with EncodeEncrypted; the receiver decodes the header + body, decrypts and decodes the
// chain with AllowPadding.
func TestEncryptedMessage(t *testing.T) {
	ps := []Payload{&Hash{Data: seq(32, 1)}, &Notification{DOI: DOIIPsec, ProtocolID: ProtoISAKMP, NotifyType: NotifyRUThere, SPI: seq(16, 2), Data: []byte{0, 0, 0, 1}}}
	c, err := EncodePayloads(ps)
	if err != nil {
		t.Fatal(err)
	}
	// "Encryption" here is the identity plus padding to 16 bytes, as strongSwan pads (zeros).
	body := append(bytes.Clone(c.Bytes), make([]byte, 16-len(c.Bytes)%16)...)
	h := sampleHeader()
	h.ExchangeType = ExchangeInformational
	m, err := EncodeEncrypted(h, ps[0].Type(), body)
	if err != nil {
		t.Fatal(err)
	}
	if !m.Header.Flags.Has(FlagEncryption) || m.Header.NextPayload != PayloadHash || m.Header.Length != uint32(HeaderLen+len(body)) {
		t.Fatalf("header %+v", m.Header)
	}
	d, err := DecodeMessage(m.Raw)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(d.Encrypted, body) || len(d.Payloads) != 0 {
		t.Fatalf("encrypted body %x, payloads %d", d.Encrypted, len(d.Payloads))
	}
	checkReencodeMessage(t, d, m.Raw)

	if _, err := DecodePayloads(d.Header.NextPayload, d.Encrypted, DecodeOptions{}); !errors.Is(err, ErrTrailingData) {
		t.Fatalf("padding without AllowPadding: %v", err)
	}
	pc, err := DecodePayloads(d.Header.NextPayload, d.Encrypted, DecodeOptions{AllowPadding: true})
	if err != nil {
		t.Fatal(err)
	}
	if !equalPayloads(pc.Payloads, ps) || !bytes.Equal(pc.Bytes, c.Bytes) || len(pc.Padding) != len(body)-len(c.Bytes) {
		t.Fatalf("decrypted chain: %v, %d bytes, %d padding", payloadTypes(pc.Payloads), len(pc.Bytes), len(pc.Padding))
	}
	// Quick Mode style: the bytes after the leading HASH.
	if !bytes.Equal(pc.Bytes[pc.Spans[0].End:], c.Payload(1)) {
		t.Fatal("bytes after HASH differ from the second payload")
	}
}

// Every strict prefix of a valid message or chain is an error (never a panic).
func TestPrefixesRejected(t *testing.T) {
	m, err := EncodeMessage(sampleHeader(), samplePayloads())
	if err != nil {
		t.Fatal(err)
	}
	msgs := [][]byte{m.Raw}
	type chain struct {
		first PayloadType
		b     []byte
	}
	chains := []chain{{m.Header.NextPayload, m.Bytes}}
	for _, f := range vectorFiles {
		for _, v := range loadVectors(t, f) {
			if v.chain {
				c, err := DecodePayloads(v.first, v.data, DecodeOptions{AllowPadding: true})
				if err != nil {
					t.Fatalf("%s %s: %v", f, v.label, err)
				}
				chains = append(chains, chain{v.first, c.Bytes})
			} else {
				msgs = append(msgs, v.data)
			}
		}
	}
	for _, b := range msgs {
		for n := range len(b) {
			_, err := DecodeMessage(b[:n])
			if !errors.Is(err, ErrTruncated) {
				t.Fatalf("prefix %d/%d: %v", n, len(b), err)
			}
			if n >= HeaderLen && !errors.Is(err, ErrUnequalPayloadLengths) {
				t.Fatalf("prefix %d/%d: %v", n, len(b), err)
			}
		}
	}
	for _, c := range chains {
		for n := range len(c.b) {
			_, err := DecodePayloads(c.first, c.b[:n], DecodeOptions{})
			asError(t, err, ErrTruncated)
		}
	}
}

// Random bytes and random mutations of valid messages never panic; whatever decodes
// re-encodes to the same bytes.
func TestRandomInputs(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	m, err := EncodeMessage(sampleHeader(), samplePayloads())
	if err != nil {
		t.Fatal(err)
	}
	seeds := [][]byte{m.Raw}
	for _, v := range loadVectors(t, "strongswan-main-psk.hex") {
		seeds = append(seeds, v.data)
	}
	for _, v := range loadVectors(t, "strongswan-main-psk-plain.hex") {
		seeds = append(seeds, v.data)
	}
	for i := range 20000 {
		var b []byte
		if i%4 == 0 {
			b = make([]byte, r.IntN(200))
			for j := range b {
				b[j] = byte(r.Uint32())
			}
		} else {
			b = bytes.Clone(seeds[r.IntN(len(seeds))])
			for range 1 + r.IntN(4) {
				if len(b) > 0 {
					b[r.IntN(len(b))] = byte(r.Uint32())
				}
			}
		}
		if d, err := DecodeMessage(b); err == nil {
			checkReencodeMessage(t, d, b)
		} else {
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("%T error", err)
			}
		}
		first := PayloadType(r.IntN(25))
		if r.IntN(4) == 0 {
			first = PayloadType(r.Uint32())
		}
		if c, err := DecodePayloads(first, b, DecodeOptions{}); err == nil {
			checkReencodeChain(t, first, c)
		}
		_, _ = DecodePayloads(first, b, DecodeOptions{AllowPadding: true})
		_, _ = DecodeAttributes(b)
		_, _ = DecodeHeader(b)
	}
}

func TestEncodeErrors(t *testing.T) {
	h := sampleHeader()
	cases := []struct {
		name string
		ps   []Payload
	}{
		{"nil payload", []Payload{nil}},
		{"typed nil", []Payload{(*Nonce)(nil)}},
		{"typed nil SA", []Payload{(*SA)(nil)}},
		{"oversized payload", []Payload{&Nonce{Data: make([]byte, 65532)}}},
		{"SA without proposals", []Payload{&SA{DOI: DOIIPsec, Situation: 1}}},
		{"SA DOI 0", []Payload{&SA{DOI: DOIISAKMP, Situation: 1, Proposals: []Proposal{{Transforms: []Transform{{}}}}}}},
		{"SA secrecy", []Payload{&SA{DOI: DOIIPsec, Situation: SituationSecrecy, Proposals: []Proposal{{Transforms: []Transform{{}}}}}}},
		{"proposal without transforms", []Payload{&SA{DOI: DOIIPsec, Situation: 1, Proposals: []Proposal{{}}}}},
		{"proposal SPI too long", []Payload{&SA{DOI: DOIIPsec, Situation: 1, Proposals: []Proposal{{SPI: make([]byte, 256), Transforms: []Transform{{}}}}}}},
		{"256 transforms", []Payload{&SA{DOI: DOIIPsec, Situation: 1, Proposals: []Proposal{{Transforms: make([]Transform, 256)}}}}},
		{"TV attribute of 3 bytes", []Payload{&SA{DOI: DOIIPsec, Situation: 1, Proposals: []Proposal{{Transforms: []Transform{{Attributes: []Attribute{{Type: 1, TV: true, Value: []byte{1, 2, 3}}}}}}}}}},
		{"attribute type of 16 bits", []Payload{&ConfigAttributes{Attributes: []Attribute{TV(0x8001, 1)}}}},
		{"TLV attribute too long", []Payload{&ConfigAttributes{Attributes: []Attribute{TLV(1, make([]byte, 65536))}}}},
		{"delete SPI size mismatch", []Payload{&Delete{DOI: 1, ProtocolID: ProtoESP, SPISize: 4, SPIs: [][]byte{{1, 2, 3}}}}},
		{"delete without SPIs", []Payload{&Delete{DOI: 1, ProtocolID: ProtoESP, SPISize: 4}}},
		{"notification SPI too long", []Payload{&Notification{SPI: make([]byte, 256)}}},
		{"NAT-OA without address", []Payload{&NATOriginalAddress{}}},
		{"unknown with a known type", []Payload{&Unknown{PayloadType: PayloadNonce}}},
		{"unknown with type 0", []Payload{&Unknown{}}},
		{"unknown with type proposal", []Payload{&Unknown{PayloadType: PayloadProposal}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := EncodeMessage(h, c.ps)
			e := asError(t, err, ErrEncode)
			if e.Offset != -1 {
				t.Fatalf("encode error with offset %d", e.Offset)
			}
			_, err = EncodePayloads(c.ps)
			asError(t, err, ErrEncode)
		})
	}
	// A typed nil of every payload type is an error, not a panic.
	for _, p := range samplePayloads() {
		nilP := reflect.Zero(reflect.TypeOf(p)).Interface().(Payload)
		if _, err := EncodePayloads([]Payload{nilP}); !errors.Is(err, ErrEncode) {
			t.Errorf("typed nil %T: %v", p, err)
		}
	}
	hE := h
	hE.Flags = FlagEncryption
	if _, err := EncodeMessage(hE, nil); !errors.Is(err, ErrEncode) {
		t.Fatalf("E flag in EncodeMessage: %v", err)
	}
	hX := h
	hX.Flags = 0x10
	if _, err := EncodeMessage(hX, nil); !errors.Is(err, ErrEncode) {
		t.Fatalf("undefined flag in EncodeMessage: %v", err)
	}
	if _, err := EncodeEncrypted(hX, PayloadHash, nil); !errors.Is(err, ErrEncode) {
		t.Fatalf("undefined flag in EncodeEncrypted: %v", err)
	}
}
