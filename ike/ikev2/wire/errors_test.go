package wire

import (
	"encoding/binary"
	"errors"
	"strings"
	"testing"
)

// gp builds a payload: generic header (next, flags 0, computed length) + body parts.
func gp(next byte, body ...[]byte) []byte {
	b := []byte{next, 0, 0, 0}
	for _, p := range body {
		b = append(b, p...)
	}
	binary.BigEndian.PutUint16(b[2:], uint16(len(b)))
	return b
}

func cat(bs ...[]byte) []byte {
	var b []byte
	for _, x := range bs {
		b = append(b, x...)
	}
	return b
}

func u16(v uint16) []byte { return binary.BigEndian.AppendUint16(nil, v) }
func u32(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }

// sub builds a proposal or transform substructure: last, RESERVED, computed length, body.
func sub(last byte, body ...[]byte) []byte {
	b := []byte{last, 0, 0, 0}
	for _, p := range body {
		b = append(b, p...)
	}
	binary.BigEndian.PutUint16(b[2:], uint16(len(b)))
	return b
}

var (
	trENCR    = sub(3, []byte{1, 0}, u16(12), u16(0x800e), u16(256)) // ENCR AES-CBC, Key Length 256
	trPRFLast = sub(0, []byte{2, 0}, u16(5))                         // PRF HMAC-SHA2-256, last
	okProp    = sub(0, []byte{1, 1, 0, 2}, trENCR, trPRFLast)        // #1 IKE, no SPI, 2 transforms
	v4TS      = cat([]byte{7, 0}, u16(16), u16(0), u16(65535), []byte{192, 0, 2, 0, 192, 0, 2, 255})
)

func TestDecodePayloadErrors(t *testing.T) {
	type tc struct {
		name  string
		first PayloadType
		b     []byte
		want  error
		pt    PayloadType
		off   int
	}
	nonce := make([]byte, 16)
	cases := []tc{
		// Generic payload header (§3.2).
		{"length below generic header", PayloadNonce, []byte{0, 0, 0, 3}, ErrMalformed, PayloadNonce, 0},
		{"length beyond input", PayloadNonce, []byte{0, 0, 0, 9, 1}, ErrTruncated, PayloadNonce, 0},
		{"announced payload missing", PayloadNonce, gp(byte(PayloadVendorID), nonce), ErrTruncated, PayloadVendorID, 20},
		{"trailing bytes", PayloadVendorID, cat(gp(0, []byte{1}), []byte{0xff}), ErrTrailingData, PayloadNone, 5},

		// SA (§3.3).
		{"SA empty", PayloadSA, gp(0), ErrMalformed, PayloadSA, 4},
		{"SA short proposal", PayloadSA, gp(0, []byte{0, 0, 0, 8, 1}), ErrTruncated, PayloadSA, 4},
		{"proposal length too small", PayloadSA, gp(0, []byte{0, 0, 0, 7, 1, 1, 0, 1}), ErrMalformed, PayloadSA, 6},
		{"proposal length too big", PayloadSA, gp(0, []byte{0, 0, 0, 99, 1, 1, 0, 1}), ErrMalformed, PayloadSA, 6},
		{"last substruc 3 on a proposal", PayloadSA, gp(0, withByte(okProp, 0, 3)), ErrMalformed, PayloadSA, 4},
		{"more proposals announced, none follows", PayloadSA, gp(0, withByte(okProp, 0, 2)), ErrTruncated, PayloadSA, 4 + len(okProp)},
		{"bytes after the last proposal", PayloadSA, gp(0, okProp, []byte{0}), ErrTrailingData, PayloadSA, 4 + len(okProp)},
		{"proposal number 0", PayloadSA, gp(0, withByte(okProp, 4, 0)), ErrMalformed, PayloadSA, 8},
		{"proposal numbers 1, 3", PayloadSA, gp(0, withByte(okProp, 0, 2), withByte(okProp, 4, 3)), ErrMalformed, PayloadSA, 8 + len(okProp)},
		{"proposal numbers 2, 2", PayloadSA, gp(0, withByte(withByte(okProp, 0, 2), 4, 2), withByte(okProp, 4, 2)), ErrMalformed, PayloadSA, 8 + len(okProp)},
		{"protocol 0", PayloadSA, gp(0, withByte(okProp, 5, 0)), ErrMalformed, PayloadSA, 9},
		{"IKE SPI size 4", PayloadSA, gp(0, sub(0, []byte{1, 1, 4, 1}, u32(1), trPRFLast)), ErrMalformed, PayloadSA, 10},
		{"ESP SPI size 0", PayloadSA, gp(0, sub(0, []byte{1, 3, 0, 1}, trPRFLast)), ErrMalformed, PayloadSA, 10},
		{"AH SPI size 8", PayloadSA, gp(0, sub(0, []byte{1, 2, 8, 1}, u32(1), u32(2), trPRFLast)), ErrMalformed, PayloadSA, 10},
		{"SPI beyond proposal", PayloadSA, gp(0, sub(0, []byte{1, 3, 4, 1}, []byte{1, 2})), ErrMalformed, PayloadSA, 10},
		{"no transforms", PayloadSA, gp(0, sub(0, []byte{1, 1, 0, 0})), ErrMalformed, PayloadSA, 11},
		{"more transforms announced", PayloadSA, gp(0, sub(0, []byte{1, 1, 0, 3}, trENCR, trPRFLast)), ErrMalformed, PayloadSA, 4 + 8 + len(trENCR)},
		{"more transforms announced than fit", PayloadSA, gp(0, sub(0, []byte{1, 1, 0, 3}, trENCR, withByte(trPRFLast, 0, 3))), ErrMalformed, PayloadSA, 4 + 8 + len(trENCR) + len(trPRFLast)},
		{"fewer transforms announced", PayloadSA, gp(0, sub(0, []byte{1, 1, 0, 1}, withByte(trENCR, 0, 0), trPRFLast)), ErrTrailingData, PayloadSA, 4 + 8 + len(trENCR)},
		{"last transform marked 3", PayloadSA, gp(0, sub(0, []byte{1, 1, 0, 2}, trENCR, withByte(trPRFLast, 0, 3))), ErrMalformed, PayloadSA, 4 + 8 + len(trENCR)},
		{"middle transform marked 0", PayloadSA, gp(0, sub(0, []byte{1, 1, 0, 2}, withByte(trENCR, 0, 0), trPRFLast)), ErrMalformed, PayloadSA, 12},
		{"transform length 7", PayloadSA, gp(0, sub(0, []byte{1, 1, 0, 1}, withByte(trPRFLast, 3, 7))), ErrMalformed, PayloadSA, 14},
		{"transform length beyond proposal", PayloadSA, gp(0, sub(0, []byte{1, 1, 0, 1}, withByte(trPRFLast, 3, 9))), ErrMalformed, PayloadSA, 14},
		{"attribute cut", PayloadSA, gp(0, sub(0, []byte{1, 1, 0, 1}, sub(0, []byte{1, 0}, u16(12), []byte{0x80}))), ErrMalformed, PayloadSA, 20},
		{"TLV attribute too long", PayloadSA, gp(0, sub(0, []byte{1, 1, 0, 1}, sub(0, []byte{1, 0}, u16(12), u16(17), u16(5), []byte{1}))), ErrMalformed, PayloadSA, 22},
		{"Key Length as TLV", PayloadSA, gp(0, sub(0, []byte{1, 1, 0, 1}, sub(0, []byte{1, 0}, u16(12), u16(14), u16(2), u16(256)))), ErrMalformed, PayloadSA, 26},

		// KE (§3.4), Nonce (§3.9), Vendor ID (§3.12).
		{"KE without data", PayloadKE, gp(0, u16(14), u16(0)), ErrMalformed, PayloadKE, 4},
		{"KE short", PayloadKE, gp(0, u16(14)), ErrMalformed, PayloadKE, 4},
		{"nonce 15 bytes", PayloadNonce, gp(0, make([]byte, 15)), ErrMalformed, PayloadNonce, 4},
		{"nonce 257 bytes", PayloadNonce, gp(0, make([]byte, 257)), ErrMalformed, PayloadNonce, 4},
		{"empty vendor ID", PayloadVendorID, gp(0), ErrMalformed, PayloadVendorID, 4},

		// ID (§3.5).
		{"ID short", PayloadIDi, gp(0, []byte{2, 0, 0}), ErrMalformed, PayloadIDi, 4},
		{"IPv4 ID of 5 bytes", PayloadIDr, gp(0, []byte{1, 0, 0, 0}, []byte{1, 2, 3, 4, 5}), ErrMalformed, PayloadIDr, 8},
		{"IPv6 ID of 4 bytes", PayloadIDi, gp(0, []byte{5, 0, 0, 0}, []byte{1, 2, 3, 4}), ErrMalformed, PayloadIDi, 8},
		{"empty FQDN", PayloadIDi, gp(0, []byte{2, 0, 0, 0}), ErrMalformed, PayloadIDi, 8},
		{"empty KEY_ID", PayloadIDi, gp(0, []byte{11, 0, 0, 0}), ErrMalformed, PayloadIDi, 8},

		// CERT (§3.6), CERTREQ (§3.7), AUTH (§3.8).
		{"CERT without data", PayloadCERT, gp(0, []byte{4}), ErrMalformed, PayloadCERT, 4},
		{"hash and URL without URL", PayloadCERT, gp(0, []byte{12}, make([]byte, 20)), ErrMalformed, PayloadCERT, 5},
		{"hash and URL with a space", PayloadCERT, gp(0, []byte{12}, make([]byte, 20), []byte("http://a b")), ErrMalformed, PayloadCERT, 5},
		{"CERTREQ without encoding", PayloadCERTREQ, gp(0), ErrMalformed, PayloadCERTREQ, 4},
		{"CERTREQ of 21 bytes", PayloadCERTREQ, gp(0, []byte{4}, make([]byte, 21)), ErrMalformed, PayloadCERTREQ, 5},
		{"AUTH without data", PayloadAUTH, gp(0, []byte{2, 0, 0, 0}), ErrMalformed, PayloadAUTH, 4},
		{"RFC 7427 length beyond data", PayloadAUTH, gp(0, []byte{14, 0, 0, 0}, []byte{20, 0x30, 0}), ErrMalformed, PayloadAUTH, 8},
		{"RFC 7427 without signature", PayloadAUTH, gp(0, []byte{14, 0, 0, 0}, []byte{2, 0x30, 0}), ErrMalformed, PayloadAUTH, 8},
		{"RFC 7427 not DER", PayloadAUTH, gp(0, []byte{14, 0, 0, 0}, []byte{2, 0x04, 0, 9}), ErrMalformed, PayloadAUTH, 8},

		// Notify (§3.10).
		{"notify short", PayloadNotify, gp(0, []byte{0, 0, 0x40}), ErrMalformed, PayloadNotify, 4},
		{"notify SPI beyond data", PayloadNotify, gp(0, []byte{3, 4}, u16(16393), []byte{1, 2}), ErrMalformed, PayloadNotify, 5},
		{"notify SPI 4 for IKE", PayloadNotify, gp(0, []byte{1, 4}, u16(16393), u32(1)), ErrMalformed, PayloadNotify, 4},
		{"notify SPI 8", PayloadNotify, gp(0, []byte{3, 8}, u16(16393), u32(1), u32(2)), ErrMalformed, PayloadNotify, 4},
		{"INVALID_KE_PAYLOAD of 1 byte", PayloadNotify, gp(0, []byte{0, 0}, u16(17), []byte{14}), ErrMalformed, PayloadNotify, 4},
		{"NAT-D of 19 bytes", PayloadNotify, gp(0, []byte{0, 0}, u16(16388), make([]byte, 19)), ErrMalformed, PayloadNotify, 4},
		{"empty COOKIE", PayloadNotify, gp(0, []byte{0, 0}, u16(16390)), ErrMalformed, PayloadNotify, 4},
		{"COOKIE of 65 bytes", PayloadNotify, gp(0, []byte{0, 0}, u16(16390), make([]byte, 65)), ErrMalformed, PayloadNotify, 4},
		{"SET_WINDOW_SIZE of 2", PayloadNotify, gp(0, []byte{0, 0}, u16(16385), []byte{0, 1}), ErrMalformed, PayloadNotify, 4},
		{"odd hash algorithms", PayloadNotify, gp(0, []byte{0, 0}, u16(16431), []byte{0, 2, 0}), ErrMalformed, PayloadNotify, 4},
		{"ADDITIONAL_IP4_ADDRESS of 16", PayloadNotify, gp(0, []byte{0, 0}, u16(16397), make([]byte, 16)), ErrMalformed, PayloadNotify, 4},
		{"UNSUPPORTED_CRITICAL_PAYLOAD empty", PayloadNotify, gp(0, []byte{0, 0}, u16(1)), ErrMalformed, PayloadNotify, 4},

		// Delete (§3.11).
		{"delete short", PayloadDelete, gp(0, []byte{3, 4, 0}), ErrMalformed, PayloadDelete, 4},
		{"IKE delete with SPI size", PayloadDelete, gp(0, []byte{1, 8}, u16(0)), ErrMalformed, PayloadDelete, 5},
		{"IKE delete with a count", PayloadDelete, gp(0, []byte{1, 0}, u16(1)), ErrMalformed, PayloadDelete, 5},
		{"ESP delete SPI size 8", PayloadDelete, gp(0, []byte{3, 8}, u16(1), make([]byte, 8)), ErrMalformed, PayloadDelete, 5},
		{"ESP delete count mismatch", PayloadDelete, gp(0, []byte{3, 4}, u16(2), u32(1)), ErrMalformed, PayloadDelete, 6},
		{"ESP delete without SPIs", PayloadDelete, gp(0, []byte{3, 4}, u16(0)), ErrMalformed, PayloadDelete, 6},
		{"delete protocol 9", PayloadDelete, gp(0, []byte{9, 4}, u16(1), u32(1)), ErrMalformed, PayloadDelete, 4},

		// TS (§3.13).
		{"TS short", PayloadTSi, gp(0, []byte{1, 0, 0}), ErrMalformed, PayloadTSi, 4},
		{"no TS", PayloadTSi, gp(0, []byte{0, 0, 0, 0}), ErrMalformed, PayloadTSi, 4},
		{"2 TS announced, 1 present", PayloadTSr, gp(0, []byte{2, 0, 0, 0}, v4TS), ErrMalformed, PayloadTSr, 24},
		{"TS after the announced ones", PayloadTSi, gp(0, []byte{1, 0, 0, 0}, v4TS, v4TS), ErrTrailingData, PayloadTSi, 24},
		{"selector length 3", PayloadTSi, gp(0, []byte{1, 0, 0, 0}, withByte(v4TS, 3, 3)), ErrMalformed, PayloadTSi, 10},
		{"IPv4 selector of 40", PayloadTSi, gp(0, []byte{1, 0, 0, 0}, withByte(cat(v4TS, make([]byte, 24)), 3, 40)), ErrMalformed, PayloadTSi, 10},
		{"IPv6 selector of 16", PayloadTSi, gp(0, []byte{1, 0, 0, 0}, withByte(v4TS, 0, 8)), ErrMalformed, PayloadTSi, 10},
		{"start address above end", PayloadTSi, gp(0, []byte{1, 0, 0, 0}, withByte(withByte(v4TS, 11, 9), 15, 3)), ErrMalformed, PayloadTSi, 8},
		{"start port above end", PayloadTSi, gp(0, []byte{1, 0, 0, 0}, cat(v4TS[:4], u16(443), u16(80), v4TS[8:])), ErrMalformed, PayloadTSi, 8},

		// CP (§3.15), EAP (§3.16).
		{"CP short", PayloadCP, gp(0, []byte{1, 0, 0}), ErrMalformed, PayloadCP, 4},
		{"CP attribute cut", PayloadCP, gp(0, []byte{1, 0, 0, 0}, []byte{0, 1, 0}), ErrMalformed, PayloadCP, 8},
		{"CP attribute too long", PayloadCP, gp(0, []byte{1, 0, 0, 0}, u16(1), u16(4), []byte{1}), ErrMalformed, PayloadCP, 10},
		{"INTERNAL_IP4_ADDRESS of 3", PayloadCP, gp(0, []byte{2, 0, 0, 0}, u16(1), u16(3), []byte{1, 2, 3}), ErrMalformed, PayloadCP, 8},
		{"INTERNAL_IP6_ADDRESS of 16", PayloadCP, gp(0, []byte{2, 0, 0, 0}, u16(8), u16(16), make([]byte, 16)), ErrMalformed, PayloadCP, 8},
		{"INTERNAL_IP4_SUBNET of 4", PayloadCP, gp(0, []byte{2, 0, 0, 0}, u16(13), u16(4), make([]byte, 4)), ErrMalformed, PayloadCP, 8},
		{"odd SUPPORTED_ATTRIBUTES", PayloadCP, gp(0, []byte{2, 0, 0, 0}, u16(14), u16(3), make([]byte, 3)), ErrMalformed, PayloadCP, 8},
		{"EAP short", PayloadEAP, gp(0, []byte{1, 1, 0}), ErrMalformed, PayloadEAP, 4},
		{"EAP length mismatch", PayloadEAP, gp(0, []byte{1, 1, 0, 6, 1}), ErrMalformed, PayloadEAP, 4},
		{"EAP request without type", PayloadEAP, gp(0, []byte{1, 1, 0, 4}), ErrMalformed, PayloadEAP, 4},
		{"EAP success with data", PayloadEAP, gp(0, []byte{3, 1, 0, 5, 1}), ErrMalformed, PayloadEAP, 4},
		{"EAP code 5", PayloadEAP, gp(0, []byte{5, 1, 0, 4}), ErrMalformed, PayloadEAP, 4},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := DecodePayloads(c.first, c.b)
			e := wantErr(t, err, c.want, c.pt)
			if e.Offset != c.off {
				t.Errorf("offset %d, want %d (%v)", e.Offset, c.off, err)
			}
			if !e.Inner || !strings.HasPrefix(err.Error(), "ikev2/wire: ") {
				t.Errorf("error text %q", err)
			}
			if typ, _, ok := ErrorNotify(err); !ok || typ != NotifyInvalidSyntax {
				t.Errorf("ErrorNotify %v %v", typ, ok)
			}
			// Negative control: the same bytes inside a message fail the same way, offset
			// shifted by the header.
			h := sampleHeader()
			h.NextPayload, h.Length = c.first, uint32(HeaderLen+len(c.b))
			_, err = DecodeMessage(append(h.Append(nil), c.b...))
			if e2 := wantErr(t, err, c.want, c.pt); e2.Offset != c.off+HeaderLen || e2.Inner {
				t.Errorf("in a message: %v", err)
			}
		})
	}
}

// The positive controls of the table: the well-formed neighbours decode.
func TestDecodePayloadPositiveControls(t *testing.T) {
	for _, c := range []struct {
		first PayloadType
		b     []byte
	}{
		{PayloadSA, gp(0, okProp)},
		{PayloadSA, gp(0, withByte(okProp, 0, 2), withByte(okProp, 4, 2))},
		{PayloadSA, gp(0, withByte(okProp, 4, 7))}, // a response carries the chosen number
		{PayloadSA, gp(0, sub(0, []byte{1, 1, 8, 1}, u32(1), u32(2), trPRFLast))},
		{PayloadSA, gp(0, sub(0, []byte{1, 9, 3, 1}, []byte{1, 2, 3}, trPRFLast))}, // unknown protocol
		{PayloadKE, gp(0, u16(14), u16(0xffff), []byte{1})},                        // RESERVED ignored
		{PayloadNonce, gp(0, make([]byte, 256))},
		{PayloadIDi, gp(0, []byte{13, 0, 0, 0})}, // ID_NULL
		{PayloadCERT, gp(0, []byte{12}, make([]byte, 20), []byte("http://a/b\x00"))},
		{PayloadCERTREQ, gp(0, []byte{4})},
		{PayloadCERTREQ, gp(0, []byte{7}, []byte{1, 2, 3})}, // CRL: not a hash list
		{PayloadNotify, gp(0, []byte{1, 0}, u16(16384))},    // protocol ignored without SPI
		{PayloadNotify, gp(0, []byte{2, 4}, u16(11), u32(7))},
		{PayloadNotify, gp(0, []byte{0, 0}, u16(40000), make([]byte, 300))},
		{PayloadDelete, gp(0, []byte{2, 4}, u16(2), u32(1), u32(2))},
		{PayloadTSi, gp(0, []byte{1, 0, 0, 0}, cat(v4TS[:4], u16(0xffff), u16(0), v4TS[8:]))}, // OPAQUE
		{PayloadTSi, gp(0, []byte{2, 0, 0, 0}, v4TS, []byte{99, 0, 0, 6, 1, 2})},              // unknown TS type
		{PayloadCP, gp(0, []byte{1, 0, 0, 0}, u16(0x8001), u16(0), u16(20), u16(0), u16(1234), u16(1), []byte{9})},
		{PayloadEAP, gp(0, []byte{4, 9, 0, 4})},
	} {
		c := c
		d, err := DecodePayloads(c.first, c.b)
		if err != nil {
			t.Errorf("%s %x: %v", c.first, c.b, err)
			continue
		}
		if _, err := EncodePayloads(d.Payloads); err != nil {
			t.Errorf("%s: re-encode %v", c.first, err)
		}
	}
}

func withByte(b []byte, i int, v byte) []byte {
	c := append([]byte(nil), b...)
	c[i] = v
	return c
}

// Encoders refuse structs that cannot be put on the wire.
func TestEncodeErrors(t *testing.T) {
	long := make([]byte, 70000)
	for i, p := range []Payload{
		&SA{},
		&SA{Proposals: []Proposal{{Number: 0, Protocol: ProtoIKE, Transforms: []Transform{{Type: 1, ID: 12}}}}},
		&SA{Proposals: []Proposal{{Number: 1, Protocol: ProtoIKE, Transforms: []Transform{{Type: 1}}}, {Number: 3, Protocol: ProtoIKE, Transforms: []Transform{{Type: 1}}}}},
		&SA{Proposals: []Proposal{{Number: 1, Protocol: ProtoESP, Transforms: []Transform{{Type: 1}}}}},
		&SA{Proposals: []Proposal{{Number: 1, Protocol: ProtoIKE}}},
		&SA{Proposals: []Proposal{{Number: 1, Protocol: ProtoIKE, Transforms: []Transform{{Type: 1, Attributes: []Attribute{{Type: 14, Data: []byte{1}}}}}}}},
		&SA{Proposals: []Proposal{{Number: 1, Protocol: ProtoIKE, Transforms: []Transform{{Type: 1, Attributes: []Attribute{{Type: 0x8001, TV: true}}}}}}},
		&KeyExchange{Group: 14},
		&Nonce{Data: make([]byte, 8)},
		&Identification{IDType: IDIPv4Addr, Data: []byte{1}},
		&Certificate{Encoding: CertX509Signature},
		&Certificate{Encoding: CertHashURLX509, Data: make([]byte, 20)},
		&CertificateRequest{Encoding: CertX509Signature, Data: make([]byte, 10)},
		&Auth{Method: AuthSharedKeyMIC},
		&Auth{Method: AuthDigitalSignature, Data: []byte{1, 2, 3}},
		&Notify{NotifyType: NotifyCookie},
		&Notify{Protocol: ProtoIKE, SPI: []byte{1, 2, 3, 4}, NotifyType: NotifyRekeySA},
		&Delete{Protocol: ProtoIKE, SPIs: []uint32{1}},
		&Delete{Protocol: ProtoESP},
		&Delete{Protocol: 7, SPIs: []uint32{1}},
		&VendorID{},
		&TrafficSelectors{},
		&TrafficSelectors{Selectors: []TrafficSelector{{TSType: TSIPv4AddrRange}}},
		&Configuration{Attributes: []ConfigAttribute{{Type: AttrInternalIP4Address, Value: []byte{1}}}},
		&Configuration{Attributes: []ConfigAttribute{{Type: 0x8000}}},
		&EAP{Message: []byte{1, 1, 0, 4}},
		&EncryptedFragment{Number: 2, Total: 1},
		&Unknown{PayloadType: PayloadNonce, Data: make([]byte, 16)},
		&Unknown{PayloadType: 200, Data: long},
	} {
		if _, err := EncodeMessage(sampleHeader(), []Payload{p}); !errors.Is(err, ErrEncode) {
			t.Errorf("%d %T: %v", i, p, err)
		}
	}
	if _, err := EncodePayloads([]Payload{nil}); !errors.Is(err, ErrEncode) {
		t.Errorf("nil payload: %v", err)
	}
	if _, err := NewDigitalSignatureAuth([]byte{0x04, 0}, []byte{1}); !errors.Is(err, ErrEncode) {
		t.Errorf("non-DER AlgorithmIdentifier: %v", err)
	}
}
