package esp

import (
	"bytes"
	"encoding/binary"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	ocrypto "oakley/crypto"
)

var updateCorpus = flag.Bool("update-corpus", false, "rewrite the checked-in fuzz seed corpora in testdata/fuzz")

// fuzzPair builds fixed-key SAs so that seeds stay valid across runs.
func fuzzPair(t testing.TB, enc, integ string, mode Mode, esn bool) (*SA, *SA) {
	out, in := newPair(t, pairOpts{enc: enc, integ: integ, mode: mode, esn: esn, replay: 64})
	return out, in
}

func checkInner(t *testing.T, b *Batch) {
	t.Helper()
	if b.Errs[0] != nil {
		return
	}
	p := b.Packet(0)
	if _, ok := ParseFlow(p); !ok {
		t.Fatalf("accepted an inner packet that does not parse: %x", p)
	}
	if b.Offs[0] < 0 || b.Offs[0]+b.Sizes[0] > len(b.Bufs[0]) {
		t.Fatal("inner packet outside the buffer")
	}
}

// FuzzDecapESP feeds arbitrary bytes to ESP decapsulation of a GCM and a CBC+HMAC SA, in
// both modes: never a panic, never an unparseable inner packet.
func FuzzDecapESP(f *testing.F) {
	type sas struct{ out, in *SA }
	var pairs []sas
	for _, s := range []suite{{"aes128gcm16", ""}, {"aes128", "sha256"}} {
		for _, m := range []Mode{Tunnel, Transport} {
			o, i := fuzzPair(f, s.enc, s.integ, m, false)
			pairs = append(pairs, sas{o, i})
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		b := NewBatch(1, len(data)+Headroom+Tailroom)
		for _, p := range pairs {
			load(b, data)
			p.in.Decap(b)
			checkInner(t, b)
		}
	})
}

// FuzzDecapPayload fuzzes everything after decryption: the fuzzer's bytes become the
// plaintext (inner packet, padding, pad length, next header) of a correctly sealed ESP packet,
// so the trailer, inner-length and policy checks see arbitrary input.
func FuzzDecapPayload(f *testing.F) {
	outT, inT := fuzzPair(f, "aes128gcm16", "", Tunnel, false)
	outX, inX := fuzzPair(f, "aes128gcm16", "", Transport, false)
	_ = outX
	seq := uint64(0)
	f.Fuzz(func(t *testing.T, plain []byte) {
		if len(plain) < 2 {
			return
		}
		for _, in := range []*SA{inT, inX} {
			seq++
			pkt := make([]byte, 16+len(plain), 16+len(plain)+16)
			binary.BigEndian.PutUint32(pkt, 0x1000)
			binary.BigEndian.PutUint32(pkt[4:], uint32(seq))
			copy(pkt[16:], plain)
			ops := []ocrypto.Op{{Seq: seq, AAD: pkt[:8], IV: pkt[8:16], Data: pkt[16:]}}
			outT.cipher.SealBatch(ops)
			pkt = pkt[:len(pkt)+16]
			b := NewBatch(1, len(pkt)+Headroom+Tailroom)
			load(b, pkt)
			in.Decap(b)
			checkInner(t, b)
		}
	})
}

// FuzzDecapAH feeds arbitrary bytes (taken as a whole IP packet) to AH decapsulation.
func FuzzDecapAH(f *testing.F) {
	_, inT := fuzzPair(f, "", "sha256", Tunnel, false)
	_, inX := fuzzPair(f, "", "sha1", Transport, true)
	f.Fuzz(func(t *testing.T, data []byte) {
		b := NewBatch(1, len(data)+Headroom+Tailroom)
		for _, in := range []*SA{inT, inX} {
			load(b, data)
			in.Decap(b)
			checkInner(t, b)
		}
	})
}

// FuzzParseFlow checks the selector-field parser on arbitrary packets.
func FuzzParseFlow(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		fl, ok := ParseFlow(data)
		if ok && !fl.Src.IsValid() {
			t.Fatal("ok without addresses")
		}
		_ = ClassifyUDP(data)
	})
}

// TestUpdateCorpus regenerates the checked-in seed corpora from real packets (run with
// -update-corpus); without the flag it checks that every corpus directory has seeds.
func TestUpdateCorpus(t *testing.T) {
	seeds := map[string][][]byte{}
	for _, s := range []suite{{"aes128gcm16", ""}, {"aes128", "sha256"}} {
		for _, m := range []Mode{Tunnel, Transport} {
			out, _ := fuzzPair(t, s.enc, s.integ, m, false)
			b := NewBatch(1, 2048)
			src, dst := innerSrc4, innerDst4
			if m == Transport {
				src, dst = outerA4, outerB4
			}
			load(b, udpPacket(src, dst, 64, 1))
			out.Encap(b)
			seeds["FuzzDecapESP"] = append(seeds["FuzzDecapESP"], append([]byte(nil), b.Packet(0)...))
		}
	}
	for _, n := range []int{28, 60} {
		p := udpPacket(innerSrc4, innerDst4, n, 2)
		seeds["FuzzDecapPayload"] = append(seeds["FuzzDecapPayload"], append(p, 1, 2, 2, ProtoIPIP), append(p[:n:n], 0, ProtoNoNext))
	}
	p6 := udpPacket(innerSrc6, innerDst6, 60, 3)
	seeds["FuzzDecapPayload"] = append(seeds["FuzzDecapPayload"], append(p6, 0, ProtoIPv6), append(p6[40:], 0, ProtoUDP))
	for _, c := range []struct {
		integ string
		mode  Mode
		esn   bool
	}{{"sha256", Tunnel, false}, {"sha1", Transport, true}} {
		out, _ := fuzzPair(t, "", c.integ, c.mode, c.esn)
		b := NewBatch(1, 2048)
		src, dst := innerSrc4, innerDst4
		if c.mode == Transport {
			src, dst = outerA4, outerB4
		}
		load(b, udpPacket(src, dst, 80, 4))
		out.Encap(b)
		seeds["FuzzDecapAH"] = append(seeds["FuzzDecapAH"], append([]byte(nil), b.Packet(0)...))
	}
	seeds["FuzzParseFlow"] = [][]byte{udpPacket(innerSrc4, innerDst4, 40, 0), udpPacket(innerSrc6, innerDst6, 60, 0), {0xff}, {0, 0, 0, 0, 1}}
	for name, list := range seeds {
		dir := filepath.Join("testdata", "fuzz", name)
		if !*updateCorpus {
			entries, err := os.ReadDir(dir)
			if err != nil || len(entries) == 0 {
				t.Errorf("%s: no checked-in seed corpus (run go test -run TestUpdateCorpus -update-corpus)", dir)
			}
			continue
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for i, s := range list {
			var buf bytes.Buffer
			fmt.Fprintf(&buf, "go test fuzz v1\n[]byte(%q)\n", s)
			if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("seed-%02d", i)), buf.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}
