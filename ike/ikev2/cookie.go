package ikev2

// The stateless cookie of RFC 7296 §2.6. Once too many IKE SAs are half-open, a responder
// answers an IKE_SA_INIT request without a valid COOKIE with nothing but a COOKIE, and keeps
// no state; only an initiator that receives at its address can come back with it.
//
//	Cookie = <VersionIDofSecret> | Hash(Ni | IPi | SPIi | <secret>)
//
// Here: one version octet, then the first 16 octets of HMAC-SHA-256 keyed with the secret
// over Ni | IPi | SPIi. The secret changes every cookieRotate; the previous one stays valid
// for one more period, so a cookie handed out just before a change still works.
//
// Threshold (documented in doc.go): cookies are demanded when cookieThreshold or more IKE
// SAs are half-open in all, or cookieThresholdPerSource from the request's address. The
// core's half-open table (HalfOpenMax in all, HalfOpenPerSrc per source, HalfOpenTimeout)
// still bounds what is kept; the cookie keeps a flood from spoofed addresses out of it.

import (
	"crypto/hmac"
	"crypto/sha256"
	"net/netip"
	"time"

	"oakley/ike/ikev2/wire"
)

const (
	cookieThreshold          = 32
	cookieThresholdPerSource = 3
	cookieRotate             = 2 * time.Minute
	cookieHashLen            = 16
)

// cookieSecrets are the current and previous secret. Owned by the core's goroutine.
type cookieSecrets struct {
	cur, prev []byte
	ver       byte
	since     time.Time
}

// cookieNeeded reports whether an IKE_SA_INIT request from src must carry a cookie.
func (p *Protocol) cookieNeeded(src netip.Addr) bool {
	return p.HalfOpenCount() >= cookieThreshold || p.HalfOpenFrom(src) >= cookieThresholdPerSource
}

// secret returns the secret of a version, rotating first if the current one is old.
func (p *Protocol) cookieSecret(now time.Time, ver byte, current bool) []byte {
	cs := &p.cookies
	if cs.cur == nil || now.Sub(cs.since) >= cookieRotate {
		cs.prev, cs.cur = cs.cur, p.RandBytes(32)
		cs.ver++
		cs.since = now
	}
	switch {
	case current || ver == cs.ver:
		return cs.cur
	case ver == cs.ver-1 && cs.prev != nil:
		return cs.prev
	}
	return nil
}

func cookieHash(secret, ni []byte, ip netip.Addr, spii wire.SPI) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write(ni)
	m.Write(ip.Unmap().AsSlice())
	m.Write(spii[:])
	return m.Sum(nil)[:cookieHashLen]
}

// makeCookie returns a cookie for an initiator.
func (p *Protocol) makeCookie(now time.Time, ni []byte, ip netip.Addr, spii wire.SPI) []byte {
	secret := p.cookieSecret(now, 0, true)
	return append([]byte{p.cookies.ver}, cookieHash(secret, ni, ip, spii)...)
}

// cookieValid checks a returned cookie against the current or the previous secret.
func (p *Protocol) cookieValid(now time.Time, cookie, ni []byte, ip netip.Addr, spii wire.SPI) bool {
	if len(cookie) != 1+cookieHashLen {
		return false
	}
	secret := p.cookieSecret(now, cookie[0], false)
	if secret == nil {
		return false
	}
	return hmac.Equal(cookie[1:], cookieHash(secret, ni, ip, spii))
}
