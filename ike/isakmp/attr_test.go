package isakmp

import (
	"bytes"
	"errors"
	"testing"
)

func TestAttributeUint(t *testing.T) {
	cases := []struct {
		a    Attribute
		want uint64
		ok   bool
	}{
		{TV(ClassLifeDuration, 28800), 28800, true},
		{TV(ClassLifeDuration, 0), 0, true},
		{TLV(ClassLifeDuration, []byte{0x01}), 1, true},
		{TLV(ClassLifeDuration, []byte{0, 1, 0x51, 0x80}), 86400, true},
		{TLV(ClassLifeDuration, []byte{1, 2, 3, 4, 5, 6, 7, 8}), 0x0102030405060708, true},
		{TLV(ClassLifeDuration, []byte{1, 2, 3, 4, 5, 6, 7, 8, 9}), 0, false},
		{TLV(ClassLifeDuration, nil), 0, false},
		{Attribute{Type: 1, TV: true, Value: []byte{1}}, 0, false},
	}
	for _, c := range cases {
		got, err := c.a.Uint()
		if c.ok && (err != nil || got != c.want) {
			t.Errorf("%v: %d, %v; want %d", c.a, got, err, c.want)
		}
		if !c.ok && !errors.Is(err, ErrMalformed) {
			t.Errorf("%v: %d, %v; want ErrMalformed", c.a, got, err)
		}
	}
}

// RFC 2409 Appendix A: a variable attribute whose value fits two bytes may be sent basic.
func TestIntAttr(t *testing.T) {
	cases := []struct {
		v    uint64
		tv   bool
		size int
	}{{0, true, 2}, {65535, true, 2}, {65536, false, 4}, {1<<32 - 1, false, 4}, {1 << 32, false, 8}, {1<<64 - 1, false, 8}}
	for _, c := range cases {
		a := IntAttr(AttrSALifeDuration, c.v)
		if a.Type != AttrSALifeDuration || a.TV != c.tv || len(a.Value) != c.size {
			t.Errorf("IntAttr(%d) = %+v", c.v, a)
		}
		if got, err := a.Uint(); err != nil || got != c.v {
			t.Errorf("IntAttr(%d).Uint() = %d, %v", c.v, got, err)
		}
	}
}

func TestAttributeWireForms(t *testing.T) {
	b, err := appendAttributes(PayloadTransform, nil, []Attribute{TV(ClassEncryptionAlgorithm, 7), TLV(ClassLifeDuration, []byte{0, 1, 0x51, 0x80}), TLV(ClassGroupPrime, nil)})
	if err != nil {
		t.Fatal(err)
	}
	want := mustHex(t, "80010007 000c0004 00015180 00060000")
	if !bytes.Equal(b, want) {
		t.Fatalf("got %x, want %x", b, want)
	}
	as, err := DecodeAttributes(want)
	if err != nil || len(as) != 3 || !as[0].TV || as[1].TV || as[1].Type != ClassLifeDuration || len(as[2].Value) != 0 {
		t.Fatalf("%v %v", as, err)
	}
	if _, err := DecodeAttributes(want[:len(want)-1]); !errors.Is(err, ErrMalformed) {
		t.Fatalf("cut attribute: %v", err)
	}
	if as, err := DecodeAttributes(nil); err != nil || len(as) != 0 {
		t.Fatal("empty attribute run")
	}
	tr := Transform{Attributes: as}
	if a, ok := tr.Attr(ClassLifeDuration); !ok || a.TV {
		t.Fatal("Transform.Attr")
	}
	if _, ok := tr.Attr(ClassPRF); ok {
		t.Fatal("Transform.Attr found a missing attribute")
	}
	cfg := ConfigAttributes{Attributes: []Attribute{TLV(CfgInternalIP4Address, []byte{192, 0, 2, 9}), TV(CfgXAUTHStatus, 1)}}
	if a, ok := cfg.Attr(CfgXAUTHStatus); !ok || !a.TV {
		t.Fatal("ConfigAttributes.Attr")
	}
	if _, ok := cfg.Attr(CfgXAUTHUserPassword); ok {
		t.Fatal("ConfigAttributes.Attr found a missing attribute")
	}
}

func TestAttributeValueNames(t *testing.T) {
	for m, want := range map[AuthMethod]string{
		AuthPreSharedKey: "pre-shared key", AuthRSASig: "RSA signatures", AuthRSAEncRevised: "Revised encryption with RSA",
		AuthECDSASHA384P384: "ECDSA with SHA-384 on the P-384 curve", AuthXAUTHInitPreShared: "XAUTHInitPreShared",
		AuthXAUTHRespRSARevisedEncrypt: "XAUTHRespRSARevisedEncryption", 64221: "AUTH(64221)",
	} {
		if m.String() != want {
			t.Errorf("%d: %q, want %q", uint16(m), m.String(), want)
		}
	}
	for v := AuthMethod(0); v < 65535; v++ {
		if v.IsXAUTH() != (v >= 65001 && v <= 65010) {
			t.Fatalf("IsXAUTH(%d)", v)
		}
	}
	for m, want := range map[EncapsulationMode]string{
		EncapTunnel: "Tunnel", EncapTransport: "Transport", EncapUDPTunnel: "UDP-Encapsulated-Tunnel",
		EncapUDPTransport: "UDP-Encapsulated-Transport", 61443: "UDP-Encapsulated-Tunnel (draft)",
		61444: "UDP-Encapsulated-Transport (draft)", 5: "ENCAP(5)",
	} {
		if m.String() != want {
			t.Errorf("%d: %q, want %q", uint16(m), m.String(), want)
		}
	}
}

func TestEncodeAttributesRoundTrip(t *testing.T) {
	in := []Attribute{TV(AttrSALifeType, 1), IntAttr(AttrSALifeDuration, 86400), TLV(AttrKeyLength, []byte{1, 0, 0})}
	b, err := EncodeAttributes(in)
	if err != nil {
		t.Fatal(err)
	}
	out, err := DecodeAttributes(b)
	if err != nil || len(out) != len(in) {
		t.Fatalf("decode: %v %d", err, len(out))
	}
	for i := range in {
		if out[i].Type != in[i].Type || out[i].TV != in[i].TV || string(out[i].Value) != string(in[i].Value) {
			t.Fatalf("attribute %d: %+v, want %+v", i, out[i], in[i])
		}
	}
	if _, err := EncodeAttributes([]Attribute{{Type: 1, TV: true, Value: []byte{1}}}); err == nil {
		t.Fatal("TV attribute with a 1-byte value accepted")
	}
}
