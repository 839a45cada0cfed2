package wire

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"oakley/crypto"
)

// vector is one "LABEL HEX" line of a testdata/strongswan-*.hex file.
type vector struct {
	label string
	data  []byte
}

func loadVectors(t testing.TB, name string) []vector {
	t.Helper()
	var vs []vector
	for _, fs := range readFields(t, name) {
		if len(fs) != 2 {
			t.Fatalf("%s: bad line %q", name, strings.Join(fs, " "))
		}
		vs = append(vs, vector{fs[0], mustHex(t, fs[1])})
	}
	if len(vs) == 0 {
		t.Fatalf("%s: no vectors", name)
	}
	return vs
}

// readFields returns the whitespace-separated fields of every non-comment line.
func readFields(t testing.TB, name string) [][]string {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out [][]string
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		out = append(out, strings.Fields(line))
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// sessionKeys is one IKE SA of a strongswan-*-keys.txt file.
type sessionKeys struct {
	spii, spir SPI
	proposal   string
	sk         map[string][]byte
}

// recording is a whole strongSwan session: datagrams, keys and the logged IDx' octets.
type recording struct {
	name string
	msgs []vector
	sas  []*sessionKeys
	idx  [][]byte // IDx' octets charon hashed: [0] its own IDi, [1] the peer's IDr
}

func loadRecording(t testing.TB, name string) *recording {
	t.Helper()
	r := &recording{name: name, msgs: loadVectors(t, "strongswan-"+name+".hex")}
	for _, fs := range readFields(t, "strongswan-"+name+"-keys.txt") {
		switch {
		case fs[0] == "sa" && len(fs) == 5:
			s := &sessionKeys{proposal: fs[4], sk: map[string][]byte{}}
			copy(s.spii[:], mustHex(t, fs[2]))
			copy(s.spir[:], mustHex(t, fs[3]))
			r.sas = append(r.sas, s)
		case strings.HasPrefix(fs[0], "SK_") && len(fs) == 2 && len(r.sas) > 0:
			r.sas[len(r.sas)-1].sk[fs[0]] = mustHex(t, fs[1])
		case fs[0] == "IDx'" && len(fs) == 2:
			r.idx = append(r.idx, mustHex(t, fs[1]))
		default:
			t.Fatalf("%s keys: bad line %q", name, strings.Join(fs, " "))
		}
	}
	if len(r.sas) == 0 {
		t.Fatalf("%s: no keys", name)
	}
	return r
}

// msg returns the datagram with the given label.
func (r *recording) msg(t testing.TB, label string) []byte {
	t.Helper()
	for _, v := range r.msgs {
		if v.label == label {
			return v.data
		}
	}
	t.Fatalf("%s: no message %s", r.name, label)
	return nil
}

// keysFor returns the IKE SA keys of a message's SPIs.
func (r *recording) keysFor(t testing.TB, b []byte) *sessionKeys {
	t.Helper()
	h, err := DecodeHeader(b)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range r.sas {
		if s.spii == h.SPIi && s.spir == h.SPIr {
			return s
		}
	}
	t.Fatalf("%s: no keys for SPIs %s/%s", r.name, h.SPIi, h.SPIr)
	return nil
}

// strongSwan's IKE proposal names (the log's "selected proposal: IKE:...") in the registry.
var swanAlgs = map[string]string{
	"AES_CBC_256": "aes256", "AES_CBC_128": "aes128", "AES_GCM_16_128": "aes128gcm16",
	"AES_GCM_16_256": "aes256gcm16", "CHACHA20_POLY1305": "chacha20poly1305",
	"HMAC_SHA2_256_128": "sha256", "HMAC_SHA1_96": "sha1",
}

// ciphers returns the SKCiphers of both directions of an IKE SA: the initiator's (SK_ei/SK_ai)
// and the responder's (SK_er/SK_ar), for the ENCR and INTEG of the logged proposal.
func (s *sessionKeys) ciphers(t testing.TB) (i2r, r2i *SKCipher) {
	t.Helper()
	var encr, integ *crypto.Algorithm
	for _, name := range strings.Split(s.proposal, "/") {
		if kw, ok := swanAlgs[name]; ok {
			a := crypto.Lookup(kw)
			if a.Kind == crypto.KindEncr {
				encr = a
			} else {
				integ = a
			}
		}
	}
	if encr == nil || encr.AEAD != (integ == nil) {
		t.Fatalf("proposal %s: encr %v integ %v", s.proposal, encr, integ)
	}
	var err error
	if i2r, err = NewSKCipher(encr, integ, s.sk["SK_ei"], s.sk["SK_ai"], zeroReader{}); err != nil {
		t.Fatal(err)
	}
	if r2i, err = NewSKCipher(encr, integ, s.sk["SK_er"], s.sk["SK_ar"], zeroReader{}); err != nil {
		t.Fatal(err)
	}
	return i2r, r2i
}

// cipherFor returns the cipher that opens message b (by its I flag).
func (r *recording) cipherFor(t testing.TB, b []byte) *SKCipher {
	t.Helper()
	i2r, r2i := r.keysFor(t, b).ciphers(t)
	if h, _ := DecodeHeader(b); h.FromInitiator() {
		return i2r
	}
	return r2i
}

var recordings = []string{"psk-cbc", "psk-gcm", "psk-cbc-frag", "cert-chacha"}

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func seq(n int, start byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = start + byte(i)
	}
	return b
}

// zeroReader and fixedReader are the injected randomness of the tests.
type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) { clear(p); return len(p), nil }

type fixedReader struct{ b []byte }

func (r *fixedReader) Read(p []byte) (int, error) {
	if len(r.b) < len(p) {
		return 0, errors.New("fixedReader: exhausted")
	}
	n := copy(p, r.b)
	r.b = r.b[n:]
	return n, nil
}

func sampleHeader() Header {
	return Header{
		SPIi:      SPI{1, 2, 3, 4, 5, 6, 7, 8},
		SPIr:      SPI{9, 10, 11, 12, 13, 14, 15, 16},
		Exchange:  ExchangeIKEAuth,
		Flags:     FlagInitiator,
		MessageID: 1,
	}
}

// samplePayloads returns one or more payloads of every type this package encodes in the
// clear (every type but SK and SKF), with every field set.
func samplePayloads() []Payload {
	tsi := TSFromPrefix(netip.MustParsePrefix("192.0.2.0/24"))
	tsi.Protocol, tsi.StartPort, tsi.EndPort = 6, 80, 443
	ts6, _ := TSFromRange(netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("2001:db8::ff"))
	opaque := TSFromPrefix(netip.MustParsePrefix("198.51.100.7/32"))
	opaque.Protocol, opaque.StartPort, opaque.EndPort = 17, 0xffff, 0
	sigAuth, err := NewDigitalSignatureAuth(mustHexS("300d06092a864886f70d01010b0500"), seq(256, 7))
	if err != nil {
		panic(err)
	}
	return []Payload{
		&SA{Proposals: []Proposal{
			{Number: 1, Protocol: ProtoIKE, Transforms: []Transform{
				TransformFor(crypto.Lookup("aes256")), TransformFor(crypto.Lookup("sha256")),
				TransformFor(crypto.Lookup("prfsha256")), TransformFor(crypto.Lookup("modp2048")),
			}},
			{Number: 2, Protocol: ProtoIKE, SPI: seq(8, 0xa0), Transforms: []Transform{
				TransformFor(crypto.Lookup("aes128gcm16")), TransformFor(crypto.Lookup("prfsha384")),
				TransformFor(crypto.Lookup("ecp256")),
				{Type: TransformADDKE1, ID: 35, Attributes: []Attribute{{Type: 17, Data: []byte{1, 2, 3}}}},
			}},
			{Number: 3, Protocol: ProtoESP, SPI: seq(4, 0xc0), Transforms: []Transform{
				TransformFor(crypto.Lookup("chacha20poly1305")), TransformFor(crypto.Lookup("esn")),
			}},
		}},
		&KeyExchange{Group: 19, Data: seq(64, 1)},
		&Nonce{Data: seq(32, 0x40)},
		&Identification{IDType: IDFQDN, Data: []byte("left.example")},
		&Identification{Responder: true, IDType: IDDERASN1DN, Data: mustHexS("301b310b3009060355040613025858310c300a06035504031303726967")},
		IDFromAddr(netip.MustParseAddr("2001:db8::1"), false),
		&Identification{IDType: IDKeyID, Data: []byte{0xde, 0xad}},
		&Certificate{Encoding: CertX509Signature, Data: seq(40, 0x30)},
		&Certificate{Encoding: CertHashURLX509, Data: append(seq(20, 1), "http://cert.example/c.der"...)},
		&CertificateRequest{Encoding: CertX509Signature, Data: seq(40, 9)},
		&CertificateRequest{Encoding: CertX509Signature},
		&Auth{Method: AuthSharedKeyMIC, Data: seq(32, 0x77)},
		sigAuth,
		NewNotify(NotifyInitialContact, nil),
		NewNotify(NotifySetWindowSize, []byte{0, 0, 0, 10}),
		NewChildNotify(ProtoESP, 0xc0ffee01, NotifyRekeySA, nil),
		NewNotify(NotifyCookie, seq(32, 3)),
		NewHashAlgorithms(HashSHA2_256, HashSHA2_384, HashSHA2_512, HashIdentity),
		&Delete{Protocol: ProtoIKE},
		&Delete{Protocol: ProtoESP, SPIs: []uint32{0xc0ffee01, 0xc0ffee02}},
		&VendorID{Data: []byte("oakley")},
		&TrafficSelectors{Selectors: []TrafficSelector{tsi, ts6}},
		&TrafficSelectors{Responder: true, Selectors: []TrafficSelector{opaque,
			{TSType: TSSecLabel, Data: []byte("system_u:object_r:ipsec_spd_t:s0")}}},
		&Configuration{CFGType: CFGRequest, Attributes: []ConfigAttribute{
			{Type: AttrInternalIP4Address}, {Type: AttrInternalIP4DNS}, {Type: AttrInternalIP6Address},
			{Type: AttrApplicationVersion, Value: []byte("oakley 1")},
		}},
		&Configuration{CFGType: CFGReply, Attributes: []ConfigAttribute{
			AddrAttr(AttrInternalIP4Address, netip.MustParseAddr("192.0.2.77")),
			AddrAttr(AttrInternalIP4Netmask, netip.MustParseAddr("255.255.255.0")),
			PrefixAttr(AttrInternalIP6Address, netip.MustParsePrefix("2001:db8:1::5/64")),
			PrefixAttr(AttrInternalIP4Subnet, netip.MustParsePrefix("198.51.100.0/24")),
			PrefixAttr(AttrInternalIP6Subnet, netip.MustParsePrefix("2001:db8:2::/48")),
			AddrAttr(AttrInternalIP6DNS, netip.MustParseAddr("2001:db8::53")),
			{Type: AttrSupportedAttributes, Value: []byte{0, 1, 0, 3}},
			{Type: AttrP_CSCFIP4Address, Value: []byte{192, 0, 2, 9}},
			{Type: 23456, Value: []byte{1, 2, 3}},
		}},
		NewEAP(EAPRequest, 1, 1, []byte("identity?")),
		NewEAP(EAPSuccess, 2, 0, nil),
		&Unknown{PayloadType: 49, Data: []byte{1, 2, 3, 4}},
	}
}

func mustHexS(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

// canon returns a copy of a payload without its decoded bytes and with empty slices as nil,
// for comparing a decoded payload with the one it was encoded from.
func canon(p Payload) Payload {
	v := reflect.New(reflect.TypeOf(p).Elem())
	v.Elem().Set(reflect.ValueOf(p).Elem())
	c := v.Interface().(Payload)
	c.setRaw(nil)
	normalize(v.Elem())
	return c
}

func normalize(v reflect.Value) {
	switch v.Kind() {
	case reflect.Slice:
		if v.Len() == 0 {
			if v.CanSet() {
				v.Set(reflect.Zero(v.Type()))
			}
			return
		}
		if v.Type().Elem().Kind() == reflect.Uint8 {
			return
		}
		c := reflect.MakeSlice(v.Type(), v.Len(), v.Len())
		reflect.Copy(c, v)
		for i := 0; i < c.Len(); i++ {
			normalize(c.Index(i))
		}
		if v.CanSet() {
			v.Set(c)
		}
	case reflect.Struct:
		if v.Type() == reflect.TypeOf(netip.Addr{}) {
			return
		}
		for i := 0; i < v.NumField(); i++ {
			if v.Field(i).CanSet() {
				normalize(v.Field(i))
			}
		}
	}
}

func equalPayloads(a, b []Payload) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !reflect.DeepEqual(canon(a[i]), canon(b[i])) {
			return false
		}
	}
	return true
}

func payloadTypes(ps []Payload) []PayloadType {
	ts := make([]PayloadType, len(ps))
	for i, p := range ps {
		ts[i] = p.Type()
	}
	return ts
}

// checkReencode asserts that a decoded chain re-encodes to its own bytes (the input had zero
// RESERVED fields) and that re-decoding gives the same structs.
func checkReencode(t testing.TB, first PayloadType, c *Chain) {
	t.Helper()
	out, err := EncodePayloads(c.Payloads)
	if err != nil {
		t.Fatalf("re-encode: %v", err)
	}
	if !bytes.Equal(out.Bytes, c.Bytes) {
		t.Fatalf("re-encoded chain differs:\n got %x\nwant %x", out.Bytes, c.Bytes)
	}
	d, err := DecodePayloads(first, out.Bytes)
	if err != nil || !equalPayloads(d.Payloads, c.Payloads) {
		t.Fatalf("re-decode: %v", err)
	}
}

// checkCanonical is checkReencode for input whose ignored RESERVED bits may be set (fuzzing):
// the re-encoding has the same length, decodes to the same structs and is stable.
func checkCanonical(t testing.TB, first PayloadType, c *Chain) {
	t.Helper()
	out, err := EncodePayloads(c.Payloads)
	if err != nil {
		t.Fatalf("re-encode: %v", err)
	}
	if len(out.Bytes) != len(c.Bytes) {
		t.Fatalf("re-encoded %d bytes from %d", len(out.Bytes), len(c.Bytes))
	}
	d, err := DecodePayloads(first, out.Bytes)
	if err != nil || !equalPayloads(d.Payloads, c.Payloads) {
		t.Fatalf("re-decode: %v", err)
	}
	again, err := EncodePayloads(d.Payloads)
	if err != nil || !bytes.Equal(again.Bytes, out.Bytes) {
		t.Fatalf("encoding is not stable: %v", err)
	}
}

// wantErr asserts err is an *Error wrapping sentinel, for payload pt.
func wantErr(t testing.TB, err, sentinel error, pt PayloadType) *Error {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T), want *Error", err, err)
	}
	if !errors.Is(err, sentinel) {
		t.Fatalf("error %v does not wrap %v", err, sentinel)
	}
	if e.Payload != pt {
		t.Fatalf("error %v names payload %v, want %v", err, e.Payload, pt)
	}
	return e
}
