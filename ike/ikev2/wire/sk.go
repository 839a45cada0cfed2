package wire

// SK payload protection (RFC 7296 §3.14, RFC 5282 for AEAD ciphers, RFC 7634 §3 for
// ChaCha20-Poly1305).
//
// Concurrency contract: an *SKCipher is immutable after NewSKCipher except for its IV counter,
// which Seal advances atomically; Seal and Open are safe for concurrent use. Close must not
// race with them (the IKE SA's event loop owns its ciphers and closes them when the SA dies).

import (
	"encoding/binary"
	"io"
	"math"
	"sync/atomic"

	"oakley/crypto"
)

// Encrypted is the Encrypted and Authenticated payload, SK (RFC 7296 §3.14):
//
//	generic header (Next Payload = type of the first inner payload) |
//	Initialization Vector | Encrypted IKE Payloads | Padding | Pad Length | Integrity Checksum Data
//
// Data holds everything after the generic header, still protected; DecodeEncrypted opens it
// and EncodeEncrypted builds it. It "MUST be the last payload in the message".
//
// Encrypted is plain data: safe for concurrent reads, not for concurrent mutation.
type Encrypted struct {
	wire
	NextPayload PayloadType
	Data        []byte
}

// Type returns PayloadSK.
func (*Encrypted) Type() PayloadType { return PayloadSK }

func (e *Encrypted) appendBody(b []byte) ([]byte, error) { return append(b, e.Data...), nil }

// SKCipher protects SK and SKF payloads in one direction of an IKE SA: built from SK_ei and
// SK_ai to send as the original initiator (or open what the initiator sent), from SK_er and
// SK_ar for the responder's direction (RFC 7296 §2.14).
//
// Supported are the IKEv2 ENCR transforms of package oakley/crypto: AES-CBC (128/192/256) and
// 3DES with an HMAC integrity transform (HMAC-SHA1-96, HMAC-SHA2-256-128, -384-192, -512-256),
// and the AEADs AES-GCM with 8, 12 and 16-octet ICVs (RFC 5282) and ChaCha20-Poly1305
// (RFC 7634), whose SK_e* carries the 4-octet salt after the key (RFC 5282 §7.1, RFC 7634 §3).
//
// IVs (RFC 7296 §3.14: "Senders MUST select a new unpredictable IV for every message"): each
// Seal takes the next value of a 64-bit counter. CBC uses AES_k(counter) as its IV, k a random
// key read from the io.Reader given to NewSKCipher, so IVs are unpredictable without a
// random-number call per message (NIST SP 800-38A Appendix C). AEADs send counter XOR m as the
// 8-octet explicit IV, m a random 64-bit mask from the same reader: distinct for every message
// under the key, as RFC 5282 §3 and RFC 7634 §2 demand. Seal refuses to run once the counter
// would wrap (after 2^64-1 messages). This is the oakley/crypto ESP cipher doing the work, so
// the same audited code protects IKE and ESP.
//
// The keys are copied; Close wipes the copies. Key bytes never appear in errors or String.
type SKCipher struct {
	encr, integ *crypto.Algorithm
	c           *crypto.Cipher
	seq         atomic.Uint64
	closed      atomic.Bool
}

// NewSKCipher builds the protection of one direction from the negotiated ENCR transform, the
// INTEG transform (nil for an AEAD) and SK_e / SK_a of that direction. rand supplies the IV
// secrets (crypto/rand.Reader in production, a fixed reader in tests).
func NewSKCipher(encr, integ *crypto.Algorithm, encKey, integKey []byte, rand io.Reader) (*SKCipher, error) {
	if encr == nil || encr.Kind != crypto.KindEncr {
		return nil, errNoOff(PayloadSK, ErrCipher, "no encryption algorithm")
	}
	if encr.ESPOnly || encr.IKEv2ID == crypto.V2EncrNull {
		return nil, errNoOff(PayloadSK, ErrCipher, "%s cannot protect IKE messages", encr.Name)
	}
	if encr.AEAD && integ != nil {
		return nil, errNoOff(PayloadSK, ErrCipher, "%s is an AEAD; no integrity algorithm allowed", encr.Name)
	}
	if !encr.AEAD && (integ == nil || integ.Kind != crypto.KindInteg) {
		return nil, errNoOff(PayloadSK, ErrCipher, "%s needs an integrity algorithm", encr.Name)
	}
	c, err := crypto.NewCipher(encr, integ, encKey, integKey, rand)
	if err != nil {
		// crypto's errors name algorithms and sizes, never key bytes.
		return nil, errNoOff(PayloadSK, ErrCipher, "%v", err)
	}
	return &SKCipher{encr: encr, integ: integ, c: c}, nil
}

// String names the algorithms, never the keys.
func (s *SKCipher) String() string {
	if s.integ == nil {
		return "SK(" + s.encr.Name + ")"
	}
	return "SK(" + s.encr.Name + "/" + s.integ.Name + ")"
}

// Encryption and Integrity return the algorithms.
func (s *SKCipher) Encryption() *crypto.Algorithm { return s.encr }
func (s *SKCipher) Integrity() *crypto.Algorithm  { return s.integ }

// IVSize is the IV carried in each SK payload (16 for AES-CBC, 8 for 3DES and the AEADs).
func (s *SKCipher) IVSize() int { return s.c.IVSize() }

// ICVSize is the Integrity Checksum Data length.
func (s *SKCipher) ICVSize() int { return s.c.ICVSize() }

// BlockSize is what the encrypted part (payloads, padding, pad length) is aligned to: the
// cipher's block for CBC, 1 for the AEADs (RFC 5282 §3: no alignment needed).
func (s *SKCipher) BlockSize() int { return s.c.CipherBlockSize() }

// padding returns the Padding length for n octets of payloads: the minimum that aligns
// payloads, padding and the Pad Length octet (RFC 7296 §3.14 "SHOULD ... minimum value").
func (s *SKCipher) padding(n int) int {
	bs := s.BlockSize()
	return (bs - (n+1)%bs) % bs
}

// SealedLen is the length Seal returns for n octets of payloads: IV, payloads, padding, the
// Pad Length octet and the ICV.
func (s *SKCipher) SealedLen(n int) int {
	return s.IVSize() + n + s.padding(n) + 1 + s.ICVSize()
}

// Seal encrypts and authenticates plaintext (a chain of inner payloads) into IV | ciphertext
// of plaintext, padding and Pad Length | ICV. aad is everything the message holds before the
// IV: the IKE header and the SK (or SKF) payload header, with their final lengths (which
// SealedLen gives in advance). For CBC+HMAC the ICV covers aad | IV | ciphertext (§3.14: "from
// the first octet of the fixed IKE header through the Pad Length"), for an AEAD aad is the
// associated data (RFC 5282 §5.1) and the nonce is salt | IV. Padding octets are zero.
func (s *SKCipher) Seal(aad, plaintext []byte) ([]byte, error) {
	if s.closed.Load() {
		return nil, errNoOff(PayloadSK, ErrCipher, "sealing with a closed cipher")
	}
	seq := s.seq.Add(1) - 1
	if seq == math.MaxUint64 {
		s.seq.Store(math.MaxUint64)
		return nil, errNoOff(PayloadSK, ErrCipher, "IV counter exhausted: rekey the IKE SA")
	}
	n, pad, ivs := len(plaintext), s.padding(len(plaintext)), s.IVSize()
	ct := n + pad + 1
	buf := make([]byte, ivs+ct, ivs+ct+s.c.Tailroom())
	copy(buf[ivs:], plaintext)
	buf[ivs+ct-1] = byte(pad)
	ops := []crypto.Op{{Seq: seq, AAD: aad, IV: buf[:ivs], Data: buf[ivs : ivs+ct]}}
	s.c.SealBatch(ops)
	if err := ops[0].Err; err != nil {
		return nil, errNoOff(PayloadSK, ErrCipher, "%v", err)
	}
	return buf[:ivs+ct+s.ICVSize()], nil
}

// Open verifies and decrypts what Seal produced (IV | ciphertext | ICV) with the same aad and
// returns the inner payload octets, padding and Pad Length removed; any padding content is
// accepted (§3.14). The ICV is checked before anything is decrypted (CBC) or released (AEAD):
// a failure is ErrIntegrity and nothing else is revealed. sealed is not modified.
func (s *SKCipher) Open(aad, sealed []byte) ([]byte, error) {
	if s.closed.Load() {
		return nil, errNoOff(PayloadSK, ErrCipher, "opening with a closed cipher")
	}
	ivs, icv, bs := s.IVSize(), s.ICVSize(), s.BlockSize()
	ct := len(sealed) - ivs - icv
	if ct < 1 || ct%bs != 0 {
		return nil, errNoOff(PayloadSK, ErrMalformed, "%d bytes of encrypted data cannot hold a %d-byte IV, %d-byte ICV and %d-aligned content", len(sealed), ivs, icv, bs)
	}
	buf := make([]byte, len(sealed), len(sealed)+16) // room for GCM-8's full tag
	copy(buf, sealed)
	ops := []crypto.Op{{AAD: aad, IV: buf[:ivs], Data: buf[ivs : ivs+ct]}}
	s.c.OpenBatch(ops)
	if ops[0].Err != nil {
		crypto.Wipe(buf)
		return nil, errNoOff(PayloadSK, ErrIntegrity, "ICV mismatch")
	}
	data := buf[ivs : ivs+ct]
	pad := int(data[ct-1])
	if pad+1 > ct {
		return nil, errNoOff(PayloadSK, ErrMalformed, "Pad Length %d exceeds the %d decrypted bytes", pad, ct-1)
	}
	return data[: ct-1-pad : ct-1-pad], nil
}

// Close wipes the key copies; the cipher refuses to Seal or Open afterwards.
func (s *SKCipher) Close() {
	if s.closed.Swap(true) {
		return
	}
	s.c.Close()
}

// EncodeEncrypted builds a protected message (RFC 7296 §3.14): h with Next Payload SK and the
// computed Length, then one SK payload whose Next Payload is the first inner payload's type
// (0 for an empty INFORMATIONAL) and whose content is inner sealed by sk. The returned
// Message's Raw is the datagram, Inner the encoded inner chain (e.g. to find the bytes of an
// ID payload). A message beyond MaxMessageLen is ErrEncode: fragment it (EncodeFragments).
func EncodeEncrypted(h Header, inner []Payload, sk *SKCipher) (*Message, error) {
	if err := h.checkEncode(); err != nil {
		return nil, err
	}
	if sk == nil {
		return nil, errNoOff(PayloadSK, ErrCipher, "no cipher")
	}
	c, err := EncodePayloads(inner)
	if err != nil {
		return nil, err
	}
	next := PayloadNone
	if len(inner) > 0 {
		next = inner[0].Type()
	}
	sealedLen := sk.SealedLen(len(c.Bytes))
	total := HeaderLen + genericHeaderLen + sealedLen
	if total > MaxMessageLen {
		return nil, errEnc(PayloadSK, "protected message of %d bytes exceeds %d", total, MaxMessageLen)
	}
	h.NextPayload, h.Length = PayloadSK, uint32(total)
	b := h.Append(make([]byte, 0, total))
	b = append(b, byte(next), 0)
	b = binary.BigEndian.AppendUint16(b, uint16(genericHeaderLen+sealedLen))
	sealed, err := sk.Seal(b, c.Bytes)
	if err != nil {
		return nil, err
	}
	b = append(b, sealed...)
	e := &Encrypted{NextPayload: next, Data: b[HeaderLen+genericHeaderLen:]}
	return &Message{
		Header: h,
		Chain:  Chain{Payloads: []Payload{e}, Bytes: b[HeaderLen:], Spans: []Span{{0, genericHeaderLen + sealedLen}}},
		Raw:    b,
		Inner:  c,
	}, nil
}

// DecodeEncrypted decodes a protected message (DecodeMessage), verifies and decrypts its SK
// payload with sk (RFC 7296 §3.14, RFC 5282 §5.1: the associated data is the message from the
// IKE header through the SK payload's generic header) and decodes the inner payloads into
// Message.Inner. An SKF payload is ErrFragment (use DecodeFragment and a Reassembler), no SK
// payload ErrNotEncrypted, a bad ICV ErrIntegrity. Errors in the inner payloads are marked
// Inner, with offsets into the decrypted content.
func DecodeEncrypted(b []byte, sk *SKCipher) (*Message, error) {
	m, err := DecodeMessage(b)
	if err != nil {
		return nil, err
	}
	e := m.Encrypted()
	if e == nil {
		if m.Fragment() != nil {
			return nil, errAt(PayloadSKF, HeaderLen+m.Spans[len(m.Spans)-1].Start, ErrFragment, "an SKF payload: reassemble it")
		}
		return nil, errAt(PayloadNone, HeaderLen, ErrNotEncrypted, "the message has no SK payload")
	}
	if sk == nil {
		return nil, errNoOff(PayloadSK, ErrCipher, "no cipher")
	}
	skOff := HeaderLen + m.Spans[len(m.Spans)-1].Start
	plain, err := sk.Open(m.Raw[:skOff+genericHeaderLen], e.Data)
	if err != nil {
		err.(*Error).Offset = skOff
		return nil, err
	}
	if m.Inner, err = decodeChain(e.NextPayload, plain, 0, true); err != nil {
		return nil, err
	}
	return m, nil
}
