package wire

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"testing"
)

// Every payload type alone, encoded and decoded as a chain and inside a message.
func TestRoundTripEachPayload(t *testing.T) {
	for i, p := range samplePayloads() {
		t.Run(p.Type().String(), func(t *testing.T) {
			c, err := EncodePayloads([]Payload{p})
			if err != nil {
				t.Fatal(err)
			}
			if c.Spans[0] != (Span{0, len(c.Bytes)}) || int(binary.BigEndian.Uint16(c.Bytes[2:])) != len(c.Bytes) {
				t.Fatalf("span %v / length field for %d bytes", c.Spans[0], len(c.Bytes))
			}
			if c.Bytes[0] != 0 || c.Bytes[1] != 0 {
				t.Fatalf("last payload's Next Payload %d, flags %#x", c.Bytes[0], c.Bytes[1])
			}
			d, err := DecodePayloads(p.Type(), c.Bytes)
			if err != nil {
				t.Fatalf("payload %d: %v", i, err)
			}
			if !equalPayloads(d.Payloads, []Payload{p}) {
				t.Fatalf("decoded %#v, want %#v", canon(d.Payloads[0]), canon(p))
			}
			if got := d.Payloads[0]; !bytes.Equal(got.Raw(), c.Bytes) || !bytes.Equal(got.Body(), c.Bytes[4:]) {
				t.Fatal("Raw/Body do not match the encoded bytes")
			}
			if p.Raw() != nil || p.Body() != nil {
				t.Fatalf("a payload built in memory has Raw %x", p.Raw())
			}
			checkReencode(t, p.Type(), d)
			m, err := EncodeMessage(sampleHeader(), []Payload{p})
			if err != nil {
				t.Fatal(err)
			}
			dm, err := DecodeMessage(m.Raw)
			if err != nil || !equalPayloads(dm.Payloads, []Payload{p}) {
				t.Fatalf("as a message: %v", err)
			}
		})
	}
}

// All payloads in one message: chaining, spans, header fields, decode(encode(x)) == x.
func TestRoundTripMessage(t *testing.T) {
	ps := samplePayloads()
	h := sampleHeader()
	h.NextPayload, h.Length = PayloadVendorID, 9999 // computed by the encoder
	h.Flags = FlagInitiator | FlagVersion | FlagResponse
	m, err := EncodeMessage(h, ps)
	if err != nil {
		t.Fatal(err)
	}
	if m.Header.NextPayload != PayloadSA || m.Header.Length != uint32(len(m.Raw)) || !bytes.Equal(m.Bytes, m.Raw[HeaderLen:]) {
		t.Fatalf("header NextPayload %v Length %d for %d bytes", m.Header.NextPayload, m.Header.Length, len(m.Raw))
	}
	if m.Raw[17] != 0x20 {
		t.Fatalf("version octet %#x, want 0x20", m.Raw[17])
	}
	d, err := DecodeMessage(m.Raw)
	if err != nil {
		t.Fatal(err)
	}
	if d.Header != m.Header || !equalPayloads(d.Payloads, ps) || len(d.Spans) != len(ps) {
		t.Fatalf("header %+v / payloads %v", d.Header, payloadTypes(d.Payloads))
	}
	for i, sp := range d.Spans {
		if !bytes.Equal(d.Payloads[i].Raw(), d.Bytes[sp.Start:sp.End]) {
			t.Fatalf("payload %d: span and Raw differ", i)
		}
	}
	// The decoder copies its input: modifying it afterwards changes nothing.
	raw := bytes.Clone(m.Raw)
	d2, _ := DecodeMessage(raw)
	clear(raw)
	if !equalPayloads(d2.Payloads, ps) {
		t.Fatal("decoded message aliases its input")
	}
}

// Every strict prefix of a valid message or chain is rejected, with a typed error.
func TestEveryPrefixRejected(t *testing.T) {
	m, err := EncodeMessage(sampleHeader(), samplePayloads())
	if err != nil {
		t.Fatal(err)
	}
	inputs := [][]byte{m.Raw}
	for _, name := range recordings {
		for _, v := range loadRecording(t, name).msgs {
			inputs = append(inputs, v.data)
		}
	}
	for _, in := range inputs {
		for n := 0; n < len(in); n++ {
			if _, err := DecodeMessage(in[:n]); err == nil {
				t.Fatalf("prefix of %d/%d bytes accepted", n, len(in))
			} else if !errors.Is(err, ErrTruncated) && !errors.Is(err, ErrLength) {
				t.Fatalf("prefix %d: %v", n, err)
			}
		}
	}
	// The same for bare chains (the header Length cannot save a chain decoder).
	for _, p := range samplePayloads() {
		c, _ := EncodePayloads([]Payload{p})
		for n := 0; n < len(c.Bytes); n++ {
			var e *Error
			if _, err := DecodePayloads(p.Type(), c.Bytes[:n]); !errors.As(err, &e) {
				t.Fatalf("%s: prefix of %d/%d bytes: %v", p.Type(), n, len(c.Bytes), err)
			}
		}
	}
}

// Random bytes and random mutations of valid messages never panic, and every error is typed.
func TestRandomBytesNeverPanic(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	m, _ := EncodeMessage(sampleHeader(), samplePayloads())
	seeds := [][]byte{m.Raw}
	for _, name := range recordings {
		for _, v := range loadRecording(t, name).msgs {
			seeds = append(seeds, v.data)
		}
	}
	check := func(b []byte) {
		d, err := DecodeMessage(b)
		if err != nil {
			var e *Error
			if d != nil || !errors.As(err, &e) {
				t.Fatalf("message %v, error %T %v", d, err, err)
			}
			return
		}
		if _, err := EncodeMessage(d.Header, d.Payloads); err != nil {
			t.Fatalf("decoded message does not re-encode: %v", err)
		}
	}
	for i := 0; i < 20000; i++ {
		b := make([]byte, rng.IntN(600))
		for j := range b {
			b[j] = byte(rng.Uint32())
		}
		if len(b) >= HeaderLen {
			b[0], b[17] = 1, 0x20
			binary.BigEndian.PutUint32(b[24:], uint32(len(b)))
		}
		check(b)
		s := bytes.Clone(seeds[rng.IntN(len(seeds))])
		for k := rng.IntN(4) + 1; k > 0; k-- {
			s[rng.IntN(len(s))] ^= byte(rng.Uint32() | 1)
		}
		check(s)
		if _, err := DecodePayloads(PayloadType(rng.IntN(60)), b); err != nil {
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("chain error %T", err)
			}
		}
	}
}

// RESERVED fields, the critical bit of known payloads, reserved flag bits and the minor
// version "MUST be ignored on receipt": such a message decodes to the same structs as the
// canonical one (and re-encodes canonically).
func TestReservedIgnored(t *testing.T) {
	ps := samplePayloads()
	m, _ := EncodeMessage(sampleHeader(), ps)
	b := bytes.Clone(m.Raw)
	b[17] |= 0x07 // minor version 7
	b[19] |= 0xc7 // undefined flag bits
	for i, sp := range m.Spans {
		if ps[i].Type().Known() {
			b[HeaderLen+sp.Start+1] |= 0xff // critical bit and RESERVED of every generic header
		} else {
			b[HeaderLen+sp.Start+1] |= 0x7f // RESERVED only: critical would reject the unknown one
		}
	}
	// The 3 RESERVED octets after the ID Type of the first ID payload.
	idOff := HeaderLen + m.Spans[3].Start + 5
	b[idOff], b[idOff+1], b[idOff+2] = 1, 2, 3
	d, err := DecodeMessage(b)
	if err != nil {
		t.Fatal(err)
	}
	if d.Header != m.Header || !equalPayloads(d.Payloads, ps) {
		t.Fatalf("header %+v, payloads differ", d.Header)
	}
	// The ID's RestOfIDPayload is what was received (AUTH covers the received octets).
	id := d.Payloads[3].(*Identification)
	if got := id.RestOfIDPayload(); !bytes.Equal(got[1:4], []byte{1, 2, 3}) {
		t.Fatalf("RestOfIDPayload %x lost the received RESERVED octets", got)
	}
	out, _ := EncodeMessage(d.Header, d.Payloads)
	if !bytes.Equal(out.Raw, m.Raw) {
		t.Fatal("re-encoding is not canonical")
	}
}

// Unknown payload types are skipped (kept as *Unknown) when not critical and reject the whole
// message with ErrUnsupportedCritical, naming the type, when critical (RFC 7296 §2.5).
func TestUnknownAndCritical(t *testing.T) {
	unk := &Unknown{PayloadType: 200, Data: []byte{1, 2, 3}}
	m, err := EncodeMessage(sampleHeader(), []Payload{&Nonce{Data: seq(16, 0)}, unk, &VendorID{Data: []byte("v")}})
	if err != nil {
		t.Fatal(err)
	}
	d, err := DecodeMessage(m.Raw)
	if err != nil {
		t.Fatal(err)
	}
	if got := payloadTypes(d.Payloads); len(got) != 3 || got[1] != 200 {
		t.Fatalf("payloads %v", got)
	}
	b := bytes.Clone(m.Raw)
	b[HeaderLen+m.Spans[1].Start+1] = criticalBit
	_, err = DecodeMessage(b)
	e := wantErr(t, err, ErrUnsupportedCritical, 200)
	if e.Offset != HeaderLen+m.Spans[1].Start {
		t.Fatalf("offset %d", e.Offset)
	}
	typ, data, ok := ErrorNotify(err)
	if !ok || typ != NotifyUnsupportedCriticalPayload || !bytes.Equal(data, []byte{200}) {
		t.Fatalf("ErrorNotify: %v %x %v", typ, data, ok)
	}
	// Negative control: the critical bit on a known payload is ignored.
	b = bytes.Clone(m.Raw)
	b[HeaderLen+m.Spans[0].Start+1] = criticalBit
	if _, err := DecodeMessage(b); err != nil {
		t.Fatalf("critical bit on a known payload: %v", err)
	}
	// Inside an SK payload the same rule holds, reported as Inner.
	sk := testCipher(t, "aes128gcm16", "")
	em, err := EncodeEncrypted(sampleHeader(), []Payload{unk}, sk)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := DecodeEncrypted(em.Raw, sk); err != nil {
		t.Fatalf("non-critical unknown inside SK: %v", err)
	}
	// A critical one: seal a chain whose generic header has the C bit.
	chain := []byte{0, criticalBit, 0, 5, 9}
	raw := sealRawChain(t, sk, sampleHeader(), 201, chain)
	_, err = DecodeEncrypted(raw, sk)
	if e := wantErr(t, err, ErrUnsupportedCritical, 201); !e.Inner || e.Offset != 0 {
		t.Fatalf("inner critical: %+v", e)
	}
}

// sealRawChain builds a protected message around arbitrary inner bytes.
func sealRawChain(t testing.TB, sk *SKCipher, h Header, first PayloadType, chain []byte) []byte {
	t.Helper()
	sealedLen := sk.SealedLen(len(chain))
	h.NextPayload, h.Length = PayloadSK, uint32(HeaderLen+4+sealedLen)
	b := h.Append(nil)
	b = append(b, byte(first), 0)
	b = binary.BigEndian.AppendUint16(b, uint16(4+sealedLen))
	sealed, err := sk.Seal(b, chain)
	if err != nil {
		t.Fatal(err)
	}
	return append(b, sealed...)
}

func TestHeader(t *testing.T) {
	h := sampleHeader()
	h.Flags = FlagResponse
	h.NextPayload, h.Length = PayloadNonce, 1234
	b := h.Append(nil)
	if len(b) != HeaderLen {
		t.Fatalf("%d bytes", len(b))
	}
	got, err := DecodeHeader(b)
	if err != nil || got != h {
		t.Fatalf("%+v, %v", got, err)
	}
	if !got.IsResponse() || got.FromInitiator() {
		t.Fatal("flags")
	}
	for _, c := range []struct {
		name string
		mut  func([]byte) []byte
		want error
		off  int
	}{
		{"short", func(b []byte) []byte { return b[:27] }, ErrTruncated, 27},
		{"major 3", func(b []byte) []byte { b[17] = 0x30; return b }, ErrInvalidMajorVersion, 17},
		{"major 15", func(b []byte) []byte { b[17] = 0xf0; return b }, ErrInvalidMajorVersion, 17},
		{"major 1 (IKEv1)", func(b []byte) []byte { b[17] = 0x10; return b }, ErrNotIKEv2, 17},
		{"major 0", func(b []byte) []byte { b[17] = 0x02; return b }, ErrNotIKEv2, 17},
		{"zero SPIi", func(b []byte) []byte { clear(b[:8]); return b }, ErrMalformed, 0},
	} {
		_, err := DecodeHeader(c.mut(bytes.Clone(b)))
		if e := wantErr(t, err, c.want, PayloadNone); e.Offset != c.off {
			t.Errorf("%s: offset %d", c.name, e.Offset)
		}
	}
	// ErrInvalidMajorVersion and ErrNotIKEv2 are distinct, and only the first is answered.
	b[17] = 0x30
	_, err = DecodeHeader(b)
	if errors.Is(err, ErrNotIKEv2) {
		t.Fatal("major 3 is also ErrNotIKEv2")
	}
	if typ, _, ok := ErrorNotify(err); !ok || typ != NotifyInvalidMajorVersion {
		t.Fatalf("ErrorNotify(major 3) = %v %v", typ, ok)
	}
	b[17] = 0x10
	_, err = DecodeHeader(b)
	if _, _, ok := ErrorNotify(err); ok {
		t.Fatal("an IKEv1 message gets an IKEv2 answer")
	}
	// Encoders refuse undefined flags and a zero SPIi.
	h.Flags = 0x01
	if _, err := EncodeMessage(h, nil); !errors.Is(err, ErrEncode) {
		t.Fatalf("flag 0x01: %v", err)
	}
	h.Flags, h.SPIi = 0, SPI{}
	if _, err := EncodeMessage(h, nil); !errors.Is(err, ErrEncode) {
		t.Fatalf("zero SPIi: %v", err)
	}
	if s := (FlagInitiator | FlagResponse | 0x41).String(); s != "IR|0x41" {
		t.Fatalf("Flags.String %q", s)
	}
}

func TestMessageLength(t *testing.T) {
	m, _ := EncodeMessage(sampleHeader(), []Payload{&Nonce{Data: seq(16, 0)}})
	for _, c := range []struct {
		name  string
		b     []byte
		extra error
	}{
		{"Length beyond the datagram", setLen(m.Raw, len(m.Raw)+1), ErrTruncated},
		{"Length short of the datagram", setLen(m.Raw, len(m.Raw)-1), ErrTrailingData},
		{"Length below the header", setLen(m.Raw, 27), ErrMalformed},
		{"trailing byte", append(bytes.Clone(m.Raw), 0), ErrTrailingData},
	} {
		_, err := DecodeMessage(c.b)
		if e := wantErr(t, err, ErrLength, PayloadNone); !errors.Is(err, c.extra) || e.Offset != 24 {
			t.Errorf("%s: %v", c.name, err)
		}
		if typ, _, ok := ErrorNotify(err); !ok || typ != NotifyInvalidSyntax {
			t.Errorf("%s: ErrorNotify %v %v", c.name, typ, ok)
		}
	}
	big := make([]byte, MaxMessageLen+1)
	if _, err := DecodeMessage(big); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("oversized: %v", err)
	}
	if _, err := EncodeMessage(sampleHeader(), []Payload{&Unknown{PayloadType: 200, Data: make([]byte, 40000)},
		&Unknown{PayloadType: 200, Data: make([]byte, 40000)}}); !errors.Is(err, ErrEncode) {
		t.Fatalf("oversized encode: %v", err)
	}
}

func setLen(b []byte, n int) []byte {
	c := bytes.Clone(b)
	binary.BigEndian.PutUint32(c[24:], uint32(n))
	return c
}

// SK and SKF must be the last payload; nothing may follow them, and they cannot nest.
func TestEncryptedPayloadPlacement(t *testing.T) {
	h := sampleHeader()
	sk := &Encrypted{NextPayload: PayloadIDi, Data: seq(40, 0)}
	m, err := EncodeMessage(h, []Payload{&VendorID{Data: []byte("x")}, sk})
	if err != nil {
		t.Fatal(err)
	}
	d, err := DecodeMessage(m.Raw)
	if err != nil || d.Encrypted() == nil || d.Encrypted().NextPayload != PayloadIDi {
		t.Fatalf("%v %v", d, err)
	}
	// A payload after SK: its bytes are trailing data.
	b := append(bytes.Clone(m.Raw), 0, 0, 0, 4)
	binary.BigEndian.PutUint32(b[24:], uint32(len(b)))
	_, err = DecodeMessage(b)
	wantErr(t, err, ErrTrailingData, PayloadSK)
	if _, err := EncodeMessage(h, []Payload{sk, &VendorID{Data: []byte("x")}}); !errors.Is(err, ErrEncode) {
		t.Fatalf("SK not last: %v", err)
	}
	if _, err := EncodePayloads([]Payload{sk}); !errors.Is(err, ErrEncode) {
		t.Fatalf("SK in a chain: %v", err)
	}
	_, err = DecodePayloads(PayloadSK, []byte{0, 0, 0, 4})
	if e := wantErr(t, err, ErrMalformed, PayloadSK); !e.Inner {
		t.Fatal("not marked inner")
	}
}

func TestChainHelpers(t *testing.T) {
	m, _ := EncodeMessage(sampleHeader(), samplePayloads())
	d, _ := DecodeMessage(m.Raw)
	if d.Index(PayloadKE) != 1 || d.Find(PayloadAUTH) == nil || d.Find(PayloadSK) != nil || d.Index(PayloadSK) != -1 {
		t.Fatal("Index/Find")
	}
	if ns := d.Notifies(); len(ns) != 5 || ns[2].NotifyType != NotifyRekeySA {
		t.Fatalf("Notifies %v", ns)
	}
	var nilChain *Chain
	if nilChain.Index(PayloadSA) != -1 || nilChain.Notifies() != nil {
		t.Fatal("nil chain")
	}
	if PayloadType(99).String() != "PAYLOAD(99)" || PayloadSKF.String() != "SKF" || !PayloadCP.Known() || PayloadNone.Known() {
		t.Fatal("PayloadType names")
	}
	if ExchangeIKEIntermediate.String() != "IKE_INTERMEDIATE" || ExchangeType(99).Known() {
		t.Fatal("ExchangeType names")
	}
}
