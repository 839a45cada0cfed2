package crypto

import (
	"bytes"
	"crypto/elliptic"
	cryptorand "crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// dhGroups lists every group the package implements, in registry order of numbers.
var dhGroups = []uint16{1, 2, 5, 14, 15, 16, 17, 18, 19, 20, 21, 31}

// dhWantPublicLen is the KE payload size of each group, straight from the RFCs: MODP p/8
// (RFC 2409 §6, RFC 3526), ECP 2 × field size (RFC 5903 §7), Curve25519 32 (RFC 8031 §3.1).
var dhWantPublicLen = map[uint16]int{1: 96, 2: 128, 5: 192, 14: 256, 15: 384, 16: 512, 17: 768, 18: 1024,
	19: 64, 20: 96, 21: 132, 31: 32}

// dhWantSecretLen is the length of g^xy as IKE uses it (RFC 5903 §7: ECP gives x alone).
var dhWantSecretLen = map[uint16]int{1: 96, 2: 128, 5: 192, 14: 256, 15: 384, 16: 512, 17: 768, 18: 1024,
	19: 32, 20: 48, 21: 66, 31: 32}

func dhUnhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.Join(strings.Fields(s), ""))
	if err != nil {
		t.Fatalf("bad hex in test data: %v", err)
	}
	return b
}

func dhReadJSON(t testing.TB, name string, v any) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
}

// dhGroupName is the registry's keyword for a group ("modp2048", "ecp256", "curve25519").
func dhGroupName(g uint16) string {
	for _, a := range All(KindDH) {
		if a.Group == g {
			return a.Name
		}
	}
	return fmt.Sprintf("group%d", g)
}

func mustDH(t testing.TB, group uint16, priv []byte) *DH {
	t.Helper()
	d, err := newDHWithPrivate(group, priv)
	if err != nil {
		t.Fatalf("group %d: %v", group, err)
	}
	return d
}

func mustShared(t testing.TB, d *DH, peer []byte) Key {
	t.Helper()
	z, err := d.SharedSecret(peer)
	if err != nil {
		t.Fatalf("group %d: SharedSecret: %v", d.Group(), err)
	}
	return z
}

func TestDHPublicLen(t *testing.T) {
	for _, g := range dhGroups {
		if got, want := DHPublicLen(g), dhWantPublicLen[g]; got != want {
			t.Errorf("DHPublicLen(%d) = %d, want %d", g, got, want)
		}
	}
	for _, g := range []uint16{0, 3, 4, 22, 23, 24, 25, 26, 30, 32, 0xffff} {
		if n := DHPublicLen(g); n != 0 {
			t.Errorf("DHPublicLen(%d) = %d for a group we do not implement", g, n)
		}
	}
}

// piFixed returns floor(π · 2^bits), by Machin's formula π = 16·atan(1/5) − 4·atan(1/239) in
// fixed point with 64 guard bits. It is independent of the hex in dh_modp.go.
func piFixed(bits uint) *big.Int {
	const guard = 64
	one := new(big.Int).Lsh(big.NewInt(1), bits+guard)
	atanInv := func(x int64) *big.Int {
		sum := new(big.Int)
		x2 := big.NewInt(x * x)
		term := new(big.Int).Quo(one, big.NewInt(x)) // 1/x^(2k+1)
		for k := int64(0); term.Sign() != 0; k++ {
			q := new(big.Int).Quo(term, big.NewInt(2*k+1))
			if k%2 == 0 {
				sum.Add(sum, q)
			} else {
				sum.Sub(sum, q)
			}
			term.Quo(term, x2)
		}
		return sum
	}
	pi := new(big.Int).Mul(atanInv(5), big.NewInt(16))
	pi.Sub(pi, new(big.Int).Mul(atanInv(239), big.NewInt(4)))
	return pi.Rsh(pi, guard)
}

// TestMODPPrimesFromPi re-derives every prime from its defining formula (RFC 2409 §6.1/§6.2,
// RFC 3526 §2–§7) and checks that p and (p-1)/2 are prime and that 2 generates the group of
// order q (2 is a quadratic residue mod these p: 2^q = 1).
func TestMODPPrimesFromPi(t *testing.T) {
	groups := []uint16{1, 2, 5, 14, 15, 16, 17, 18}
	if len(modpGroups) != len(groups) {
		t.Fatalf("%d MODP groups, want %d", len(modpGroups), len(groups))
	}
	pi := piFixed(8192 - 130)
	for _, g := range groups {
		m := modpGroups[g]
		n := uint(m.bits)
		// p = 2^n - 2^(n-64) - 1 + 2^64 * ( [2^(n-130) π] + k )
		want := new(big.Int).Lsh(big.NewInt(1), n)
		want.Sub(want, new(big.Int).Lsh(big.NewInt(1), n-64))
		want.Sub(want, big.NewInt(1))
		inner := new(big.Int).Rsh(pi, 8192-n) // [2^(n-130) π]
		inner.Add(inner, big.NewInt(m.offset))
		want.Add(want, inner.Lsh(inner, 64))
		if m.p.Cmp(want) != 0 {
			t.Errorf("group %d: the prime differs from the RFC formula", g)
			continue
		}
		if m.p.BitLen() != m.bits || m.g.Cmp(big.NewInt(2)) != 0 {
			t.Errorf("group %d: %d bits, generator %v", g, m.p.BitLen(), m.g)
		}
		// Primality of the 6144- and 8192-bit primes takes seconds; the formula above, which is
		// the RFC's definition, already pins them.
		if m.bits > 4096 {
			continue
		}
		q := new(big.Int).Rsh(m.pMinus1, 1)
		if !m.p.ProbablyPrime(1) || !q.ProbablyPrime(1) {
			t.Errorf("group %d: p or (p-1)/2 is not prime", g)
		}
		if new(big.Int).Exp(m.g, q, m.p).Cmp(bigOne) != 0 {
			t.Errorf("group %d: g^q != 1", g)
		}
	}
}

// TestMODPExponentSizes pins the private exponent sizes (RFC 3526 §8, "Strength Estimate 2",
// at least 256 bits) and checks that NewDH honours them.
func TestMODPExponentSizes(t *testing.T) {
	want := map[uint16]int{1: 256, 2: 256, 5: 256, 14: 320, 15: 424, 16: 480, 17: 544, 18: 624}
	for g, bits := range want {
		if got := modpGroups[g].expBits; got != bits {
			t.Errorf("group %d: exponent %d bits, want %d", g, got, bits)
		}
		// An all-ones source gives the largest exponent NewDH can draw.
		d, err := NewDH(g, constReader(0xff))
		if err != nil {
			t.Fatal(err)
		}
		if d.x.BitLen() != bits {
			t.Errorf("group %d: drew a %d-bit exponent, want %d", g, d.x.BitLen(), bits)
		}
	}
}

type modpVector struct {
	Name   string `json:"name"`
	Group  uint16 `json:"group"`
	PrivI  string `json:"priv_i"`
	PrivR  string `json:"priv_r"`
	PubI   string `json:"pub_i"`
	PubR   string `json:"pub_r"`
	Shared string `json:"shared"`
}

// TestMODPStrongSwanVectors replays strongSwan's MODP vectors: same exponent, same KE bytes,
// same g^xy, padding included.
func TestMODPStrongSwanVectors(t *testing.T) {
	var file struct{ Vectors []modpVector }
	dhReadJSON(t, "dh_modp_strongswan.json", &file)
	seen := map[uint16]bool{}
	for _, v := range file.Vectors {
		t.Run(v.Name, func(t *testing.T) {
			seen[v.Group] = true
			i := mustDH(t, v.Group, dhUnhex(t, v.PrivI))
			r := mustDH(t, v.Group, dhUnhex(t, v.PrivR))
			if !bytes.Equal(i.Public(), dhUnhex(t, v.PubI)) || !bytes.Equal(r.Public(), dhUnhex(t, v.PubR)) {
				t.Fatal("public value differs from strongSwan's")
			}
			want := dhUnhex(t, v.Shared)
			if z := mustShared(t, i, r.Public()); !bytes.Equal(z, want) {
				t.Error("initiator's shared secret differs from strongSwan's")
			}
			if z := mustShared(t, r, i.Public()); !bytes.Equal(z, want) {
				t.Error("responder's shared secret differs from strongSwan's")
			}
		})
	}
	for g := range modpGroups {
		if !seen[g] {
			t.Errorf("no vector for MODP group %d", g)
		}
	}
}

// TestMODPPadding: KE values and g^xy keep the prime's length when the number is short
// (RFC 7296 §3.4: "prepended with zeros if necessary"). x = 2 gives g^x = 4.
func TestMODPPadding(t *testing.T) {
	for g, m := range modpGroups {
		n := m.bits / 8
		d := mustDH(t, g, []byte{2})
		four, two := make([]byte, n), make([]byte, n)
		four[n-1], two[n-1] = 4, 2
		if !bytes.Equal(d.Public(), four) {
			t.Errorf("group %d: public value g^2 is not 4 padded to %d bytes", g, n)
		}
		if z := mustShared(t, d, two); !bytes.Equal(z, four) {
			t.Errorf("group %d: 2^2 is not 4 padded to %d bytes", g, n)
		}
	}
}

type ecpVector struct {
	Section, I, Gix, Giy, Kei, R, Grx, Gry, Ker, Girx, Giry string
	Group                                                   uint16
}

// TestECPRFC5903Vectors checks RFC 5903 §8: the KE payload data is gix ‖ giy (and the whole
// payload the RFC prints carries exactly that after its 8-byte header), and the shared secret
// is girx alone.
func TestECPRFC5903Vectors(t *testing.T) {
	var file struct{ Vectors []ecpVector }
	dhReadJSON(t, "dh_rfc5903.json", &file)
	if len(file.Vectors) != 3 {
		t.Fatalf("%d vectors, want 3", len(file.Vectors))
	}
	for _, v := range file.Vectors {
		t.Run(v.Section, func(t *testing.T) {
			i := mustDH(t, v.Group, dhUnhex(t, v.I))
			r := mustDH(t, v.Group, dhUnhex(t, v.R))
			gi := append(dhUnhex(t, v.Gix), dhUnhex(t, v.Giy)...)
			gr := append(dhUnhex(t, v.Grx), dhUnhex(t, v.Gry)...)
			if !bytes.Equal(i.Public(), gi) || !bytes.Equal(r.Public(), gr) {
				t.Fatal("public value is not gx ‖ gy")
			}
			for _, ke := range []struct {
				payload []byte
				pub     []byte
			}{{dhUnhex(t, v.Kei), gi}, {dhUnhex(t, v.Ker), gr}} {
				// IKEv2 KE payload (RFC 7296 §3.4): generic header, DH group, reserved, data.
				if int(binary.BigEndian.Uint16(ke.payload[2:])) != len(ke.payload) ||
					binary.BigEndian.Uint16(ke.payload[4:]) != v.Group || !bytes.Equal(ke.payload[8:], ke.pub) {
					t.Error("the RFC's KE payload does not carry our public value")
				}
			}
			girx := dhUnhex(t, v.Girx)
			if z := mustShared(t, i, gr); !bytes.Equal(z, girx) {
				t.Errorf("initiator: shared secret is not girx")
			}
			if z := mustShared(t, r, gi); !bytes.Equal(z, girx) {
				t.Errorf("responder: shared secret is not girx")
			}
		})
	}
}

type x25519File struct {
	X25519 []struct{ Name, Scalar, U, Out string }
	Iter   struct {
		Start string
		After []struct {
			Iterations int
			K          string
		}
	} `json:"iterated"`
	DH []struct {
		Name   string
		PrivA  string `json:"priv_a"`
		PubA   string `json:"pub_a"`
		PrivB  string `json:"priv_b"`
		PubB   string `json:"pub_b"`
		Shared string
	}
	LowOrder []string `json:"low_order"`
}

// TestX25519Vectors runs RFC 7748 §5.2 (the function, including the iterated test), §6.1 and
// RFC 8031 Appendix A through the group-31 API.
func TestX25519Vectors(t *testing.T) {
	var f x25519File
	dhReadJSON(t, "dh_x25519.json", &f)
	for _, v := range f.X25519 {
		d := mustDH(t, 31, dhUnhex(t, v.Scalar))
		if z := mustShared(t, d, dhUnhex(t, v.U)); !bytes.Equal(z, dhUnhex(t, v.Out)) {
			t.Errorf("%s: X25519 output differs", v.Name)
		}
	}
	// RFC 7748 §5.2: k = u = 9; repeat: k, u = X25519(k, u), k.
	k, u := dhUnhex(t, f.Iter.Start), dhUnhex(t, f.Iter.Start)
	done := 0
	for _, want := range f.Iter.After {
		if testing.Short() && want.Iterations > 1 {
			break
		}
		for ; done < want.Iterations; done++ {
			z := mustShared(t, mustDH(t, 31, k), u)
			k, u = z, k
		}
		if !bytes.Equal(k, dhUnhex(t, want.K)) {
			t.Errorf("after %d iterations: k differs", want.Iterations)
		}
	}
	for _, v := range f.DH {
		a, b := mustDH(t, 31, dhUnhex(t, v.PrivA)), mustDH(t, 31, dhUnhex(t, v.PrivB))
		if !bytes.Equal(a.Public(), dhUnhex(t, v.PubA)) || !bytes.Equal(b.Public(), dhUnhex(t, v.PubB)) {
			t.Errorf("%s: public value differs", v.Name)
		}
		want := dhUnhex(t, v.Shared)
		if !bytes.Equal(mustShared(t, a, b.Public()), want) || !bytes.Equal(mustShared(t, b, a.Public()), want) {
			t.Errorf("%s: shared secret differs", v.Name)
		}
	}
}

// TestDHAgreement: two fresh parties agree in every group, with KE values and secrets of the
// RFCs' sizes.
func TestDHAgreement(t *testing.T) {
	for _, g := range dhGroups {
		if testing.Short() && g >= 17 && g <= 18 {
			continue
		}
		t.Run(dhGroupName(g), func(t *testing.T) {
			a, err := NewDH(g, cryptorand.Reader)
			if err != nil {
				t.Fatal(err)
			}
			b, err := NewDH(g, nil)
			if err != nil {
				t.Fatal(err)
			}
			if a.Group() != g || len(a.Public()) != dhWantPublicLen[g] || bytes.Equal(a.Public(), b.Public()) {
				t.Fatalf("group %d, %d-byte public value", a.Group(), len(a.Public()))
			}
			za, zb := mustShared(t, a, b.Public()), mustShared(t, b, a.Public())
			if !bytes.Equal(za, zb) {
				t.Fatal("the two parties derived different secrets")
			}
			if len(za) != dhWantSecretLen[g] {
				t.Errorf("secret has %d bytes, want %d", len(za), dhWantSecretLen[g])
			}
			if g >= 19 && bytes.Equal(za, a.Public()[:len(za)]) {
				t.Error("secret equals our own x coordinate")
			}
		})
	}
}

// modpBoundary returns the big-endian, p-length encoding of p + delta.
func modpBoundary(m *modpGroup, delta int64) []byte {
	v := new(big.Int).Add(m.p, big.NewInt(delta))
	if v.Sign() < 0 {
		v.SetInt64(0)
	}
	return v.FillBytes(make([]byte, m.bits/8))
}

// TestDHRejectsInvalidPublic covers RFC 6989's checks for every group, and the values just inside
// the MODP range, which must still be accepted.
func TestDHRejectsInvalidPublic(t *testing.T) {
	type tc struct {
		name string
		peer []byte
	}
	var f x25519File
	dhReadJSON(t, "dh_x25519.json", &f)
	if len(f.LowOrder) != 14 {
		t.Fatalf("%d low-order points, want 14", len(f.LowOrder))
	}
	for _, g := range dhGroups {
		t.Run(dhGroupName(g), func(t *testing.T) {
			d, err := NewDH(g, nil)
			if err != nil {
				t.Fatal(err)
			}
			other, _ := NewDH(g, nil)
			good := other.Public()
			n := len(good)
			bad := []tc{
				{"empty", nil},
				{"one byte short", good[:n-1]},
				{"one byte long", append(append([]byte{}, good...), 0)},
				{"zero-extended", append([]byte{0}, good...)},
				{"all zero (ECP: (0,0), how a naive encoder writes the identity)", make([]byte, n)},
			}
			if m := modpGroups[g]; m != nil {
				one := make([]byte, n)
				one[n-1] = 1
				bad = append(bad,
					tc{"1", one},
					tc{"p-1", modpBoundary(m, -1)},
					tc{"p", modpBoundary(m, 0)},
					tc{"p+1", modpBoundary(m, 1)},
					tc{"all ones", bytes.Repeat([]byte{0xff}, n)})
				two := make([]byte, n)
				two[n-1] = 2
				for _, ok := range []tc{{"2", two}, {"p-2", modpBoundary(m, -2)}} {
					if _, err := d.SharedSecret(ok.peer); err != nil {
						t.Errorf("%s rejected: %v", ok.name, err)
					}
				}
			}
			if g >= 19 && g <= 21 {
				c := n / 2
				curve := ecParams(g)
				x, y := new(big.Int).SetBytes(good[:c]), new(big.Int).SetBytes(good[c:])
				enc := func(x, y *big.Int) []byte {
					return append(x.FillBytes(make([]byte, c)), y.FillBytes(make([]byte, c))...)
				}
				yPlus1 := new(big.Int).Add(y, bigOne)
				yPlus1.Mod(yPlus1, curve.P)
				negY := new(big.Int).Sub(curve.P, y)
				bad = append(bad,
					tc{"SEC 1 uncompressed form", append([]byte{4}, good...)},
					tc{"off the curve (y+1)", enc(x, yPlus1)},
					tc{"x = p", enc(curve.P, y)},
					tc{"y = p", enc(x, curve.P)},
					tc{"all ones", bytes.Repeat([]byte{0xff}, n)})
				// The negated point is a valid point with the same x: accepted, same secret.
				z1, err1 := d.SharedSecret(good)
				z2, err2 := d.SharedSecret(enc(x, negY))
				if err1 != nil || err2 != nil || !bytes.Equal(z1, z2) {
					t.Errorf("-P: %v %v, secrets equal %v", err1, err2, bytes.Equal(z1, z2))
				}
			}
			if g == 31 {
				for _, lo := range f.LowOrder {
					bad = append(bad, tc{"low order " + lo[:8] + "…" + lo[62:], dhUnhex(t, lo)})
				}
			}
			for _, c := range bad {
				z, err := d.SharedSecret(c.peer)
				if !errors.Is(err, ErrInvalidPublic) || z != nil {
					t.Errorf("%s (%d bytes): got %v, want ErrInvalidPublic and no key", c.name, len(c.peer), err)
				}
			}
		})
	}
}

// ecParams returns the curve constants of an ECP group (from crypto/elliptic, independent of
// crypto/ecdh's validation).
func ecParams(g uint16) *elliptic.CurveParams {
	switch g {
	case 19:
		return elliptic.P256().Params()
	case 20:
		return elliptic.P384().Params()
	case 21:
		return elliptic.P521().Params()
	}
	return nil
}

// constReader is an endless stream of one byte value.
type constReader byte

func (c constReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(c)
	}
	return len(p), nil
}

type failReader struct{}

var errTestRandom = errors.New("test: random source failed")

func (failReader) Read([]byte) (int, error) { return 0, errTestRandom }

// TestNewDHRandomSource: the injected source alone decides the private value (deterministic
// tests of the engine depend on it), and a broken source is an error, never a weak key.
func TestNewDHRandomSource(t *testing.T) {
	seed := bytes.Repeat([]byte("oakley dh test "), 20)
	for _, g := range dhGroups {
		if testing.Short() && g >= 17 && g <= 18 {
			continue
		}
		a, err := NewDH(g, bytes.NewReader(seed))
		if err != nil {
			t.Fatalf("group %d: %v", g, err)
		}
		b, _ := NewDH(g, bytes.NewReader(seed))
		c, _ := NewDH(g, bytes.NewReader(seed[1:]))
		if !bytes.Equal(a.Public(), b.Public()) || bytes.Equal(a.Public(), c.Public()) {
			t.Errorf("group %d: the public value does not follow the random source", g)
		}
		if _, err := NewDH(g, failReader{}); !errors.Is(err, errTestRandom) {
			t.Errorf("group %d: failing source: %v", g, err)
		}
		if _, err := NewDH(g, bytes.NewReader(seed[:3])); err == nil {
			t.Errorf("group %d: a short source gave a key", g)
		}
	}
	// Sources whose every draw is out of range: zero (MODP: x < 2; ECP: 0) and, for ECP,
	// all ones (≥ n). X25519 accepts any 32 bytes, clamping them.
	for _, c := range []struct {
		g uint16
		r io.Reader
	}{{14, constReader(0)}, {2, constReader(0)}, {19, constReader(0)}, {19, constReader(0xff)},
		{20, constReader(0xff)}, {21, constReader(0xff)}, {21, constReader(0)}} {
		if d, err := NewDH(c.g, c.r); err == nil || d != nil || errors.Is(err, ErrUnknownGroup) {
			t.Errorf("group %d: degenerate source accepted (%v)", c.g, err)
		}
	}
	if _, err := NewDH(31, constReader(0)); err != nil {
		t.Errorf("X25519 with an all-zero seed (clamped to 2^254): %v", err)
	}
}

func TestNewDHUnknownGroup(t *testing.T) {
	for _, g := range []uint16{0, 3, 4, 22, 23, 24, 25, 26, 30, 32, 0xffff} {
		if d, err := NewDH(g, nil); !errors.Is(err, ErrUnknownGroup) || d != nil {
			t.Errorf("NewDH(%d): %v", g, err)
		}
		if _, err := newDHWithPrivate(g, []byte{1, 2, 3}); !errors.Is(err, ErrUnknownGroup) {
			t.Errorf("newDHWithPrivate(%d): %v", g, err)
		}
	}
}

func TestDHWipe(t *testing.T) {
	for _, g := range []uint16{14, 19, 31} {
		d, err := NewDH(g, nil)
		if err != nil {
			t.Fatal(err)
		}
		peer, _ := NewDH(g, nil)
		pub := d.Public()
		var words []big.Word
		if d.x != nil {
			words = d.x.Bits()
		}
		d.Wipe()
		for _, w := range words {
			if w != 0 {
				t.Fatalf("group %d: exponent not zeroed", g)
			}
		}
		if d.x != nil || d.priv != nil {
			t.Errorf("group %d: private value still referenced", g)
		}
		if z, err := d.SharedSecret(peer.Public()); !errors.Is(err, ErrDHWiped) || z != nil {
			t.Errorf("group %d: SharedSecret after Wipe: %v", g, err)
		}
		if !bytes.Equal(d.Public(), pub) {
			t.Errorf("group %d: Wipe changed the public value", g)
		}
		d.Wipe() // idempotent
	}
}

// TestDHNeverPrintsPrivate: no fmt verb reveals the private value.
func TestDHNeverPrintsPrivate(t *testing.T) {
	d, err := NewDH(14, nil)
	if err != nil {
		t.Fatal(err)
	}
	secrets := []string{d.x.String(), d.x.Text(16), fmt.Sprintf("%x", d.x.Bytes())}
	e, _ := NewDH(19, constReader(0x42))
	secrets = append(secrets, strings.Repeat("42", 32))
	for _, v := range []any{d, *d, e, []*DH{d, e}, struct{ K *DH }{d}} {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x", "%X", "%d", "%q"} {
			out := fmt.Sprintf(verb, v)
			for _, s := range secrets {
				if strings.Contains(strings.ToLower(out), strings.ToLower(s)) {
					t.Fatalf("%s of %T reveals the private value", verb, v)
				}
			}
		}
	}
	for _, v := range []any{d, *d} {
		if s := fmt.Sprintf("%+v", v); s != "DH(group 14)" {
			t.Errorf("%T prints as %q", v, s)
		}
	}
}

func TestDHPublicIsACopy(t *testing.T) {
	d, _ := NewDH(31, nil)
	p := d.Public()
	p[0] ^= 0xff
	if bytes.Equal(d.Public(), p) {
		t.Error("Public returned the internal slice")
	}
}

// BenchmarkDH measures one side of one exchange: key generation plus the shared secret.
func BenchmarkDH(b *testing.B) {
	for _, g := range dhGroups {
		b.Run(dhGroupName(g), func(b *testing.B) {
			peer, err := NewDH(g, nil)
			if err != nil {
				b.Fatal(err)
			}
			pub := peer.Public()
			b.ReportAllocs()
			for b.Loop() {
				d, err := NewDH(g, nil)
				if err != nil {
					b.Fatal(err)
				}
				z, err := d.SharedSecret(pub)
				if err != nil {
					b.Fatal(err)
				}
				z.Wipe()
				d.Wipe()
			}
		})
	}
}

// x25519Reference is RFC 7748 §5's Montgomery ladder in math/big, independent of crypto/ecdh.
func x25519Reference(scalar, u []byte) []byte {
	p := new(big.Int).Sub(new(big.Int).Lsh(bigOne, 255), big.NewInt(19))
	le := func(b []byte) *big.Int {
		r := make([]byte, len(b))
		for i := range b {
			r[len(b)-1-i] = b[i]
		}
		return new(big.Int).SetBytes(r)
	}
	k := append([]byte(nil), scalar...)
	k[0] &= 248
	k[31] = k[31]&127 | 64
	uu := append([]byte(nil), u...)
	uu[31] &= 127 // §5: mask the most significant bit
	kk, x1 := le(k), new(big.Int).Mod(le(uu), p)
	x2, z2, x3, z3 := big.NewInt(1), big.NewInt(0), new(big.Int).Set(x1), big.NewInt(1)
	mod := func(v *big.Int) *big.Int { return v.Mod(v, p) }
	a24 := big.NewInt(121665)
	for t := 254; t >= 0; t-- {
		if kk.Bit(t) == 1 {
			x2, x3, z2, z3 = x3, x2, z3, z2
		}
		a := mod(new(big.Int).Add(x2, z2))
		aa := mod(new(big.Int).Mul(a, a))
		b := mod(new(big.Int).Sub(x2, z2))
		bb := mod(new(big.Int).Mul(b, b))
		e := mod(new(big.Int).Sub(aa, bb))
		c := mod(new(big.Int).Add(x3, z3))
		d := mod(new(big.Int).Sub(x3, z3))
		da := mod(new(big.Int).Mul(d, a))
		cb := mod(new(big.Int).Mul(c, b))
		x3 = mod(new(big.Int).Exp(new(big.Int).Add(da, cb), big.NewInt(2), p))
		z3 = mod(new(big.Int).Mul(x1, mod(new(big.Int).Exp(new(big.Int).Sub(da, cb), big.NewInt(2), p))))
		x2 = mod(new(big.Int).Mul(aa, bb))
		z2 = mod(new(big.Int).Mul(e, mod(new(big.Int).Add(aa, mod(new(big.Int).Mul(a24, e))))))
		if kk.Bit(t) == 1 {
			x2, x3, z2, z3 = x3, x2, z3, z2
		}
	}
	r := mod(new(big.Int).Mul(x2, new(big.Int).Exp(z2, new(big.Int).Sub(p, big.NewInt(2)), p)))
	out := r.FillBytes(make([]byte, 32))
	for i, j := 0, 31; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out
}

func TestX25519Reference(t *testing.T) {
	var f x25519File
	dhReadJSON(t, "dh_x25519.json", &f)
	for _, v := range f.X25519 {
		if !bytes.Equal(x25519Reference(dhUnhex(t, v.Scalar), dhUnhex(t, v.U)), dhUnhex(t, v.Out)) {
			t.Fatalf("%s: the test's own ladder is wrong", v.Name)
		}
	}
	for _, lo := range f.LowOrder {
		if !bytes.Equal(x25519Reference(bytes.Repeat([]byte{0x77}, 32), dhUnhex(t, lo)), make([]byte, 32)) {
			t.Errorf("%s is not of low order", lo)
		}
	}
}

// dhOracle decides, independently of dh.go, whether peer is a valid KE value for the party's
// group (RFC 6989) and, where it can, what the shared secret must be.
func dhOracle(g uint16, priv, peer []byte) (valid bool, want []byte) {
	if len(peer) != dhWantPublicLen[g] {
		return false, nil
	}
	switch {
	case g == 31:
		z := x25519Reference(priv, peer)
		return !bytes.Equal(z, make([]byte, 32)), z
	case g >= 19:
		c := ecParams(g)
		n := len(peer) / 2
		x, y := new(big.Int).SetBytes(peer[:n]), new(big.Int).SetBytes(peer[n:])
		if x.Cmp(c.P) >= 0 || y.Cmp(c.P) >= 0 {
			return false, nil
		}
		// y² = x³ - 3x + b (mod p)
		lhs := new(big.Int).Mul(y, y)
		rhs := new(big.Int).Exp(x, big.NewInt(3), nil)
		rhs.Sub(rhs, new(big.Int).Mul(x, big.NewInt(3)))
		rhs.Add(rhs, c.B)
		if diff := new(big.Int).Sub(lhs, rhs); diff.Mod(diff, c.P).Sign() != 0 {
			return false, nil
		}
		return true, nil
	default:
		m := modpGroups[g]
		y := new(big.Int).SetBytes(peer)
		if y.Cmp(big.NewInt(1)) <= 0 || y.Cmp(new(big.Int).Sub(m.p, big.NewInt(1))) >= 0 {
			return false, nil
		}
		z := new(big.Int).Exp(y, new(big.Int).SetBytes(priv), m.p)
		return true, z.FillBytes(make([]byte, len(peer)))
	}
}

// FuzzSharedSecret feeds arbitrary peer values to a fixed party of each group (sel picks the
// group): no panic, every value the oracle calls invalid is rejected with ErrInvalidPublic and
// no key, every valid one is accepted with a secret of the right size (and, for MODP and X25519,
// the right value).
func FuzzSharedSecret(f *testing.F) {
	type party struct {
		d    *DH
		priv []byte
	}
	parties := map[uint16]party{}
	for i, g := range dhGroups {
		params, _ := dhParamsFor(g)
		priv := bytes.Repeat([]byte{byte(0x11 + i)}, params.scalarLen)
		priv[0] &= params.topMask
		d, err := newDHWithPrivate(g, priv)
		if err != nil {
			f.Fatal(err)
		}
		parties[g] = party{d, priv}
		peer, err := NewDH(g, constReader(0x5a))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(uint8(i), peer.Public())
		f.Add(uint8(i), make([]byte, dhWantPublicLen[g]))
	}
	f.Fuzz(func(t *testing.T, sel uint8, peer []byte) {
		g := dhGroups[int(sel)%len(dhGroups)]
		p := parties[g]
		z, err := p.d.SharedSecret(peer)
		valid, want := dhOracle(g, p.priv, peer)
		if !valid {
			if !errors.Is(err, ErrInvalidPublic) || z != nil {
				t.Fatalf("group %d: invalid %d-byte value: err %v, key %v", g, len(peer), err, z != nil)
			}
			return
		}
		if err != nil {
			t.Fatalf("group %d: valid value rejected: %v", g, err)
		}
		if len(z) != dhWantSecretLen[g] || (want != nil && !bytes.Equal(z, want)) {
			t.Fatalf("group %d: wrong shared secret", g)
		}
	})
}
