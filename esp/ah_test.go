package esp

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
)

func TestAHRoundTrip(t *testing.T) {
	for _, integ := range []string{"sha1", "sha256", "sha384", "sha512"} {
		for _, mode := range []Mode{Tunnel, Transport} {
			for _, v6 := range []bool{false, true} {
				for _, esn := range []bool{false, true} {
					t.Run(fmt.Sprintf("%s/%s/v6=%v/esn=%v", integ, mode, v6, esn), func(t *testing.T) {
						out, in := newPair(t, pairOpts{integ: integ, mode: mode, v6outer: v6, esn: esn, replay: 64})
						var pkt []byte
						switch {
						case mode == Transport && v6:
							pkt = udpPacket(outerA6, outerB6, 300, 3)
						case mode == Transport:
							pkt = udpPacket(outerA4, outerB4, 300, 3)
						default:
							pkt = udpPacket(innerSrc6, innerDst6, 300, 3)
						}
						b := NewBatch(1, 2048)
						load(b, pkt)
						out.Encap(b)
						if b.Errs[0] != nil {
							t.Fatal(b.Errs[0])
						}
						wire := append([]byte(nil), b.Packet(0)...)
						if v6 != (wire[0]>>4 == 6) {
							t.Fatal("wrong outer family")
						}
						if v6 && wire[6] != ProtoAHNum || !v6 && (wire[9] != ProtoAHNum || Checksum(wire[:20], 0) != 0) {
							t.Fatalf("outer header wrong: %x", wire[:40])
						}
						// Mutable fields may change in transit (RFC 4302 §3.3.3.1.1.1).
						mut := append([]byte(nil), wire...)
						if v6 {
							mut[7]--    // hop limit
							mut[1] |= 4 // traffic class / flow label
						} else {
							mut[8]--      // TTL
							mut[1] = 0xb8 // DSCP
							mut[10], mut[11] = 0, 0
							copy(mut[10:], []byte{byte(Checksum(mut[:20], 0) >> 8), byte(Checksum(mut[:20], 0))})
						}
						load(b, mut)
						in.Decap(b)
						if b.Errs[0] != nil {
							t.Fatalf("decap after mutable-field changes: %v", b.Errs[0])
						}
						got := b.Packet(0)
						if mode == Tunnel && !bytes.Equal(got, pkt) {
							t.Fatal("inner packet differs")
						}
						hl := 20
						if v6 {
							hl = 40
						}
						if mode == Transport && (!bytes.Equal(got[hl:], pkt[hl:]) || len(got) != len(pkt)) {
							t.Fatal("transport payload differs")
						}
						if mode == Transport && !v6 && Checksum(got[:20], 0) != 0 {
							t.Fatal("restored header has a bad checksum")
						}
						// Immutable fields and payload are protected: flip every bit outside the
						// mutable fields and the replay-only sequence number.
						for bit := range len(wire) * 8 {
							i := bit / 8
							if !v6 && (i == 1 || i == 6 || i == 7 || i == 8 || i == 10 || i == 11) || v6 && (i < 4 || i == 7) {
								continue
							}
							mod := append([]byte(nil), wire...)
							mod[i] ^= 1 << (bit % 8)
							load(b, mod)
							in.Decap(b)
							if b.Errs[0] == nil {
								t.Fatalf("flipped bit %d (byte %d) accepted", bit, i)
							}
						}
					})
				}
			}
		}
	}
}

func TestAHReplayAndLength(t *testing.T) {
	out, in := newPair(t, pairOpts{integ: "sha256", replay: 64})
	b := NewBatch(1, 2048)
	load(b, udpPacket(innerSrc4, innerDst4, 100, 1))
	out.Encap(b)
	wire := append([]byte(nil), b.Packet(0)...)
	load(b, wire)
	in.Decap(b)
	if b.Errs[0] != nil {
		t.Fatal(b.Errs[0])
	}
	load(b, wire)
	in.Decap(b)
	if !errors.Is(b.Errs[0], ErrReplay) {
		t.Fatalf("replay: %v", b.Errs[0])
	}
	for n := range len(wire) {
		load(b, wire[:n])
		in.Decap(b)
		if b.Errs[0] == nil {
			t.Fatalf("prefix %d accepted", n)
		}
	}
}
