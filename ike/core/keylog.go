package core

// The key log (OAKLEY_KEYLOG=FILE, like SSLKEYLOGFILE): every IKE and ESP key, written as
// records of Wireshark's ikev1_decryption_table, ikev2_decryption_table and esp_sa tables,
// so captures can be decrypted for debugging. Each line is the table name, a space, and one
// UAT record; `tshark -o "uat:TABLE:RECORD"` takes it as it is. Opt-in only: it writes
// secrets to a file, and the daemon warns when it is on.

import (
	"encoding/hex"
	"fmt"
	"io"
	"net/netip"
	"strings"
	"sync"

	"oakley/crypto"
)

// KeyLog writes key records. Safe for concurrent use; a nil *KeyLog writes nothing.
type KeyLog struct {
	mu sync.Mutex
	w  io.Writer
}

// NewKeyLog returns a key log writing to w.
func NewKeyLog(w io.Writer) *KeyLog {
	fmt.Fprintln(w, "# oakley key log: Wireshark UAT records (TABLE RECORD); contains secret keys")
	return &KeyLog{w: w}
}

func (k *KeyLog) write(table, record string) {
	if k == nil {
		return
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	fmt.Fprintf(k.w, "%s %s\n", table, record)
}

// IKEv1 logs the Phase 1 encryption key of an ISAKMP SA by its initiator cookie
// (Wireshark's ikev1_decryption_table: cookie, key, both hex, unquoted).
func (k *KeyLog) IKEv1(icookie, encKey []byte) {
	k.write("ikev1_decryption_table", hex.EncodeToString(icookie)+","+hex.EncodeToString(encKey))
}

// IKEv2 logs an IKE SA's SK_e and SK_a keys (Wireshark's ikev2_decryption_table).
func (k *KeyLog) IKEv2(ispi, rspi, skei, sker []byte, enc *crypto.Algorithm, skai, skar []byte, integ *crypto.Algorithm) {
	k.write("ikev2_decryption_table", fmt.Sprintf("%s,%s,%s,%s,%q,%s,%s,%q",
		hex.EncodeToString(ispi), hex.EncodeToString(rspi), hex.EncodeToString(skei), hex.EncodeToString(sker),
		ikev2EncName(enc), hex.EncodeToString(skai), hex.EncodeToString(skar), ikev2IntegName(integ, enc)))
}

// ESP logs one ESP SA (Wireshark's esp_sa table): the addresses as the packets carry them
// (src = the sender), the SPI, and the keys; an AEAD key includes its salt.
func (k *KeyLog) ESP(src, dst netip.Addr, spi uint32, enc *crypto.Algorithm, encKey []byte, integ *crypto.Algorithm, integKey []byte) {
	fam := "IPv4"
	if src.Is6() && !src.Is4In6() {
		fam = "IPv6"
	}
	ik := ""
	if len(integKey) > 0 {
		ik = "0x" + hex.EncodeToString(integKey)
	}
	k.write("esp_sa", fmt.Sprintf("%q,%q,%q,%q,%q,%q,%q,%q", fam, src.Unmap().String(), dst.Unmap().String(),
		fmt.Sprintf("0x%08x", spi), espEncName(enc), "0x"+hex.EncodeToString(encKey), espIntegName(integ), ik))
}

// Wireshark's names for the algorithms (its esp and isakmp dissectors' UAT choices).

func espEncName(a *crypto.Algorithm) string {
	if a == nil {
		return "NULL"
	}
	n := a.Name
	switch {
	case strings.HasSuffix(n, "gcm8"):
		return "AES-GCM with 8 octet ICV [RFC4106]"
	case strings.HasSuffix(n, "gcm12"):
		return "AES-GCM with 12 octet ICV [RFC4106]"
	case strings.HasSuffix(n, "gcm16"):
		return "AES-GCM with 16 octet ICV [RFC4106]"
	case strings.HasPrefix(n, "aes"):
		return "AES-CBC [RFC3602]"
	case n == "3des":
		return "TripleDES-CBC [RFC2451]"
	case n == "des":
		return "DES-CBC [RFC2405]"
	case n == "chacha20poly1305":
		return "ChaCha20 with Poly1305 [RFC7634]"
	}
	return "NULL"
}

func espIntegName(a *crypto.Algorithm) string {
	if a == nil {
		return "NULL"
	}
	switch a.Name {
	case "sha1":
		return "HMAC-SHA-1-96 [RFC2404]"
	case "sha256":
		return "HMAC-SHA-256-128 [RFC4868]"
	case "sha384":
		return "HMAC-SHA-384-192 [RFC4868]"
	case "sha512":
		return "HMAC-SHA-512-256 [RFC4868]"
	case "md5":
		return "HMAC-MD5-96 [RFC2403]"
	}
	return "NULL"
}

func ikev2EncName(a *crypto.Algorithm) string {
	if a == nil {
		return "NONE [RFC4306]"
	}
	n := a.Name
	bits := a.KeyBits
	switch {
	case strings.HasSuffix(n, "gcm8"):
		return fmt.Sprintf("AES-GCM-%d with 8 octet ICV [RFC5282]", bits)
	case strings.HasSuffix(n, "gcm12"):
		return fmt.Sprintf("AES-GCM-%d with 12 octet ICV [RFC5282]", bits)
	case strings.HasSuffix(n, "gcm16"):
		return fmt.Sprintf("AES-GCM-%d with 16 octet ICV [RFC5282]", bits)
	case strings.HasPrefix(n, "aes"):
		return fmt.Sprintf("AES-CBC-%d [RFC3602]", bits)
	case n == "3des":
		return "3DES [RFC2451]"
	case n == "chacha20poly1305":
		return "CHACHA20-POLY1305 [RFC7634]"
	}
	return "NONE [RFC4306]"
}

func ikev2IntegName(a, enc *crypto.Algorithm) string {
	if a == nil {
		return "NONE [RFC4306]"
	}
	switch a.Name {
	case "sha1":
		return "HMAC_SHA1_96 [RFC2404]"
	case "sha256":
		return "HMAC_SHA2_256_128 [RFC4868]"
	case "sha384":
		return "HMAC_SHA2_384_192 [RFC4868]"
	case "sha512":
		return "HMAC_SHA2_512_256 [RFC4868]"
	case "md5":
		return "HMAC_MD5_96 [RFC2403]"
	}
	return "NONE [RFC4306]"
}
