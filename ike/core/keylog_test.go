package core

import (
	"bytes"
	"net/netip"
	"strings"
	"testing"

	"oakley/crypto"
)

func TestKeyLogRecords(t *testing.T) {
	var b bytes.Buffer
	k := NewKeyLog(&b)
	k.IKEv1([]byte{1, 2, 3, 4, 5, 6, 7, 8}, []byte{0xaa, 0xbb})
	k.ESP(netip.MustParseAddr("198.18.0.1"), netip.MustParseAddr("198.18.0.2"), 0xc0ffee01,
		crypto.Lookup("aes128gcm16"), []byte{1, 2}, nil, nil)
	k.ESP(netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("2001:db8::2"), 0x1000,
		crypto.Lookup("aes256"), []byte{3}, crypto.Lookup("sha256"), []byte{4})
	k.IKEv2([]byte{1}, []byte{2}, []byte{3}, []byte{4}, crypto.Lookup("aes256"), []byte{5}, []byte{6}, crypto.Lookup("sha384"))
	var nilLog *KeyLog
	nilLog.IKEv1([]byte{1}, []byte{2}) // a nil key log writes nothing and does not panic
	want := []string{
		"# oakley key log",
		`ikev1_decryption_table 0102030405060708,aabb`,
		`esp_sa "IPv4","198.18.0.1","198.18.0.2","0xc0ffee01","AES-GCM with 16 octet ICV [RFC4106]","0x0102","NULL",""`,
		`esp_sa "IPv6","2001:db8::1","2001:db8::2","0x00001000","AES-CBC [RFC3602]","0x03","HMAC-SHA-256-128 [RFC4868]","0x04"`,
		`ikev2_decryption_table 01,02,03,04,"AES-CBC-256 [RFC3602]",05,06,"HMAC_SHA2_384_192 [RFC4868]"`,
	}
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if len(lines) != len(want) {
		t.Fatalf("%d lines:\n%s", len(lines), b.String())
	}
	for i, w := range want {
		if !strings.HasPrefix(lines[i], w) {
			t.Errorf("line %d:\n got %s\nwant %s", i, lines[i], w)
		}
	}
}
