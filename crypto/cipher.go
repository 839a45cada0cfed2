package crypto

// The batched ESP cipher: the data plane's performance core.
//
// Concurrency contract: a *Cipher is immutable after NewCipher and safe for concurrent use by
// any number of goroutines; SealBatch and OpenBatch each take one scratch worker from the cipher's
// own free list (scratch.go) for the whole batch (no per-packet allocation, no per-packet lock). Callers fan a large
// batch out across cores by calling SealBatch/OpenBatch on disjoint sub-slices of ops.

import (
	"crypto"
	"crypto/aes"
	"crypto/cipher"
	"crypto/des"
	"crypto/hmac"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"io"

	"golang.org/x/crypto/chacha20poly1305"
)

// Errors reported per operation. They are sentinels, so storing one in Op.Err never allocates.
var (
	ErrAuth   = errors.New("crypto: integrity check failed")
	ErrLength = errors.New("crypto: data length is not a multiple of the cipher block size")
	ErrRoom   = errors.New("crypto: no room for the ICV after the data")
)

// Op is one packet's worth of work for a Cipher, laid out as RFC 4303 §2 lays out ESP:
//
//	AAD (SPI ‖ sequence number, authenticated, not encrypted) ‖ IV ‖ Data ‖ ICV
//
// The ICV lives directly after Data in Data's backing array (Data[len(Data):][:ICVSize]);
// Seal writes it there and Open reads it from there, so Data needs that much spare capacity
// (16 bytes for AES-GCM with an 8-byte ICV, which is computed at full length and truncated).
// AAD and IV need not be contiguous with Data.
type Op struct {
	Seq  uint64 // Seal: the packet's 64-bit sequence number, from which the IV is derived
	AAD  []byte // authenticated header: SPI ‖ SN (AEAD: SPI ‖ ESN-high ‖ SN-low with ESN, RFC 4106 §5)
	IV   []byte // IVSize bytes: written by Seal, read by Open
	Data []byte // plaintext → ciphertext (Seal) or ciphertext → plaintext (Open), in place
	Tail []byte // integrity-only suites: authenticated after Data, not sent (ESN high bits, RFC 4303 §2.2.1)
	Err  error  // nil, ErrAuth, ErrLength or ErrRoom

	nonce [12]byte // AEAD scratch: lives with the op, so no per-call scratch is needed
}

// Cipher is an ESP transform instantiated with keys: an AEAD (AES-GCM, ChaCha20-Poly1305), or
// a block cipher in CBC mode (or NULL) with an HMAC.
type Cipher struct {
	Enc, Integ *Algorithm // Integ is nil for an AEAD

	aead   cipher.AEAD  // combined mode (nil for AES-GCM on vg)
	vg     *gcmVAES     // AES-GCM on the VAES/VPCLMULQDQ kernels, or nil (gcmvaes.go)
	gcm8   bool         // AES-GCM with an 8-byte ICV (the standard library computes ≥12)
	block  cipher.Block // CBC cipher, or the AES block behind GCM-8
	salt   [4]byte      // AEAD nonce salt from KEYMAT
	ivMask uint64       // AEAD: explicit IV = seq ^ ivMask, distinct for every packet of the SA
	ivGen  cipher.Block // CBC: IV = E_ivGen(seq), unpredictable (RFC 3602 §3)
	ni     *aesniCBC    // AES-CBC on the AES-NI kernels, or nil (aescbc.go)
	hs     *hmacSHA256  // HMAC-SHA256 on the SHA-NI kernels, or nil (hmacsha256.go)

	macKey Key
	icv    int
	pool   scratch[worker]
	keys   []Key // copies we own, wiped by Close
}

// worker is per-goroutine scratch: the HMAC state, CBC modes and nonce buffers.
type worker struct {
	mac    hash.Hash
	cbcEnc cipher.BlockMode
	cbcDec cipher.BlockMode
	nonce  [12]byte
	iv     [16]byte
	sum    [64]byte
	sum2   [64]byte
	ctr    [16]byte
	ks     [16]byte
	ml     [2]macLane // hs: the MACs of two packets in progress
}

type ivSetter interface{ SetIV([]byte) }

// NewCipher builds an ESP cipher. encKey is the encryption key followed by the salt for an
// AEAD (the KEYMAT order of RFC 4106 §8.1 and RFC 7634 §2); integKey is the HMAC key (nil for
// an AEAD). rand supplies the per-SA IV secrets. The keys are copied; Close wipes the copies.
func NewCipher(enc, integ *Algorithm, encKey, integKey []byte, rand io.Reader) (*Cipher, error) {
	if enc == nil || enc.Kind != KindEncr {
		return nil, errors.New("crypto: no encryption algorithm")
	}
	if len(encKey) != enc.KeyLen() {
		return nil, fmt.Errorf("crypto: %s needs a %d-byte key (with salt), got %d", enc.Name, enc.KeyLen(), len(encKey))
	}
	c := &Cipher{Enc: enc}
	if enc.AEAD {
		if integ != nil {
			return nil, fmt.Errorf("crypto: %s is an AEAD; no integrity algorithm allowed", enc.Name)
		}
		c.icv = enc.ICVSize
	} else {
		if integ == nil || integ.Kind != KindInteg {
			return nil, fmt.Errorf("crypto: %s needs an integrity algorithm", enc.Name)
		}
		if len(integKey) != integ.KeyLen() {
			return nil, fmt.Errorf("crypto: %s needs a %d-byte key, got %d", integ.Name, integ.KeyLen(), len(integKey))
		}
		c.Integ, c.icv = integ, integ.ICVSize
		c.macKey = Key(integKey).Clone()
		c.keys = append(c.keys, c.macKey)
		if integ.Hash == crypto.SHA256 {
			c.hs = newHMACSHA256(c.macKey)
		}
	}
	key := Key(encKey[:enc.KeyBits/8]).Clone()
	c.keys = append(c.keys, key)
	var seed [24]byte
	if _, err := io.ReadFull(rand, seed[:]); err != nil {
		return nil, fmt.Errorf("crypto: reading IV seed: %w", err)
	}
	defer Wipe(seed[:])
	var err error
	switch {
	case enc.IKEv2ID == V2EncrChaCha:
		c.aead, err = chacha20poly1305.New(key)
	case enc.AEAD: // AES-GCM
		c.gcm8 = enc.ICVSize == 8
		if c.vg = newGCMVAES(key); c.vg != nil {
			break // any ICV length, truncated from the full tag
		}
		if c.block, err = aes.NewCipher(key); err == nil {
			if c.gcm8 {
				c.aead, err = cipher.NewGCM(c.block)
			} else {
				c.aead, err = cipher.NewGCMWithTagSize(c.block, enc.ICVSize)
			}
		}
	case enc.IKEv2ID == V2EncrAESCBC:
		c.block, err = aes.NewCipher(key)
		c.ni = newAESNICBC(key)
	case enc.IKEv2ID == V2Encr3DES:
		c.block, err = des.NewTripleDESCipher(key)
	case enc.IKEv2ID == V2EncrDES:
		c.block, err = des.NewCipher(key)
	case enc.IKEv2ID == V2EncrNull:
	default:
		return nil, fmt.Errorf("crypto: %s is not an ESP cipher", enc.Name)
	}
	if err != nil {
		return nil, fmt.Errorf("crypto: %s: %w", enc.Name, err)
	}
	if enc.AEAD {
		copy(c.salt[:], encKey[enc.KeyBits/8:])
		c.ivMask = binary.BigEndian.Uint64(seed[16:])
	} else if c.block != nil {
		if c.ivGen, err = aes.NewCipher(seed[:16]); err != nil {
			return nil, err
		}
	}
	c.pool.new = c.newWorker
	return c, nil
}

func (c *Cipher) newWorker() *worker {
	w := &worker{}
	if c.Integ != nil {
		w.mac = hmac.New(c.Integ.Hash.New, c.macKey)
	}
	if c.block != nil && !c.Enc.AEAD {
		zero := make([]byte, c.block.BlockSize())
		w.cbcEnc = cipher.NewCBCEncrypter(c.block, zero)
		w.cbcDec = cipher.NewCBCDecrypter(c.block, zero)
	}
	return w
}

// IVSize is the explicit IV carried in each packet.
func (c *Cipher) IVSize() int { return c.Enc.IVSize }

// ICVSize is the integrity check value appended to each packet.
func (c *Cipher) ICVSize() int { return c.icv }

// BlockSize is the alignment the encrypted part must be padded to (at least 4, RFC 4303 §2.4).
func (c *Cipher) BlockSize() int { return max(c.Enc.BlockSize, 4) }

// CipherBlockSize is the block size of the cipher itself (1 for stream-like and NULL
// ciphers): what a received ciphertext's length must be a multiple of.
func (c *Cipher) CipherBlockSize() int {
	if c.block != nil && !c.Enc.AEAD {
		return c.block.BlockSize()
	}
	return 1
}

// Tailroom is the spare capacity Data needs after its length.
func (c *Cipher) Tailroom() int {
	if c.gcm8 {
		return 16
	}
	return c.icv
}

// Close wipes the key copies the cipher owns. The expanded key schedules inside the standard
// library's block ciphers are unreachable and are left to the garbage collector.
func (c *Cipher) Close() {
	if c.vg != nil {
		c.vg.wipe()
	}
	if c.ni != nil {
		c.ni.wipe()
	}
	if c.hs != nil {
		c.hs.wipe()
	}
	for _, k := range c.keys {
		k.Wipe()
	}
	c.keys = nil
	c.pool.drop() // the workers' keyed MAC states and CBC modes go with the cipher
}

// SealBatch encrypts and authenticates every op in place.
func (c *Cipher) SealBatch(ops []Op) {
	if c.aeadDirect() {
		for i := range ops {
			ops[i].Err = c.sealAEAD(&ops[i])
		}
		return
	}
	w := c.pool.get()
	if c.ni != nil {
		c.sealCBCBatch(w, ops)
	} else {
		for i := range ops {
			ops[i].Err = c.seal(w, &ops[i])
		}
	}
	c.pool.put(w)
}

// sealCBCBatch is seal for AES-CBC on the AES-NI kernels: CBC encryption is serial within a
// packet, so four packets are encrypted side by side, then each is MACed (two at a time with
// HMAC-SHA256 on SHA-NI).
func (c *Cipher) sealCBCBatch(w *worker, ops []Op) {
	var lanes, ivs [4][]byte
	n := 0
	flush := func() {
		if n > 0 {
			c.ni.encryptLanes(lanes[:n], ivs[:n])
			n = 0
		}
	}
	for i := range ops {
		op := &ops[i]
		if op.Err = c.checkSeal(op); op.Err != nil {
			continue
		}
		c.cbcIV(w, op)
		lanes[n], ivs[n] = op.Data, op.IV
		if n++; n == 4 {
			flush()
		}
	}
	flush()
	var pend *Op // with hs: an op waiting for a partner
	for i := range ops {
		op := &ops[i]
		if op.Err != nil {
			continue
		}
		if c.hs == nil {
			copy(op.Data[len(op.Data):][:c.icv], c.mac(w, op))
			continue
		}
		if pend == nil {
			pend = op
			continue
		}
		sa, sb := c.mac2(w, pend, op)
		copy(pend.Data[len(pend.Data):][:c.icv], sa)
		copy(op.Data[len(op.Data):][:c.icv], sb)
		pend = nil
	}
	if pend != nil {
		copy(pend.Data[len(pend.Data):][:c.icv], c.mac(w, pend))
	}
}

func (c *Cipher) checkSeal(op *Op) error {
	if cap(op.Data)-len(op.Data) < c.Tailroom() {
		return ErrRoom
	}
	if len(op.Data)%c.BlockSize() != 0 {
		return ErrLength
	}
	return nil
}

// cbcIV writes op's IV. RFC 3602 §3 wants an unpredictable IV per packet: the sequence
// number encrypted under a random per-SA key, so no random-number call sits on the hot path.
func (c *Cipher) cbcIV(w *worker, op *Op) {
	binary.BigEndian.PutUint64(w.iv[:8], op.Seq)
	clear(w.iv[8:])
	c.ivGen.Encrypt(w.iv[:], w.iv[:])
	copy(op.IV, w.iv[:])
}

// OpenBatch verifies and decrypts every op in place; an op that fails verification keeps
// Err = ErrAuth and its Data must be discarded.
func (c *Cipher) OpenBatch(ops []Op) {
	if c.aeadDirect() {
		for i := range ops {
			ops[i].Err = c.openAEAD(&ops[i])
		}
		return
	}
	w := c.pool.get()
	if c.hs != nil {
		c.openPairs(w, ops)
	} else {
		for i := range ops {
			ops[i].Err = c.open(w, &ops[i])
		}
	}
	c.pool.put(w)
}

// openPairs is open for the integrity-only suites with HMAC-SHA256 on SHA-NI: the MACs of two
// packets are computed at once, then each is verified and, only if it matches, decrypted.
func (c *Cipher) openPairs(w *worker, ops []Op) {
	var pend *Op
	for i := range ops {
		op := &ops[i]
		if op.Err = c.openCheck(op); op.Err != nil {
			continue
		}
		if pend == nil {
			pend = op
			continue
		}
		sa, sb := c.mac2(w, pend, op)
		pend.Err = c.verifyDecrypt(w, pend, sa)
		op.Err = c.verifyDecrypt(w, op, sb)
		pend = nil
	}
	if pend != nil {
		pend.Err = c.verifyDecrypt(w, pend, c.mac(w, pend))
	}
}

// aeadDirect: every op is sealed and opened by sealAEAD and openAEAD (an AEAD whose ICV the
// standard library computes, or AES-GCM of any ICV length on the VAES kernels).
func (c *Cipher) aeadDirect() bool { return c.vg != nil || (c.aead != nil && !c.gcm8) }

// sealAEAD seals one op with an AEAD (RFC 4106 §3.1 / RFC 7634 §2): nonce = salt ‖ explicit
// IV; the IV must never repeat under a key, which a bijection of the (never-cycling) sequence
// number guarantees. The tag lands at Data[n:n+16]; GCM-8 keeps its first 8 bytes.
func (c *Cipher) sealAEAD(op *Op) error {
	if cap(op.Data)-len(op.Data) < c.Tailroom() {
		return ErrRoom
	}
	binary.BigEndian.PutUint64(op.IV, op.Seq^c.ivMask)
	copy(op.nonce[:4], c.salt[:])
	copy(op.nonce[4:], op.IV)
	if c.vg != nil {
		c.vg.seal(op.nonce[:], op.Data, op.AAD, c.icv)
		return nil
	}
	c.aead.Seal(op.Data[:0], op.nonce[:], op.Data, op.AAD)
	return nil
}

// openAEAD verifies and decrypts one op with an AEAD whose ICV is the full 16-byte tag, or
// with AES-GCM on the VAES kernels (any ICV length; the data is decrypted only if the ICV
// matches).
func (c *Cipher) openAEAD(op *Op) error {
	n := len(op.Data)
	if cap(op.Data)-n < c.icv {
		return ErrRoom
	}
	copy(op.nonce[:4], c.salt[:])
	copy(op.nonce[4:], op.IV)
	if c.vg != nil {
		if !c.vg.open(op.nonce[:], op.Data, op.AAD, c.icv) {
			return ErrAuth
		}
		return nil
	}
	if _, err := c.aead.Open(op.Data[:0], op.nonce[:], op.Data[:n+c.icv], op.AAD); err != nil {
		return ErrAuth
	}
	return nil
}

func (c *Cipher) seal(w *worker, op *Op) error {
	n := len(op.Data)
	if cap(op.Data)-n < c.Tailroom() {
		return ErrRoom
	}
	if c.aead != nil {
		return c.sealAEAD(op)
	}
	if n%c.BlockSize() != 0 {
		return ErrLength
	}
	if c.block != nil {
		c.cbcIV(w, op)
		w.cbcEnc.(ivSetter).SetIV(op.IV)
		w.cbcEnc.CryptBlocks(op.Data, op.Data)
	}
	// Encrypt-then-MAC over SPI ‖ SN ‖ IV ‖ ciphertext (‖ ESN high bits), RFC 4303 §3.3.2.
	sum := c.mac(w, op)
	copy(op.Data[n:n+c.icv], sum)
	return nil
}

func (c *Cipher) open(w *worker, op *Op) error {
	n := len(op.Data)
	if cap(op.Data)-n < c.icv {
		return ErrRoom
	}
	if c.aead != nil {
		copy(w.nonce[:4], c.salt[:])
		copy(w.nonce[4:], op.IV)
		if c.gcm8 {
			return c.openGCM8(w, op)
		}
		if _, err := c.aead.Open(op.Data[:0], w.nonce[:], op.Data[:n+c.icv], op.AAD); err != nil {
			return ErrAuth
		}
		return nil
	}
	if n%c.CipherBlockSize() != 0 {
		return ErrLength
	}
	return c.verifyDecrypt(w, op, c.mac(w, op))
}

// openCheck is open's length checks for the integrity-only suites.
func (c *Cipher) openCheck(op *Op) error {
	n := len(op.Data)
	if cap(op.Data)-n < c.icv {
		return ErrRoom
	}
	if n%c.CipherBlockSize() != 0 {
		return ErrLength
	}
	return nil
}

// verifyDecrypt compares the ICV after op.Data with sum, the MAC computed over op, in
// constant time, and decrypts only if they match (RFC 4303 §3.4.4: verify before decrypting).
func (c *Cipher) verifyDecrypt(w *worker, op *Op, sum []byte) error {
	n := len(op.Data)
	if subtle.ConstantTimeCompare(sum, op.Data[n:n+c.icv]) != 1 {
		return ErrAuth
	}
	switch {
	case c.ni != nil:
		c.ni.decrypt(op.Data, op.IV)
	case c.block != nil:
		w.cbcDec.(ivSetter).SetIV(op.IV)
		w.cbcDec.CryptBlocks(op.Data, op.Data)
	}
	return nil
}

// mac returns op's truncated ICV (in w.sum).
func (c *Cipher) mac(w *worker, op *Op) []byte { return c.macTo(w, op, &w.sum) }

// macTo computes op's truncated ICV into sum: HMAC over AAD ‖ IV ‖ Data ‖ Tail.
func (c *Cipher) macTo(w *worker, op *Op, sum *[64]byte) []byte {
	if l := &w.ml[0]; c.hs != nil && l.prepare(op.AAD, op.IV, op.Data, op.Tail) {
		c.hs.mac1(l)
		l.sum(sum[:c.icv])
		return sum[:c.icv]
	}
	w.mac.Reset()
	w.mac.Write(op.AAD)
	w.mac.Write(op.IV)
	w.mac.Write(op.Data)
	if len(op.Tail) > 0 {
		w.mac.Write(op.Tail)
	}
	return w.mac.Sum(sum[:0])[:c.icv]
}

// mac2 returns the truncated ICVs of a and b (in w.sum and w.sum2), computed two-way by hs.
func (c *Cipher) mac2(w *worker, a, b *Op) (sa, sb []byte) {
	la, lb := &w.ml[0], &w.ml[1]
	if !la.prepare(a.AAD, a.IV, a.Data, a.Tail) || !lb.prepare(b.AAD, b.IV, b.Data, b.Tail) {
		return c.macTo(w, a, &w.sum), c.macTo(w, b, &w.sum2)
	}
	c.hs.mac2(la, lb)
	la.sum(w.sum[:c.icv])
	lb.sum(w.sum2[:c.icv])
	return w.sum[:c.icv], w.sum2[:c.icv]
}

// openGCM8 verifies AES-GCM with an 8-byte ICV (RFC 4106 §6, ESP transform 18): decrypt with
// the GCM counter stream, re-seal to recompute the full tag, compare its first 8 bytes in
// constant time, then decrypt again. Rarely used, so correctness over speed.
func (c *Cipher) openGCM8(w *worker, op *Op) error {
	n := len(op.Data)
	if cap(op.Data)-n < 16 {
		return ErrRoom
	}
	var got [8]byte
	copy(got[:], op.Data[n:n+8])
	c.gcmCTR(w, op.Data)
	c.aead.Seal(op.Data[:0], w.nonce[:], op.Data, op.AAD)
	ok := subtle.ConstantTimeCompare(got[:], op.Data[n:n+8]) == 1
	copy(op.Data[n:n+8], got[:])
	if !ok {
		return ErrAuth
	}
	c.gcmCTR(w, op.Data)
	return nil
}

// gcmCTR XORs data with the GCM keystream for w.nonce, starting at counter 2 (NIST SP
// 800-38D §7.1: inc32(J0)).
func (c *Cipher) gcmCTR(w *worker, data []byte) {
	copy(w.ctr[:12], w.nonce[:])
	for i, ctr := 0, uint32(2); i < len(data); i, ctr = i+16, ctr+1 {
		binary.BigEndian.PutUint32(w.ctr[12:], ctr)
		c.block.Encrypt(w.ks[:], w.ctr[:])
		subtle.XORBytes(data[i:], data[i:], w.ks[:])
	}
}
