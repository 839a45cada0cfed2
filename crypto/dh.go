package crypto

// Diffie-Hellman for IKE: the MODP groups (RFC 2409 §6, RFC 3526), the random ECP groups
// (RFC 5903) and Curve25519 (RFC 8031), with public values and shared secrets in the byte
// layout IKE puts on the wire and feeds to its PRFs, and every received public value checked
// as RFC 6989 requires before it is used.
//
// Concurrency: a *DH belongs to one exchange. Group, Public and SharedSecret only read it and
// may run concurrently; Wipe must not run concurrently with any of them.

import (
	"crypto/ecdh"
	cryptorand "crypto/rand"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"math/big"
)

// Errors of the key exchange. Callers tell them apart with errors.Is; the errors carry group
// numbers and lengths, never key material.
var (
	// ErrUnknownGroup: the group number names no group this package implements (IKEv1 Group
	// Description, RFC 2409 Appendix A; IKEv2 Transform Type 4, RFC 7296 §3.3.2).
	ErrUnknownGroup = errors.New("crypto: unknown Diffie-Hellman group")
	// ErrInvalidPublic: the peer's KE value failed the RFC 6989 checks (wrong length, out of
	// range, not on the curve, or a low-order X25519 point). The exchange must not go on with
	// it; which notification to send is the protocol layer's decision.
	ErrInvalidPublic = errors.New("crypto: invalid Diffie-Hellman public value")
	// ErrDHWiped: SharedSecret after Wipe.
	ErrDHWiped = errors.New("crypto: Diffie-Hellman private value already wiped")
)

// errPrivateOutOfRange marks a candidate private value NewDH must draw again.
var errPrivateOutOfRange = errors.New("crypto: Diffie-Hellman private value out of range")

// maxKeygenTries bounds the rejection sampling in NewDH. An honest random source needs more
// than one try with probability 2^-32 at most (P-256); 64 failures mean the source is broken.
const maxKeygenTries = 64

type dhKind uint8

const (
	dhMODP dhKind = iota + 1
	dhECP
	dhX25519
)

// dhParams describes one group.
type dhParams struct {
	kind      dhKind
	modp      *modpGroup // dhMODP
	curve     ecdh.Curve // dhECP, dhX25519
	coordLen  int        // dhECP: bytes of one coordinate (the field size); dhX25519: 32
	scalarLen int        // bytes of random drawn for a private value
	topMask   byte       // mask on the first of those bytes (P-521's order has 521 bits)
}

// dhParamsFor returns the parameters of a group.
func dhParamsFor(group uint16) (dhParams, bool) {
	if m, ok := modpGroups[group]; ok {
		return dhParams{kind: dhMODP, modp: m, scalarLen: m.expBits / 8, topMask: 0xff}, true
	}
	switch group {
	case 19: // RFC 5903 §3.1, 256-bit random ECP group (NIST P-256)
		return dhParams{kind: dhECP, curve: ecdh.P256(), coordLen: 32, scalarLen: 32, topMask: 0xff}, true
	case 20: // RFC 5903 §3.2, 384-bit random ECP group (NIST P-384)
		return dhParams{kind: dhECP, curve: ecdh.P384(), coordLen: 48, scalarLen: 48, topMask: 0xff}, true
	case 21: // RFC 5903 §3.3, 521-bit random ECP group (NIST P-521)
		return dhParams{kind: dhECP, curve: ecdh.P521(), coordLen: 66, scalarLen: 66, topMask: 0x01}, true
	case 31: // RFC 8031 §2, Curve25519
		return dhParams{kind: dhX25519, curve: ecdh.X25519(), coordLen: 32, scalarLen: 32, topMask: 0xff}, true
	}
	return dhParams{}, false
}

// publicLen is the length of the group's KE value.
func (p dhParams) publicLen() int {
	switch p.kind {
	case dhMODP:
		return p.modp.bits / 8
	case dhECP:
		return 2 * p.coordLen
	default:
		return p.coordLen
	}
}

// DHPublicLen returns the length of a group's public value in a KE payload, which is also the
// length of its shared secret for MODP (both padded to the prime's length, RFC 7296 §3.4), twice
// the shared secret for ECP (x ‖ y against x alone, RFC 5903 §7), and 32 for Curve25519
// (RFC 8031 §3.1). It returns 0 for a group this package does not implement.
func DHPublicLen(group uint16) int {
	p, ok := dhParamsFor(group)
	if !ok {
		return 0
	}
	return p.publicLen()
}

// DH is one side of one Diffie-Hellman exchange: an ephemeral private value and its public
// value. Make a new one for every exchange (Phase 1, each PFS Quick Mode, each IKEv2 KE) and
// Wipe it once the shared secret is derived.
//
// It never prints its private value: every fmt verb shows only the group.
type DH struct {
	group  uint16
	params dhParams
	pub    []byte

	x     *big.Int         // MODP private exponent
	priv  *ecdh.PrivateKey // ECP and X25519 private key
	wiped bool
}

// NewDH draws a private value for the group from rand and computes the public value. rand is
// the caller's source (the engine injects it; tests make it deterministic); nil means
// crypto/rand.Reader.
//
// Private values:
//   - MODP: a random exponent of modpExponentBits bits (twice the group's strength, RFC 3526 §8;
//     see the reasoning there), redrawn if below 2.
//   - ECP: a scalar in [1, n-1] by rejection sampling (FIPS 186-5 A.4.2), so that the injected
//     source decides it: crypto/ecdh's GenerateKey ignores its reader since Go 1.26.
//   - Curve25519: 32 random bytes, clamped by X25519 itself (RFC 7748 §5).
func NewDH(group uint16, rand io.Reader) (*DH, error) {
	params, ok := dhParamsFor(group)
	if !ok {
		return nil, fmt.Errorf("%w %d", ErrUnknownGroup, group)
	}
	if rand == nil {
		rand = cryptorand.Reader
	}
	buf := make([]byte, params.scalarLen)
	defer Wipe(buf)
	for range maxKeygenTries {
		if _, err := io.ReadFull(rand, buf); err != nil {
			return nil, fmt.Errorf("crypto: reading a Diffie-Hellman private value: %w", err)
		}
		buf[0] &= params.topMask
		d, err := newDH(group, params, buf)
		if !errors.Is(err, errPrivateOutOfRange) {
			return d, err
		}
	}
	return nil, fmt.Errorf("crypto: no usable Diffie-Hellman private value for group %d in %d draws: the random source is broken", group, maxKeygenTries)
}

// newDHWithPrivate builds a DH from a given private value (big-endian exponent for MODP, the
// scalar for ECP, the 32 bytes for X25519). Tests use it to replay published vectors.
func newDHWithPrivate(group uint16, priv []byte) (*DH, error) {
	params, ok := dhParamsFor(group)
	if !ok {
		return nil, fmt.Errorf("%w %d", ErrUnknownGroup, group)
	}
	return newDH(group, params, priv)
}

// newDH computes the public value for a private value. It does not keep priv.
func newDH(group uint16, params dhParams, priv []byte) (*DH, error) {
	d := &DH{group: group, params: params}
	switch params.kind {
	case dhMODP:
		// RFC 2409 §5 / RFC 7296 §3.4: g^x mod p, big-endian, left-padded with zeros to the
		// length of p. math/big is not constant time; the exponent is ephemeral (one public
		// value, one shared secret), which is what makes that acceptable here.
		m := params.modp
		x := new(big.Int).SetBytes(priv)
		if x.Cmp(bigOne) <= 0 || x.Cmp(m.pMinus1) >= 0 {
			clear(x.Bits())
			return nil, errPrivateOutOfRange
		}
		d.x = x
		d.pub = new(big.Int).Exp(m.g, x, m.p).FillBytes(make([]byte, m.bits/8))
	case dhECP:
		k, err := params.curve.NewPrivateKey(priv)
		if err != nil {
			return nil, errPrivateOutOfRange
		}
		// RFC 5903 §7: the KE value is x ‖ y, each the field's size, without SEC 1's 0x04.
		sec1 := k.PublicKey().Bytes()
		if len(sec1) != 1+2*params.coordLen || sec1[0] != 4 {
			return nil, fmt.Errorf("crypto: group %d: unexpected public key encoding", group)
		}
		d.priv, d.pub = k, sec1[1:]
	case dhX25519:
		// RFC 8031 §3.1: the KE value is the 32-byte u-coordinate of RFC 7748 §5.
		k, err := params.curve.NewPrivateKey(priv)
		if err != nil {
			return nil, errPrivateOutOfRange
		}
		d.priv, d.pub = k, k.PublicKey().Bytes()
	}
	return d, nil
}

var bigOne = big.NewInt(1)

// Group returns the group number (IKEv1 Group Description = IKEv2 DH Transform ID).
func (d *DH) Group() uint16 { return d.group }

// Public returns a copy of the public value as the KE payload carries it: MODP big-endian and
// left-padded to the prime's length (RFC 2409 §5, RFC 7296 §3.4); ECP x ‖ y, each padded to the
// field size, no 0x04 prefix (RFC 5903 §7); Curve25519 the 32 bytes of RFC 8031 §3.1.
// It stays valid after Wipe.
func (d *DH) Public() []byte { return append([]byte(nil), d.pub...) }

// SharedSecret validates the peer's KE value and returns g^xy as IKE uses it for SKEYID
// (RFC 2409 §5) and SKEYSEED (RFC 7296 §2.14): MODP big-endian, left-padded to the prime's length
// (RFC 7296 §3.4); ECP the x coordinate alone, padded to the field size (RFC 5903 §7);
// Curve25519 the 32-byte X25519 output (RFC 8031 §3.1). The caller owns the Key and wipes it.
//
// Validation (RFC 6989; any failure is ErrInvalidPublic):
//   - every group: the value has exactly DHPublicLen bytes;
//   - MODP: 1 < y < p-1 (RFC 6989 §2.1). All groups here are safe primes, for which this range
//     check is the whole test (§2.2: y^q = 1 is needed only for the small-subgroup groups
//     22–24, which this package does not offer);
//   - ECP: the point is on the curve with both coordinates below p, which also excludes the
//     identity (IKE has no encoding for it) (RFC 6989 §2.3; the cofactor is 1);
//   - Curve25519: the shared secret is not all zero, which rejects the low-order points
//     (RFC 7748 §6.1, RFC 8031 §3.2).
func (d *DH) SharedSecret(peerPublic []byte) (Key, error) {
	if d.wiped {
		return nil, ErrDHWiped
	}
	if want := d.params.publicLen(); len(peerPublic) != want {
		return nil, fmt.Errorf("%w: group %d takes %d bytes, got %d", ErrInvalidPublic, d.group, want, len(peerPublic))
	}
	switch d.params.kind {
	case dhMODP:
		return d.modpSharedSecret(peerPublic)
	case dhECP:
		sec1 := make([]byte, 1+len(peerPublic))
		sec1[0] = 4
		copy(sec1[1:], peerPublic)
		pk, err := d.params.curve.NewPublicKey(sec1)
		if err != nil {
			return nil, fmt.Errorf("%w: group %d: not a point of the curve", ErrInvalidPublic, d.group)
		}
		z, err := d.priv.ECDH(pk) // SEC 1 §3.3.1: the x coordinate, field-size bytes
		if err != nil {
			return nil, fmt.Errorf("%w: group %d: %v", ErrInvalidPublic, d.group, err)
		}
		return Key(z), nil
	case dhX25519:
		pk, err := d.params.curve.NewPublicKey(peerPublic)
		if err != nil {
			return nil, fmt.Errorf("%w: group %d: %v", ErrInvalidPublic, d.group, err)
		}
		// crypto/ecdh already refuses an all-zero result; the explicit check keeps the RFC
		// 7748 §6.1 requirement visible and independent of the library.
		z, err := d.priv.ECDH(pk)
		if err != nil || subtle.ConstantTimeCompare(z, make([]byte, len(z))) == 1 {
			Wipe(z)
			return nil, fmt.Errorf("%w: group %d: low-order point (all-zero shared secret)", ErrInvalidPublic, d.group)
		}
		return Key(z), nil
	}
	return nil, fmt.Errorf("%w %d", ErrUnknownGroup, d.group)
}

// modpSharedSecret computes y^x mod p after the RFC 6989 §2.1 range check.
func (d *DH) modpSharedSecret(peerPublic []byte) (Key, error) {
	m := d.params.modp
	y := new(big.Int).SetBytes(peerPublic)
	if y.Cmp(bigOne) <= 0 || y.Cmp(m.pMinus1) >= 0 {
		return nil, fmt.Errorf("%w: group %d: not in 1 < y < p-1", ErrInvalidPublic, d.group)
	}
	z := new(big.Int).Exp(y, d.x, m.p)
	out := Key(z.FillBytes(make([]byte, m.bits/8)))
	clear(z.Bits())
	return out, nil
}

// Wipe zeroes the private value and makes SharedSecret fail with ErrDHWiped. Public stays
// usable (retransmissions carry it).
//
// Best effort: for MODP the exponent's words are zeroed in place, but math/big's Exp leaves
// temporaries (and the words of any earlier, reallocated copy) to the garbage collector. For ECP
// and X25519, crypto/ecdh keeps the scalar inside its PrivateKey with no way to clear it; Wipe
// drops the only reference so the collector can reclaim it.
func (d *DH) Wipe() {
	if d.x != nil {
		clear(d.x.Bits())
		d.x = nil
	}
	d.priv = nil
	d.wiped = true
}

// String shows the group only, never the private value. (Value receivers, so that a copied
// DH redacts too.)
func (d DH) String() string { return fmt.Sprintf("DH(group %d)", d.group) }

// GoString implements fmt.GoStringer without revealing the private value.
func (d DH) GoString() string { return d.String() }

// Format makes every verb (%v, %+v, %#v, %x, ...) print the redacted form.
func (d DH) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, d.String()) }
