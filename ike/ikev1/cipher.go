package ikev1

// Encryption of ISAKMP messages (RFC 2408 §3.1, RFC 2409 Appendix B): CBC with the
// Phase 1 key Ka, the IV chain of Phase 1, and one IV chain per Phase 2 exchange.

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/des"
	"fmt"

	"oakley/crypto"
)

// ikeCipher is the negotiated Phase 1 block cipher keyed with Ka. Not safe for concurrent
// use (only the Run goroutine touches it).
type ikeCipher struct {
	block cipher.Block
	bs    int
}

// newIKECipher keys the Phase 1 cipher: AES-CBC (RFC 3602 as IKEv1 uses it), 3DES-CBC or
// DES-CBC (RFC 2409 Appendix A).
func newIKECipher(enc *crypto.Algorithm, ka []byte) (*ikeCipher, error) {
	var (
		b   cipher.Block
		err error
	)
	switch enc.V1Phase1 {
	case crypto.V1EncAESCBC:
		b, err = aes.NewCipher(ka)
	case crypto.V1Enc3DES:
		b, err = des.NewTripleDESCipher(ka)
	case crypto.V1EncDES:
		b, err = des.NewCipher(ka)
	default:
		return nil, fmt.Errorf("ike: no Phase 1 cipher for %s", enc.Name)
	}
	if err != nil {
		return nil, fmt.Errorf("ike: keying %s: %v", enc.Name, err)
	}
	return &ikeCipher{block: b, bs: b.BlockSize()}, nil
}

// pad returns plain followed by 1..bs zero bytes up to a multiple of the block size, the
// way strongSwan pads IKEv1 messages (RFC 2408 §3.1 counts the padding in the length; the
// receiver finds the end from the payload chain).
func (c *ikeCipher) pad(plain []byte) []byte {
	n := c.bs - len(plain)%c.bs
	out := make([]byte, len(plain)+n)
	copy(out, plain)
	return out
}

// encrypt encrypts padded plaintext with iv and returns the ciphertext and the next IV of
// the chain (its last block).
func (c *ikeCipher) encrypt(iv, padded []byte) (ct, next []byte) {
	ct = make([]byte, len(padded))
	cipher.NewCBCEncrypter(c.block, iv).CryptBlocks(ct, padded)
	return ct, append([]byte(nil), ct[len(ct)-c.bs:]...)
}

// decrypt decrypts ct with iv and returns the plaintext (padding included) and the next
// IV of the chain. A ciphertext that is empty or not a whole number of blocks is an error.
func (c *ikeCipher) decrypt(iv, ct []byte) (plain, next []byte, err error) {
	if len(ct) == 0 || len(ct)%c.bs != 0 {
		return nil, nil, fmt.Errorf("%w: encrypted body of %d bytes is not a multiple of the %d-byte block", ErrMalformed, len(ct), c.bs)
	}
	plain = make([]byte, len(ct))
	cipher.NewCBCDecrypter(c.block, iv).CryptBlocks(plain, ct)
	return plain, append([]byte(nil), ct[len(ct)-c.bs:]...), nil
}
