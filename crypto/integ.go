package crypto

import (
	"crypto/hmac"
	"crypto/subtle"
	"fmt"
	"hash"
)

// Integrity is a keyed, truncated HMAC (RFC 2404, RFC 4868, RFC 2403) used by AH, which
// authenticates a contiguous range the caller prepares (mutable fields zeroed) plus an
// optional unsent tail (ESN high bits). Safe for concurrent use.
type Integrity struct {
	Alg  *Algorithm
	key  Key
	pool scratch[macState]
}

type macState struct {
	h   hash.Hash
	sum [64]byte
}

// NewIntegrity keys an integrity algorithm; the key is copied and wiped by Close.
func NewIntegrity(alg *Algorithm, key []byte) (*Integrity, error) {
	if alg == nil || alg.Kind != KindInteg {
		return nil, fmt.Errorf("crypto: not an integrity algorithm")
	}
	if len(key) != alg.KeyLen() {
		return nil, fmt.Errorf("crypto: %s needs a %d-byte key, got %d", alg.Name, alg.KeyLen(), len(key))
	}
	m := &Integrity{Alg: alg, key: Key(key).Clone()}
	m.pool.new = func() *macState { return &macState{h: hmac.New(alg.Hash.New, m.key)} }
	return m, nil
}

// ICVSize is the truncated MAC length.
func (m *Integrity) ICVSize() int { return m.Alg.ICVSize }

// Sum writes the truncated MAC of data ‖ tail into icv (len ICVSize).
func (m *Integrity) Sum(icv, data, tail []byte) {
	s := m.pool.get()
	copy(icv, m.sum(s, data, tail))
	m.pool.put(s)
}

// Verify reports in constant time whether icv is the MAC of data ‖ tail.
func (m *Integrity) Verify(icv, data, tail []byte) bool {
	s := m.pool.get()
	ok := len(icv) == m.Alg.ICVSize && subtle.ConstantTimeCompare(icv, m.sum(s, data, tail)) == 1
	m.pool.put(s)
	return ok
}

func (m *Integrity) sum(s *macState, data, tail []byte) []byte {
	s.h.Reset()
	s.h.Write(data)
	if len(tail) > 0 {
		s.h.Write(tail)
	}
	return s.h.Sum(s.sum[:0])[:m.Alg.ICVSize]
}

// Close wipes the key copy and forgets the keyed MAC states.
func (m *Integrity) Close() {
	m.key.Wipe()
	m.pool.drop()
}
