package pki

import (
	"bytes"
	"encoding/hex"
	"testing"
)

// RFC 7427 Appendix A (and RFC 8420 §2 for Ed25519): the AlgorithmIdentifier bytes the RFCs
// print. The PSS forms are A.4.3 as corrected by its erratum (no explicit trailer field),
// which is also what strongSwan builds (test_signature_params.c).
var rfc7427AlgIDs = []struct {
	scheme Scheme
	der    string
}{
	{RSAPKCS1SHA256, "300d06092a864886f70d01010b0500"}, // A.1.2
	{RSAPKCS1SHA384, "300d06092a864886f70d01010c0500"}, // A.1.3
	{RSAPKCS1SHA512, "300d06092a864886f70d01010d0500"}, // A.1.4
	{ECDSASHA256, "300a06082a8648ce3d040302"},          // A.3.2
	{ECDSASHA384, "300a06082a8648ce3d040303"},          // A.3.3
	{ECDSASHA512, "300a06082a8648ce3d040304"},          // A.3.4
	{RSAPSSSHA256, "304106092a864886f70d01010a3034a00f300d06096086480165030402010500a11c301a06092a864886f70d010108300d06096086480165030402010500a203020120"}, // A.4.3 (erratum)
	{RSAPSSSHA512, "304106092a864886f70d01010a3034a00f300d06096086480165030402030500a11c301a06092a864886f70d010108300d06096086480165030402030500a203020140"}, // strongSwan's SHA-512 form
	{Ed25519, "300506032b6570"}, // RFC 8420
	{RSAPSSSHA384, "304106092a864886f70d01010a3034a00f300d06096086480165030402020500a11c301a06092a864886f70d010108300d06096086480165030402020500a203020130"}, // same shape, SHA-384
}

func TestRFC7427AlgorithmIdentifiers(t *testing.T) {
	for _, c := range rfc7427AlgIDs {
		got, err := c.scheme.AlgorithmIdentifier()
		wantErr(t, err, nil)
		if hex.EncodeToString(got) != c.der {
			t.Errorf("%v:\n got %x\nwant %s", c.scheme, got, c.der)
		}
		blob := append(append([]byte{byte(len(got))}, got...), 0xaa, 0xbb)
		sa, err := DecodeSignatureAuth(blob)
		wantErr(t, err, nil)
		if sa.Scheme != c.scheme || !bytes.Equal(sa.Signature, []byte{0xaa, 0xbb}) {
			t.Errorf("%v decoded as %+v", c.scheme, sa)
		}
	}
}

func TestRFC7427Decode(t *testing.T) {
	cases := []struct {
		name   string
		der    string
		scheme Scheme
		salt   int
		kind   error
	}{
		// A.4.3 as printed in the RFC, with an explicit trailerField 1.
		{"A.4.3 with trailer", "304606092a864886f70d01010a3039a00f300d06096086480165030402010500a11c301a06092a864886f70d010108300d06096086480165030402010500a203020120a303020101", RSAPSSSHA256, 32, nil},
		{"PSS SHA-256 no salt", "304106092a864886f70d01010a3034a00f300d06096086480165030402010500a11c301a06092a864886f70d010108300d06096086480165030402010500a203020100", RSAPSSSHA256, 0, nil},
		{"PKCS1 SHA-256 without NULL", "300b06092a864886f70d01010b", RSAPKCS1SHA256, 0, nil},
		{"A.1.1 sha1WithRSAEncryption", "300d06092a864886f70d0101050500", 0, 0, ErrUnsupportedAlgorithm},
		{"A.2.1 dsa-with-sha1", "300906072a8648ce380403", 0, 0, ErrUnsupportedAlgorithm},
		{"A.2.2 dsa-with-sha256", "300b0609608648016503040302", 0, 0, ErrUnsupportedAlgorithm},
		{"A.3.1 ecdsa-with-sha1", "300906072a8648ce3d0401", 0, 0, ErrUnsupportedAlgorithm},
		{"A.4.1 PSS empty parameters (SHA-1)", "300d06092a864886f70d01010a3000", 0, 0, ErrUnsupportedAlgorithm},
		{"A.4.2 PSS default SHA-1 parameters", "303e06092a864886f70d01010a3031a00b300906052b0e03021a0500a118301606092a864886f70d010108300906052b0e03021a0500a203020114a303020101", 0, 0, ErrUnsupportedAlgorithm},
		{"PSS without parameters", "300b06092a864886f70d01010a", 0, 0, ErrUnsupportedAlgorithm},
		{"PSS only hash (MGF1-SHA-1)", "301e06092a864886f70d01010a3011a00f300d06096086480165030402010500", 0, 0, ErrUnsupportedAlgorithm},
		{"PSS MGF1 hash differs", "304106092a864886f70d01010a3034a00f300d06096086480165030402010500a11c301a06092a864886f70d010108300d06096086480165030402030500a203020120", 0, 0, ErrUnsupportedAlgorithm},
		{"PSS unknown MGF", "302b06092a864886f70d01010a301ea11c301a06092a864886f70d010100300d06096086480165030402010500", 0, 0, ErrUnsupportedAlgorithm},
		{"PSS trailer 2", "301206092a864886f70d01010a3005a303020102", 0, 0, ErrUnsupportedAlgorithm},
		{"PSS trailer 2 with SHA-256", "304606092a864886f70d01010a3039a00f300d06096086480165030402010500a11c301a06092a864886f70d010108300d06096086480165030402010500a203020120a303020102", 0, 0, ErrMalformed},
		{"PSS negative salt", "304106092a864886f70d01010a3034a00f300d06096086480165030402010500a11c301a06092a864886f70d010108300d06096086480165030402010500a2030201ff", 0, 0, ErrMalformed},
		{"ECDSA with NULL parameters", "300c06082a8648ce3d0403020500", 0, 0, ErrMalformed},
		{"Ed448", "300506032b6571", 0, 0, ErrUnsupportedAlgorithm},
		{"unknown OID", "300506032a0304", 0, 0, ErrUnsupportedAlgorithm},
		{"trailing byte inside the length", "300506032b657000", 0, 0, ErrMalformed},
		{"not DER", "310506032b6570", 0, 0, ErrMalformed},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			der := mustHex(c.der)
			sa, err := DecodeSignatureAuth(append(append([]byte{byte(len(der))}, der...), 1, 2, 3))
			if c.kind != nil {
				wantErr(t, err, c.kind)
				return
			}
			wantErr(t, err, nil)
			if sa.Scheme != c.scheme || sa.PSSSaltLen != c.salt {
				t.Errorf("decoded %+v, want %v salt %d", sa, c.scheme, c.salt)
			}
		})
	}
}

func TestDecodeSignatureAuthPrefixes(t *testing.T) {
	blob, err := EncodeSignatureAuth(RSAPSSSHA256, []byte{1, 2, 3, 4})
	wantErr(t, err, nil)
	n := int(blob[0])
	for i := 0; i <= n+1; i++ { // every prefix without a signature byte
		if _, err := DecodeSignatureAuth(blob[:i]); err == nil {
			t.Fatalf("prefix of %d bytes accepted", i)
		} else if i > 0 {
			wantErr(t, err, ErrMalformed)
		}
	}
	for i := n + 2; i <= len(blob); i++ {
		if _, err := DecodeSignatureAuth(blob[:i]); err != nil {
			t.Fatalf("prefix of %d bytes (signature present) refused: %v", i, err)
		}
	}
	// A length byte that points past the AlgorithmIdentifier or short of it.
	for _, d := range []int{-1, 1} {
		b := append([]byte(nil), blob...)
		b[0] = byte(n + d)
		if _, err := DecodeSignatureAuth(b); err == nil {
			t.Errorf("length %d accepted", n+d)
		}
	}
	_, err = DecodeSignatureAuth(append([]byte{0}, blob...))
	wantErr(t, err, ErrMalformed)
	_, err = EncodeSignatureAuth(SchemeNone, nil)
	wantErr(t, err, ErrUnsupportedAlgorithm)
}
