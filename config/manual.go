package config

// keying = "manual": fixed SAs with no IKE (RFC 4301 §4.5, manual SA and key management).
// Each child names one proposal, the SPIs of both directions and the keys in KEYMAT layout.

import (
	"crypto/subtle"
	"fmt"
	"math"
	"strconv"
	"strings"

	"oakley/crypto"
)

func (l *loader) manualChild(t *table, c *Connection, ch *Child) {
	p, listKey := l.manualProposal(t, ch)

	ch.InSPI = l.spi(t, "in_spi")
	ch.OutSPI = l.spi(t, "out_spi")
	if ch.InSPI != 0 {
		if first, dup := l.spis[ch.InSPI]; dup {
			l.r.errorf(t.keyLine("in_spi"), "in_spi 0x%08x is already used by child %q of connection %q (line %d); inbound SPIs must be unique",
				ch.InSPI, first.child, first.conn, first.line)
		} else {
			l.spis[ch.InSPI] = spiUse{conn: c.Name, child: ch.Name, line: t.keyLine("in_spi")}
		}
	}

	// Key sizes come from the registry: KeyLen() is the key plus any salt (RFC 4106 §8.1,
	// RFC 7634 §2), and an HMAC key is as long as its output (RFC 4868 §2.1.1).
	encName, encLen, authName, authLen := "", -1, "", -1
	if p != nil {
		switch {
		case len(p.Encr) == 0: // AH
			encName, encLen = "AH", 0
		default:
			encName, encLen = p.Encr[0].Name, p.Encr[0].KeyLen()
		}
		switch {
		case p.AEAD():
			authName, authLen = p.Encr[0].Name, 0
		case len(p.Integ) > 0:
			authName, authLen = p.Integ[0].Name, p.Integ[0].KeyLen()
		}
	}
	ch.InKey = l.manualKey(t, "in_key", encName, encLen, p, false)
	ch.OutKey = l.manualKey(t, "out_key", encName, encLen, p, false)
	ch.InAuthKey = l.manualKey(t, "in_auth_key", authName, authLen, p, true)
	ch.OutAuthKey = l.manualKey(t, "out_auth_key", authName, authLen, p, true)

	if p == nil {
		return
	}
	sameEnc := len(ch.InKey) > 0 && subtle.ConstantTimeCompare(ch.InKey, ch.OutKey) == 1
	sameAuth := len(ch.InAuthKey) > 0 && subtle.ConstantTimeCompare(ch.InAuthKey, ch.OutAuthKey) == 1
	switch {
	case p.AEAD() && sameEnc:
		// RFC 4106 §3.1 / RFC 7634 §2: a nonce must never repeat under one key; the two
		// directions count sequence numbers independently, so one key would repeat them.
		l.r.errorf(t.keyLine("out_key"), "in_key and out_key are identical: with %s both directions would reuse the same nonces under one key; use a different key for each direction", p.Encr[0].Name)
	case sameEnc || sameAuth:
		l.r.warnf(t.keyLine("out_key"), "the keys of both directions are identical; use a different key for each direction so that packets cannot be reflected")
	}
	if p.AEAD() {
		// RFC 4106 §8: AES-GCM is meant to be keyed by a key-management protocol; a static
		// key lives across restarts of the sequence counter.
		l.r.warnf(t.keyLine(listKey), "manual keying with the AEAD %s is discouraged (RFC 4106 §8): static keys survive restarts of the sequence counter, so nonce uniqueness rests on never reusing these keys after a restart; prefer keying = \"ike\"", p.Encr[0].Name)
	}
}

// manualProposal returns the child's single proposal, checked for manual keying.
func (l *loader) manualProposal(t *table, ch *Child) (*crypto.Proposal, string) {
	key, parsed := "esp_proposals", ch.ESPProposals
	if len(ch.AHProposals) > 0 {
		key, parsed = "ah_proposals", ch.AHProposals
	}
	raw, _ := t.m[key].([]any)
	if _, present := t.m[key]; !present {
		l.r.errorf(t.line(), `%s: keying = "manual" needs esp_proposals (or ah_proposals) with exactly one proposal`, t.name)
		return nil, key
	}
	if len(raw) != 1 {
		l.r.errorf(t.keyLine(key), `keying = "manual" needs exactly one proposal in %s, not %d: there is no negotiation`, key, len(raw))
		return nil, key
	}
	if len(parsed) != 1 {
		return nil, key // the parse error is reported already
	}
	p := parsed[0]
	ok := true
	if len(p.DH) > 0 {
		l.r.errorf(t.keyLine(key), "%s: manual keying has no key exchange; drop %s from %q", key, p.DH[0].Name, p.Text)
		ok = false
	}
	if len(p.Encr) > 1 || len(p.Integ) > 1 || len(p.ESN) > 1 {
		l.r.errorf(t.keyLine(key), "%s: manual keying needs exactly one algorithm of each kind in %q", key, p.Text)
		ok = false
	}
	if !ok {
		return nil, key
	}
	return p, key
}

// spi reads in_spi / out_spi: an integer, or a string in hex ("0x00001000") or decimal.
func (l *loader) spi(t *table, key string) uint32 {
	if !t.has(key) {
		l.r.errorf(t.line(), `%s: keying = "manual" needs %s (e.g. %s = "0x00001000")`, t.name, key, key)
		return 0
	}
	var v uint64
	switch x := t.m[key].(type) {
	case int64:
		if x < 0 || x > math.MaxUint32 {
			l.r.errorf(t.keyLine(key), "%s = %d is not a 32-bit SPI; want 256..4294967295", key, x)
			return 0
		}
		v = uint64(x)
	case string:
		s := strings.TrimSpace(x)
		var err error
		if strings.HasPrefix(s, "0x") || strings.HasPrefix(s, "0X") {
			v, err = strconv.ParseUint(s[2:], 16, 32)
		} else {
			v, err = strconv.ParseUint(s, 10, 32)
		}
		if err != nil {
			l.r.errorf(t.keyLine(key), `%s = %q is not a 32-bit SPI; want hex like "0x00001000" or a decimal number`, key, x)
			return 0
		}
	default:
		t.typeErr(key, `an SPI (hex string like "0x00001000", or an integer)`)
		return 0
	}
	if v < 256 {
		// RFC 4303 §2.1: SPI values 1..255 are reserved by IANA; 0 is for local use only
		// and never sent.
		l.r.errorf(t.keyLine(key), "%s = 0x%08x is reserved (RFC 4303 §2.1: 0 is never sent, 1..255 are reserved by IANA); want 256 (0x00000100) or more", key, v)
		return 0
	}
	return uint32(v)
}

// manualKey decodes one hex key and checks its length: want bytes for algorithm alg (0 =
// the key must be absent, -1 = unknown because the proposal is unusable).
func (l *loader) manualKey(t *table, key, alg string, want int, p *crypto.Proposal, auth bool) crypto.Key {
	s, present := t.optStr(key)
	if !present {
		if !t.has(key) && want > 0 {
			l.r.errorf(t.line(), "%s: keying = \"manual\" needs %s (%d bytes for %s, in hex)", t.name, key, want, alg)
		}
		return nil
	}
	l.inlineSecret(t.keyLine(key))
	k, err := decodeHexKey(s)
	if err != nil {
		l.r.errorf(t.keyLine(key), "%s %v", key, err)
		return nil
	}
	switch {
	case want < 0:
		// The proposal is unusable; its error is reported already.
	case want == 0 && auth && p.AEAD():
		l.r.errorf(t.keyLine(key), "%s must be absent: %s is an AEAD and has no separate integrity key", key, alg)
	case want == 0 && alg == "AH":
		l.r.errorf(t.keyLine(key), "%s must be absent: AH does not encrypt (use in_auth_key and out_auth_key)", key)
	case want == 0:
		l.r.errorf(t.keyLine(key), "%s must be absent: %s uses no key", key, alg)
	case len(k) != want:
		l.r.errorf(t.keyLine(key), "%s has %d bytes; %s needs %s", key, len(k), alg, keyLayout(p, auth))
	default:
		return k
	}
	k.Wipe()
	return nil
}

// keyLayout describes the expected key, e.g. "20 bytes (a 16-byte key and a 4-byte salt)".
func keyLayout(p *crypto.Proposal, auth bool) string {
	if auth {
		return fmt.Sprintf("%d bytes", p.Integ[0].KeyLen())
	}
	e := p.Encr[0]
	if e.SaltLen > 0 {
		return fmt.Sprintf("%d bytes (a %d-byte key followed by a %d-byte salt)", e.KeyLen(), e.KeyBits/8, e.SaltLen)
	}
	return fmt.Sprintf("%d bytes", e.KeyLen())
}
