package isakmp

import (
	"bytes"
	"testing"
)

func TestHeaderWireFormat(t *testing.T) {
	h := Header{
		InitiatorCookie: Cookie{0x97, 0x88, 0xd8, 0x7b, 0xf6, 0x30, 0xec, 0xfd},
		ResponderCookie: Cookie{0xd9, 0x57, 0x8d, 0x99, 0x1a, 0xc0, 0xc8, 0x2f},
		NextPayload:     PayloadHash,
		ExchangeType:    ExchangeQuickMode,
		Flags:           FlagEncryption | FlagCommit,
		MessageID:       0x9fd1c81f,
		Length:          0xbc,
	}
	want := mustHex(t, "9788d87bf630ecfd d9578d991ac0c82f 08 10 20 03 9fd1c81f 000000bc")
	b := h.Append(nil)
	if !bytes.Equal(b, want) {
		t.Fatalf("got %x\nwant %x", b, want)
	}
	got, err := DecodeHeader(append(b, 0xff)) // bytes after the header do not matter here
	if err != nil || got != h {
		t.Fatalf("%+v %v", got, err)
	}
	if h.InitiatorCookie.String() != "9788d87bf630ecfd" || h.InitiatorCookie.IsZero() || !(Cookie{}).IsZero() {
		t.Fatal("Cookie")
	}
}

func TestHeaderNames(t *testing.T) {
	for f, want := range map[Flags]string{0: "-", FlagEncryption: "E", FlagEncryption | FlagCommit | FlagAuthOnly: "ECA", 0x81: "E|0x80"} {
		if f.String() != want {
			t.Errorf("flags 0x%02x: %q, want %q", uint8(f), f.String(), want)
		}
	}
	if !(FlagEncryption | FlagCommit).Has(FlagCommit) || FlagEncryption.Has(FlagCommit) {
		t.Error("Flags.Has")
	}
	for e, want := range map[ExchangeType]string{1: "Base", 2: "Identity Protection (Main Mode)", 3: "Authentication Only",
		4: "Aggressive", 5: "Informational", 6: "Transaction", 32: "Quick Mode", 33: "New Group Mode", 34: "EXCHANGE(34)"} {
		if e.String() != want {
			t.Errorf("exchange %d: %q, want %q", uint8(e), e.String(), want)
		}
	}
	for p, want := range map[PayloadType]string{1: "SA", 2: "P", 3: "T", 4: "KE", 5: "ID", 6: "CERT", 7: "CR", 8: "HASH",
		9: "SIG", 10: "NONCE", 11: "N", 12: "D", 13: "VID", 14: "ATTR", 20: "NAT-D", 21: "NAT-OA", 130: "NAT-D-draft",
		131: "NAT-OA-draft", 132: "FRAG", 99: "PAYLOAD(99)"} {
		if p.String() != want {
			t.Errorf("payload %d: %q, want %q", uint8(p), p.String(), want)
		}
	}
	for p, want := range map[ProtocolID]string{1: "PROTO_ISAKMP", 2: "PROTO_IPSEC_AH", 3: "PROTO_IPSEC_ESP", 4: "PROTO_IPCOMP", 9: "PROTO(9)"} {
		if p.String() != want {
			t.Errorf("protocol %d: %q, want %q", uint8(p), p.String(), want)
		}
	}
	if CertX509Signature.String() != "X.509 Certificate - Signature" || CertEncoding(11).String() != "CERT(11)" ||
		CfgReply.String() != "ISAKMP_CFG_REPLY" || CfgType(9).String() != "CFG(9)" {
		t.Error("cert/cfg names")
	}
}
