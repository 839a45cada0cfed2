package esp

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"testing"

	ocrypto "oakley/crypto"
)

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestRFC7634Packet reproduces the ESP packet of RFC 7634 Appendix A bit for bit: tunnel
// mode, SPI 0x01020304, SN 5, ChaCha20-Poly1305, and decapsulates it back.
func TestRFC7634Packet(t *testing.T) {
	data, err := os.ReadFile("../crypto/testdata/esp_chacha_vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	var f struct{ Vectors []map[string]string }
	if err := json.Unmarshal(data, &f); err != nil {
		t.Fatal(err)
	}
	v := f.Vectors[0]
	key, iv, pt := unhex(t, v["key"]), unhex(t, v["iv"]), unhex(t, v["pt"])
	inner := pt[:len(pt)-4] // minus padding 01 02, pad length 2, next header 4
	wantPkt := append(append(append(unhex(t, v["aad"]), iv...), unhex(t, v["ct"])...), unhex(t, v["tag"])...)

	seed := make([]byte, 24) // IV = seq ^ mask (see crypto.NewCipher): make it the RFC's IV
	binary.BigEndian.PutUint64(seed[16:], binary.BigEndian.Uint64(iv)^5)
	cfg := Config{SPI: 0x01020304, Dir: Outbound, Proto: ESP, Mode: Tunnel,
		Enc: ocrypto.Lookup("chacha20poly1305"), EncKey: key, Rand: bytes.NewReader(seed)}
	out, err := NewSA(cfg)
	if err != nil {
		t.Fatal(err)
	}
	out.seq.Store(4)
	b := NewBatch(1, 2048)
	load(b, inner)
	out.Encap(b)
	if b.Errs[0] != nil {
		t.Fatal(b.Errs[0])
	}
	if got := b.Packet(0); !bytes.Equal(got, wantPkt) {
		t.Fatalf("packet\n%x\nwant\n%x", got, wantPkt)
	}
	cfg.Dir, cfg.Rand = Inbound, nil
	in, err := NewSA(cfg)
	if err != nil {
		t.Fatal(err)
	}
	load(b, wantPkt)
	in.Decap(b)
	if b.Errs[0] != nil || !bytes.Equal(b.Packet(0), inner) {
		t.Fatalf("decap: %v %x", b.Errs[0], b.Packet(0))
	}
}

// TestGCMDraftPackets decapsulates every AES-GCM test packet of draft-mcgrew-gcm-test-01
// (assembled as SPI ‖ SN ‖ IV ‖ ciphertext ‖ ICV, ESN where the AAD is 12 bytes) in transport
// mode, and re-encapsulates those whose padding is the minimal one we generate.
func TestGCMDraftPackets(t *testing.T) {
	data, err := os.ReadFile("../crypto/testdata/esp_gcm_vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	var f struct{ Vectors []map[string]string }
	if err := json.Unmarshal(data, &f); err != nil {
		t.Fatal(err)
	}
	for i, v := range f.Vectors {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			key, nonce, aad := unhex(t, v["key"]), unhex(t, v["nonce"]), unhex(t, v["aad"])
			pt, ct, tag := unhex(t, v["pt"]), unhex(t, v["ct"]), unhex(t, v["tag"])
			esn := len(aad) == 12
			spi := binary.BigEndian.Uint32(aad)
			seq := uint64(binary.BigEndian.Uint32(aad[4:]))
			if esn {
				seq = binary.BigEndian.Uint64(aad[4:])
			}
			if spi < 256 || seq == 0 {
				t.Skipf("SPI %d / SN %d are reserved values oakley refuses", spi, seq)
			}
			pkt := binary.BigEndian.AppendUint32(nil, spi)
			pkt = binary.BigEndian.AppendUint32(pkt, uint32(seq))
			pkt = append(append(append(pkt, nonce[4:]...), ct...), tag...)
			alg := ocrypto.Lookup(fmt.Sprintf("aes%dgcm16", len(key)*8))
			seed := make([]byte, 24)
			binary.BigEndian.PutUint64(seed[16:], binary.BigEndian.Uint64(nonce[4:])^seq)
			cfg := Config{SPI: spi, Dir: Inbound, Proto: ESP, Mode: Transport, ESN: esn, Enc: alg,
				EncKey: append(key, nonce[:4]...), Replay: 64, LocalAddr: outerB4, RemoteAddr: outerA4,
				Rand: bytes.NewReader(seed)}
			in, err := NewSA(cfg)
			if err != nil {
				t.Fatal(err)
			}
			in.replay.top = seq - 1
			b := NewBatch(1, 2048)
			load(b, pkt)
			in.Decap(b)
			padLen, nh := int(pt[len(pt)-2]), pt[len(pt)-1]
			payload := pt[:len(pt)-2-padLen]
			if nh == ProtoNoNext {
				if !errors.Is(b.Errs[0], ErrDummy) {
					t.Fatalf("dummy packet: %v", b.Errs[0])
				}
				return
			}
			if b.Errs[0] != nil {
				t.Fatal(b.Errs[0])
			}
			got := b.Packet(0)
			if got[0]>>4 != 4 || got[9] != nh || !bytes.Equal(got[20:], payload) {
				t.Fatalf("decapsulated %x", got)
			}
			// Encapsulate the same payload again: identical bytes when our padding matches.
			if (len(payload)+2+padLen)%4 != 0 || padLen >= 4 {
				return
			}
			cfg.Dir = Outbound
			cfg.Rand = bytes.NewReader(seed)
			out, err := NewSA(cfg)
			if err != nil {
				t.Fatal(err)
			}
			out.seq.Store(seq - 1)
			ip := make([]byte, 20+len(payload))
			putIPv4Header(ip, len(ip), 1, nh, outerA4, outerB4)
			copy(ip[20:], payload)
			load(b, ip)
			out.Encap(b)
			if b.Errs[0] != nil || !bytes.Equal(b.Packet(0), pkt) {
				t.Fatalf("re-encapsulated (%v)\n%x\nwant\n%x", b.Errs[0], b.Packet(0), pkt)
			}
		})
	}
}

type suite struct{ enc, integ string }

func allSuites() []suite {
	var out []suite
	for _, e := range ocrypto.All(ocrypto.KindEncr) {
		if e.AEAD {
			out = append(out, suite{e.Name, ""})
			continue
		}
		for _, i := range ocrypto.All(ocrypto.KindInteg) {
			out = append(out, suite{e.Name, i.Name})
		}
	}
	return out
}

// TestRoundTrip runs every transform through tunnel and transport mode, IPv4 and IPv6 inner
// and outer, with and without ESN, and checks the inner packet and the counters.
func TestRoundTrip(t *testing.T) {
	for _, s := range allSuites() {
		for _, mode := range []Mode{Tunnel, Transport} {
			for _, v6outer := range []bool{false, true} {
				for _, esn := range []bool{false, true} {
					name := fmt.Sprintf("%s-%s/%s/v6outer=%v/esn=%v", s.enc, s.integ, mode, v6outer, esn)
					t.Run(name, func(t *testing.T) {
						out, in := newPair(t, pairOpts{enc: s.enc, integ: s.integ, mode: mode, esn: esn, v6outer: v6outer, replay: 1024})
						var pkts [][]byte
						for i, n := range []int{48, 49, 50, 51, 100, 1400} {
							switch {
							case mode == Transport && v6outer:
								pkts = append(pkts, udpPacket(outerA6, outerB6, n+20, byte(i)))
							case mode == Transport:
								pkts = append(pkts, udpPacket(outerA4, outerB4, n, byte(i)))
							case i%2 == 0:
								pkts = append(pkts, udpPacket(innerSrc4, innerDst4, n, byte(i)))
							default:
								pkts = append(pkts, udpPacket(innerSrc6, innerDst6, n+20, byte(i)))
							}
						}
						b, r := NewBatch(len(pkts), 2048), NewBatch(len(pkts), 2048)
						load(b, pkts...)
						if esn {
							out.seq.Store(1<<32 - 3) // cross the 32-bit boundary inside the batch
							in.replay.top = 1<<32 - 4
						}
						out.Encap(b)
						for i := range pkts {
							if b.Errs[i] != nil {
								t.Fatalf("encap %d: %v", i, b.Errs[i])
							}
							if bytes.Contains(b.Packet(i), pkts[i][28:]) && s.enc != "null" {
								t.Fatalf("packet %d: payload visible in ESP packet", i)
							}
						}
						moveTo(r, b)
						in.Decap(r)
						for i := range pkts {
							if r.Errs[i] != nil {
								t.Fatalf("decap %d: %v", i, r.Errs[i])
							}
							got := r.Packet(i)
							if mode == Transport {
								// the rebuilt header differs in TTL/ID/checksum: compare the payload and addresses
								hl := 20
								if v6outer {
									hl = 40
								}
								if !bytes.Equal(got[hl:], pkts[i][hl:]) {
									t.Fatalf("packet %d payload differs", i)
								}
								f, _ := ParseFlow(got)
								g, _ := ParseFlow(pkts[i])
								if f != g {
									t.Fatalf("flow %+v, want %+v", f, g)
								}
								continue
							}
							if !bytes.Equal(got, pkts[i]) {
								t.Fatalf("packet %d differs", i)
							}
						}
						if p := in.Stats.Packets.Load(); p != uint64(len(pkts)) {
							t.Fatalf("inbound packets counted %d", p)
						}
						if e := in.Stats.ErrorTotal() + out.Stats.ErrorTotal(); e != 0 {
							t.Fatalf("%d errors counted", e)
						}
						// replaying the whole batch is rejected and counted
						moveTo(r, b)
						in.Decap(r)
						for i := range pkts {
							if !errors.Is(r.Errs[i], ErrReplay) {
								t.Fatalf("replayed packet %d: %v", i, r.Errs[i])
							}
						}
						if in.Stats.Errors[ClassReplay].Load() != uint64(len(pkts)) {
							t.Fatal("replays not counted")
						}
					})
				}
			}
		}
	}
}

// TestTamperEveryBit flips each bit of an ESP packet; every variant must be refused and
// counted, none may panic, and the original must still be accepted afterwards.
func TestTamperEveryBit(t *testing.T) {
	for _, s := range []suite{{"aes128gcm16", ""}, {"aes256", "sha256"}, {"chacha20poly1305", ""}, {"3des", "sha1"}, {"null", "sha512"}} {
		for _, esn := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s-%s/esn=%v", s.enc, s.integ, esn), func(t *testing.T) {
				out, in := newPair(t, pairOpts{enc: s.enc, integ: s.integ, esn: esn, replay: 64})
				b := NewBatch(1, 2048)
				load(b, udpPacket(innerSrc4, innerDst4, 60, 1))
				out.Encap(b)
				pkt := append([]byte(nil), b.Packet(0)...)
				var refused uint64
				for bit := range len(pkt) * 8 {
					mod := append([]byte(nil), pkt...)
					mod[bit/8] ^= 1 << (bit % 8)
					load(b, mod)
					in.Decap(b)
					if b.Errs[0] == nil {
						t.Fatalf("bit %d flipped and accepted", bit)
					}
					refused++
				}
				if in.Stats.ErrorTotal() != refused {
					t.Fatalf("%d refused, %d counted", refused, in.Stats.ErrorTotal())
				}
				load(b, pkt)
				in.Decap(b)
				if b.Errs[0] != nil {
					t.Fatalf("original refused after tampering: %v", b.Errs[0])
				}
			})
		}
	}
}

// TestTruncated feeds every prefix of a valid packet: each is an error, none panics.
func TestTruncated(t *testing.T) {
	for _, s := range []suite{{"aes128gcm16", ""}, {"aes128", "sha256"}} {
		out, in := newPair(t, pairOpts{enc: s.enc, integ: s.integ, replay: 64})
		b := NewBatch(1, 2048)
		load(b, udpPacket(innerSrc4, innerDst4, 100, 1))
		out.Encap(b)
		pkt := append([]byte(nil), b.Packet(0)...)
		for n := range len(pkt) {
			load(b, pkt[:n])
			in.Decap(b)
			if b.Errs[0] == nil {
				t.Fatalf("%s: prefix of %d bytes accepted", s.enc, n)
			}
		}
	}
}

func TestPolicyCheck(t *testing.T) {
	out, in := newPair(t, pairOpts{enc: "aes128gcm16", replay: 64})
	b, r := NewBatch(2, 2048), NewBatch(2, 2048)
	// The sender's SA would not pick this packet, but a misbehaving peer can send it.
	load(b, udpPacket(netip.MustParseAddr("203.0.113.9"), innerDst4, 60, 1), udpPacket(innerSrc4, innerDst4, 60, 2))
	out.Encap(b)
	moveTo(r, b)
	// Swap: the inbound SA expects src ∈ 192.0.2.0/24 (the peer's side), dst ∈ 198.51.100.0/24.
	in.Decap(r)
	if !errors.Is(r.Errs[0], ErrPolicy) || r.Errs[1] != nil {
		t.Fatalf("errs %v %v", r.Errs[0], r.Errs[1])
	}
	if in.Stats.Errors[ClassPolicy].Load() != 1 {
		t.Fatal("policy violation not counted")
	}
}

func TestSelectorPorts(t *testing.T) {
	s := Selector{Prefix: netip.MustParsePrefix("198.51.100.0/24"), Proto: ProtoTCP, PortLo: 443, PortHi: 443}
	a := netip.MustParseAddr("198.51.100.7")
	if !s.Matches(a, ProtoTCP, 443, true) || s.Matches(a, ProtoTCP, 80, true) || s.Matches(a, ProtoUDP, 443, true) || s.Matches(a, ProtoTCP, 0, false) {
		t.Fatal("selector port matching wrong")
	}
	if s.String() != "198.51.100.0/24[6/443]" {
		t.Fatal(s.String())
	}
	p := udpPacket(innerSrc6, innerDst6, 100, 0)
	f, ok := ParseFlow(p)
	if !ok || f.Src != innerSrc6 || f.Proto != ProtoUDP || f.SrcPort != 4000 || f.DstPort != 5000 {
		t.Fatalf("flow %+v", f)
	}
}

// TestDummyPacket builds a valid ESP packet whose next header is 59 (RFC 4303 §2.6): it must
// be discarded with ErrDummy and counted, and must still advance the replay window.
func TestDummyPacket(t *testing.T) {
	out, in := newPair(t, pairOpts{enc: "aes128gcm16", replay: 64})
	pkt := make([]byte, 8+8+12+16, 8+8+12+16+16)
	binary.BigEndian.PutUint32(pkt, out.SPI())
	binary.BigEndian.PutUint32(pkt[4:], 1)
	data := pkt[16 : 16+12]
	copy(data, "dummy-tfc")
	data[10], data[11] = 0, ProtoNoNext
	ops := []ocrypto.Op{{Seq: 1, AAD: pkt[0:8], IV: pkt[8:16], Data: data}}
	out.cipher.SealBatch(ops)
	if ops[0].Err != nil {
		t.Fatal(ops[0].Err)
	}
	b := NewBatch(1, 2048)
	load(b, pkt)
	in.Decap(b)
	if !errors.Is(b.Errs[0], ErrDummy) || in.Stats.Errors[ClassDummy].Load() != 1 {
		t.Fatalf("dummy: %v", b.Errs[0])
	}
	load(b, pkt)
	in.Decap(b)
	if !errors.Is(b.Errs[0], ErrReplay) {
		t.Fatalf("replayed dummy: %v", b.Errs[0])
	}
}

func TestLifetimes(t *testing.T) {
	out, _ := newPair(t, pairOpts{enc: "aes128gcm16", life: Lifetime{SoftPackets: 3, HardPackets: 5}})
	b := NewBatch(1, 2048)
	for i := range 7 {
		load(b, udpPacket(innerSrc4, innerDst4, 60, 1))
		out.Encap(b)
		if i < 5 && b.Errs[0] != nil {
			t.Fatalf("packet %d refused: %v", i, b.Errs[0])
		}
		if i >= 5 && !errors.Is(b.Errs[0], ErrExpired) {
			t.Fatalf("packet %d after hard limit: %v", i, b.Errs[0])
		}
		if soft := out.Soft(); soft != (i >= 2) {
			t.Fatalf("after packet %d: soft = %v", i, soft)
		}
		if hard := out.Expired(); hard != (i >= 4) {
			t.Fatalf("after packet %d: expired = %v", i, hard)
		}
	}
	if got := out.signalled.Load(); got != uint32(EventSoft|EventHard) {
		t.Fatalf("signalled %b, want soft and hard once each", got)
	}
	if out.Stats.Packets.Load() != 5 {
		t.Fatalf("%d packets accounted, want 5", out.Stats.Packets.Load())
	}
	if out.Stats.Errors[ClassExpired].Load() != 2 {
		t.Fatal("expired packets not counted")
	}
}

func TestSeqOverflow(t *testing.T) {
	out, _ := newPair(t, pairOpts{enc: "aes128gcm16"})
	out.seq.Store(1<<32 - 2)
	b := NewBatch(1, 2048)
	load(b, udpPacket(innerSrc4, innerDst4, 60, 1))
	out.Encap(b)
	if b.Errs[0] != nil || binary.BigEndian.Uint32(b.Packet(0)[4:]) != 1<<32-1 {
		t.Fatalf("last sequence number: %v", b.Errs[0])
	}
	load(b, udpPacket(innerSrc4, innerDst4, 60, 1))
	out.Encap(b)
	if !errors.Is(b.Errs[0], ErrSeqOverflow) && !errors.Is(b.Errs[0], ErrExpired) {
		t.Fatalf("sequence number cycled: %v", b.Errs[0])
	}
	if !out.Expired() || !out.Soft() {
		t.Fatal("SA not expired after the sequence space ran out")
	}
}

func TestNoRoom(t *testing.T) {
	out, _ := newPair(t, pairOpts{enc: "aes128", integ: "sha256"})
	b := NewBatch(1, 200)
	b.Reset(1)
	b.Set(0, 10, 60) // not enough headroom for SPI+SN+IV
	copy(b.Bufs[0][10:], udpPacket(innerSrc4, innerDst4, 60, 1))
	out.Encap(b)
	if !errors.Is(b.Errs[0], ErrNoRoom) {
		t.Fatalf("got %v", b.Errs[0])
	}
}

func TestWrongDirection(t *testing.T) {
	out, in := newPair(t, pairOpts{enc: "aes128gcm16"})
	b := NewBatch(1, 2048)
	load(b, udpPacket(innerSrc4, innerDst4, 60, 1))
	in.Encap(b)
	if !errors.Is(b.Errs[0], ErrWrongSA) {
		t.Fatal(b.Errs[0])
	}
	load(b, udpPacket(innerSrc4, innerDst4, 60, 1))
	out.Decap(b)
	if !errors.Is(b.Errs[0], ErrWrongSA) {
		t.Fatal(b.Errs[0])
	}
}

func TestCloseWipesKeys(t *testing.T) {
	out, _ := newPair(t, pairOpts{enc: "aes128", integ: "sha256"})
	out.Close()
	if !bytes.Equal(out.cfg.EncKey, make([]byte, len(out.cfg.EncKey))) || !bytes.Equal(out.cfg.IntegKey, make([]byte, len(out.cfg.IntegKey))) {
		t.Fatal("keys not wiped")
	}
	b := NewBatch(1, 2048)
	load(b, udpPacket(innerSrc4, innerDst4, 60, 1))
	out.Encap(b)
	if !errors.Is(b.Errs[0], ErrExpired) {
		t.Fatal("closed SA still encapsulates")
	}
}

func TestSteadyStateAllocs(t *testing.T) {
	skipAllocsUnderRace(t)
	for _, s := range []suite{{"aes128gcm16", ""}, {"aes128", "sha256"}} {
		out, in := newPair(t, pairOpts{enc: s.enc, integ: s.integ, replay: 1024})
		const n = 32
		b := NewBatch(n, 2048)
		pkt := udpPacket(innerSrc4, innerDst4, 1400, 1)
		allocs := testing.AllocsPerRun(50, func() {
			load(b, make([][]byte, n)...)
			for i := range n {
				copy(b.Bufs[i][Headroom:], pkt)
				b.Set(i, Headroom, len(pkt))
			}
			out.Encap(b)
			in.Decap(b)
		})
		if allocs > 0 {
			t.Errorf("%s: %.1f allocs per batch of %d", s.enc, allocs, n)
		}
	}
}

func TestSAD(t *testing.T) {
	var d SAD
	_, in := newPair(t, pairOpts{enc: "aes128gcm16"})
	if err := d.Add(in); err != nil {
		t.Fatal(err)
	}
	if err := d.Add(in); err == nil {
		t.Fatal("duplicate SPI accepted")
	}
	if d.Lookup(0x1000) != in || d.Lookup(0x2000) != nil {
		t.Fatal("lookup")
	}
	spi, err := d.AllocSPI(bytes.NewReader([]byte{0, 0, 0x10, 0, 0, 0, 0, 1, 0, 0, 0x20, 0}))
	if err != nil || spi != 0x2000 {
		t.Fatalf("AllocSPI skipped neither the installed nor the reserved value: %#x %v", spi, err)
	}
	if d.Remove(0x1000) != in || d.Lookup(0x1000) != nil {
		t.Fatal("remove")
	}
}

func TestClassifyUDP(t *testing.T) {
	cases := []struct {
		b    []byte
		want UDPKind
	}{
		{[]byte{0xff}, UDPKeepalive},
		{[]byte{0, 0, 0, 0, 1}, UDPIKE},
		{[]byte{0, 0, 0, 0}, UDPInvalid},
		{[]byte{0, 0, 1, 0, 0, 0, 0, 1}, UDPESP},
		{[]byte{0, 0, 1, 0, 0}, UDPInvalid},
		{nil, UDPInvalid},
	}
	for _, c := range cases {
		if got := ClassifyUDP(c.b); got != c.want {
			t.Errorf("%x: %v, want %v", c.b, got, c.want)
		}
	}
}

// raceEnabled is set under -race (race_test.go).
var raceEnabled bool

func skipAllocsUnderRace(t *testing.T) {
	t.Helper()
	if raceEnabled {
		t.Skip("allocation counts are meaningless under the race detector")
	}
}

// TestHardLimitCutsBatch: a batch that would cross a hard byte limit is cut at it; the
// packets beyond fail with ErrExpired and nothing more is protected afterwards.
func TestHardLimitCutsBatch(t *testing.T) {
	out, _ := newPair(t, pairOpts{enc: "aes128gcm16", life: Lifetime{HardBytes: 450}})
	b := NewBatch(10, 2048)
	for i := range 10 {
		p := udpPacket(innerSrc4, innerDst4, 100, byte(i))
		b.Set(i, Headroom, copy(b.Bufs[i][Headroom:], p))
	}
	b.N = 10
	out.Encap(b)
	sealed := 0
	for i := range 10 {
		switch {
		case b.Errs[i] == nil:
			sealed++
		case !errors.Is(b.Errs[i], ErrExpired):
			t.Fatalf("packet %d: %v", i, b.Errs[i])
		}
	}
	if sealed != 4 || out.Stats.Bytes.Load() != 400 || !out.Expired() {
		t.Fatalf("%d sealed, %d bytes accounted, expired %v; want 4, 400, true", sealed, out.Stats.Bytes.Load(), out.Expired())
	}
}
