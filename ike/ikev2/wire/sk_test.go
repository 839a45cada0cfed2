package wire

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"oakley/crypto"
)

// suite is one SK protection: an ENCR transform and, for CBC, an INTEG transform.
type suite struct{ encr, integ string }

func (s suite) String() string { return strings.TrimSuffix(s.encr+"-"+s.integ, "-") }

// skSuites lists every ENCR transform of the registry that may protect IKE, each CBC cipher
// paired with every HMAC integrity transform of RFC 8247 (and HMAC-SHA1-96).
func skSuites() []suite {
	var out []suite
	for _, e := range crypto.All(crypto.KindEncr) {
		if e.ESPOnly {
			continue
		}
		if e.AEAD {
			out = append(out, suite{e.Name, ""})
			continue
		}
		for _, i := range []string{"sha1", "sha256", "sha384", "sha512"} {
			out = append(out, suite{e.Name, i})
		}
	}
	return out
}

// testKeys returns deterministic keys of the right sizes for a suite; seed varies them.
func testKeys(s suite, seed uint64) (encKey, integKey []byte) {
	rng := rand.New(rand.NewPCG(seed, uint64(len(s.encr))))
	fill := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		return b
	}
	encKey = fill(crypto.Lookup(s.encr).KeyLen())
	if s.integ != "" {
		integKey = fill(crypto.Lookup(s.integ).KeyLen())
	}
	return encKey, integKey
}

func newSuiteCipher(t testing.TB, s suite, seed uint64) *SKCipher {
	t.Helper()
	var integ *crypto.Algorithm
	if s.integ != "" {
		integ = crypto.Lookup(s.integ)
	}
	ek, ik := testKeys(s, seed)
	sk, err := NewSKCipher(crypto.Lookup(s.encr), integ, ek, ik, zeroReader{})
	if err != nil {
		t.Fatalf("%v: %v", s, err)
	}
	return sk
}

func testCipher(t testing.TB, encr, integ string) *SKCipher {
	return newSuiteCipher(t, suite{encr, integ}, 1)
}

func innerPayloads(n int) []Payload {
	ps := []Payload{NewNotify(NotifyInitialContact, nil), &Identification{IDType: IDFQDN, Data: []byte("left.example")}}
	if n > 0 {
		ps = append(ps, &VendorID{Data: seq(n, 1)})
	}
	return ps
}

func TestSKCoversEveryIKEv2Cipher(t *testing.T) {
	want := map[string]bool{"aes128": true, "aes192": true, "aes256": true, "3des": true, "aes128gcm8": true,
		"aes128gcm12": true, "aes128gcm16": true, "aes256gcm16": true, "chacha20poly1305": true}
	for _, s := range skSuites() {
		delete(want, s.encr)
	}
	if len(want) != 0 {
		t.Fatalf("suites miss %v", want)
	}
}

// Seal → Open round trip for every suite and many lengths, with the sizes the RFC gives.
func TestSKRoundTripAllSuites(t *testing.T) {
	for _, s := range skSuites() {
		t.Run(s.String(), func(t *testing.T) {
			sk := newSuiteCipher(t, s, 1)
			enc := crypto.Lookup(s.encr)
			bs := 1
			if !enc.AEAD {
				bs = enc.BlockSize
			}
			if sk.IVSize() != enc.IVSize || sk.BlockSize() != bs {
				t.Fatalf("IV %d block %d", sk.IVSize(), sk.BlockSize())
			}
			for _, n := range []int{0, 1, 2, 7, 15, 16, 17, 31, 100, 1000} {
				h := sampleHeader()
				h.MessageID = uint32(n)
				m, err := EncodeEncrypted(h, innerPayloads(n), sk)
				if err != nil {
					t.Fatal(err)
				}
				e := m.Encrypted()
				if m.Header.NextPayload != PayloadSK || int(m.Header.Length) != len(m.Raw) || e.NextPayload != PayloadNotify {
					t.Fatalf("header %+v", m.Header)
				}
				ct := len(e.Data) - sk.IVSize() - sk.ICVSize()
				if ct%bs != 0 || ct-len(m.Inner.Bytes)-1 >= bs || len(e.Data) != sk.SealedLen(len(m.Inner.Bytes)) {
					t.Fatalf("%d bytes of payloads sealed into %d of ciphertext", len(m.Inner.Bytes), ct)
				}
				d, err := DecodeEncrypted(m.Raw, sk)
				if err != nil {
					t.Fatal(err)
				}
				if d.Header != m.Header || !equalPayloads(d.Inner.Payloads, m.Inner.Payloads) || !bytes.Equal(d.Inner.Bytes, m.Inner.Bytes) {
					t.Fatalf("n=%d: decrypted %v", n, payloadTypes(d.Inner.Payloads))
				}
			}
			// An empty SK payload (an INFORMATIONAL liveness check): Next Payload 0.
			m, err := EncodeEncrypted(sampleHeader(), nil, sk)
			if err != nil {
				t.Fatal(err)
			}
			d, err := DecodeEncrypted(m.Raw, sk)
			if err != nil || len(d.Inner.Payloads) != 0 || m.Encrypted().NextPayload != PayloadNone {
				t.Fatalf("empty: %v %v", d, err)
			}
		})
	}
}

// Every altered byte of a protected message is detected; bytes the parser does not interpret
// (SPIs, exchange, flags, message ID, IV, ciphertext, ICV) give exactly ErrIntegrity.
func TestSKTamperedByte(t *testing.T) {
	for _, s := range skSuites() {
		t.Run(s.String(), func(t *testing.T) {
			sk := newSuiteCipher(t, s, 1)
			m, err := EncodeEncrypted(sampleHeader(), innerPayloads(5), sk)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := DecodeEncrypted(m.Raw, sk); err != nil {
				t.Fatal(err) // positive control
			}
			for i := range m.Raw {
				for _, bit := range []byte{0x01, 0x80} {
					b := bytes.Clone(m.Raw)
					b[i] ^= bit
					_, err := DecodeEncrypted(b, sk)
					if err == nil {
						t.Fatalf("byte %d ^ %#x accepted", i, bit)
					}
					authOnly := i < 16 || i >= 18 && i < 24 || i >= HeaderLen+4
					if authOnly && !errors.Is(err, ErrIntegrity) {
						t.Fatalf("byte %d ^ %#x: %v, want ErrIntegrity", i, bit, err)
					}
					if errors.Is(err, ErrIntegrity) {
						if typ, _, ok := ErrorNotify(err); ok {
							t.Fatalf("an integrity failure is answered with %v", typ)
						}
					}
				}
			}
		})
	}
}

// A wrong key (encryption or integrity), the other direction's cipher, or other associated
// data never open a message.
func TestSKWrongKey(t *testing.T) {
	for _, s := range skSuites() {
		t.Run(s.String(), func(t *testing.T) {
			sk := newSuiteCipher(t, s, 1)
			m, _ := EncodeEncrypted(sampleHeader(), innerPayloads(20), sk)
			other := newSuiteCipher(t, s, 2)
			if _, err := DecodeEncrypted(m.Raw, other); !errors.Is(err, ErrIntegrity) {
				t.Fatalf("other keys: %v", err)
			}
			ek, ik := testKeys(s, 1)
			var integ *crypto.Algorithm
			if s.integ != "" {
				integ = crypto.Lookup(s.integ)
				ik[0] ^= 1 // right encryption key, wrong integrity key
			} else {
				ek[len(ek)-1] ^= 1 // AEAD: right key, wrong salt
			}
			wrong, err := NewSKCipher(crypto.Lookup(s.encr), integ, ek, ik, zeroReader{})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := DecodeEncrypted(m.Raw, wrong); !errors.Is(err, ErrIntegrity) {
				t.Fatalf("one wrong key: %v", err)
			}
			sealed, _ := sk.Seal([]byte("aad"), []byte("payloads"))
			if _, err := sk.Open([]byte("aae"), sealed); !errors.Is(err, ErrIntegrity) {
				t.Fatalf("other AAD: %v", err)
			}
			if p, err := sk.Open([]byte("aad"), sealed); err != nil || string(p) != "payloads" {
				t.Fatalf("positive control: %q %v", p, err)
			}
		})
	}
}

// IVs: AEAD explicit IVs never repeat under a key; CBC IVs are not the previous ciphertext
// block and differ per message; fixed randomness gives reproducible output.
func TestSKIVs(t *testing.T) {
	for _, s := range skSuites() {
		sk := newSuiteCipher(t, s, 1)
		seen := map[string]bool{}
		var prevLast []byte
		for i := 0; i < 500; i++ {
			sealed, err := sk.Seal(nil, []byte("x"))
			if err != nil {
				t.Fatal(err)
			}
			iv := string(sealed[:sk.IVSize()])
			if seen[iv] {
				t.Fatalf("%v: IV %x repeated after %d messages", s, iv, i)
			}
			seen[iv] = true
			if prevLast != nil && iv == string(prevLast) {
				t.Fatalf("%v: IV is the previous ciphertext's last block", s)
			}
			ct := sealed[:len(sealed)-sk.ICVSize()]
			prevLast = bytes.Clone(ct[len(ct)-sk.IVSize():])
		}
		a, b := newSuiteCipher(t, s, 1), newSuiteCipher(t, s, 1)
		x, _ := a.Seal([]byte("h"), []byte("same"))
		y, _ := b.Seal([]byte("h"), []byte("same"))
		if !bytes.Equal(x, y) {
			t.Fatalf("%v: the same keys and randomness give different output", s)
		}
	}
	// The IV secret comes from the reader: another reader, other IVs.
	ek, _ := testKeys(suite{"aes128gcm16", ""}, 1)
	c1, _ := NewSKCipher(crypto.Lookup("aes128gcm16"), nil, ek, nil, zeroReader{})
	c2, _ := NewSKCipher(crypto.Lookup("aes128gcm16"), nil, ek, nil, &fixedReader{bytes.Repeat([]byte{7}, 24)})
	x, _ := c1.Seal(nil, []byte("x"))
	y, _ := c2.Seal(nil, []byte("x"))
	if bytes.Equal(x[:8], y[:8]) {
		t.Fatal("the IV does not depend on the injected randomness")
	}
	if _, err := NewSKCipher(crypto.Lookup("aes128gcm16"), nil, ek, nil, &fixedReader{}); !errors.Is(err, ErrCipher) {
		t.Fatalf("failing reader: %v", err)
	}
}

func TestSKIVCounterExhausted(t *testing.T) {
	sk := testCipher(t, "aes256gcm16", "")
	sk.seq.Store(math.MaxUint64 - 1)
	if _, err := sk.Seal(nil, []byte("last")); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		if _, err := sk.Seal(nil, []byte("x")); !errors.Is(err, ErrCipher) {
			t.Fatalf("seal %d after exhaustion: %v", i, err)
		}
	}
}

// sealExact seals content that already holds its padding and Pad Length octet.
func sealExact(t *testing.T, sk *SKCipher, aad, content []byte) []byte {
	t.Helper()
	ivs := sk.IVSize()
	buf := make([]byte, ivs+len(content), ivs+len(content)+sk.c.Tailroom())
	copy(buf[ivs:], content)
	ops := []crypto.Op{{Seq: 999, AAD: aad, IV: buf[:ivs], Data: buf[ivs:]}}
	sk.c.SealBatch(ops)
	if ops[0].Err != nil {
		t.Fatal(ops[0].Err)
	}
	return buf[:len(buf)+sk.ICVSize()]
}

// Padding (§3.14): "the recipient MUST accept any length that results in proper alignment"
// and any content; a Pad Length beyond the data is ErrMalformed (after the ICV verified).
func TestSKPadding(t *testing.T) {
	for _, s := range []suite{{"aes128", "sha256"}, {"3des", "sha1"}, {"aes128gcm16", ""}, {"chacha20poly1305", ""}} {
		sk := newSuiteCipher(t, s, 1)
		bs := sk.BlockSize()
		payload := []byte("0123456789")
		for extra := 0; extra < 3; extra++ {
			pad := (bs-(len(payload)+1)%bs)%bs + extra*bs
			if pad > 255 {
				continue
			}
			content := append(bytes.Clone(payload), bytes.Repeat([]byte{0xa5}, pad)...)
			content = append(content, byte(pad))
			sealed := sealExact(t, sk, []byte("aad"), content)
			got, err := sk.Open([]byte("aad"), sealed)
			if err != nil || !bytes.Equal(got, payload) {
				t.Fatalf("%v pad %d: %q %v", s, pad, got, err)
			}
		}
		content := make([]byte, 2*bs)
		content[len(content)-1] = byte(len(content)) // one more than there is
		_, err := sk.Open([]byte("aad"), sealExact(t, sk, []byte("aad"), content))
		wantErr(t, err, ErrMalformed, PayloadSK)
		content[len(content)-1] = byte(len(content) - 1) // everything is padding: empty chain
		if got, err := sk.Open([]byte("aad"), sealExact(t, sk, []byte("aad"), content)); err != nil || len(got) != 0 {
			t.Fatalf("%v all padding: %x %v", s, got, err)
		}
	}
}

func TestSKLengths(t *testing.T) {
	for _, s := range skSuites() {
		sk := newSuiteCipher(t, s, 1)
		min := sk.IVSize() + sk.ICVSize() + sk.BlockSize()
		for n := 0; n < min; n++ {
			_, err := sk.Open(nil, make([]byte, n))
			wantErr(t, err, ErrMalformed, PayloadSK)
		}
		if sk.BlockSize() > 1 {
			_, err := sk.Open(nil, make([]byte, min+1))
			wantErr(t, err, ErrMalformed, PayloadSK)
		}
		_, err := sk.Open(nil, make([]byte, min))
		wantErr(t, err, ErrIntegrity, PayloadSK)
	}
}

func TestSKCipherErrorsAndSecrets(t *testing.T) {
	aes := crypto.Lookup("aes256")
	sha := crypto.Lookup("sha256")
	key := bytes.Repeat([]byte{0xab}, 32)
	for _, c := range []struct {
		name        string
		encr, integ *crypto.Algorithm
		ek, ik      []byte
	}{
		{"no encr", nil, sha, key, key},
		{"integ as encr", sha, sha, key, key},
		{"NULL", crypto.Lookup("null"), sha, nil, key},
		{"AEAD with integ", crypto.Lookup("aes256gcm16"), sha, append(key, 1, 2, 3, 4), key},
		{"CBC without integ", aes, nil, key, nil},
		{"short key", aes, sha, key[:31], key},
		{"short integ key", aes, sha, key, key[:20]},
		{"GCM without salt", crypto.Lookup("aes256gcm16"), nil, key, nil},
	} {
		_, err := NewSKCipher(c.encr, c.integ, c.ek, c.ik, zeroReader{})
		wantErr(t, err, ErrCipher, PayloadSK)
		if strings.Contains(err.Error(), "abab") || strings.Contains(fmt.Sprintf("%v %+v", err, err), "171 171") {
			t.Fatalf("%s: error shows key bytes: %v", c.name, err)
		}
	}
	sk, err := NewSKCipher(aes, sha, key, key, zeroReader{})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{sk.String(), fmt.Sprintf("%v %+v %#v", sk, sk, sk)} {
		if strings.Contains(s, "abab") || strings.Contains(s, "171, 171") || strings.Contains(s, "\xab\xab") {
			t.Fatalf("formatting shows key bytes: %.200s", s)
		}
	}
	if sk.String() != "SK(aes256/sha256)" || sk.Encryption() != aes || sk.Integrity() != sha {
		t.Fatal(sk.String())
	}
	sealed, _ := sk.Seal(nil, []byte("x"))
	sk.Close()
	sk.Close()
	if _, err := sk.Seal(nil, []byte("x")); !errors.Is(err, ErrCipher) {
		t.Fatalf("seal after Close: %v", err)
	}
	if _, err := sk.Open(nil, sealed); !errors.Is(err, ErrCipher) {
		t.Fatalf("open after Close: %v", err)
	}
	if _, err := EncodeEncrypted(sampleHeader(), nil, nil); !errors.Is(err, ErrCipher) {
		t.Fatalf("nil cipher: %v", err)
	}
}

// DecodeEncrypted on messages that are not protected or are fragments.
func TestDecodeEncryptedKinds(t *testing.T) {
	sk := testCipher(t, "aes128gcm16", "")
	plain, _ := EncodeMessage(sampleHeader(), []Payload{&Nonce{Data: seq(16, 0)}})
	_, err := DecodeEncrypted(plain.Raw, sk)
	wantErr(t, err, ErrNotEncrypted, PayloadNone)
	frags, err := EncodeFragments(sampleHeader(), innerPayloads(10), sk, 1280)
	if err != nil {
		t.Fatal(err)
	}
	_, err = DecodeEncrypted(frags[0].Raw, sk)
	wantErr(t, err, ErrFragment, PayloadSKF)
	m, _ := EncodeEncrypted(sampleHeader(), innerPayloads(10), sk)
	_, err = DecodeFragment(m.Raw, sk)
	wantErr(t, err, ErrNotEncrypted, PayloadNone)
	if _, err := DecodeEncrypted(m.Raw, nil); !errors.Is(err, ErrCipher) {
		t.Fatalf("nil cipher: %v", err)
	}
	// Inner payload errors carry offsets into the decrypted content.
	raw := sealRawChain(t, sk, sampleHeader(), PayloadNonce, []byte{0, 0, 0, 8, 1, 2, 3, 4})
	_, err = DecodeEncrypted(raw, sk)
	if e := wantErr(t, err, ErrMalformed, PayloadNonce); !e.Inner || e.Offset != 4 || !strings.Contains(e.Error(), "encrypted Ni/Nr payload") {
		t.Fatalf("%+v %v", e, e)
	}
}

// RFC 7634 Appendix B: the IKEv2 example of ChaCha20-Poly1305 (an INFORMATIONAL request with
// a SET_WINDOW_SIZE notification), opened and reproduced byte for byte.
func TestRFC7634IKEv2Example(t *testing.T) {
	key := mustHex(t, "808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f")
	salt := mustHex(t, "a0a1a2a3")
	iv := mustHex(t, "1011121314151617")
	msg := mustHex(t, "c0c1c2c3c4c5c6c7d0d1d2d3d4d5d6d7 2e202500 00000009 00000045"+
		"29000029"+"1011121314151617"+
		"6103 94701f8d017f7c12924889 6b71bfe25236efd7cdc67066906315b2")
	alg := crypto.Lookup("chacha20poly1305")
	sk, err := NewSKCipher(alg, nil, append(key, salt...), nil, &fixedReader{append(make([]byte, 16), iv...)})
	if err != nil {
		t.Fatal(err)
	}
	d, err := DecodeEncrypted(msg, sk)
	if err != nil {
		t.Fatal(err)
	}
	if d.Header.Exchange != ExchangeInformational || d.Header.MessageID != 9 || len(d.Inner.Payloads) != 1 {
		t.Fatalf("%+v %v", d.Header, payloadTypes(d.Inner.Payloads))
	}
	n := d.Inner.Payloads[0].(*Notify)
	if w, err := n.WindowSize(); err != nil || w != 10 {
		t.Fatalf("SET_WINDOW_SIZE %d %v", w, err)
	}
	out, err := EncodeEncrypted(d.Header, d.Inner.Payloads, sk)
	if err != nil || !bytes.Equal(out.Raw, msg) {
		t.Fatalf("sealed\n%x\nwant\n%x (%v)", out.Raw, msg, err)
	}
	// Negative controls: one bit of the key, of the salt, of the associated data.
	for _, c := range []struct {
		name string
		k    []byte
		m    []byte
	}{
		{"key", append(flip(key, 0), salt...), msg},
		{"salt", append(bytes.Clone(key), flip(salt, 3)...), msg},
		{"AAD", append(bytes.Clone(key), salt...), flip(msg, 23)},
	} {
		o, _ := NewSKCipher(alg, nil, c.k, nil, zeroReader{})
		if _, err := DecodeEncrypted(c.m, o); !errors.Is(err, ErrIntegrity) {
			t.Fatalf("%s: %v", c.name, err)
		}
	}
	if hex.EncodeToString(d.Inner.Bytes) != "0000000c000040010000000a" {
		t.Fatalf("inner %x", d.Inner.Bytes)
	}
}

func flip(b []byte, i int) []byte {
	c := bytes.Clone(b)
	c[i] ^= 1
	return c
}
