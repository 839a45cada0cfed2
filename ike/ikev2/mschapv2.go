package ikev2

// MS-CHAPv2 (RFC 2759) and its keys (RFC 3079), for EAP-MSCHAPv2 (eap.go). MD4 and DES are
// used here and nowhere else: the method is defined with them.
//
//	NtPasswordHash      = MD4(UTF-16LE(password))
//	ChallengeHash       = SHA1(PeerChallenge | AuthenticatorChallenge | UserName)[0:8]
//	NT-Response         = DES(ChallengeHash) with the three 7-byte thirds of the hash
//	                      (zero-padded to 21 bytes) as keys
//	AuthenticatorResp.  = "S=" hex(SHA1(SHA1(PwHashHash | NT-Response | Magic1) |
//	                      ChallengeHash | Magic2))
//	MasterKey           = SHA1(PwHashHash | NT-Response | Magic1')[0:16]      (RFC 3079 §3.4)
//	MSK                 = the peer's MasterSendKey (Magic2) | its MasterReceiveKey
//	                      (Magic3): the server's MasterReceiveKey | MasterSendKey, 32 octets
//	                      as strongSwan and hostapd derive it (a 64-octet MSK padded with
//	                      zeros, as some write it, keys an HMAC PRF identically)

import (
	"crypto/des"
	"crypto/sha1"
	"encoding/hex"
	"strings"
	"unicode/utf16"

	"golang.org/x/crypto/md4" //nolint:staticcheck // MS-CHAPv2 is defined with MD4

	"oakley/crypto"
)

// mschapChallengeLen is the size of both challenges; mschapNTRespLen of the NT-Response.
const (
	mschapChallengeLen = 16
	mschapNTRespLen    = 24
	mschapMSKLen       = 32
)

var (
	// RFC 2759 §8.7.
	mschapMagic1 = []byte("Magic server to client signing constant")
	mschapMagic2 = []byte("Pad to make it do more than one iteration")
	// RFC 3079 §3.4.
	mppeMagic1 = []byte("This is the MPPE Master Key")
	mppeMagic2 = []byte("On the client side, this is the send key; on the server side, it is the receive key.")
	mppeMagic3 = []byte("On the client side, this is the receive key; on the server side, it is the send key.")
)

// ntPasswordHash is MD4 over the password in UTF-16LE (RFC 2759 §8.3). The caller wipes it.
func ntPasswordHash(password []byte) crypto.Key {
	u := utf16.Encode([]rune(string(password)))
	b := make([]byte, 0, 2*len(u))
	for _, c := range u {
		b = append(b, byte(c), byte(c>>8))
	}
	h := md4.New()
	h.Write(b)
	crypto.Wipe(b)
	return h.Sum(nil)
}

// hashNtPasswordHash is MD4 of the password hash (RFC 2759 §8.4).
func hashNtPasswordHash(pwHash []byte) crypto.Key {
	h := md4.New()
	h.Write(pwHash)
	return h.Sum(nil)
}

// mschapUserName is the user name MS-CHAPv2 hashes: without a "DOMAIN\" prefix (§8.2).
func mschapUserName(name string) string {
	if i := strings.LastIndexByte(name, '\\'); i >= 0 {
		return name[i+1:]
	}
	return name
}

// challengeHash is RFC 2759 §8.2.
func challengeHash(peerChallenge, authChallenge []byte, userName string) []byte {
	h := sha1.New()
	h.Write(peerChallenge)
	h.Write(authChallenge)
	h.Write([]byte(mschapUserName(userName)))
	return h.Sum(nil)[:8]
}

// desKey spreads 7 key bytes over the 8 bytes of a DES key (parity bits ignored by DES).
func desKey(k []byte) []byte {
	return []byte{
		k[0],
		k[0]<<7 | k[1]>>1,
		k[1]<<6 | k[2]>>2,
		k[2]<<5 | k[3]>>3,
		k[3]<<4 | k[4]>>4,
		k[4]<<3 | k[5]>>5,
		k[5]<<2 | k[6]>>6,
		k[6] << 1,
	}
}

// challengeResponse is RFC 2759 §8.5: the 8-byte challenge DES-encrypted with each third of
// the zero-padded password hash.
func challengeResponse(chal []byte, pwHash []byte) []byte {
	z := make([]byte, 21)
	copy(z, pwHash)
	out := make([]byte, 0, mschapNTRespLen)
	for i := 0; i < 3; i++ {
		k := desKey(z[7*i : 7*i+7])
		c, _ := des.NewCipher(k) // 8-byte key: never fails
		var blk [8]byte
		c.Encrypt(blk[:], chal)
		out = append(out, blk[:]...)
		crypto.Wipe(k)
	}
	crypto.Wipe(z)
	return out
}

// generateNTResponse is RFC 2759 §8.1.
func generateNTResponse(authChallenge, peerChallenge []byte, userName string, password []byte) []byte {
	pw := ntPasswordHash(password)
	defer pw.Wipe()
	return challengeResponse(challengeHash(peerChallenge, authChallenge, userName), pw)
}

// generateAuthenticatorResponse is RFC 2759 §8.7: "S=" and 40 upper-case hex digits.
func generateAuthenticatorResponse(pwHash, ntResponse, peerChallenge, authChallenge []byte, userName string) string {
	hh := hashNtPasswordHash(pwHash)
	defer hh.Wipe()
	h := sha1.New()
	h.Write(hh)
	h.Write(ntResponse)
	h.Write(mschapMagic1)
	digest := h.Sum(nil)
	h = sha1.New()
	h.Write(digest)
	h.Write(challengeHash(peerChallenge, authChallenge, userName))
	h.Write(mschapMagic2)
	return "S=" + strings.ToUpper(hex.EncodeToString(h.Sum(nil)))
}

// mschapMasterKey is RFC 3079 §3.4 GetMasterKey.
func mschapMasterKey(pwHash, ntResponse []byte) crypto.Key {
	hh := hashNtPasswordHash(pwHash)
	defer hh.Wipe()
	h := sha1.New()
	h.Write(hh)
	h.Write(ntResponse)
	h.Write(mppeMagic1)
	return h.Sum(nil)[:16]
}

// asymmetricStartKey is RFC 3079 §3.4 GetAsymmetricStartKey for 16-octet keys, with the
// magic that picks the direction.
func asymmetricStartKey(master []byte, magic []byte) crypto.Key {
	pad1 := make([]byte, 40)
	pad2 := make([]byte, 40)
	for i := range pad2 {
		pad2[i] = 0xf2
	}
	h := sha1.New()
	h.Write(master)
	h.Write(pad1)
	h.Write(magic)
	h.Write(pad2)
	return h.Sum(nil)[:16]
}

// mschapMSK is the EAP-MSCHAPv2 MSK, the same on both sides: the Magic2 key (the peer's
// send key, the server's receive key) then the Magic3 key.
func mschapMSK(pwHash, ntResponse []byte) crypto.Key {
	mk := mschapMasterKey(pwHash, ntResponse)
	defer mk.Wipe()
	k2 := asymmetricStartKey(mk, mppeMagic2)
	k3 := asymmetricStartKey(mk, mppeMagic3)
	msk := make(crypto.Key, 0, mschapMSKLen)
	msk = append(append(msk, k2...), k3...)
	k2.Wipe()
	k3.Wipe()
	return msk
}
