package ikev2

// Key derivation (RFC 7296 §2.13–§2.18): SKEYSEED and its seven keys, the rekeyed IKE SA's
// SKEYSEED, Child SA KEYMAT, and the octets AUTH covers. Pure functions over the PRF of
// oakley/crypto (prf+ is crypto.PRF.Plus, RFC 7296 §2.13).

import (
	"fmt"

	"oakley/crypto"
	"oakley/ike/ikev2/wire"
)

// ikeKeys is what SKEYSEED gives (§2.14), with the SK payload ciphers of both directions.
type ikeKeys struct {
	prf                                     *crypto.PRF
	skD, skAi, skAr, skEi, skEr, skPi, skPr crypto.Key
	// in opens what the peer sends, out seals what we send.
	in, out *wire.SKCipher
}

func (k *ikeKeys) wipe() {
	if k == nil {
		return
	}
	crypto.WipeAll(k.skD, k.skAi, k.skAr, k.skEi, k.skEr, k.skPi, k.skPr)
	if k.in != nil {
		k.in.Close()
	}
	if k.out != nil {
		k.out.Close()
	}
}

// skeyseed is SKEYSEED = prf(Ni | Nr, g^ir) (§2.14).
func skeyseed(prf *crypto.PRF, ni, nr, gir []byte) crypto.Key {
	key := append(append(make([]byte, 0, len(ni)+len(nr)), ni...), nr...)
	return crypto.Key(prf.Sum(key, gir))
}

// rekeySKEYSEED is the new IKE SA's SKEYSEED = prf(SK_d (old), g^ir (new) | Ni | Nr)
// (§2.18). Like strongSwan (keymat_v2.c), the old IKE SA's PRF computes it and also runs the
// prf+ of deriveIKEKeys; the key sizes are the new SA's. (Both PRFs are the same unless a
// rekey changes the PRF.)
func rekeySKEYSEED(oldPRF *crypto.PRF, skdOld, gir, ni, nr []byte) crypto.Key {
	return crypto.Key(oldPRF.Sum(skdOld, gir, ni, nr))
}

// ikeKeyLengths are the lengths of SK_d, SK_a*, SK_e* and SK_p* for a transform (§2.14):
// SK_d and SK_p* have the PRF's preferred key size (its output size for HMAC, RFC 4868
// §2.1.2), SK_a* the integrity key size, SK_e* the cipher key plus an AEAD's salt (RFC 5282
// §7.1, RFC 7634 §3).
func ikeKeyLengths(prf *crypto.PRF, enc, integ *crypto.Algorithm) (d, a, e, p int) {
	d, p = prf.Size(), prf.Size()
	if integ != nil {
		a = integ.KeyBits / 8
	}
	return d, a, enc.KeyLen(), p
}

// deriveIKEKeys computes {SK_d | SK_ai | SK_ar | SK_ei | SK_er | SK_pi | SK_pr} =
// prf+(SKEYSEED, Ni | Nr | SPIi | SPIr) (§2.14) for an SA whose PRF is prf; plus runs prf+
// (the same PRF, or the old SA's on a rekey). The ciphers are left to the caller.
func deriveIKEKeys(prf, plus *crypto.PRF, seed crypto.Key, ni, nr []byte, spii, spir wire.SPI, enc, integ *crypto.Algorithm) (*ikeKeys, error) {
	d, a, e, p := ikeKeyLengths(prf, enc, integ)
	total := d + 2*a + 2*e + 2*p
	if total > plus.PlusMax() {
		return nil, fmt.Errorf("%w: %d bytes of IKE keys exceed prf+", ErrNoProposalChosen, total)
	}
	s := make([]byte, 0, len(ni)+len(nr)+16)
	s = append(append(append(append(s, ni...), nr...), spii[:]...), spir[:]...)
	km := plus.Plus(seed, s, total)
	defer crypto.Wipe(km)
	take := func(n int) crypto.Key {
		k := crypto.Key(append([]byte(nil), km[:n]...))
		km = km[n:]
		return k
	}
	k := &ikeKeys{prf: prf}
	k.skD, k.skAi, k.skAr, k.skEi, k.skEr, k.skPi, k.skPr = take(d), take(a), take(a), take(e), take(e), take(p), take(p)
	return k, nil
}

// childKeymat splits KEYMAT = prf+(SK_d, [g^ir (new) |] Ni | Nr) (§2.17) for a child SA
// pair: the keys of the initiator-to-responder SA first, encryption before integrity.
func childKeymat(prf *crypto.PRF, skD, gir, ni, nr []byte, encLen, integLen int) (ei, ai, er, ar crypto.Key, err error) {
	total := 2 * (encLen + integLen)
	if total > prf.PlusMax() {
		return nil, nil, nil, nil, fmt.Errorf("%w: %d bytes of child keys exceed prf+", ErrNoProposalChosen, total)
	}
	seed := make([]byte, 0, len(gir)+len(ni)+len(nr))
	seed = append(append(append(seed, gir...), ni...), nr...)
	km := prf.Plus(skD, seed, total)
	defer crypto.Wipe(km)
	take := func(n int) crypto.Key {
		k := crypto.Key(append([]byte(nil), km[:n]...))
		km = km[n:]
		return k
	}
	return take(encLen), take(integLen), take(encLen), take(integLen), nil
}

// signedOctets is what AUTH covers (§2.15): the sender's IKE_SA_INIT message, the peer's
// nonce, and prf(SK_px, RestOfIDPayload) of the sender's ID.
func signedOctets(prf *crypto.PRF, realMessage, peerNonce, skP, restOfID []byte) []byte {
	mac := prf.Sum(skP, restOfID)
	out := make([]byte, 0, len(realMessage)+len(peerNonce)+len(mac))
	return append(append(append(out, realMessage...), peerNonce...), mac...)
}

// keyPad is the constant of the shared-key AUTH (§2.15).
const keyPad = "Key Pad for IKEv2"

// pskAuth is AUTH = prf( prf(Shared Secret, "Key Pad for IKEv2"), <SignedOctets>) (§2.15).
func pskAuth(prf *crypto.PRF, psk, octets []byte) []byte {
	k := prf.Sum(psk, []byte(keyPad))
	defer crypto.Wipe(k)
	return prf.Sum(k, octets)
}
