package isakmp

import (
	"errors"
	"testing"
)

// The names of RFC 2408 §3.14.1 (1–30, CONNECTED), RFC 2407 §4.6.3 and RFC 3706 §5.
func TestNotifyTypeNames(t *testing.T) {
	rfc2408 := []string{
		"INVALID-PAYLOAD-TYPE", "DOI-NOT-SUPPORTED", "SITUATION-NOT-SUPPORTED", "INVALID-COOKIE",
		"INVALID-MAJOR-VERSION", "INVALID-MINOR-VERSION", "INVALID-EXCHANGE-TYPE", "INVALID-FLAGS",
		"INVALID-MESSAGE-ID", "INVALID-PROTOCOL-ID", "INVALID-SPI", "INVALID-TRANSFORM-ID",
		"ATTRIBUTES-NOT-SUPPORTED", "NO-PROPOSAL-CHOSEN", "BAD-PROPOSAL-SYNTAX", "PAYLOAD-MALFORMED",
		"INVALID-KEY-INFORMATION", "INVALID-ID-INFORMATION", "INVALID-CERT-ENCODING", "INVALID-CERTIFICATE",
		"CERT-TYPE-UNSUPPORTED", "INVALID-CERT-AUTHORITY", "INVALID-HASH-INFORMATION", "AUTHENTICATION-FAILED",
		"INVALID-SIGNATURE", "ADDRESS-NOTIFICATION", "NOTIFY-SA-LIFETIME", "CERTIFICATE-UNAVAILABLE",
		"UNSUPPORTED-EXCHANGE-TYPE", "UNEQUAL-PAYLOAD-LENGTHS",
	}
	for i, want := range rfc2408 {
		nt := NotifyType(i + 1)
		if nt.String() != want || !nt.IsError() {
			t.Errorf("%d: %q (error %v), want %q", i+1, nt.String(), nt.IsError(), want)
		}
	}
	for nt, want := range map[NotifyType]string{
		16384: "CONNECTED", 24576: "RESPONDER-LIFETIME", 24577: "REPLAY-STATUS", 24578: "INITIAL-CONTACT",
		36136: "R-U-THERE", 36137: "R-U-THERE-ACK", 31: "NOTIFY(31)", 0: "NOTIFY(0)",
	} {
		if nt.String() != want {
			t.Errorf("%d: %q, want %q", uint16(nt), nt.String(), want)
		}
	}
	if NotifyConnected.IsError() || NotifyRUThere.IsError() || !NotifyType(16383).IsError() {
		t.Error("IsError")
	}
	if NotifyNoProposalChosen != 14 || NotifyAuthenticationFailed != 24 || NotifyInitialContact != 24578 || NotifyRUThereAck != 36137 {
		t.Error("notify type values")
	}
}

func TestDPDSequence(t *testing.T) {
	n := &Notification{NotifyType: NotifyRUThere, Data: []byte{0, 0, 1, 2}}
	if s, err := n.DPDSequence(); err != nil || s != 258 {
		t.Fatalf("%d %v", s, err)
	}
	for _, bad := range []*Notification{
		{NotifyType: NotifyRUThereAck, Data: []byte{1, 2, 3}},
		{NotifyType: NotifyInitialContact, Data: []byte{0, 0, 0, 1}},
	} {
		if _, err := bad.DPDSequence(); !errors.Is(err, ErrMalformed) {
			t.Errorf("%v: %v", bad.NotifyType, err)
		}
	}
}
