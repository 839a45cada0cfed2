package ikev1

// Messages 3 and 4 of Main Mode, and messages 1 and 2 of Aggressive Mode, with public-key
// encryption (RFC 2409 §5.2, §5.3): what each side encrypts, and how it opens what the
// other encrypted.
//
//	original (§5.2)  initiator:  KE, [HASH(1),] <IDii_b>PubKey_r, <Ni_b>PubKey_r
//	                 responder:  KE, <IDir_b>PubKey_i, <Nr_b>PubKey_i
//	revised (§5.3)   initiator:  [HASH(1),] <Ni_b>PubKey_r, <KE_b>Ke_i, <IDii_b>Ke_i [, <Cert-I_b>Ke_i]
//	                 responder:  <Nr_b>PubKey_i, <KE_b>Ke_r, <IDir_b>Ke_r
//
// Main Mode adds NAT-D to these messages; Aggressive Mode puts them after the SA payload
// (and the responder adds HASH_R). HASH(1), the hash of the certificate the initiator
// encrypted to, is optional: oakley does not send it (a connection has one certificate) and
// checks it when it comes. Opening never fails on anything that depends on a decryption
// (pke.go): a bad part is replaced by random bytes and marks the exchange bad.

import (
	"crypto/rsa"
	"crypto/subtle"
	"crypto/x509"
	"encoding/binary"

	"go.uber.org/zap"

	"oakley/crypto"
	"oakley/ike/core"
	"oakley/ike/isakmp"
	"oakley/ike/pki"
)

// pkeMinNonce and pkeMaxNonce bound a decrypted nonce (RFC 2409 §5: 8 to 256 bytes).
const (
	pkeMinNonce = 8
	pkeMaxNonce = 256
)

func (sa *ikeSA) pkeAuth() *pkeAuth { a, _ := sa.auth.(*pkeAuth); return a }

// usesPKE reports whether the SA authenticates with public-key encryption.
func (sa *ikeSA) usesPKE() bool { return sa.pkeAuth() != nil }

// payloadFromBody wraps ciphertext as the body of a payload of type t, so the codec
// encodes it unchanged (RFC 2409 §5.2: only the body is encrypted).
func payloadFromBody(t isakmp.PayloadType, body []byte) isakmp.Payload {
	switch t {
	case isakmp.PayloadID:
		// len(body) >= 4: an RSA ciphertext or at least one cipher block.
		return &isakmp.Identification{IDType: isakmp.IDType(body[0]), ProtocolID: body[1],
			Port: binary.BigEndian.Uint16(body[2:4]), Data: body[4:]}
	case isakmp.PayloadCert:
		return &isakmp.Certificate{Encoding: isakmp.CertEncoding(body[0]), Data: body[1:]}
	case isakmp.PayloadKE:
		return &isakmp.KeyExchange{Data: body}
	}
	return &isakmp.Nonce{Data: body}
}

// identificationOf reads an ID payload body (RFC 2407 §4.6.2).
func identificationOf(b []byte) *isakmp.Identification {
	return &isakmp.Identification{IDType: isakmp.IDType(b[0]), ProtocolID: b[1],
		Port: binary.BigEndian.Uint16(b[2:4]), Data: append([]byte(nil), b[4:]...)}
}

// pkeInitiatorSetup takes the responder's key from remote_cert: the initiator must know it
// before its first encrypted message.
func (sa *ikeSA) pkeInitiatorSetup() error {
	k, cert, err := pkePinnedKey(sa.Conn.Cfg, sa)
	if err != nil {
		return err
	}
	sa.pke.peerKey, sa.pke.peerCert = k, cert
	return nil
}

// pkeOwnPayloads encrypts our nonce, KE and identity for the peer (the table above).
func (sa *ikeSA) pkeOwnPayloads() ([]isakmp.Payload, error) {
	a := sa.pkeAuth()
	nonce, ke, cky := sa.ni, sa.gxi, sa.ckyI
	if !sa.Initiator {
		nonce, ke, cky = sa.nr, sa.gxr, sa.ckyR
	}
	idB := idBody(sa.localIDPayload())
	encN, err := pkeEncrypt(sa.c.Rand, sa.pke.peerKey, nonce)
	if err != nil {
		return nil, fail(isakmp.NotifyAuthenticationFailed, ErrAuthenticationFailed, "encrypting our nonce: %v", err)
	}
	if !a.revised() {
		encID, err := pkeEncrypt(sa.c.Rand, sa.pke.peerKey, idB)
		if err != nil {
			return nil, fail(isakmp.NotifyAuthenticationFailed, ErrAuthenticationFailed, "encrypting our identity: %v", err)
		}
		return []isakmp.Payload{&isakmp.KeyExchange{Data: ke}, payloadFromBody(isakmp.PayloadID, encID), &isakmp.Nonce{Data: encN}}, nil
	}
	prf, err := crypto.NewPRF(sa.tr.hash)
	if err != nil {
		return nil, fail(isakmp.NotifyNoProposalChosen, ErrNoProposalChosen, "%v", err)
	}
	key := pkeSymKey(prf, nonce, cky, sa.tr.enc.KeyLen())
	defer key.Wipe()
	encKE, err := pkeSymEncrypt(sa.tr.enc, key, ke)
	if err != nil {
		return nil, fail(isakmp.NotifyNoProposalChosen, ErrNoProposalChosen, "%v", err)
	}
	encID, _ := pkeSymEncrypt(sa.tr.enc, key, idB)
	out := []isakmp.Payload{&isakmp.Nonce{Data: encN}, &isakmp.KeyExchange{Data: encKE}, payloadFromBody(isakmp.PayloadID, encID)}
	// §5.3: the initiator may send its certificate, so that a responder without
	// remote_cert learns the key to answer to. Its intermediates follow in CERT payloads of
	// their own, encrypted the same way (the RFC shows one; a chain needs them).
	if sa.Initiator && sa.Conn.Cfg.SendCert != pki.SendCertNever {
		for _, cert := range sa.Conn.Cfg.Creds.ChainFor(nil) {
			body := append([]byte{byte(isakmp.CertX509Signature)}, cert.Raw...)
			encCert, _ := pkeSymEncrypt(sa.tr.enc, key, body)
			out = append(out, payloadFromBody(isakmp.PayloadCert, encCert))
		}
	}
	return out, nil
}

// pkeOpened is what the peer's encrypted message carried, decrypted (or replaced).
type pkeOpened struct {
	nonce, ke, idB []byte
	certI          []*x509.Certificate // revised mode: the initiator's certificate (and intermediates), if sent
}

// pkeOpen decrypts the peer's nonce, KE and identity (and, revised mode, certificate). Only
// the structure of the message (which payloads it has: public) can make it fail.
func (sa *ikeSA) pkeOpen(c *isakmp.Chain) (*pkeOpened, error) {
	a := sa.pkeAuth()
	np, ni := payloadOf[*isakmp.Nonce](c)
	kp, ki := payloadOf[*isakmp.KeyExchange](c)
	ip, ii := payloadOf[*isakmp.Identification](c)
	if ni < 0 || ki < 0 || ii < 0 {
		return nil, fail(isakmp.NotifyInvalidPayloadType, ErrMalformed, "public-key encryption needs Nonce, KE and ID payloads")
	}
	priv := a.privateKey()
	// HASH(1) names the certificate the initiator encrypted to: it must be ours. (In AM2
	// the HASH payload is HASH_R.)
	if h, hi := payloadOf[*isakmp.Hash](c); hi >= 0 && !sa.Initiator {
		want := hashTrunc(sa.tr.hash.Hash, 0, sa.Conn.Cfg.Creds.Leaf().Raw)
		sa.pke.markBad(subtle.ConstantTimeCompare(h.Data, want))
	}
	o := &pkeOpened{}
	var ok int
	o.nonce, ok = pkeDecrypt(priv, np.Data, sa.c.RandBytes(nonceLen))
	sa.pke.markBad(ok)
	n := len(o.nonce)
	sa.pke.markBad(subtle.ConstantTimeLessOrEq(pkeMinNonce, n) & subtle.ConstantTimeLessOrEq(n, pkeMaxNonce))
	fallbackID := sa.c.RandBytes(pkeFallbackIDLen)
	if !a.revised() {
		o.ke = append([]byte(nil), kp.Data...)
		o.idB, ok = pkeDecrypt(priv, ip.Body(), fallbackID)
		sa.pke.markBad(ok)
	} else {
		prf, err := crypto.NewPRF(sa.tr.hash)
		if err != nil {
			return nil, fail(isakmp.NotifyNoProposalChosen, ErrNoProposalChosen, "%v", err)
		}
		peerCky := sa.ckyR
		if !sa.Initiator {
			peerCky = sa.ckyI
		}
		key := pkeSymKey(prf, o.nonce, peerCky, sa.tr.enc.KeyLen())
		o.ke, ok = pkeSymDecrypt(sa.tr.enc, key, kp.Data, sa.c.RandBytes(len(sa.ownKE())))
		sa.pke.markBad(ok)
		o.idB, ok = pkeSymDecrypt(sa.tr.enc, key, ip.Body(), fallbackID)
		sa.pke.markBad(ok)
		for _, p := range c.Payloads {
			cp, isCert := p.(*isakmp.Certificate)
			if !isCert || sa.Initiator || len(o.certI) >= maxPeerCertPayloads {
				continue
			}
			body, ok := pkeSymDecrypt(sa.tr.enc, key, cp.Body(), nil)
			sa.pke.markBad(ok)
			if len(body) > 1 && body[0] == byte(isakmp.CertX509Signature) {
				if cert, err := x509.ParseCertificate(body[1:]); err == nil {
					o.certI = append(o.certI, cert)
				}
			}
		}
		key.Wipe()
	}
	if len(o.idB) < 4 {
		o.idB = fallbackID
		sa.pke.bad = 1
	}
	return o, nil
}

// ownKE is our DH public value.
func (sa *ikeSA) ownKE() []byte {
	if sa.Initiator {
		return sa.gxi
	}
	return sa.gxr
}

// pkeResponderPick chooses the responder's connection by the decrypted identity (among the
// candidates that accepted the proposal with the same method and our same key) and the key
// to answer to: the original mode encrypts to remote_cert; the revised mode to the
// initiator's certificate when it sent one that the connection's trust accepts, else to
// remote_cert. When nothing fits, the exchange goes on with the first connection, and our
// own key stands in for the peer's: it fails at HASH_I like every other bad case.
func (sa *ikeSA) pkeResponderPick(o *pkeOpened) {
	id := identificationOf(o.idB)
	for _, cs := range append([]*core.Conn{sa.Conn}, sa.candidates...) {
		if cs == nil || !idMatches(cs.Cfg.RemoteID, id) || !p1Acceptable(props(cs), sa.tr, sa.tr.auth, cs.Cfg.InsecureAlgorithms) {
			continue
		}
		if other := newAuthenticator(cs.Cfg, sa.tr.auth); sa.auth.sameSKEYID(other) {
			if cs != sa.Conn {
				sa.Conn, sa.auth = cs, other
				sa.setLog()
			}
			sa.pke.peerIDB = o.idB
			sa.peerID = id
			sa.pkeResponderKey(o)
			return
		}
	}
	sa.pke.bad = 1
	sa.pke.peerIDB, sa.peerID = o.idB, id
	sa.pkeResponderKey(o)
}

// pkeResponderKey sets the key the responder encrypts to.
func (sa *ikeSA) pkeResponderKey(o *pkeOpened) {
	cfg := sa.Conn.Cfg
	if len(o.certI) > 0 && sa.pkeAuth().revised() {
		if v, err := cfg.Trust.Verify(o.certI, sa.c.Now); err == nil {
			if k, ok := v.PublicKey.(*rsa.PublicKey); ok {
				sa.pke.peerKey, sa.pke.peerCert, sa.pke.peerChain = k, v.Leaf, o.certI
				return
			}
		}
		sa.pke.bad = 1
	}
	if cfg.Trust.Pinned() != nil {
		k, cert, err := pkePinnedKey(cfg, sa)
		if err == nil {
			sa.pke.peerKey, sa.pke.peerCert = k, cert
			return
		}
		// A problem of our configuration, not of what the peer sent.
		sa.Log.Warn("public-key encryption: remote_cert is unusable", zap.Error(err))
	}
	sa.pke.bad = 1
	sa.pke.peerKey = &sa.pkeAuth().privateKey().PublicKey
	sa.pke.peerCert = cfg.Creds.Leaf()
}
