package isakmp

import (
	"encoding/binary"
	"errors"
	"strings"
	"testing"
)

// gp builds a payload: generic header (next, RESERVED 0, computed length) + body parts.
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

func u32(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }

var (
	ipsecSit    = cat(u32(DOIIPsec), u32(SituationIdentityOnly))
	okTransform = gp(0, []byte{1, 1, 0, 0}, []byte{0x80, 0x01, 0x00, 0x07})
	okProposal  = gp(0, []byte{1, 1, 0, 1}, okTransform)
)

func withByte(b []byte, i int, v byte) []byte {
	c := append([]byte(nil), b...)
	c[i] = v
	return c
}

func TestDecodePayloadErrors(t *testing.T) {
	cases := []struct {
		name  string
		first PayloadType
		b     []byte
		want  error
		pt    PayloadType
		off   int
	}{
		{"length below generic header", PayloadNonce, []byte{0, 0, 0, 3}, ErrMalformed, PayloadNonce, 0},
		{"length beyond input", PayloadNonce, []byte{0, 0, 0, 9, 1}, ErrTruncated, PayloadNonce, 0},
		{"RESERVED not zero", PayloadNonce, []byte{0, 1, 0, 4}, ErrMalformed, PayloadNonce, 1},
		{"second payload RESERVED not zero", PayloadNonce, cat(gp(byte(PayloadHash)), []byte{0, 0x80, 0, 4}), ErrMalformed, PayloadHash, 5},
		{"announced payload missing", PayloadNonce, gp(byte(PayloadHash)), ErrTruncated, PayloadHash, 4},
		{"trailing bytes", PayloadNonce, cat(gp(0, []byte{0xaa}), []byte{0xff}), ErrTrailingData, PayloadNone, 5},
		{"proposal outside SA", PayloadProposal, okProposal, ErrInvalidPayloadType, PayloadProposal, 0},
		{"transform outside SA", PayloadTransform, okTransform, ErrInvalidPayloadType, PayloadTransform, 0},

		{"SA too short", PayloadSA, gp(0, u32(1)), ErrMalformed, PayloadSA, 4},
		{"SA DOI 2", PayloadSA, gp(0, u32(2), u32(1), okProposal), ErrDOINotSupported, PayloadSA, 4},
		{"SA DOI 0", PayloadSA, gp(0, u32(0), u32(1), okProposal), ErrDOINotSupported, PayloadSA, 4},
		{"SA SIT_SECRECY", PayloadSA, gp(0, u32(1), u32(SituationSecrecy), okProposal), ErrSituationNotSupported, PayloadSA, 8},
		{"SA SIT_INTEGRITY", PayloadSA, gp(0, u32(1), u32(SituationIntegrity|1), okProposal), ErrSituationNotSupported, PayloadSA, 8},
		{"SA without proposal", PayloadSA, gp(0, ipsecSit), ErrMalformed, PayloadProposal, 12},
		{"SA trailing after last proposal", PayloadSA, gp(0, ipsecSit, okProposal, []byte{0}), ErrTrailingData, PayloadSA, 12 + len(okProposal)},
		{"proposal Next Payload 5", PayloadSA, gp(0, ipsecSit, withByte(okProposal, 0, 5)), ErrInvalidPayloadType, PayloadProposal, 12 + len(okProposal)},
		{"proposal announced but missing", PayloadSA, gp(0, ipsecSit, withByte(okProposal, 0, 2)), ErrMalformed, PayloadProposal, 12 + len(okProposal)},
		{"proposal RESERVED", PayloadSA, gp(0, ipsecSit, withByte(okProposal, 1, 1)), ErrMalformed, PayloadProposal, 13},
		{"proposal length 7", PayloadSA, gp(0, ipsecSit, []byte{0, 0, 0, 7, 1, 1, 0, 0}), ErrMalformed, PayloadProposal, 12},
		{"proposal length beyond SA", PayloadSA, gp(0, ipsecSit, withByte(okProposal, 3, byte(len(okProposal)+1))), ErrMalformed, PayloadProposal, 12},
		{"SPI Size beyond proposal", PayloadSA, gp(0, ipsecSit, gp(0, []byte{1, 3, 32, 1}, okTransform)), ErrMalformed, PayloadProposal, 18},
		{"fewer transforms than counted", PayloadSA, gp(0, ipsecSit, gp(0, []byte{1, 1, 0, 2}, okTransform)), ErrMalformed, PayloadProposal, 19},
		{"more transforms than counted", PayloadSA, gp(0, ipsecSit, gp(0, []byte{1, 1, 0, 1}, withByte(okTransform, 0, 3), okTransform)), ErrMalformed, PayloadProposal, 19},
		{"no transform", PayloadSA, gp(0, ipsecSit, gp(0, []byte{1, 1, 0, 0})), ErrMalformed, PayloadTransform, 20},
		{"transform Next Payload 2", PayloadSA, gp(0, ipsecSit, gp(0, []byte{1, 1, 0, 1}, withByte(okTransform, 0, 2))), ErrInvalidPayloadType, PayloadTransform, 20 + len(okTransform)},
		{"transform RESERVED2", PayloadSA, gp(0, ipsecSit, gp(0, []byte{1, 1, 0, 1}, withByte(okTransform, 7, 1))), ErrMalformed, PayloadTransform, 26},
		{"transform length 6", PayloadSA, gp(0, ipsecSit, gp(0, []byte{1, 1, 0, 1}, []byte{0, 0, 0, 6, 1, 1})), ErrMalformed, PayloadTransform, 20},
		{"trailing after last transform", PayloadSA, gp(0, ipsecSit, gp(0, []byte{1, 1, 0, 1}, okTransform, []byte{0})), ErrTrailingData, PayloadProposal, 20 + len(okTransform)},
		{"attribute length beyond transform", PayloadSA, gp(0, ipsecSit, gp(0, []byte{1, 1, 0, 1}, gp(0, []byte{1, 1, 0, 0}, []byte{0, 12, 0, 5, 1, 2, 3, 4}))), ErrMalformed, PayloadTransform, 30},
		{"attribute cut", PayloadSA, gp(0, ipsecSit, gp(0, []byte{1, 1, 0, 1}, gp(0, []byte{1, 1, 0, 0}, []byte{0x80, 1}))), ErrMalformed, PayloadTransform, 28},

		{"ID too short", PayloadID, gp(0, []byte{2, 0, 0}), ErrMalformed, PayloadID, 4},
		{"CERT empty", PayloadCert, gp(0), ErrMalformed, PayloadCert, 4},
		{"CR empty", PayloadCertRequest, gp(0), ErrMalformed, PayloadCertRequest, 4},
		{"N too short", PayloadNotification, gp(0, u32(1), []byte{1, 0, 0}), ErrMalformed, PayloadNotification, 4},
		{"N SPI Size beyond", PayloadNotification, gp(0, u32(1), []byte{1, 16, 0x60, 0x02}, make([]byte, 15)), ErrMalformed, PayloadNotification, 9},
		{"D too short", PayloadDelete, gp(0, u32(1), []byte{3, 4, 0}), ErrMalformed, PayloadDelete, 4},
		{"D count too high", PayloadDelete, gp(0, u32(1), []byte{3, 4, 0, 2}, make([]byte, 4)), ErrMalformed, PayloadDelete, 10},
		{"D count too low", PayloadDelete, gp(0, u32(1), []byte{3, 4, 0, 1}, make([]byte, 8)), ErrMalformed, PayloadDelete, 10},
		{"D huge count, no bytes", PayloadDelete, gp(0, u32(1), []byte{3, 255, 0xff, 0xff}), ErrMalformed, PayloadDelete, 10},
		{"D SPI size 0", PayloadDelete, gp(0, u32(1), []byte{3, 0, 0xff, 0xff}), ErrMalformed, PayloadDelete, 9},
		{"D no SPIs", PayloadDelete, gp(0, u32(1), []byte{3, 4, 0, 0}), ErrMalformed, PayloadDelete, 9},
		{"NAT-OA too short", PayloadNATOA, gp(0, []byte{1, 0, 0}), ErrMalformed, PayloadNATOA, 4},
		{"NAT-OA FQDN", PayloadNATOA, gp(0, []byte{2, 0, 0, 0}, []byte("a.b.")), ErrMalformed, PayloadNATOA, 4},
		{"NAT-OA v4 with 16 bytes", PayloadNATOA, gp(0, []byte{1, 0, 0, 0}, make([]byte, 16)), ErrMalformed, PayloadNATOA, 8},
		{"NAT-OA v6 with 4 bytes", PayloadNATOADraft, gp(0, []byte{5, 0, 0, 0}, make([]byte, 4)), ErrMalformed, PayloadNATOADraft, 8},
		{"NAT-OA RESERVED", PayloadNATOA, gp(0, []byte{1, 0, 1, 0}, make([]byte, 4)), ErrMalformed, PayloadNATOA, 5},
		{"FRAG too short", PayloadFragment, gp(0, []byte{0, 1, 1}), ErrMalformed, PayloadFragment, 4},
		{"ATTR too short", PayloadAttribute, gp(0, []byte{1, 0, 0}), ErrMalformed, PayloadAttribute, 4},
		{"ATTR RESERVED", PayloadAttribute, gp(0, []byte{1, 1, 0, 0}), ErrMalformed, PayloadAttribute, 5},
		{"ATTR attribute beyond", PayloadAttribute, gp(0, []byte{1, 0, 0, 0}, []byte{0, 1, 0, 1}), ErrMalformed, PayloadAttribute, 10},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := DecodePayloads(c.first, c.b, DecodeOptions{})
			e := asError(t, err, c.want)
			if e.Payload != c.pt || e.Offset != c.off {
				t.Fatalf("error %q: payload %v offset %d, want %v offset %d", err, e.Payload, e.Offset, c.pt, c.off)
			}
			if !strings.Contains(err.Error(), "offset") {
				t.Fatalf("error %q does not say where", err)
			}
			// The same bad payload inside a message: the offset moves by the header.
			h := sampleHeader()
			h.NextPayload = c.first
			h.Length = uint32(HeaderLen + len(c.b))
			msg := append(h.Append(nil), c.b...)
			_, err = DecodeMessage(msg)
			e = asError(t, err, c.want)
			if e.Offset != c.off+HeaderLen {
				t.Fatalf("in a message: offset %d, want %d", e.Offset, c.off+HeaderLen)
			}
		})
	}
}

func TestDecodeMessageHeaderErrors(t *testing.T) {
	good, err := EncodeMessage(sampleHeader(), []Payload{&Nonce{Data: seq(8, 1)}})
	if err != nil {
		t.Fatal(err)
	}
	setLen := func(b []byte, l uint32) []byte {
		c := append([]byte(nil), b...)
		binary.BigEndian.PutUint32(c[24:], l)
		return c
	}
	n := uint32(len(good.Raw))
	cases := []struct {
		name string
		b    []byte
		want []error
	}{
		{"empty", nil, []error{ErrTruncated}},
		{"27 bytes", good.Raw[:27], []error{ErrTruncated}},
		{"IKEv2 (major 2)", withByte(good.Raw, 17, 0x20), []error{ErrInvalidMajorVersion}},
		{"major 0", withByte(good.Raw, 17, 0x00), []error{ErrInvalidMajorVersion}},
		{"minor 1", withByte(good.Raw, 17, 0x11), []error{ErrInvalidMinorVersion}},
		{"undefined flag 0x08", withByte(good.Raw, 19, 0x08), []error{ErrInvalidFlags}},
		{"undefined flag 0x80", withByte(good.Raw, 19, 0x81), []error{ErrInvalidFlags}},
		{"Length longer than datagram", setLen(good.Raw, n+1), []error{ErrUnequalPayloadLengths, ErrTruncated}},
		{"Length shorter than datagram", setLen(good.Raw, n-1), []error{ErrUnequalPayloadLengths, ErrTrailingData}},
		{"datagram longer than Length", append(clone(good.Raw), 0), []error{ErrUnequalPayloadLengths, ErrTrailingData}},
		{"Length below header", setLen(good.Raw, 20), []error{ErrUnequalPayloadLengths, ErrMalformed}},
		{"Length 2^32-1", setLen(good.Raw, 0xffffffff), []error{ErrUnequalPayloadLengths, ErrTruncated}},
		{"NextPayload 0 with bytes after the header", withByte(good.Raw, 16, 0), []error{ErrTrailingData}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := DecodeMessage(c.b)
			for _, w := range c.want {
				asError(t, err, w)
			}
			if len(c.b) >= HeaderLen && c.b[17] != 0x10 {
				if _, err2 := DecodeHeader(c.b); !errors.Is(err2, c.want[0]) {
					t.Fatalf("DecodeHeader: %v", err2)
				}
			}
		})
	}
	// DecodeHeader does not compare Length with the input: a socket loop may read the
	// cookies of a truncated or padded datagram.
	if h, err := DecodeHeader(setLen(good.Raw, n+100)); err != nil || h.Length != n+100 || h.InitiatorCookie != sampleHeader().InitiatorCookie {
		t.Fatalf("DecodeHeader: %+v %v", h, err)
	}
}

func clone(b []byte) []byte { return append([]byte(nil), b...) }
