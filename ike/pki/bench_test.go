package pki

import (
	"crypto/rand"
	"crypto/x509"
	"testing"
)

// Signing and verification cost per IKE SA authentication. Report as ops/s:
//
//	go test ./ike/pki -run '^$' -bench . -benchtime 2s

type benchCase struct {
	name   string
	key    string
	v1     V1Method
	v2     V2Method
	scheme Scheme
}

var benchCases = []benchCase{
	{name: "RSA3072/IKEv1-method3", key: "rsa3072", v1: V1RSASig},
	{name: "RSA3072/IKEv2-PKCS1-SHA256", key: "rsa3072", v2: V2DigitalSignature, scheme: RSAPKCS1SHA256},
	{name: "RSA3072/IKEv2-PSS-SHA256", key: "rsa3072", v2: V2DigitalSignature, scheme: RSAPSSSHA256},
	{name: "P256/IKEv1-method9", key: "p256", v1: V1ECDSA256},
	{name: "P256/IKEv2-method9", key: "p256", v2: V2ECDSA256},
	{name: "P256/IKEv2-ECDSA-SHA256", key: "p256", v2: V2DigitalSignature, scheme: ECDSASHA256},
	{name: "Ed25519/IKEv2", key: "ed25519", v2: V2DigitalSignature, scheme: Ed25519},
}

func (c benchCase) sign(b *testing.B, data []byte) []byte {
	key := testKey(b, c.key)
	var sig []byte
	var err error
	if c.v1 != 0 {
		sig, err = SignV1(rand.Reader, key, c.v1, data)
	} else {
		sig, err = SignV2(rand.Reader, key, c.v2, c.scheme, data)
	}
	if err != nil {
		b.Fatal(err)
	}
	return sig
}

func benchData(c benchCase) []byte {
	if c.v1 == V1RSASig {
		return make([]byte, 32) // HASH_I with HMAC-SHA-256
	}
	if c.v1 != 0 {
		return make([]byte, c.v1.AuthHash().Size())
	}
	return make([]byte, 600) // IKE_SA_INIT message + nonce + prf output
}

func BenchmarkSign(b *testing.B) {
	for _, c := range benchCases {
		b.Run(c.name, func(b *testing.B) {
			data := benchData(c)
			c.sign(b, data)
			b.ReportAllocs()
			for b.Loop() {
				c.sign(b, data)
			}
		})
	}
}

func BenchmarkVerify(b *testing.B) {
	for _, c := range benchCases {
		b.Run(c.name, func(b *testing.B) {
			data := benchData(c)
			sig := c.sign(b, data)
			pub := testKey(b, c.key).Public()
			b.ReportAllocs()
			for b.Loop() {
				var err error
				if c.v1 != 0 {
					err = VerifyV1(pub, c.v1, data, sig)
				} else {
					_, err = VerifyV2(pub, c.v2, data, sig)
				}
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkTrustVerify is the certificate path check of one authentication (RSA-3072 root,
// P-384 intermediate, P-256 leaf, one CRL).
func BenchmarkTrustVerify(b *testing.B) {
	p := standardPKI(b)
	tr, err := NewTrust([]*x509.Certificate{p.root.cert}, nil, []*x509.RevocationList{mkCRL(b, p.inter, validTo)})
	if err != nil {
		b.Fatal(err)
	}
	chain := []*x509.Certificate{p.leaf.cert, p.inter.cert}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := tr.Verify(chain, testNow); err != nil {
			b.Fatal(err)
		}
	}
}
