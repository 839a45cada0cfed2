package crypto

import (
	"fmt"
	"io"
)

// Key is secret key material: a PSK, a derived key, KEYMAT. It never prints its bytes: every
// fmt verb, JSON and zap's reflection encoder see "[redacted]". Call Wipe when the owner dies.
type Key []byte

// String implements fmt.Stringer without revealing the key.
func (k Key) String() string { return fmt.Sprintf("[redacted %d bytes]", len(k)) }

// GoString implements fmt.GoStringer without revealing the key.
func (k Key) GoString() string { return k.String() }

// Format makes %x, %v, %s, %q and friends all print the redacted form.
func (k Key) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, k.String()) }

// MarshalJSON keeps keys out of JSON output.
func (k Key) MarshalJSON() ([]byte, error) { return []byte(`"[redacted]"`), nil }

// MarshalText keeps keys out of text encoders.
func (k Key) MarshalText() ([]byte, error) { return []byte("[redacted]"), nil }

// Wipe overwrites the key with zeros.
func (k Key) Wipe() { Wipe(k) }

// Clone returns a copy that must be wiped separately.
func (k Key) Clone() Key { return append(Key(nil), k...) }

// Wipe overwrites b with zeros. The compiler does not elide clear on a slice that escapes,
// which every key held by an SA does.
func Wipe(b []byte) { clear(b) }

// WipeAll wipes several keys.
func WipeAll(keys ...Key) {
	for _, k := range keys {
		k.Wipe()
	}
}
