package ikev1

// Fuzz targets for what this package added to the network's reach:
//   - FuzzPKEOpen: any payload chain as the encrypted message 3 of a Main Mode with public-key
//     encryption (original or revised), opened by a responder: no panic, never an error
//     that depends on a decryption (only a missing payload may fail), the exchange always
//     goes on (keys derived, our answer encrypted), and marked bad (random bytes never
//     decrypt to a valid nonce and identity);
//   - FuzzReassembly: any sequence of datagrams into the fragment reassembler: no panic,
//     the bounds hold, a completed message belongs to its fragments' SA.
// Seeds: testdata/fuzz/FuzzPKEOpen, testdata/fuzz/FuzzReassembly, and the f.Add calls.

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/binary"
	"errors"
	"net/netip"
	"testing"
	"time"

	"oakley/crypto"
	"oakley/ike/core"
	"oakley/ike/core/coretest"
	"oakley/ike/isakmp"
)

// pkeResponderCore is a core with one PKE responder connection (RSA, the peer pinned).
func pkeResponderCore(f *testing.F) (*Protocol, *core.Conn, *rsa.PublicKey) {
	p := newTestPKI(f, "rsa2048")
	ca, cb := pairConfig(f, []string{"aes256-sha256-ecp256"}, []string{"aes256-sha256"})
	ea, _ := useCerts(f, p, "rsa2048", ca, cb)
	cb.Auth, cb.InsecureAlgorithms = "pke", true
	cb.Trust = pinnedTrust(f, ea.cert)
	c, err := newTestCore(core.Config{Connections: []*core.Connection{cb}, Dataplane: coretest.NewFakeDP(), Rand: coretest.NewSeededRand(3)}, core.NewCounters())
	if err != nil {
		f.Fatal(err)
	}
	c.Now = epoch
	return c, connNamed(c, "ba"), cb.Creds.Leaf().PublicKey.(*rsa.PublicKey)
}

// encodeChain returns the first payload type and the encoded chain of payloads.
func encodeChain(f *testing.F, payloads ...isakmp.Payload) (byte, []byte) {
	c, err := isakmp.EncodePayloads(payloads)
	if err != nil {
		f.Fatal(err)
	}
	return byte(payloads[0].Type()), c.Bytes
}

func FuzzPKEOpen(f *testing.F) {
	c, cs, pub := pkeResponderCore(f)
	enc := func(b []byte) []byte {
		out, err := rsa.EncryptPKCS1v15(rand.Reader, pub, b)
		if err != nil {
			f.Fatal(err)
		}
		return out
	}
	ke := make([]byte, 64)
	// Original mode: KE, ID (encrypted), Nonce (encrypted); a random-content nonce.
	first, body := encodeChain(f, &isakmp.KeyExchange{Data: ke}, payloadFromBody(isakmp.PayloadID, enc([]byte{2, 0, 0, 0, 'a', '.', 't', 'e', 's', 't'})),
		&isakmp.Nonce{Data: enc(make([]byte, 32))})
	f.Add(byte(isakmp.AuthRSAEnc), first, body)
	// Revised mode: Nonce (RSA), KE and ID (symmetric), a CERT; and HASH(1) in front.
	first, body = encodeChain(f, &isakmp.Hash{Data: make([]byte, 32)}, &isakmp.Nonce{Data: enc(make([]byte, 16))}, &isakmp.KeyExchange{Data: make([]byte, 80)},
		payloadFromBody(isakmp.PayloadID, make([]byte, 16)), payloadFromBody(isakmp.PayloadCert, make([]byte, 48)))
	f.Add(byte(isakmp.AuthRSAEncRevised), first, body)
	f.Add(byte(isakmp.AuthRSAEnc), byte(isakmp.PayloadNonce), []byte{0, 0, 0, 5, 1})

	f.Fuzz(func(t *testing.T, method, first byte, body []byte) {
		chain, err := isakmp.DecodePayloads(isakmp.PayloadType(first), body, isakmp.DecodeOptions{})
		if err != nil {
			return
		}
		sa := newIKESA(c, false)
		sa.Conn, sa.candidates = cs, []*core.Conn{cs}
		sa.ckyI, sa.ckyR = isakmp.Cookie{1, 2, 3}, isakmp.Cookie{4, 5, 6}
		m := isakmp.AuthRSAEnc
		if method&1 == 1 {
			m = isakmp.AuthRSAEncRevised
		}
		sa.tr = p1Transform{enc: crypto.Lookup("aes256"), hash: crypto.Lookup("sha256"), group: crypto.Lookup("ecp256"), auth: m}
		sa.auth = newAuthenticator(cs.Cfg, m)
		sa.setLog()
		if err := sa.newKeyExchange(); err != nil {
			t.Fatal(err)
		}
		o, err := sa.pkeOpen(chain)
		hasAll := chain.Index(isakmp.PayloadNonce) >= 0 && chain.Index(isakmp.PayloadKE) >= 0 && chain.Index(isakmp.PayloadID) >= 0
		if err != nil {
			if hasAll || !errors.Is(err, ErrMalformed) {
				t.Fatalf("opening failed although the structure is complete: %v", err)
			}
			return
		}
		sa.gxi, sa.ni = o.ke, o.nonce
		sa.pkeResponderPick(o)
		if err := sa.deriveKeys(sa.gxi); err != nil {
			t.Fatalf("deriving keys failed (the exchange must go on): %v", err)
		}
		if _, err := sa.pkeOwnPayloads(); err != nil {
			t.Fatalf("answering failed: %v", err)
		}
		if sa.pke.bad != 1 {
			t.Fatal("random ciphertexts decrypted to a valid nonce and identity")
		}
		if len(sa.pke.peerIDB) < 4 {
			t.Fatal("identity body shorter than its fixed part")
		}
		sa.keys.wipe()
	})
}

// splitDatagrams reads a fuzz input as datagrams, each preceded by a 2-byte length and a
// 1-byte source selector.
func splitDatagrams(b []byte) (out [][]byte, srcs []byte) {
	for len(b) >= 3 {
		n := int(binary.BigEndian.Uint16(b))
		src := b[2]
		b = b[3:]
		if n > len(b) {
			n = len(b)
		}
		out, srcs = append(out, b[:n]), append(srcs, src)
		b = b[n:]
	}
	return out, srcs
}

func FuzzReassembly(f *testing.F) {
	c, err := newTestCore(core.Config{Dataplane: coretest.NewFakeDP()}, core.NewCounters())
	if err != nil {
		f.Fatal(err)
	}
	// A message in three fragments, in order and shuffled with a duplicate.
	whole, err := isakmp.EncodeMessage(isakmp.Header{InitiatorCookie: isakmp.Cookie{1}, ResponderCookie: isakmp.Cookie{2}, ExchangeType: isakmp.ExchangeMainMode},
		[]isakmp.Payload{&isakmp.VendorID{Data: make([]byte, 250)}})
	if err != nil {
		f.Fatal(err)
	}
	var frags [][]byte
	for i := 0; i < 3; i++ {
		fr := &isakmp.Fragment{ID: 1, Number: uint8(i + 1), Data: whole.Raw[i*100 : min(len(whole.Raw), (i+1)*100)]}
		if i == 2 {
			fr.Flags = isakmp.FragmentLast
		}
		m, _ := isakmp.EncodeMessage(isakmp.Header{InitiatorCookie: isakmp.Cookie{1}, ResponderCookie: isakmp.Cookie{2}, ExchangeType: isakmp.ExchangeMainMode}, []isakmp.Payload{fr})
		frags = append(frags, m.Raw)
	}
	join := func(order ...int) []byte {
		var b []byte
		for _, i := range order {
			b = binary.BigEndian.AppendUint16(b, uint16(len(frags[i])))
			b = append(b, 0)
			b = append(b, frags[i]...)
		}
		return b
	}
	f.Add(join(0, 1, 2))
	f.Add(join(2, 0, 0, 1))
	f.Fuzz(func(t *testing.T, in []byte) {
		now := epoch
		dgrams, srcs := splitDatagrams(in)
		for i, d := range dgrams {
			m, err := isakmp.DecodeMessage(d)
			if err != nil || m.Header.NextPayload != isakmp.PayloadFragment {
				continue
			}
			from := netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, 18, 0, srcs[i] % 4}), 500)
			got := c.handleFragment(now, &inbound{Datagram: &core.Datagram{Raw: d, From: from}, msg: m})
			if got != nil {
				wh, err := isakmp.DecodeHeader(got.Raw)
				if err != nil || wh.InitiatorCookie != m.Header.InitiatorCookie || wh.ResponderCookie != m.Header.ResponderCookie || len(got.Raw) > maxReassembled {
					t.Fatalf("completed a message that does not belong to its fragments (%v)", err)
				}
			}
			if n := len(c.reasm.m); n > maxReassemblies {
				t.Fatalf("%d reassemblies, bound %d", n, maxReassemblies)
			}
			for src, n := range c.reasm.bySrc {
				if n > maxReassembliesSrc {
					t.Fatalf("%d reassemblies from %s", n, src)
				}
			}
			now = now.Add(time32(srcs[i]))
		}
	})
}

// time32 advances the clock by up to 32 s, so fuzzing reaches the expiry.
func time32(b byte) time.Duration { return time.Duration(b%33) * time.Second }
