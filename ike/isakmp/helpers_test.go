package isakmp

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// vector is one line of a testdata/*.hex file: a datagram ("LABEL HEX") or a decrypted
// payload chain ("LABEL FIRST-PAYLOAD-TYPE MESSAGE-ID HEX").
type vector struct {
	label     string
	first     PayloadType // chains only
	messageID uint32      // chains only
	chain     bool
	data      []byte
}

func loadVectors(t testing.TB, name string) []vector {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var vs []vector
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fs := strings.Fields(line)
		v := vector{label: fs[0]}
		switch len(fs) {
		case 2:
		case 4:
			first, err1 := strconv.ParseUint(fs[1], 10, 8)
			mid, err2 := strconv.ParseUint(fs[2], 10, 32)
			if err1 != nil || err2 != nil {
				t.Fatalf("%s: bad line %q", name, line)
			}
			v.chain, v.first, v.messageID = true, PayloadType(first), uint32(mid)
		default:
			t.Fatalf("%s: bad line %q", name, line)
		}
		if v.data, err = hex.DecodeString(fs[len(fs)-1]); err != nil {
			t.Fatalf("%s %s: %v", name, v.label, err)
		}
		vs = append(vs, v)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(vs) == 0 {
		t.Fatalf("%s: no vectors", name)
	}
	return vs
}

// vectorFiles lists every recorded strongSwan file (datagrams and decrypted chains).
var vectorFiles = []string{
	"strongswan-main-psk.hex", "strongswan-main-psk-plain.hex",
	"strongswan-aggr-psk.hex", "strongswan-aggr-psk-plain.hex",
	"strongswan-main-cert.hex", "strongswan-main-cert-plain.hex",
	"strongswan-main-psk-pfs.hex", "strongswan-main-psk-pfs-plain.hex",
}

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func seq(n int, start byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = start + byte(i)
	}
	return b
}

// samplePayloads returns one or more payloads of every type, with every field set.
func samplePayloads() []Payload {
	return []Payload{
		&SA{DOI: DOIIPsec, Situation: SituationIdentityOnly, Proposals: []Proposal{{
			Number: 1, ProtocolID: ProtoISAKMP,
			Transforms: []Transform{
				{Number: 1, ID: TransformKeyIKE, Attributes: []Attribute{
					TV(ClassEncryptionAlgorithm, 7), TV(ClassKeyLength, 256), TV(ClassHashAlgorithm, 4),
					TV(ClassAuthenticationMethod, uint16(AuthPreSharedKey)), TV(ClassGroupDescription, 14),
					TV(ClassLifeType, LifeTypeSeconds), IntAttr(ClassLifeDuration, 86400),
				}},
				{Number: 2, ID: TransformKeyIKE, Attributes: []Attribute{
					TV(ClassEncryptionAlgorithm, 5), IntAttr(ClassLifeDuration, 1<<40),
				}},
			},
		}}},
		&SA{DOI: DOIIPsec, Situation: SituationIdentityOnly, Proposals: []Proposal{
			{Number: 1, ProtocolID: ProtoESP, SPI: []byte{0xc0, 0xff, 0xee, 0x01}, Transforms: []Transform{
				{Number: 1, ID: 12, Attributes: []Attribute{
					TV(AttrSALifeType, LifeTypeSeconds), IntAttr(AttrSALifeDuration, 3600),
					TV(AttrEncapsulationMode, uint16(EncapUDPTunnel)), TV(AttrAuthenticationAlgorithm, 5),
					TV(AttrKeyLength, 256), TLV(AttrCompressPrivateAlgorithm, []byte{1, 2, 3}),
				}},
			}},
			{Number: 1, ProtocolID: ProtoAH, SPI: []byte{0xc0, 0xff, 0xee, 0x02}, Transforms: []Transform{
				{Number: 1, ID: 5},
			}},
			{Number: 2, ProtocolID: ProtoIPCOMP, SPI: []byte{0x12, 0x34}, Transforms: []Transform{
				{Number: 1, ID: 2, Attributes: []Attribute{TLV(AttrCompressDictionarySize, nil)}},
			}},
		}},
		&KeyExchange{Data: seq(256, 1)},
		&Identification{IDType: IDFQDN, ProtocolID: 17, Port: 500, Data: []byte("left.test")},
		&Identification{IDType: IDIPv4AddrSubnet, Data: []byte{192, 0, 2, 0, 255, 255, 255, 0}},
		&Certificate{Encoding: CertX509Signature, Data: seq(300, 7)},
		&CertificateRequest{CertType: CertX509Signature},
		&CertificateRequest{CertType: CertX509Signature, Authority: []byte{0x30, 0x00}},
		&Hash{Data: seq(32, 2)},
		&Signature{Data: seq(256, 3)},
		&Nonce{Data: seq(32, 4)},
		&Notification{DOI: DOIIPsec, ProtocolID: ProtoISAKMP, NotifyType: NotifyRUThere, SPI: seq(16, 5), Data: []byte{0, 0, 0, 42}},
		&Notification{DOI: DOIIPsec, ProtocolID: ProtoESP, NotifyType: NotifyNoProposalChosen},
		&Delete{DOI: DOIIPsec, ProtocolID: ProtoESP, SPISize: 4, SPIs: [][]byte{{1, 2, 3, 4}, {5, 6, 7, 8}}},
		&Delete{DOI: DOIIPsec, ProtocolID: ProtoISAKMP, SPISize: 16, SPIs: [][]byte{seq(16, 9)}},
		&VendorID{Data: mustHexNoT("afcad71368a1f1c96b8696fc77570100")},
		&ConfigAttributes{CfgType: CfgRequest, Identifier: 7, Attributes: []Attribute{
			TLV(CfgInternalIP4Address, nil), TV(CfgXAUTHType, 0), TLV(CfgXAUTHUserName, []byte("user")),
		}},
		&NATDiscovery{Hash: seq(32, 6)},
		&NATDiscovery{Draft: true, Hash: seq(20, 6)},
		&NATOriginalAddress{Addr: netip.MustParseAddr("192.0.2.7")},
		&NATOriginalAddress{Draft: true, Addr: netip.MustParseAddr("2001:db8::7")},
		&Fragment{ID: 1, Number: 2, Flags: FragmentLast, Data: seq(40, 8)},
		&Unknown{PayloadType: 200, Data: []byte("opaque")},
	}
}

func mustHexNoT(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

// canon returns a copy of p without the decoded bytes and with empty slices as nil, so a
// payload built in memory compares equal to its decoded form.
func canon(p Payload) Payload {
	nb := func(b []byte) []byte {
		if len(b) == 0 {
			return nil
		}
		return b
	}
	attrs := func(as []Attribute) []Attribute {
		if len(as) == 0 {
			return nil
		}
		out := make([]Attribute, len(as))
		for i, a := range as {
			out[i] = Attribute{Type: a.Type, TV: a.TV, Value: nb(a.Value)}
		}
		return out
	}
	switch p := p.(type) {
	case *SA:
		c := &SA{DOI: p.DOI, Situation: p.Situation}
		for _, pr := range p.Proposals {
			cp := Proposal{Number: pr.Number, ProtocolID: pr.ProtocolID, SPI: nb(pr.SPI)}
			for _, tr := range pr.Transforms {
				cp.Transforms = append(cp.Transforms, Transform{Number: tr.Number, ID: tr.ID, Attributes: attrs(tr.Attributes)})
			}
			c.Proposals = append(c.Proposals, cp)
		}
		return c
	case *KeyExchange:
		return &KeyExchange{Data: nb(p.Data)}
	case *Identification:
		return &Identification{IDType: p.IDType, ProtocolID: p.ProtocolID, Port: p.Port, Data: nb(p.Data)}
	case *Certificate:
		return &Certificate{Encoding: p.Encoding, Data: nb(p.Data)}
	case *CertificateRequest:
		return &CertificateRequest{CertType: p.CertType, Authority: nb(p.Authority)}
	case *Hash:
		return &Hash{Data: nb(p.Data)}
	case *Signature:
		return &Signature{Data: nb(p.Data)}
	case *Nonce:
		return &Nonce{Data: nb(p.Data)}
	case *Notification:
		return &Notification{DOI: p.DOI, ProtocolID: p.ProtocolID, NotifyType: p.NotifyType, SPI: nb(p.SPI), Data: nb(p.Data)}
	case *Delete:
		c := &Delete{DOI: p.DOI, ProtocolID: p.ProtocolID, SPISize: p.SPISize}
		for _, s := range p.SPIs {
			c.SPIs = append(c.SPIs, nb(s))
		}
		return c
	case *VendorID:
		return &VendorID{Data: nb(p.Data)}
	case *ConfigAttributes:
		return &ConfigAttributes{CfgType: p.CfgType, Identifier: p.Identifier, Attributes: attrs(p.Attributes)}
	case *NATDiscovery:
		return &NATDiscovery{Draft: p.Draft, Hash: nb(p.Hash)}
	case *NATOriginalAddress:
		return &NATOriginalAddress{Draft: p.Draft, Addr: p.Addr}
	case *Fragment:
		return &Fragment{ID: p.ID, Number: p.Number, Flags: p.Flags, Data: nb(p.Data)}
	case *Unknown:
		return &Unknown{PayloadType: p.PayloadType, Data: nb(p.Data)}
	}
	panic("canon: unhandled payload type")
}

func equalPayloads(a, b []Payload) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !reflect.DeepEqual(canon(a[i]), canon(b[i])) {
			return false
		}
	}
	return true
}

func payloadTypes(ps []Payload) []PayloadType {
	var ts []PayloadType
	for _, p := range ps {
		ts = append(ts, p.Type())
	}
	return ts
}

// checkReencodeMessage asserts that a decoded message encodes back to exactly raw and
// that decoding that again gives the same structs.
func checkReencodeMessage(t testing.TB, m *Message, raw []byte) {
	t.Helper()
	var m2 *Message
	var err error
	if m.Header.Flags.Has(FlagEncryption) {
		m2, err = EncodeEncrypted(m.Header, m.Header.NextPayload, m.Encrypted)
	} else {
		m2, err = EncodeMessage(m.Header, m.Payloads)
	}
	if err != nil {
		t.Fatalf("re-encode: %v", err)
	}
	if !bytes.Equal(m2.Raw, raw) {
		t.Fatalf("re-encoded message differs:\n got %x\nwant %x", m2.Raw, raw)
	}
	if m2.Header != m.Header {
		t.Fatalf("re-encoded header %+v, decoded %+v", m2.Header, m.Header)
	}
	if !reflect.DeepEqual(m2.Spans, m.Spans) && len(m.Spans) > 0 {
		t.Fatalf("re-encoded spans %v, decoded %v", m2.Spans, m.Spans)
	}
	m3, err := DecodeMessage(m2.Raw)
	if err != nil {
		t.Fatalf("decode of re-encoded message: %v", err)
	}
	if !reflect.DeepEqual(m3, m) {
		t.Fatalf("decode(encode(decode(b))) differs from decode(b)")
	}
}

// checkReencodeChain asserts that a decoded chain encodes back to exactly its Bytes.
func checkReencodeChain(t testing.TB, first PayloadType, c *Chain) {
	t.Helper()
	c2, err := EncodePayloads(c.Payloads)
	if err != nil {
		t.Fatalf("re-encode: %v", err)
	}
	if !bytes.Equal(c2.Bytes, c.Bytes) {
		t.Fatalf("re-encoded chain differs:\n got %x\nwant %x", c2.Bytes, c.Bytes)
	}
	if len(c.Payloads) > 0 && !reflect.DeepEqual(c2.Spans, c.Spans) {
		t.Fatalf("re-encoded spans %v, decoded %v", c2.Spans, c.Spans)
	}
	c3, err := DecodePayloads(first, c2.Bytes, DecodeOptions{})
	if err != nil {
		t.Fatalf("decode of re-encoded chain: %v", err)
	}
	if !reflect.DeepEqual(c3.Payloads, c.Payloads) {
		t.Fatalf("decode(encode(decode(b))) differs from decode(b)")
	}
}

// asError asserts that err is an *Error wrapping want.
func asError(t testing.TB, err error, want error) *Error {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want %v", want)
	}
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T) is not an *Error", err, err)
	}
	if !errors.Is(err, want) {
		t.Fatalf("error %q does not wrap %q", err, want)
	}
	if !strings.HasPrefix(err.Error(), "isakmp: ") {
		t.Fatalf("error %q lacks the package prefix", err)
	}
	return e
}
