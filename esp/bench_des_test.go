package esp

import (
	"crypto/cipher"
	"crypto/des"
)

func newTripleDES() (cipher.Block, error) {
	return des.NewTripleDESCipher([]byte("0123456789abcdefFEDCBA98"))
}
